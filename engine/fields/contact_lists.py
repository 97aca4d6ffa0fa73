"""emails and phones: several e-mail addresses or phone numbers of one record, each of a
kind (work, mobile, home…), one of them the primary.

Storage, three columns per field:

* `NAME` (`VARCHAR(254)` for e-mails, `VARCHAR(40)` for phones: the columns of the `email`
  and `phone` types) holds the **primary** value, so that lists, sorting, the `eq` and
  `contains` filters, titles, `unique` and expressions work on it exactly as on a single
  e-mail or phone field, and so that an `email` field made `emails` keeps its column;
* `NAME_items`, a JSON list of strings (`JSONB` on PostgreSQL): every value, in the order
  given, the primary among them;
* `NAME_kinds`, a JSON list of strings in the same order: the kind of each value.

Two parallel lists of strings rather than one list of objects: the expression language's
`list` is a list of scalars, so `'ann@acme.com' in emails_items` and
`'mobile' in phones_kinds` work in Python and in SQL like a tags field does.

Each value is read exactly as the single type reads it (`EmailType`, `PhoneType`: the same
acceptance, the same messages). Duplicates are refused (e-mails are stored in lower case,
phones compare by their digits and extension); kinds come from the field's `kinds` (a
hidden kind stays on the records holding it, like a hidden option). An item's problem is
reported under `NAME.<number>`, counting the items as sent (`emails.2`).

A record whose `NAME` has no items (the field was `email` or `phone` before) reads as one
primary item of the first kind; a migration that adds the item columns fills them so
(`fill_parts`), and any save does too (`derive`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import sqlalchemy as sa

from ..labels import readable
from .base import FieldType, FieldValueError, check_mask
from .choice import JSON_LIST
from .composite import N_, message
from .phone import PhoneType, parse_phone, phone_search_texts
from .scalar import BooleanType, EmailType, StringType

EXPECTED_ONE = N_("expected one %(what)s")
PRIMARY_NOT_AN_ITEM = N_("'%(value)s' is not among the items: the primary is one of them")
TWO_PRIMARIES = N_("two different items are marked as the primary")

# The words users meet, translated where shown (engine/messages.py).
SAME_ITEM = N_("'%(value)s' is the same %(what)s as item %(item)s")
ONE_PRIMARY = N_("only one item can be the primary")
NOT_A_KIND = N_("'%(kind)s' is not a kind of this field (%(kinds)s)")
KIND_GONE = N_("the kind '%(kind)s' is no longer offered")
TOO_MANY = N_("at most %(limit)s %(what)s (got %(count)s)")
PRIMARY_PROBLEM = N_("primary: %(problem)s")
PLURALS = (N_("e-mail addresses"), N_("phone numbers"))  # (`plural` of each `what`)

MAX_ITEMS = 10  # the default of `max_items`
KIND_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
ITEM_KEYS = frozenset({"value", "kind", "primary"})

# Kinds pages know how to say in English and Chinese: a project that lists one of these
# codes without a label gets this one.
KNOWN_KINDS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "work": MappingProxyType({"en": "Work", "zh": "工作"}),
    "mobile": MappingProxyType({"en": "Mobile", "zh": "手机"}),
    "home": MappingProxyType({"en": "Home", "zh": "住宅"}),
    "personal": MappingProxyType({"en": "Personal", "zh": "个人"}),
    "other": MappingProxyType({"en": "Other", "zh": "其他"}),
    "fax": MappingProxyType({"en": "Fax", "zh": "传真"}),
    "main": MappingProxyType({"en": "Main", "zh": "总机"}),
})


class Kind:
    """One kind of item: its code (stored), its label by language, whether it is still
    offered for new items."""

    __slots__ = ("hidden", "label", "value")

    def __init__(self, value: str, label: Mapping[str, str], hidden: bool = False):
        self.value = value
        self.label = label
        self.hidden = hidden

    def text(self, language: str) -> str:
        return self.label.get(language) or self.label.get("en") or next(iter(self.label.values()), self.value)


def kind_label(value: str, given: Any = None) -> Mapping[str, str]:
    """The label of a kind: as written (one text for every language, or by language), else
    the built-in one of a known code, else the code made readable."""
    if isinstance(given, str) and given:
        return {"en": given, "zh": given}
    if isinstance(given, Mapping) and given:
        return {str(k): str(v) for k, v in given.items()}
    return KNOWN_KINDS.get(value) or {"en": readable(value)}


_KINDS: dict[int, tuple[Any, tuple[Kind, ...]]] = {}  # id(field) -> (field, its kinds)


class ContactListType(FieldType):
    """Several values of one single type (`item_type`), each with a kind, one primary."""

    value_type = "string"
    parts = {"items": "list", "kinds": "list"}
    options = frozenset({"kinds", "max_items", "mask"})
    allowed_in_rows = False
    item_type: ClassVar[StringType]
    default_kinds: ClassVar[tuple[str, ...]] = ()
    what: ClassVar[str] = ""  # "e-mail address": messages name the item by it
    add_label: ClassVar[str] = ""  # the form's button (English; the page catalogue translates it)

    # -- the field's options -----------------------------------------------------------------
    def kinds(self, field: Any) -> list[Kind]:
        """The kinds of the field: its `kinds`, else the type's defaults (worked out once
        per field of a compiled model: every save of a record derives its items' kinds)."""
        params = getattr(type(field), "__dataclass_params__", None)
        if params is None or not params.frozen:  # only a compiled field cannot change
            return self._kinds(field)
        known = _KINDS.get(id(field))
        if known is not None and known[0] is field:
            return list(known[1])
        found = self._kinds(field)
        if len(_KINDS) > 1024:
            _KINDS.clear()
        _KINDS[id(field)] = (field, tuple(found))
        return found

    def _kinds(self, field: Any) -> list[Kind]:
        spec = getattr(field, "spec", None) or {}
        listed = spec.get("kinds")
        if not isinstance(listed, list) or not listed:
            return [Kind(code, KNOWN_KINDS[code]) for code in self.default_kinds]
        found = []
        for item in listed:
            if isinstance(item, Mapping):
                value = str(item.get("value"))
                found.append(Kind(value, kind_label(value, item.get("label")), bool(item.get("hidden"))))
            else:
                found.append(Kind(str(item), kind_label(str(item))))
        return found

    def kind_values(self, field: Any) -> list[str]:
        return [k.value for k in self.kinds(field)]

    def offered(self, field: Any) -> list[str]:
        """The kinds new items may have (hidden ones stay only where they are)."""
        return [k.value for k in self.kinds(field) if not k.hidden]

    @property
    def plural(self) -> str:
        return self.what + ("es" if self.what.endswith("s") else "s")

    def default_kind(self, field: Any) -> str:
        """The kind of a value given without one (a first e-mail, an `email` field's value)."""
        offered = [k.value for k in self.kinds(field) if not k.hidden]
        return offered[0] if offered else self.kind_values(field)[0]

    def max_items(self, field: Any) -> int:
        spec = getattr(field, "spec", None) or {}
        given = spec.get("max_items")
        return given if isinstance(given, int) and not isinstance(given, bool) and given > 0 else MAX_ITEMS

    def keys(self, field: Any) -> tuple[str, str, str]:
        return field.name, f"{field.name}_items", f"{field.name}_kinds"

    # -- storage -------------------------------------------------------------------------------
    def sql_type(self, field):
        return sa.String(self.item_type.default_length)

    def columns(self, field):
        name, items, kinds = self.keys(field)
        old = field.renamed_from
        return [
            sa.Column(name, self.sql_type(field), nullable=True, info={"field": name, "renamed_from": old}),
            sa.Column(items, JSON_LIST, nullable=True,
                      info={"field": name, "renamed_from": f"{old}_items" if old else None}),
            sa.Column(kinds, JSON_LIST, nullable=True,
                      info={"field": name, "renamed_from": f"{old}_kinds" if old else None}),
        ]

    def form_keys(self, field):
        return [field.name]  # one input per item, not one per part (engine/web/forms.py)

    # -- one value -----------------------------------------------------------------------------
    def coerce(self, value, field):
        """One value (the primary written alone, a filter value, a default), read as the
        single type reads it."""
        if isinstance(value, (list, tuple, dict)):
            raise FieldValueError(message(EXPECTED_ONE, what=message(self.what)))
        return self.item_type.coerce(value, field)

    def validate(self, value, field):
        return self.item_type.validate(value, field) if isinstance(value, str) else []

    def key(self, value: str) -> Any:
        """What makes two values the same item."""
        return value

    def item(self, value: Any, field: Any) -> str | None:
        """One item's value, coerced and checked (FieldValueError says what is wrong)."""
        if isinstance(value, bool):
            raise FieldValueError(message(EXPECTED_ONE, what=message(self.what)))
        text = self.coerce(value, field)
        if text is not None:
            problems = self.item_type.validate(text, field)
            if problems:
                raise FieldValueError(problems[0] if len(problems) == 1 else "; ".join(problems))
        return text

    # -- input ---------------------------------------------------------------------------------
    def read_input(self, data, field):
        """`NAME: [...]` or `NAME_items: [...]` (with `NAME_kinds`, and `NAME` naming the
        primary): every item; `NAME: value` alone: the primary (the others are kept);
        `NAME: null` (or "", or []): no items at all."""
        name, items_key, kinds_key = self.keys(field)
        given = data.get(name)
        listed = items_key in data or isinstance(given, (list, tuple))
        if listed:
            entries = data[items_key] if items_key in data else given
            primary = given if items_key in data and name in data and not isinstance(given, (list, tuple)) else None
            return self.read_items(entries, data.get(kinds_key), primary, field)
        if kinds_key in data:
            raise FieldValueError(f"send the kinds with the items: {items_key} and {kinds_key}, "
                                  f"or {name}: [{{value, kind, primary}}, ...]")
        if name not in data:
            return {}
        if given is None or (isinstance(given, str) and not given.strip()):
            return {name: None, items_key: None, kinds_key: None}
        if isinstance(given, Mapping):
            raise FieldValueError(f"expected {_article(self.what)}, or a list of items {{value, kind, primary}}")
        return {name: self.item(given, field)}

    def read_items(self, entries: Any, kinds: Any, primary_value: Any, field) -> dict[str, Any]:
        """A whole list of items, in the order given; FieldValueError with the problems of
        each item by its number."""
        name, items_key, kinds_key = self.keys(field)
        if entries is None or entries == "":
            entries = []
        if not isinstance(entries, (list, tuple)):
            raise FieldValueError(f"expected a list of {self.plural}")
        if kinds is not None and (not isinstance(kinds, (list, tuple)) or len(kinds) != len(entries)):
            raise FieldValueError(f"{kinds_key} needs one kind for each of the {len(entries)} items")
        limit = self.max_items(field)
        values: list[str] = []
        item_kinds: list[str | None] = []
        primary: int | None = None
        seen: dict[Any, int] = {}
        problems: dict[int, list[str]] = {}
        for number, entry in enumerate(entries, 1):
            kind = kinds[number - 1] if kinds is not None else None
            marked: Any = None
            raw = entry
            if isinstance(entry, Mapping):
                unknown = sorted(str(k) for k in entry if k not in ITEM_KEYS)
                if unknown:
                    problems.setdefault(number, []).append(
                        f"unknown key(s): {', '.join(unknown)} (an item has value, kind and primary)")
                    continue
                raw, kind, marked = entry.get("value"), entry.get("kind", kind), entry.get("primary")
            try:
                value = self.item(raw, field)
            except FieldValueError as exc:
                problems.setdefault(number, []).append(exc.message)
                continue
            try:
                flag = BooleanType().coerce(marked, field) if marked not in (None, "") else None
            except FieldValueError as exc:
                problems.setdefault(number, []).append(message(PRIMARY_PROBLEM, problem=exc.message))
                continue
            if value is None:
                if flag:
                    problems.setdefault(number, []).append(f"the primary item needs {_article(self.what)}")
                continue  # an empty item (a blank row of a form) is no item
            if kind in (None, ""):
                kind = None
            elif not isinstance(kind, str) or not KIND_CODE.match(kind.strip()):
                problems.setdefault(number, []).append(message(NOT_A_KIND, kind=kind,
                                                               kinds=", ".join(self.offered(field))))
                continue
            else:
                kind = kind.strip()  # one of the field's kinds: judged on the whole record (`derive`)
            same = seen.get(self.key(value))
            if same is not None:
                problems.setdefault(number, []).append(message(SAME_ITEM, value=value, what=message(self.what),
                                                               item=same))
                continue
            if flag:
                if primary is not None:
                    problems.setdefault(number, []).append(message(ONE_PRIMARY))
                    continue
                primary = len(values)
            seen[self.key(value)] = number
            values.append(value)
            item_kinds.append(kind)
        if problems:
            raise FieldValueError("", items=problems)
        if len(values) > limit:
            raise FieldValueError(message(TOO_MANY, limit=limit, what=message(self.plural), count=len(values)))
        if primary_value not in (None, ""):
            wanted = self.item(primary_value, field)
            index = next((i for i, v in enumerate(values) if self.key(v) == self.key(wanted)), None)
            if index is None:
                raise FieldValueError(message(PRIMARY_NOT_AN_ITEM, value=wanted))
            if primary is not None and primary != index:
                raise FieldValueError(message(TWO_PRIMARIES))
            primary = index
        if not values:
            return {name: None, items_key: None, kinds_key: None}
        return {name: values[primary or 0], items_key: values, kinds_key: item_kinds}

    # -- the complete record ---------------------------------------------------------------------
    def stored_items(self, record: Mapping[str, Any], field) -> list[tuple[str, str]]:
        """(value, kind) of every item of a stored record, in their order; a NAME without
        items (the field was `email` or `phone`) is one item of the default kind."""
        name, items_key, kinds_key = self.keys(field)
        values = record.get(items_key)
        kinds = record.get(kinds_key)
        primary = record.get(name)
        if not isinstance(values, list) or not values:
            return [(primary, self.default_kind(field))] if isinstance(primary, str) and primary else []
        kinds = kinds if isinstance(kinds, list) else []
        default = self.default_kind(field)
        return [(str(v), str(kinds[i]) if i < len(kinds) and kinds[i] else default)
                for i, v in enumerate(values) if v not in (None, "")]

    def primary_first(self, record: Mapping[str, Any], field) -> list[tuple[str, str, bool]]:
        """(value, kind, is primary) of every item, the primary first: how pages list them."""
        primary = record.get(field.name)
        items = self.stored_items(record, field)
        first = [(v, k, True) for v, k in items if v == primary][:1]
        return first + [(v, k, False) for v, k in items if not first or v != primary]

    def derive(self, record, field, old) -> None:
        """The items, their kinds and NAME made one consistent whole: a primary written
        alone replaces the primary item (or, being already an item, becomes the primary);
        an item given without a kind keeps the one it had, else gets the default kind."""
        name, items_key, kinds_key = self.keys(field)
        primary = record.get(name)
        values = record.get(items_key)
        if primary is None and not values:  # nothing given, nothing held: what the steps below give
            record[name] = record[items_key] = record[kinds_key] = None
            return
        kinds = record.get(kinds_key)
        values = [v for v in values if isinstance(v, str) and v] if isinstance(values, list) else []
        kinds = list(kinds) if isinstance(kinds, list) and len(kinds) == len(values) else [None] * len(values)
        before = {self.key(v): k for v, k in self.stored_items(old, field)} if old is not None else {}
        count = len(values)
        if primary is not None and primary not in values:
            index = next((i for i, v in enumerate(values) if self.key(v) == self.key(primary)), None)
            if index is None and old is not None and old.get(name) in values:
                index = values.index(old.get(name))  # the primary, replaced
            if index is None:  # no items yet (a first value, an `email` field's), or none to replace
                values, kinds = [primary, *values], [None, *kinds]
            else:
                values[index] = primary
        elif primary is None and values:
            primary = values[0]
        default = self.default_kind(field)
        kinds = [k or before.get(self.key(v)) or default for v, k in zip(values, kinds, strict=True)]
        offered = self.offered(field)
        had = set(before.values())  # a kind the record holds stays valid on it (hidden, or gone)
        problems: dict[int, list[str]] = {}
        for number, kind in enumerate(kinds, 1):
            if kind in offered or kind in had:
                continue
            if kind in self.kind_values(field):
                problems[number] = [message(KIND_GONE, kind=kind)]
            else:
                problems[number] = [message(NOT_A_KIND, kind=kind, kinds=", ".join(offered))]
        if problems:
            raise FieldValueError("", items=problems)
        if len(values) > max(self.max_items(field), count):
            raise FieldValueError(message(TOO_MANY, limit=self.max_items(field), what=message(self.plural),
                                          count=len(values)))
        record[name] = primary if values else None
        record[items_key] = values or None
        record[kinds_key] = kinds or None

    def fill_parts(self, record, field):
        values = self.stored_items(record, field)
        return {f"{field.name}_items": [v for v, _k in values] or None,
                f"{field.name}_kinds": [k for _v, k in values] or None}

    def each_value(self, record, field):
        items = record.get(f"{field.name}_items")
        if isinstance(items, list) and items:
            return [(f".{i}", v) for i, v in enumerate(items, 1)]
        return super().each_value(record, field)

    # -- reading -------------------------------------------------------------------------------
    def search_texts(self, record, field):
        return list(dict.fromkeys(v for v, _k in self.stored_items(record, field)))

    def others(self, record: Mapping[str, Any], field) -> list[tuple[str, str]]:
        """(value, kind) of the items that are not the primary."""
        return [(v, k) for v, k, first in self.primary_first(record, field) if not first]

    def href(self, value: str) -> str:
        """The link of one value (mailto:, tel:)."""
        raise NotImplementedError

    def masked_keys(self, field) -> list[str]:
        return list(self.keys(field)[:2])  # the primary and every item; the kinds stay readable

    def check_spec(self, spec, report) -> None:
        check_mask(spec, report)
        kinds = spec.get("kinds")
        if isinstance(kinds, list):
            seen: set[str] = set()
            for item in kinds:
                value = str(item.get("value")) if isinstance(item, Mapping) else str(item)
                if value in seen:
                    report("E406", f"kind '{value}' is listed twice", "kinds")
                seen.add(value)
            if kinds and all(isinstance(k, Mapping) and k.get("hidden") for k in kinds):
                report("E407", "every kind is hidden: at least one must be offered", "kinds",
                       "remove 'hidden' from one of them")


class EmailsType(ContactListType):
    name = "emails"
    item_type = EmailType()
    default_kinds = ("work", "personal", "other")
    what = N_("e-mail address")
    add_label = N_("Add e-mail address")
    description = "Several e-mail addresses with kinds, one primary (NAME, NAME_items, NAME_kinds)."

    def href(self, value: str) -> str:
        return f"mailto:{value}"


class PhonesType(ContactListType):
    name = "phones"
    item_type = PhoneType()
    default_kinds = ("work", "mobile", "home", "other")
    what = N_("phone number")
    add_label = N_("Add phone number")
    description = "Several phone numbers with kinds, one primary (NAME, NAME_items, NAME_kinds)."

    def key(self, value: str) -> Any:
        try:
            phone = parse_phone(value)
        except FieldValueError:
            return value
        return phone.digits, phone.extension

    def search_texts(self, record, field):
        texts: list[str] = []
        for value, _kind in self.stored_items(record, field):
            texts += phone_search_texts(value)
        return list(dict.fromkeys(texts))

    def href(self, value: str) -> str:
        """`tel:+14155550188;ext=12`: the digits a phone dials (RFC 3966)."""
        try:
            phone = parse_phone(value)
        except FieldValueError:
            return "tel:" + "".join(ch for ch in value if ch.isdigit() or ch == "+")
        text = ("+" if phone.international else "") + phone.digits
        return f"tel:{text}" + (f";ext={phone.extension}" if phone.extension else "")


def _article(what: str) -> str:
    return ("an " if what[:1] in "aeiou" else "a ") + what


__all__ = ["ContactListType", "EmailsType", "Kind", "KNOWN_KINDS", "PhonesType"]
