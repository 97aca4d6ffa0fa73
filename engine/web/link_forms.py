"""What record forms show of a link's `filter` and of `copy_from` (engine/records/linked.py
decides both; the form only reflects them while the user types):

* a filtered link's lookup asks for `?for=ENTITY.PATH` and the values of the record (row)
  its filter reads (`r.customer=5`; a row's link also those of the record above it it reads,
  `p.currency=USD`), taken from the form as it is when the fields part is drawn. The fields part is drawn again on every change, so the lookup always asks with the
  customer just picked. Those values only narrow suggestions: the service checks the
  choice again on save, with the values it saves.
* picking a link posts the form with `_changed` (the input that changed, set by the form's
  script); the fields copying from that link take the linked record's values at once, read
  through the service as the user may read it. An editable field shows the value in its
  input (the user may change it); a read-only one shows it as text.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..fields.base import FieldValueError
from ..fields.relation import coerce_id
from ..model.model import Entity, Field
from ..records.linked import field_at

if TYPE_CHECKING:  # pragma: no cover
    from .forms import RecordForm

ROW_INPUT = re.compile(r"^([a-z][a-z0-9_]*)-([0-9]{1,6})-([a-z][a-z0-9_]*)$")
MAX_VALUE = 200  # characters of a record value sent with a lookup


def lookup_params(view: RecordForm, field: Field, form_field: Any) -> dict[str, str]:
    """The query of a filtered link's lookup: which link it is, and the record's values its
    filter reads (nothing for a link without a filter)."""
    if field.type.name != "link" or field.link_filter is None:
        return {}
    match = ROW_INPUT.match(form_field.name or "")
    if match and match.group(1) in view.entity.fields:
        name = match.group(1)
        position = _position(view, name, match.group(2))
        values = view.row_draft(name, position) if position is not None else {}
        path = f"{name}.{field.name}"
    else:
        values, path = view.draft, field.name
    params = {"for": f"{view.entity.name}.{path}"}
    for name in sorted(field.link_filter.attributes("record")):
        text = _text(values.get(name))
        if text is not None:
            params[f"r.{name}"] = text
    if match:  # a row's link: the record's values its filter reads as parent.NAME
        for name in sorted(field.link_filter.attributes("parent")):
            text = _text(view.draft.get(name))
            if text is not None:
                params[f"p.{name}"] = text
    return params


def lookup_values(source: Entity, path: str, args: Any) -> dict[str, Any]:
    """The record values a lookup was sent (`r.NAME`), coerced by the fields they belong to;
    a value that does not fit reads as empty."""
    link, beside = field_at(source, path)
    if link is None or link.link_filter is None:
        return {}
    return _sent(link.link_filter.attributes("record"), "r.", beside, args)


def lookup_parent(source: Entity, path: str, args: Any) -> dict[str, Any] | None:
    """For a row's link, the values of the record holding the row it was sent (`p.NAME`),
    coerced as `lookup_values`; None for a link of the record itself."""
    link, _beside = field_at(source, path)
    if link is None or link.link_filter is None or "." not in path:
        return None
    return _sent(link.link_filter.attributes("parent"), "p.", source.fields, args)


def _sent(names: Any, prefix: str, beside: Any, args: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in names:
        raw = args.get(f"{prefix}{name}")
        if raw is None or len(raw) > MAX_VALUE:
            continue
        field = beside.get(name)
        try:
            values[name] = field.type.coerce(raw, field) if field is not None else coerce_id(raw)
        except (FieldValueError, TypeError, ValueError, ArithmeticError):
            values[name] = None
    return values


def copy_linked(view: RecordForm, changed: str, service: Any) -> None:
    """The fields copying from the link named by input `changed` take the linked record's
    values: into their inputs (editable) or into `view.copied` for the draft (read-only)."""
    match = ROW_INPUT.match(changed)
    if match:
        name, sub = match.group(1), match.group(3)
        rows = view.entity.fields.get(name)
        position = _position(view, name, match.group(2)) if rows is not None and rows.type.name == "lines" else None
        if position is None or sub not in rows.subfields or position >= len(view.data.get(name) or []):
            return
        fields, link, path = rows.subfields, rows.subfields[sub], f"{name}.{sub}"
        form, raw, data = view.form[name].entries[position].form, view.raw[name][position], view.data[name][position]
    else:
        name, position = None, None
        fields, link, path = view.entity.fields, view.entity.fields.get(changed), changed
        form, raw, data = view.form, view.raw, view.data
    if link is None or link.type.name != "link":
        return
    copying = {n: f for n, f in fields.items() if f.copy_from is not None and f.copy_from[0] == link.name}
    if not copying:
        return
    try:
        target_id = coerce_id(raw.get(link.name))
    except FieldValueError:
        return
    if target_id is None:
        return
    values = service.links.values_for(view.entity, path, target_id, view.context)
    from .forms import raw_record

    shown = raw_record(copying, values)
    kept: dict[str, Any] = {}
    for key, value in values.items():
        if key in shown and key in form and not _readonly(fields, key):
            form[key].data = shown[key]
            raw[key] = data[key] = shown[key]
        else:
            kept[key] = value
    if kept:
        view.copied.append((name, position, kept))


def merge_copied(view: RecordForm, record: dict[str, Any]) -> None:
    """Copies the user cannot type (read-only fields) into the draft, where they show."""
    for name, position, values in view.copied:
        if name is None:
            record.update(values)
        elif isinstance(record.get(name), list) and position < len(record[name]):
            record[name][position].update(values)


def _readonly(fields: dict[str, Field], key: str) -> bool:
    field = fields.get(key) or next((f for f in fields.values() if key.startswith(f"{f.name}_")), None)
    return field is None or field.readonly


def _position(view: RecordForm, name: str, index: str) -> int | None:
    """Where the posted row `NAME-INDEX` is among the form's rows now."""
    entries = view.form[name].entries if name in view.form else []
    return next((i for i, entry in enumerate(entries) if entry.name == f"{name}-{index}"), None)


def _text(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, (list, dict)):
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)[:MAX_VALUE]
