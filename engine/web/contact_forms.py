"""The inputs of an emails or phones field in record forms: a small repeating group.

Each item is a row of [kind select][value input][primary radio][remove], and one more row
is added by a button. Like the rows of `lines`, the buttons post the whole form
(`_action=add:NAME`, `remove:NAME:N`) and are answered by showing the form again, never by
saving; htmx swaps the fields part in place (engine/web/forms.py `RecordForm`).

Posted keys: `NAME-<n>-value`, `NAME-<n>-kind` for row n, and `NAME-primary` (the n of the
primary row). Nothing else of the field is accepted from a form (a plain `NAME` is a 400),
and an empty row is no item. An edit whose items, kinds and primary read the same as the
record's changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from wtforms import FieldList, FormField, SelectField, StringField
from wtforms.form import BaseForm
from wtforms.widgets import EmailInput, HiddenInput, TelInput

from ..fields.contact_lists import ContactListType
from ..model.model import Field

ROW_KEYS = ("value", "kind")
MAX_ITEM_ROWS = 100  # rows a post may hold: beyond any field's max_items, a malformed post


def is_item_list(field: Field | None) -> bool:
    """Whether the field is edited as rows of items (emails, phones)."""
    return field is not None and isinstance(field.type, ContactListType)


def primary_key(name: str) -> str:
    return f"{name}-primary"


def own_keys(field: Field) -> set[str]:
    """The record keys of the field, which a form never posts as such (it posts rows)."""
    return set(field.type.input_keys(field))


def unbound(field: Field, form_base: type) -> list[tuple[str, Any]]:
    """The WTForms fields: a list of rows (value, kind) and the primary row's number."""
    widget = TelInput() if field.type.name == "phones" else EmailInput()
    row = type(f"{field.entity}_{field.name}_item", (form_base,), {"_model_fields": [
        ("value", StringField(widget=widget)), ("kind", SelectField(validate_choice=False))]})
    return [(field.name, FieldList(FormField(row))), (primary_key(field.name), StringField(widget=HiddenInput()))]


def record_rows(field: Field, record: Mapping[str, Any]) -> tuple[list[SimpleNamespace], str]:
    """A stored record's items as form rows, in their order, and the primary row's number
    (one blank row of the default kind when there is none, ready to type into)."""
    items = field.type.stored_items(record, field)
    if not items:
        return [SimpleNamespace(value="", kind=field.type.default_kind(field))], "0"
    primary = record.get(field.name)
    index = next((i for i, (value, _kind) in enumerate(items) if value == primary), 0)
    return [SimpleNamespace(value=value, kind=kind) for value, kind in items], str(index)


def stored(field: Field, record: Mapping[str, Any] | None) -> tuple[list[tuple[str, str]], str | None]:
    """What an edit is compared with: the record's (value, kind) pairs and its primary."""
    if record is None:
        return [], None
    items = field.type.stored_items(record, field)
    return items, record.get(field.name) if items else None


def posted(field: Field, entries: list, primary_token: Any) -> tuple[tuple, list[dict[str, Any]], list[int]]:
    """The rows of a post: (what it reads as, for comparing with the record; the items for
    the records service, blank rows left out; the row position of each item, so that the
    service's `NAME.<n>` errors go to their row)."""
    items: list[dict[str, Any]] = []
    positions: list[int] = []
    pairs: list[tuple[str, str]] = []
    primary_value = None
    for position, entry in enumerate(entries):
        value = str(entry.form["value"].data or "").strip()
        kind = str(entry.form["kind"].data or "").strip()
        if not value:
            continue
        is_primary = entry.short_name == str(primary_token or "")
        items.append({"value": value, "kind": kind or None, "primary": is_primary})
        positions.append(position)
        pairs.append((value, kind or field.type.default_kind(field)))
        if is_primary:
            primary_value = value
    if pairs and primary_value is None:
        primary_value = pairs[0][0]
    return (pairs, primary_value), items, positions


def next_kind(field: Field, entries: list) -> str:
    """The kind of an added row: the first offered kind no row has yet (a work e-mail, then a
    personal one), else the default."""
    used = {str(e.form["kind"].data or "") for e in entries}
    return next((k for k in field.type.offered(field) if k not in used), field.type.default_kind(field))


def kind_choices(field: Field, current: Any, language: str) -> list[tuple[str, str]]:
    """The kinds offered, and the row's own kind if it is no longer one (it may keep it)."""
    kinds = field.type.kinds(field)
    offered = [(k.value, k.text(language)) for k in kinds if not k.hidden or k.value == current]
    if current and all(value != current for value, _text in offered):
        offered.append((str(current), str(current)))
    return offered


def primary_position(form: BaseForm, name: str) -> int:
    """The position of the primary row among the rows shown (the first when none is)."""
    token = str(form[primary_key(name)].data or "")
    entries = form[name].entries
    return next((i for i, e in enumerate(entries) if e.short_name == token), 0)


__all__ = ["MAX_ITEM_ROWS", "ROW_KEYS", "is_item_list", "kind_choices", "next_kind", "own_keys", "posted",
           "primary_key", "primary_position", "record_rows", "stored", "unbound"]
