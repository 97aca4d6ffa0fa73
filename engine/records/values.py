"""Turning input into a valid record: coercion, defaults, computed values, validation.

Pure functions of (entity, input, current record, context): no database access here, so
every rule is the same whichever entry point calls the service. Database-backed checks
(uniqueness, link targets) live in the service.
"""

from __future__ import annotations

from typing import Any

from ..fields.base import FieldValueError
from ..model.model import Entity, Field, computed_order, text
from .context import Context

STANDARD_READONLY = {"id", "created_at", "updated_at", "created_by", "version"}


def input_keys(entity: Entity) -> dict[str, Field]:
    """Every key a caller may send, mapped to the field that owns it."""
    keys: dict[str, Field] = {}
    for field in entity.fields.values():
        for key in field.type.input_keys(field):
            keys[key] = field
    return keys


def coerce_input(entity: Entity, data: dict[str, Any], *, creating: bool, trusted: bool,
                 errors: dict[str, list[str]]) -> dict[str, Any]:
    """Coerce the caller's values; unknown and read-only keys are errors, not dropped."""
    keys = input_keys(entity)
    values: dict[str, Any] = {}
    for key in data:
        if key == "owner":
            continue
        if key in STANDARD_READONLY:
            if key != "version" and key != "id":
                errors.setdefault(key, []).append("is set by the engine and cannot be written")
            continue
        field = keys.get(key)
        if field is None:
            errors.setdefault(key, []).append(f"unknown field of {entity.name}")
            continue
        if not trusted and field.hidden:
            errors.setdefault(key, []).append("is hidden and cannot be written")
        elif not trusted and (field.readonly or field.is_computed or field.is_autonumber):
            errors.setdefault(key, []).append("is read-only")
    seen: set[str] = set()
    for key in data:
        field = keys.get(key)
        if field is None or field.name in seen or key in errors:
            continue
        seen.add(field.name)
        try:
            if field.type.name == "lines":
                values[field.name] = coerce_lines(field, data[field.name], errors)
            else:
                values.update(field.type.read_input(data, field))
        except FieldValueError as exc:
            errors.setdefault(field.name, []).append(str(exc))
    if "owner" in data:
        try:
            from ..fields.relation import coerce_id

            values["owner"] = coerce_id(data["owner"])
        except FieldValueError as exc:
            errors.setdefault("owner", []).append(str(exc))
    return values


def coerce_lines(field: Field, rows: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    result = []
    for i, row in enumerate(field.type.coerce(rows, field)):
        clean: dict[str, Any] = {}
        if row.get("id") not in (None, ""):
            try:
                clean["id"] = int(row["id"])
            except (TypeError, ValueError):
                errors.setdefault(f"{field.name}.{i + 1}.id", []).append("is not a row id")
        for key in row:
            if key != "id" and key not in field.subfields:
                errors.setdefault(f"{field.name}.{i + 1}.{key}", []).append("unknown field")
        for name, sub in field.subfields.items():
            if sub.is_computed:
                continue
            try:
                clean.update(sub.type.read_input(row, sub))
            except FieldValueError as exc:
                errors.setdefault(f"{field.name}.{i + 1}.{name}", []).append(str(exc))
        result.append(clean)
    return result


def apply_defaults(fields, record: dict[str, Any], context: Context) -> None:
    for field in fields.values():
        if field.name in record or field.is_computed or field.is_autonumber:
            continue
        if field.default_expr is not None:
            value = field.default_expr.evaluate(record, context.variables, now=context.now)
            try:
                record.update(field.type.read_input({field.name: value}, field))
            except FieldValueError:
                record[field.name] = None
        elif field.default is not None:
            record.update(field.type.read_input({field.name: field.default}, field))


def compute(fields, order, record: dict[str, Any], context: Context) -> None:
    for name in order:
        field = fields[name]
        value = field.expression.evaluate(record, context.variables, now=context.now)
        try:
            record[name] = field.type.coerce(value, field)
        except FieldValueError:
            record[name] = None


def prepare_lines(entity: Entity, record: dict[str, Any], context: Context) -> None:
    """Defaults and computed values of each child row, before the parent's computed fields."""
    for field in entity.fields.values():
        if field.type.name != "lines" or not isinstance(record.get(field.name), list):
            continue
        order = computed_order(field.subfields)
        for row in record[field.name]:
            apply_defaults(field.subfields, row, context)
            compute(field.subfields, order, row, context)


def condition(expression, record: dict[str, Any], context: Context) -> bool:
    return bool(expression.evaluate(record, context.variables, now=context.now)) if expression is not None else False


def is_visible(field: Field, record: dict[str, Any], context: Context) -> bool:
    return field.visible_when is None or condition(field.visible_when, record, context)


def is_required(field: Field, record: dict[str, Any], context: Context) -> bool:
    """A field nobody can see (hidden by a layer, or `visible_when` false) is never required."""
    if field.hidden or not is_visible(field, record, context):
        return False
    return field.required or condition(field.required_when, record, context)


def validate_fields(fields, record: dict[str, Any], context: Context, validators, errors: dict[str, list[str]],
                    prefix: str = "") -> None:
    for field in fields.values():
        key = prefix + field.name
        value = record.get(field.name)
        if field.type.is_empty(value):
            if is_required(field, record, context) and not field.is_autonumber and not field.is_computed:
                errors.setdefault(key, []).append("is required")
            continue
        if field.type.name == "lines":
            for i, row in enumerate(value):
                validate_fields(field.subfields, row, context, validators, errors, f"{key}.{i + 1}.")
            continue
        if field.type.name == "choice" and value not in field.active_option_values:
            continue  # a hidden option kept from before: allowed only unchanged (checked by caller)
        if field.type.storage == "column" and not field.is_computed:
            for message in field.type.validate(value, field):
                errors.setdefault(key, []).append(message)
        for name in field.validators:
            message = validators[name](value, field)
            if message:
                errors.setdefault(key, []).append(message)


def validate_record(entity: Entity, record: dict[str, Any], old: dict[str, Any] | None, context: Context,
                    validators) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    validate_fields(entity.fields, record, context, validators, errors)
    for field in entity.fields.values():
        if field.type.name == "choice":
            value = record.get(field.name)
            if value is not None and value not in field.active_option_values:
                if old is None or old.get(field.name) != value:
                    errors.setdefault(field.name, []).append(f"'{value}' is no longer offered")
    for rule in entity.rules:
        if rule.when is not None and not condition(rule.when, record, context):
            continue
        if not rule.check.evaluate(record, context.variables, now=context.now):
            language = context.actor.language
            errors.setdefault(rule.field or "", []).append(text(rule.message, language, rule.name))
    return errors
