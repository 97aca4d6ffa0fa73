"""Record forms generated from the compiled model with WTForms.

One form class per entity, built once per metadata version (`form_class`), with a widget
per field type: text inputs and text areas, text inputs for numbers (`inputmode`
decimal or numeric; the service reads them in the user's language), date and
datetime-local inputs, selects for choices and users, a checkbox list for
multi-choices, a comma-separated input for tags, checkboxes for booleans, e-mail /
phone / URL inputs, an amount and a currency for money (the amount alone when its currency
is another field's), one group of inputs for a field typed in parts (`FieldType.form_keys`:
a person's name, an address), a search-as-you-type lookup for links, a select of the kinds
of record and a lookup of the chosen kind for polymorphic links (engine/web/polymorphic.py),
an inline table of rows for lines (and for `links` with their payload), and rows of kind,
value and primary for several e-mails or phones (engine/web/contact_forms.py). Rollups are
worked out from other records: they are shown on record pages, never in forms.

The form decides no rule. `RecordForm` turns a post into the values the records
service takes, and shows the record as it would be: it runs the service's own pure steps
from `engine/records/values.py` (coercion, defaults, child rows, computed values,
`is_visible` / `is_required`, `readonly_when`) on a draft, so that a field appears,
disappears or becomes required while the user types, with one evaluator on the server.
What is valid is only ever decided by `service().create/update`; their
`ValidationError.errors` are put next to the fields they name (`lines.2.quantity`
included).

Posted keys are checked: anything that is neither a control key, a field of the form, nor
a key of the entity (those the form does not show go to the service, which refuses them)
is a `BadInput` (400).
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from flask import g
from flask_babel import get_timezone
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.form import BaseForm
from wtforms.widgets import (
    DateInput,
    DateTimeLocalInput,
    EmailInput,
    HiddenInput,
    TelInput,
    TextInput,
    URLInput,
)

from ..fields.base import FieldValueError
from ..fields.duration import format_duration
from ..fields.numbers import edit_text
from ..model.model import Entity, Field, Section, text
from ..records import Context, titles
from ..records.values import (
    STANDARD_READONLY,
    apply_defaults,
    coerce_input,
    compute,
    condition,
    derive_values,
    fill_currencies,
    input_keys,
    is_required,
    is_visible,
    merge_changed_rows,
    prepare_lines,
)
from ..storage import users
from ..workflows import guard
from . import contact_forms, link_forms, polymorphic
from .auth import context
from .i18n import fmt, language, say
from .i18n import gettext as _
from .state import WebState

# _then: "save and new"; _changed: the input whose change posted the form (engine/web/link_forms.py)
CONTROL_KEYS = frozenset({"csrf_token", "version", "_action", "_present", "form_token", "_then", "_changed"})
MAX_ROWS = 500
ROWS = ("lines", "links")
FALSE_TEXT = ("", "0", "false", "off", "no", "n", "f")


class BadInput(Exception):
    """A post no form of ours produces (unknown keys, malformed row names, too many rows):
    a 400, and nothing is saved."""


# -- form classes ---------------------------------------------------------------------------
class ModelForm(Form):
    """A WTForms form whose fields are reached only as `form[name]`, never as attributes,
    so a field may be called `data`, `errors` or `process`. `_model_fields` lists them."""

    _model_fields: list = []

    def __init__(self, formdata=None, obj=None, prefix="", data=None, meta=None, **kwargs):
        meta_obj = self._wtforms_meta()
        if isinstance(meta, dict):
            meta_obj.update_values(meta)
        BaseForm.__init__(self, self._model_fields, meta=meta_obj, prefix=prefix)
        self.process(formdata, obj, data=data, **kwargs)


_CLASSES: dict[tuple[str, str], type[ModelForm]] = {}
_LOCK = threading.Lock()


def form_class(entity: Entity, version: str) -> type[ModelForm]:
    """The form class of an entity for a metadata version (built once, then cached)."""
    key = (version, entity.name)
    cls = _CLASSES.get(key)
    if cls is None:
        with _LOCK:
            for old in [k for k in _CLASSES if k[0] != version]:
                del _CLASSES[old]
            cls = _CLASSES.get(key)
            if cls is None:
                cls = _CLASSES[key] = _build_class(f"{entity.name}_form", entity.fields.values())
    return cls


def _build_class(name: str, fields, row_id: bool = False) -> type[ModelForm]:
    unbound = [("id", StringField(widget=HiddenInput()))] if row_id else []
    for field in fields:
        unbound += _unbound(field)
    return type(name, (ModelForm,), {"_model_fields": unbound})


def in_form(field: Field) -> bool:
    """Whether users edit this field in forms at all (`readonly_when` is judged per record)."""
    return not (field.hidden or field.readonly or field.is_computed or field.is_autonumber)


def grouped(field: Field) -> list[str]:
    """The keys of a field edited as a group of inputs (a person's name, an address), or []
    for a field with one input. Money keeps its own amount-and-currency pair, a polymorphic
    link its kind-and-record pair."""
    if field.type.name in ("money", "polymorphic_link"):
        return []
    keys = field.type.form_keys(field)
    return keys if keys != [field.name] else []


class NumberText(TextInput):
    """A number typed as text, read by the server in the user's language (`0,012` is not
    guessed at): `<input type=number>` would let the browser turn `0,012` into `0012` or
    drop what it cannot read. `inputmode` brings up a numeric keyboard on phones."""

    def __init__(self, mode: str = "decimal"):
        super().__init__()
        self.mode = mode

    def __call__(self, field, **kwargs):
        kwargs.setdefault("inputmode", self.mode)
        kwargs.setdefault("autocomplete", "off")
        return super().__call__(field, **kwargs)


def _unbound(field: Field) -> list[tuple[str, Any]]:
    if not in_form(field):
        return []
    kind = field.type.name
    name = field.name
    if kind == "lines":
        return [(name, FieldList(FormField(_build_class(f"{field.entity}_{name}_row", field.subfields.values(),
                                                        row_id=True))))]
    if kind == "links":
        row = _build_class(f"{field.entity}_{name}_link", field.subfields.values(), row_id=True)
        return [(name, FieldList(FormField(row)))]
    if contact_forms.is_item_list(field):
        return contact_forms.unbound(field, ModelForm)
    if kind == "money":
        amount = (name, StringField(widget=NumberText("decimal")))
        if field.currency_field:  # the currency is another field's value: just the amount here
            return [amount]
        return [amount, (f"{name}_currency", SelectField(validate_choice=False))]
    if kind == "polymorphic_link":  # the record (`KIND:ID`, set by the lookup) and its kind
        return [(name, StringField(widget=HiddenInput())),
                (polymorphic.entity_key(field), SelectField(validate_choice=False))]
    keys = grouped(field)
    if keys:
        return [(key, TextAreaField() if field.type.input_kind(key, field) == "textarea" else StringField())
                for key in keys]
    if kind == "boolean":
        return [(name, BooleanField(false_values=FALSE_TEXT))]
    if kind in ("choice", "user"):
        return [(name, SelectField(validate_choice=False))]
    if kind == "multichoice":
        return [(name, SelectMultipleField(validate_choice=False))]
    if kind == "text":
        return [(name, TextAreaField())]
    widget = {
        "integer": NumberText("numeric"),
        "decimal": NumberText("decimal"),
        "percent": NumberText("decimal"),
        "date": DateInput(),
        "datetime": DateTimeLocalInput(),
        "email": EmailInput(),
        "phone": TelInput(),
        "url": URLInput(),
        "link": HiddenInput(),
    }.get(kind, TextInput())
    return [(name, StringField(widget=widget))]


# -- values as the form shows them ----------------------------------------------------------
def _zone():
    return get_timezone()


def local_to_utc(raw: Any) -> Any:
    """A datetime-local value (the user's time zone) as an aware datetime; text that is no
    date is passed on unchanged, for the service to refuse."""
    value = raw.strip() if isinstance(raw, str) else raw
    if not value or not isinstance(value, str):
        return raw
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return raw
    if moment.tzinfo is None:
        zone = _zone()
        moment = zone.localize(moment) if hasattr(zone, "localize") else moment.replace(tzinfo=zone)
    return moment


def local_moment(raw: Any) -> Any:
    """A date_or_datetime input: a day stays a day; a day and time is in the user's zone."""
    value = raw.strip() if isinstance(raw, str) else raw
    if isinstance(value, str) and len(value) == 10:
        try:
            date.fromisoformat(value)
            return value
        except ValueError:
            return raw
    return local_to_utc(raw)


def raw_value(field: Field, value: Any) -> Any:
    """A stored value as its form input holds it (a number in the user's language, without
    grouping: `1234,5` in German, so that an unchanged post reads the same value)."""
    kind = field.type.name
    if kind == "boolean":
        return bool(value)
    if kind == "multichoice":
        return [str(v) for v in value or []]
    if value is None:
        return ""
    if kind == "tags" and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, timedelta):
        return format_duration(value, language())
    if kind == "date_or_datetime" and isinstance(value, datetime):
        return value.astimezone(_zone()).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, datetime):
        local = value.astimezone(_zone()).replace(tzinfo=None)
        return local.strftime("%Y-%m-%dT%H:%M" if not local.second else "%Y-%m-%dT%H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return edit_text(value)
    return str(value)


def raw_record(fields: Mapping[str, Field], record: Mapping[str, Any]) -> dict[str, Any]:
    """A record as the data of a form (rows as objects, so sub-field names never clash
    with keyword arguments)."""
    data: dict[str, Any] = {}
    for name, field in fields.items():
        if not in_form(field):
            continue
        value = record.get(name)
        if field.type.name in ROWS:
            data[name] = [SimpleNamespace(id=str(row.get("id") or ""),
                                          **{k: v for k, v in raw_record(field.subfields, row).items() if k != "id"})
                          for row in value or [] if isinstance(row, Mapping)]
        elif contact_forms.is_item_list(field):
            data[name], data[contact_forms.primary_key(name)] = contact_forms.record_rows(field, record)
        elif field.type.name == "money":
            data[name] = raw_value(field, value)
            if not field.currency_field:
                data[f"{name}_currency"] = record.get(f"{name}_currency") or ""
        elif field.type.name == "polymorphic_link":
            kind = record.get(polymorphic.entity_key(field))
            data[name] = polymorphic.form_value(kind, value)
            data[polymorphic.entity_key(field)] = kind or ""
        elif grouped(field):
            for key, part in field.type.form_values(record, field).items():
                data[key] = "" if part is None else str(part)
        else:
            data[name] = raw_value(field, value)
    return data


# -- lookups used by forms and record pages --------------------------------------------------
def service():
    return WebState.of().service


def title_of(entity: Entity, row: Mapping[str, Any]) -> str:
    """The title of a row in the reader's language (engine/records/titles.py)."""
    return titles.title_of(entity, row, language(), fmt)


def title_columns(entity: Entity) -> tuple[str, ...]:
    """The fields the reader's titles of this entity need (for `Query.columns`)."""
    return titles.title_columns(entity, service().access(entity, context()).visible)


def read_titles(entity: Entity, ids, context: Context) -> dict[int, str]:
    """{id: title} of records the reader may read, in their language."""
    return titles.read_titles(service(), entity, ids, context, language(), fmt)


def link_titles(wanted: Mapping[str, set[int]], context: Context) -> dict[tuple[str, int], str]:
    """Titles of linked records, one query per target entity: {(entity, id): title}
    (a link to a record the user may not read is left out: it shows as #id)."""
    model = WebState.of().model
    found: dict[tuple[str, int], str] = {}
    for name, ids in wanted.items():
        target = model.entities.get(name)
        if target is None:
            continue
        for record_id, title in read_titles(target, ids, context).items():
            found[(name, record_id)] = title
    return found


ACTIVE_USERS = (sa.select(users.c.id, users.c.display_name, users.c.username).where(users.c.is_active == sa.true())
                .order_by(users.c.display_name, users.c.username))  # built once: most pages read it


def active_users() -> list[tuple[int, str]]:
    """Active users by name, read once per request (user fields, the owner filter of a list
    and the names of owners on a page all need them)."""
    found = g.get("_tailor_active_users")
    if found is None:
        with WebState.of().service.reading() as conn:
            rows = conn.execute(ACTIVE_USERS).all()
        found = g._tailor_active_users = [(r.id, r.display_name or r.username) for r in rows]
    return found


def user_names(ids) -> dict[int, str]:
    """Names of users by id: active ones from `active_users()`, others read."""
    wanted = {i for i in ids if isinstance(i, int)}
    if not wanted:
        return {}
    known = dict(active_users())
    names = {i: known[i] for i in wanted if i in known}
    missing = sorted(wanted - set(names))  # users no longer active
    if missing:
        with WebState.of().service.reading() as conn:
            rows = conn.execute(sa.select(users.c.id, users.c.display_name, users.c.username)
                                .where(users.c.id.in_(missing))).all()
        names.update({r.id: r.display_name or r.username for r in rows})
    return names


def collect_links(fields: Mapping[str, Field], record: Mapping[str, Any], wanted: dict[str, set[int]],
                  user_ids: set[int]) -> None:
    """The ids of linked records and users a record shows (rows included)."""
    for name, field in fields.items():
        value = record.get(name)
        kind = field.type.name
        if kind == "link" and isinstance(value, int):
            wanted.setdefault(field.to, set()).add(value)
        elif kind == "polymorphic_link":
            target, record_id = polymorphic.target_of(field, record)
            if target is not None:
                wanted.setdefault(target, set()).add(record_id)
        elif kind == "user" and isinstance(value, int):
            user_ids.add(value)
        elif kind == "lines" and isinstance(value, list):
            for row in value:
                if isinstance(row, Mapping):
                    collect_links(field.subfields, row, wanted, user_ids)
        elif kind == "links" and isinstance(value, list):
            for row in value:
                if isinstance(row, Mapping):
                    if isinstance(row.get("id"), int):
                        wanted.setdefault(field.to, set()).add(row["id"])
                    collect_links(field.subfields, row, wanted, user_ids)


# -- layout ---------------------------------------------------------------------------------
def layout(entity: Entity) -> list[tuple[Mapping[str, str], list[Section]]]:
    """Tabs and sections from the YAML; fields in no section come last, in a section of
    their own, so a required field is never out of reach."""
    tabs = [(tab.label, list(tab.sections)) for tab in entity.tabs]
    placed = {name for tab in entity.tabs for s in tab.sections for name in s.fields}
    rest = tuple(n for n, f in entity.fields.items() if n not in placed and not f.hidden)
    if rest:
        extra = Section(label={}, fields=rest, columns=2)
        if tabs:
            tabs[-1][1].append(extra)
        else:
            tabs.append(({}, [extra]))
    return tabs


def wide(field: Field) -> bool:
    return field.type.name in ("lines", "links", "text")


@dataclass(frozen=True)
class State:
    shown: bool
    editable: bool
    required: bool


# -- one form for one request ---------------------------------------------------------------
class RecordForm:
    """The form of one record (new when `old` is None), from a post or from the record.

    * `data`: the values for `service().create` (everything posted);
    * `changes()`: the values for `service().update` (what differs from the record);
    * `draft`: the record as it would be, for showing conditional and computed fields;
    * `set_errors(errors)`: the service's errors, next to their fields.
    """

    def __init__(self, entity: Entity, context: Context, *, version: str, old: dict[str, Any] | None = None,
                 formdata=None, prefill: Mapping[str, Any] | None = None):
        self.entity = entity
        self.context = context
        self.old = old
        self.access = service().access(entity, context)  # the user's field rules
        with service().reading() as conn:  # and the workflow's: the state, locks, read-only states
            self.workflow_readonly = guard.readonly_fields(service(), conn, entity, old, context) or frozenset()
        self.cls = form_class(entity, version)
        self.general: list[tuple[str, list[str]]] = []
        self.static_errors: dict[str, list[str]] = {}
        self.action: tuple[str, ...] | None = None
        self.raw: dict[str, Any] = {}
        self.data: dict[str, Any] = {}
        self.passed: dict[str, Any] = {}
        self.item_positions: dict[str, list[int]] = {}  # the row of each item sent (errors go there)
        self.copied: list[tuple[str | None, int | None, dict[str, Any]]] = []  # read-only copies (link_forms)
        if formdata is None:
            self.posted = False
            self.present: set[str] = set()
            self.data = self._prefill(prefill or {})
            self.draft = self._make_draft()
            self.form = self.cls(data=raw_record(entity.fields, self.draft))
            self._prefill_kinds()
        else:
            self.posted = True
            indices = self._check_keys(formdata)
            self.present = set(formdata.getlist("_present"))
            self.form = self.cls(formdata=formdata)
            self._collect(formdata)
            self._apply_action(formdata, indices)
            if formdata.get("_changed"):  # a link just picked: the fields copying from it follow
                link_forms.copy_linked(self, formdata["_changed"], service())
            self.draft = self._make_draft()
        self._titles: dict[tuple[str, int], str] | None = None
        self._choices()

    # -- reading a post -----------------------------------------------------------------
    def _row_fields(self) -> dict[str, Field]:
        names = _unbound_names(self.cls)
        return {n: f for n, f in self.entity.fields.items() if f.type.name in ROWS and n in names}

    def _item_fields(self) -> dict[str, Field]:
        """The emails and phones fields the form edits as rows of items."""
        names = _unbound_names(self.cls)
        return {n: f for n, f in self.entity.fields.items() if contact_forms.is_item_list(f) and n in names}

    def _check_keys(self, formdata) -> dict[str, list[int]]:
        names = _unbound_names(self.cls)
        known = set(CONTROL_KEYS) | names | set(input_keys(self.entity)) | {"owner"} | STANDARD_READONLY
        rows = self._row_fields()
        item_fields = self._item_fields()
        for field in item_fields.values():  # posted as rows, never as the record's own keys
            known -= contact_forms.own_keys(field)
        pattern = re.compile(r"^([a-z][a-z0-9_]*)-([0-9]{1,6})-([a-z][a-z0-9_]*)$")
        indices: dict[str, set[int]] = {name: set() for name in (*rows, *item_fields)}
        unknown = []
        for key in formdata.keys():
            if key in known:
                continue
            match = pattern.match(key)
            if match and match.group(1) in item_fields and match.group(3) in contact_forms.ROW_KEYS:
                indices[match.group(1)].add(int(match.group(2)))
                continue
            if match and match.group(1) in rows:
                field = rows[match.group(1)]
                sub = match.group(3)
                sub_keys = {"id"} | {k for s in field.subfields.values() for k in s.type.input_keys(s)}
                if sub in sub_keys:
                    indices[match.group(1)].add(int(match.group(2)))
                    continue
            unknown.append(key)
        if unknown:
            raise BadInput(_("Unknown fields: %(names)s", names=", ".join(sorted(unknown)[:10])))
        if any("\x00" in value for _key, value in formdata.items(multi=True)):
            raise BadInput(_("A value contains a character that cannot be stored."))
        for name, found in indices.items():
            limit = contact_forms.MAX_ITEM_ROWS if name in item_fields else MAX_ROWS
            if len(found) > limit:
                raise BadInput(_("%(name)s: at most %(count)s rows", name=name, count=limit))
        for name in item_fields:
            token = formdata.get(contact_forms.primary_key(name), "")
            if token and not re.fullmatch(r"[0-9]{1,6}", token):
                raise BadInput(_("Unknown fields: %(names)s", names=contact_forms.primary_key(name)))
        for name in formdata.getlist("_present"):
            if name not in names:
                raise BadInput(_("Unknown fields: %(names)s", names=name))
        return {name: sorted(found) for name, found in indices.items()}

    def _collect(self, formdata) -> None:
        """The posted values, for the service: only what the page had (a checkbox or a
        checkbox list the page showed but the post lacks is unticked)."""
        shown = self.present
        for name, field in self.entity.fields.items():
            if not self.has_input(name):
                continue
            kind = field.type.name
            if kind in ROWS:
                if name in shown or any(k.startswith(name + "-") for k in formdata.keys()):
                    raws, values = [], []
                    for entry in self.form[name].entries:
                        raw, value = self._row(field, entry.form, formdata)
                        raws.append(raw)
                        values.append(value)
                    self.raw[name] = raws
                    self.data[name] = values
            elif contact_forms.is_item_list(field):
                if name in shown or any(k.startswith(name + "-") for k in formdata.keys()):
                    self._collect_items(field)
            elif kind == "boolean":
                if name in formdata:
                    self.raw[name] = self.data[name] = formdata.get(name)
                elif name in shown:
                    self.raw[name] = self.data[name] = False
            elif kind == "multichoice":
                if name in formdata or name in shown:
                    self.raw[name] = self.data[name] = formdata.getlist(name)
            elif kind == "money":
                for key in field.type.input_keys(field):
                    if key in formdata:
                        self.raw[key] = self.data[key] = formdata.get(key)
            elif kind == "polymorphic_link":
                key = polymorphic.entity_key(field)
                if name in formdata or key in formdata:
                    self.raw[name], self.raw[key] = formdata.get(name, ""), formdata.get(key, "")
                    record_id, chosen = polymorphic.posted(self.raw[name], self.raw[key])
                    self.data[name] = polymorphic.form_value(chosen, record_id)
                    self.data[key] = chosen
                    self.form[name].data = self.data[name]  # emptied when the kind changed
            elif grouped(field):
                for key in grouped(field):
                    if key in formdata:
                        self.raw[key] = self.data[key] = formdata.get(key)
            elif name in formdata:
                self.raw[name] = formdata.get(name)
                self.data[name] = _local(kind, self.raw[name])
        for key in formdata.keys():  # keys of the entity the form does not edit: the service judges them
            if key not in CONTROL_KEYS and key not in self.form and "-" not in key and key != "id":
                self.passed[key] = self.data[key] = formdata.get(key)

    def _collect_items(self, field: Field) -> None:
        """The items of an emails or phones field from its rows as they are now."""
        name = field.name
        token = self.form[contact_forms.primary_key(name)].data
        reads, values, positions = contact_forms.posted(field, self.form[name].entries, token)
        self.raw[name] = reads
        self.data[name] = values
        self.item_positions[name] = positions

    def _row(self, field: Field, form: BaseForm, formdata) -> tuple[dict, dict]:
        raw: dict[str, Any] = {}
        prefix = form._prefix
        row_id = form["id"].data
        if row_id not in (None, ""):
            raw["id"] = row_id
        for name, sub in field.subfields.items():
            kind = sub.type.name
            if name not in form:
                for key in sub.type.input_keys(sub):
                    if prefix + key in formdata:
                        raw[key] = formdata.get(prefix + key)
                continue
            if kind == "boolean":
                raw[name] = formdata.get(prefix + name, False)
            elif kind == "multichoice":
                raw[name] = formdata.getlist(prefix + name)
            elif kind == "money":
                for key in sub.type.input_keys(sub):
                    if prefix + key in formdata:
                        raw[key] = formdata.get(prefix + key)
            elif prefix + name in formdata:
                raw[name] = formdata.get(prefix + name)
        value = dict(raw)
        for name, sub in field.subfields.items():
            if sub.type.name == "datetime" and name in value:
                value[name] = local_to_utc(value[name])
        return raw, value

    def _apply_action(self, formdata, indices: dict[str, list[int]]) -> None:
        """`add:lines` appends a row (with its defaults), `remove:lines:N` drops posted row N:
        buttons of the lines table, answered by re-showing the form, never by saving."""
        action = formdata.get("_action")
        if not action:
            return
        parts = action.split(":")
        rows = self._row_fields()
        item_fields = self._item_fields()
        if len(parts) >= 2 and parts[1] in item_fields:
            self._item_action(item_fields[parts[1]], parts, indices.get(parts[1], []))
        elif len(parts) == 2 and parts[0] == "add" and parts[1] in rows:
            field = rows[parts[1]]
            if len(self.form[field.name].entries) >= MAX_ROWS:
                raise BadInput(_("%(name)s: at most %(count)s rows", name=field.name, count=MAX_ROWS))
            fresh: dict[str, Any] = {}
            apply_defaults(field.subfields, fresh, self.context)
            raw = raw_record(field.subfields, fresh)
            self.form[field.name].append_entry(SimpleNamespace(id="", **raw))
            value = {k: local_to_utc(v) if k in field.subfields and field.subfields[k].type.name == "datetime"
                     else v for k, v in raw.items()}
            self.raw.setdefault(field.name, []).append(raw)
            self.data.setdefault(field.name, []).append(value)
        elif len(parts) == 3 and parts[0] == "remove" and parts[1] in rows and parts[2].isascii() and parts[2].isdigit() \
                and int(parts[2]) in indices.get(parts[1], []):
            position = indices[parts[1]].index(int(parts[2]))
            listing = self.form[parts[1]]
            del listing.entries[position]
            listing._compact_indices()
            del self.raw[parts[1]][position]
            del self.data[parts[1]][position]
        else:
            raise BadInput(_("Unknown action."))
        self.present.add(parts[1])
        self.action = tuple(parts)

    def _item_action(self, field: Field, parts: list[str], indices: list[int]) -> None:
        """`add:NAME` adds a row of the next kind; `remove:NAME:N` drops row N (the primary
        goes to the first row left when it was that one)."""
        listing = self.form[field.name]
        primary = self.form[contact_forms.primary_key(field.name)]
        chosen = next((e for e in listing.entries if e.short_name == str(primary.data or "")), None)
        if len(parts) == 2 and parts[0] == "add":
            if len(listing.entries) >= field.type.max_items(field):
                raise BadInput(_("%(name)s: at most %(count)s rows", name=field.name,
                                 count=field.type.max_items(field)))
            listing.append_entry(SimpleNamespace(value="", kind=contact_forms.next_kind(field, listing.entries)))
            if chosen is None:
                chosen = listing.entries[0]
        elif len(parts) == 3 and parts[0] == "remove" and parts[2].isascii() and parts[2].isdigit() and int(parts[2]) in indices:
            position = indices.index(int(parts[2]))
            del listing.entries[position]
            listing._compact_indices()
            if chosen is None or chosen not in listing.entries:
                chosen = listing.entries[0] if listing.entries else None
        else:
            raise BadInput(_("Unknown action."))
        primary.data = chosen.short_name if chosen is not None else ""
        self._collect_items(field)

    def _prefill(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Values given in the address of a new form (`?customer=5`): simple fields only,
        and polymorphic links as `?parent=customer:5` (or just the kind, `?parent=customer`)."""
        data = {}
        for key, value in values.items():
            field = self.entity.fields.get(key)
            if field is not None and in_form(field) and field.type.name == "polymorphic_link":
                try:
                    kind, record_id = field.type.target(value, field)
                except FieldValueError:
                    continue  # not a kind of this field: an empty input, as for any odd value
                data[key] = polymorphic.form_value(kind, record_id)
                data[polymorphic.entity_key(field)] = kind or ""
            elif field is not None and in_form(field) and field.type.name not in ROWS + ("money", "multichoice") \
                    and not grouped(field):
                data[key] = _local(field.type.name, value)
        return data

    def _prefill_kinds(self) -> None:
        """A kind given without a record (`?parent=customer`) stays chosen: the record is
        still to be picked (the draft, like the service, holds no kind without a record)."""
        for field in self.entity.fields.values():
            key = polymorphic.entity_key(field)
            if field.type.name == "polymorphic_link" and self.data.get(key) and key in self.form \
                    and not self.form[key].data:
                self.form[key].data = self.data[key]

    # -- the record as it would be -------------------------------------------------------
    def _make_draft(self) -> dict[str, Any]:
        ignored: dict[str, list[str]] = {}
        changes = coerce_input(self.entity, copy.deepcopy(self.data), creating=self.old is None, trusted=False,
                               errors=ignored)
        if self.old is not None:
            record = copy.deepcopy(self.old)
            merge_changed_rows(self.entity, changes, record, ignored)
            record.update(changes)
            link_forms.merge_copied(self, record)
        else:
            record = changes
            link_forms.merge_copied(self, record)
            apply_defaults(self.entity.fields, record, self.context)
        fill_currencies(self.entity.fields, record)
        derive_values(self.entity.fields, record, self.old)
        prepare_lines(self.entity, record, self.context, ignored)
        compute(self.entity.fields, self.entity.computed_order, record, self.context, ignored)
        return record

    def readonly_now(self, field: Field) -> bool:
        """`readonly_when`, judged as the service judges it: on the record as it was."""
        return (self.old is not None and field.readonly_when is not None
                and condition(field.readonly_when, self.old, self.context))

    def state(self, name: str) -> State:
        field = self.entity.fields[name]
        # a rollup is worked out from other records: record pages show it, forms do not
        shown = not field.hidden and field.rollup is None and self.access.visible(name) \
            and is_visible(field, self.draft, self.context)
        editable = shown and self.has_input(name) and not self.readonly_now(field) \
            and self.access.editable(name, "update" if self.old is not None else "create") \
            and name not in self.workflow_readonly
        required = shown and not field.is_computed and not field.is_autonumber \
            and is_required(field, self.draft, self.context)
        return State(shown, editable, required)

    def has_input(self, name: str) -> bool:
        """Whether the form has an input for the field (for a group, one per part)."""
        keys = grouped(self.entity.fields[name])
        return all(k in self.form for k in keys) if keys else name in self.form

    def group(self, name: str) -> list[tuple[str, str]]:
        """The inputs of a field edited as a group, with their labels: [(key, label)]."""
        field = self.entity.fields[name]
        keys = field.type.form_order(grouped(field), field, language())
        return [(key, _(field.type.part_label(key[len(name) + 1:]))) for key in keys]

    def item_list(self, name: str) -> bool:
        """Whether the field is edited as rows of items (emails, phones)."""
        return contact_forms.is_item_list(self.entity.fields.get(name))

    def primary_position(self, name: str) -> int:
        return contact_forms.primary_position(self.form, name)

    def row_draft(self, name: str, index: int) -> dict[str, Any]:
        rows = self.draft.get(name)
        if isinstance(rows, list) and index < len(rows) and isinstance(rows[index], dict):
            return rows[index]
        return {}

    def sub_state(self, name: str, sub: str, index: int) -> State:
        field = self.entity.fields[name].subfields[sub]
        row = self.row_draft(name, index)
        shown = not field.hidden and is_visible(field, row, self.context)
        editable = shown and in_form(field)
        required = shown and not field.is_computed and is_required(field, row, self.context)
        return State(shown, editable, required)

    def layout(self):
        """[(tab label, [(section, [field names shown])])], empty sections left out."""
        result = []
        for label, sections in layout(self.entity):
            shown = []
            for section in sections:
                names = [n for n in section.fields if n in self.entity.fields and self.state(n).shown]
                if names:
                    shown.append((section, names))
            if shown:
                result.append((label, shown))
        return result

    # -- choices --------------------------------------------------------------------------
    def _options(self, field: Field, current: Any) -> list[tuple[str, str]]:
        """The options offered, and a value the record holds that is not one any more (a
        hidden option, or one kept by a migration): it stays selected, so saving the record
        keeps it instead of emptying it."""
        had = [v for v in (current if isinstance(current, list) else [current]) if v not in (None, "")]
        lang = language()
        offered = [(o.value, text(o.label, lang, o.value)) for o in field.options if not o.hidden or o.value in had]
        known = set(field.option_values)
        return offered + [(str(v), str(v)) for v in had if v not in known]

    def _choices(self) -> None:
        people = None
        old = self.old or {}
        for name, field in self.entity.fields.items():
            if name not in self.form:
                continue
            kind = field.type.name
            if kind == "choice":
                self.form[name].choices = [("", "—")] + self._options(field, old.get(name))
            elif kind == "multichoice":
                self.form[name].choices = self._options(field, old.get(name))
            elif kind == "user":
                people = people if people is not None else active_users()
                self.form[name].choices = self._people(people, old.get(name))
            elif kind == "money" and f"{name}_currency" in self.form:
                self.form[f"{name}_currency"].choices = self._currencies(field, old.get(f"{name}_currency"))
            elif contact_forms.is_item_list(field):
                for entry in self.form[name].entries:
                    select = entry.form["kind"]
                    select.choices = contact_forms.kind_choices(field, select.data, language())
            elif kind == "polymorphic_link":
                key = polymorphic.entity_key(field)
                self.form[key].choices = [("", "—")] + polymorphic.kind_choices(field, old.get(key))
            elif kind in ROWS:
                before = {row.get("id"): row for row in old.get(name) or [] if isinstance(row, Mapping)}
                for entry in self.form[name].entries:
                    row_form = entry.form
                    try:
                        was = before.get(int(row_form["id"].data or 0), {})
                    except (TypeError, ValueError):
                        was = {}
                    for sub_name, sub in field.subfields.items():
                        if sub_name not in row_form:
                            continue
                        if sub.type.name == "choice":
                            row_form[sub_name].choices = [("", "—")] + self._options(sub, was.get(sub_name))
                        elif sub.type.name == "multichoice":
                            row_form[sub_name].choices = self._options(sub, was.get(sub_name))
                        elif sub.type.name == "user":
                            people = people if people is not None else active_users()
                            row_form[sub_name].choices = self._people(people, was.get(sub_name))
                        elif sub.type.name == "money" and f"{sub_name}_currency" in row_form:
                            row_form[f"{sub_name}_currency"].choices = self._currencies(
                                sub, was.get(f"{sub_name}_currency"))

    def _people(self, people: list[tuple[int, str]], current: Any) -> list[tuple[str, str]]:
        choices = [("", "—")] + [(str(i), n) for i, n in people]
        if isinstance(current, int) and all(i != current for i, _ in people):
            choices.append((str(current), user_names([current]).get(current, f"#{current}")))
        return choices

    def _currencies(self, field: Field, current: Any) -> list[tuple[str, str]]:
        """The field's currencies (the set the service accepts), and the record's own code
        if it is no longer among them (it may keep it, as a hidden option)."""
        codes = list(field.currencies or (field.currency,))
        if current and current not in codes:
            codes.append(current)
        return [(c, c) for c in codes if c]

    # -- link titles ----------------------------------------------------------------------
    def titles(self) -> dict[tuple[str, int], str]:
        if self._titles is None:
            wanted: dict[str, set[int]] = {}
            collect_links(self.entity.fields, self.draft, wanted, set())
            self._titles = link_titles(wanted, self.context)
        return self._titles

    def link_title(self, target: str, raw: Any) -> str:
        try:
            number = int(str(raw).strip())
        except (TypeError, ValueError):
            return ""
        return self.titles().get((target, number), f"#{number}")

    def polymorphic_input(self, name: str) -> dict[str, Any]:
        """What the inputs of a polymorphic link show: the kind chosen, the title of the
        record picked (for the lookup's text), and whether records of that kind can be
        looked up by this user."""
        field = self.entity.fields[name]
        kind = self.form[polymorphic.entity_key(field)].data or ""
        record_id, kind = polymorphic.posted(self.form[name].data or "", kind)
        return {"kind": kind, "title": self.link_title(kind, record_id) if record_id else "",
                "lookup": kind in polymorphic.readable_kinds(field)}

    def lookup_params(self, field: Field, form_field: Any) -> dict[str, str]:
        """The query a link's lookup adds for its filter (engine/web/link_forms.py)."""
        return link_forms.lookup_params(self, field, form_field)

    def user_names(self) -> dict[int, str]:
        ids: set[int] = {i for i in (self.draft.get("owner"),) if isinstance(i, int)}
        collect_links(self.entity.fields, self.draft, {}, ids)
        return user_names(ids)

    def attrs(self, form_field, state: State, field: Field, part: bool = False) -> dict[str, Any]:
        """HTML attributes of an input: required and invalid for assistive technology, the
        placeholder in the user's language. No browser-side rules: the server judges.
        `part`: one input of a group (the group as a whole is required, not each part)."""
        attrs: dict[str, Any] = {}
        if state.required and not part:
            attrs["aria_required"] = "true"
        if form_field.errors:
            attrs["aria_invalid"] = "true"
            attrs["aria_describedby"] = f"{form_field.id}-error"
        placeholder = text(field.placeholder, language(), "") if not part else ""
        if placeholder:
            attrs["placeholder"] = placeholder
        elif field.type.name == "tags" and field.options:
            attrs["placeholder"] = ", ".join(o.value for o in field.options if not o.hidden)
        elif field.type.name == "duration":
            attrs["placeholder"] = _("e.g. 1:30, 90 min, 1h 30m")
        elif field.type.name == "date_or_datetime":
            attrs["placeholder"] = _("YYYY-MM-DD, or YYYY-MM-DD HH:MM")
        return attrs

    # -- for the service ------------------------------------------------------------------
    def changes(self) -> dict[str, Any]:
        """What the post changes in the record (for update): fields whose input differs
        from what the form showed for the stored record; of child rows, the changed keys of
        each row by its id (the service merges them into the stored row)."""
        assert self.old is not None
        before = raw_record(self.entity.fields, self.old)
        changes: dict[str, Any] = {}
        for name, field in self.entity.fields.items():
            if not self.has_input(name):
                continue
            kind = field.type.name
            if kind == "lines":
                if name in self.raw:
                    rows = self._row_changes(field, self.raw[name], self.data[name], before.get(name) or [])
                    if rows is not None:
                        changes[name] = rows
            elif kind == "links":
                if name in self.raw and [_row_comparable(field, r) for r in self.raw[name]] != \
                        [_row_comparable(field, vars(r)) for r in before.get(name) or []]:
                    changes[name] = self.data[name]
            elif contact_forms.is_item_list(field):
                if name in self.raw and self.raw[name] != contact_forms.stored(field, self.old):
                    changes[name] = self.data[name]
            elif kind == "polymorphic_link":
                key = polymorphic.entity_key(field)
                if name in self.raw or key in self.raw:
                    now = polymorphic.posted(self.data.get(name), self.data.get(key))
                    was = (raw_value(field, self.old.get(name)), self.old.get(key) or "")
                    if (now[0], now[1] if now[0] else "") != (was[0], was[1] if was[0] else ""):
                        changes.update({name: self.data[name], key: self.data[key]})
            elif kind == "money":
                currency = f"{name}_currency"
                amount_changed = name in self.raw and _comparable(self.raw[name]) != _comparable(before.get(name))
                currency_changed = currency in self.raw and before.get(name) not in (None, "") and \
                    _comparable(self.raw[currency]) != _comparable(before.get(currency))
                if amount_changed or currency_changed:
                    changes.update({k: self.data[k] for k in (name, currency) if k in self.data})
            elif grouped(field):  # every part posted when one changed (the service merges them)
                keys = [k for k in grouped(field) if k in self.raw]
                if any(_comparable(self.raw[k]) != _comparable(before.get(k)) for k in keys):
                    changes.update({k: self.data[k] for k in keys})
            elif name in self.raw and _comparable(self.raw[name], field) != _comparable(before.get(name), field):
                changes[name] = self.data[name]
        changes.update(self.passed)
        return changes

    def _row_changes(self, field: Field, posted: list[dict], values: list[dict], old_rows: list):
        old_by_id = {r.id: vars(r) for r in old_rows}
        changed = [r.get("id", "") for r in posted] != [r.id for r in old_rows]
        result = []
        for raw, value in zip(posted, values, strict=True):
            row_id = raw.get("id")
            if row_id in (None, "") or row_id not in old_by_id:
                result.append(value)
                changed = True
                continue
            was = old_by_id[row_id]
            row = {"id": value["id"]}
            for key, item in value.items():
                sub = field.subfields.get(key)
                if key != "id" and _comparable(raw.get(key), sub) != _comparable(was.get(key), sub):
                    row[key] = item
                    changed = True
            result.append(row)
        return result if changed else None

    # -- errors ---------------------------------------------------------------------------
    def set_errors(self, errors: Mapping[str, list[str]]) -> None:
        """The service's errors next to their fields; the rest above the form."""
        for key, messages in errors.items():
            messages = [say(m) for m in messages]  # (engine messages in the reader's language)
            target, prefix = self._error_target(key)
            if target is not None:
                target.errors = [*target.errors, *(prefix + m for m in messages)]
            else:
                self.general.append((self._error_label(key), messages))

    def _error_target(self, key: str):
        parts = key.split(".") if key else []
        if len(parts) == 1:
            name = parts[0]
            field = self.entity.fields.get(name)
            owner = input_keys(self.entity).get(name)
            if field is None and owner is not None and grouped(owner):  # a part of a group
                if name in self.form and self.state(owner.name).editable:
                    return self.form[name], ""
                if self.state(owner.name).shown:
                    return _Errors(self.static_errors, owner.name), ""
            if name in self.form and (field is None or self.state(name).editable):
                return self.form[name], ""  # (a currency's errors show with its amount)
            if field is not None and self.state(name).shown:
                return _Errors(self.static_errors, name), ""
        elif len(parts) == 2 and parts[1].isascii() and parts[1].isdigit() and parts[0] in self.item_positions \
                and self.state(parts[0]).editable:
            positions = self.item_positions[parts[0]]
            entries = self.form[parts[0]].entries
            number = int(parts[1])
            if 0 < number <= len(positions) and positions[number - 1] < len(entries):
                return entries[positions[number - 1]].form["value"], ""
        elif len(parts) == 3 and parts[0] in self.form and parts[1].isascii() and parts[1].isdigit() and \
                self.entity.fields[parts[0]].type.name in ROWS:
            entries = self.form[parts[0]].entries
            index = int(parts[1]) - 1
            if 0 <= index < len(entries):
                row_form = entries[index].form
                if parts[2] in row_form and parts[2] != "id":
                    return row_form[parts[2]], ""
                sub = self.entity.fields[parts[0]].subfields.get(parts[2])
                label = sub.label_text(language()) + ": " if sub is not None else ""
                return row_form["id"], label
        return None, ""

    def _error_label(self, key: str) -> str:
        if not key:
            return ""
        parts = key.split(".")
        lang = language()
        field = self.entity.fields.get(parts[0])
        if field is None and parts[0].endswith("_currency"):
            field = self.entity.fields.get(parts[0][: -len("_currency")])
        owner = input_keys(self.entity).get(parts[0])
        if field is None and owner is not None:  # a part: "Contact (last name)"
            return f"{owner.label_text(lang)} ({_(owner.type.part_label(parts[0][len(owner.name) + 1:]))})"
        if field is None:
            return key
        label = field.label_text(lang)
        if len(parts) >= 2:
            label += f" {parts[1]}"
        if len(parts) >= 3:
            sub = field.subfields.get(parts[2])
            label += " " + (sub.label_text(lang) if sub is not None else parts[2])
        return label

    def row_errors(self, entry) -> list[str]:
        return list(entry.form["id"].errors)


class _Errors:
    """Errors of a field shown read-only (no WTForms field of its own)."""

    def __init__(self, store: dict[str, list[str]], key: str):
        self.store = store
        self.key = key

    @property
    def errors(self) -> list[str]:
        return self.store.get(self.key, [])

    @errors.setter
    def errors(self, value) -> None:
        self.store[self.key] = list(value)


def _row_comparable(field: Field, row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _comparable(v, field.subfields.get(k)) for k, v in row.items()}


def _comparable(value: Any, field: Field | None = None) -> Any:
    """An input value reduced for comparing with the record's (a checkbox, a list of
    options, text with Windows line ends)."""
    if isinstance(value, SimpleNamespace):
        value = vars(value)
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k != "id" or v not in (None, "")}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if field is not None and field.type.name == "boolean":
        if isinstance(value, bool):
            return value
        return str(value or "").strip().lower() not in FALSE_TEXT
    if value is None or value is False:
        return "" if value is None else False
    if isinstance(value, str):
        return value.replace("\r\n", "\n")
    return value


def _local(kind: str, raw: Any) -> Any:
    """A posted date and time in the user's time zone, for the service (which takes UTC)."""
    if kind == "datetime":
        return local_to_utc(raw)
    if kind == "date_or_datetime":
        return local_moment(raw)
    return raw


def _unbound_names(cls) -> set[str]:
    return {name for name, _ in cls._model_fields}
