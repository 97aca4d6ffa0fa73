"""Turning input into a valid record: coercion, defaults, computed values, validation.

Pure functions of (entity, input, current record, context): no database access here, so
every rule is the same whichever entry point calls the service. Database-backed checks
(uniqueness, link targets) live in the service.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ..fields.base import FieldType, FieldValueError
from ..fields.numbers import _EXACT_DIGITS, _LANGUAGE
from ..messages import N_
from ..messages import message as _message
from ..model import derived
from ..model.model import Entity, Field, computed_order, text
from .context import Context

STANDARD_READONLY = {"id", "created_at", "updated_at", "created_by", "version"}
# The words users meet, translated where shown (engine/messages.py).
REQUIRED = N_("is required")
SET_BY_ENGINE = N_("is set by the engine and cannot be written")
UNKNOWN_FIELD_OF = N_("unknown field of %(entity)s")
UNKNOWN_FIELD = N_("unknown field")
COMPUTED = N_("is computed and cannot be written")
DERIVED = N_("is worked out from other records and cannot be written")
AUTONUMBER = N_("is assigned by the engine and cannot be written")
HIDDEN = N_("is hidden and cannot be written")
READ_ONLY = N_("is read-only")
READ_ONLY_NOW = N_("is read-only now and cannot be changed")
NOT_A_ROW_ID = N_("is not a row id")
NOT_A_ROW = N_("row %(row)s is not a row of this record")
NOT_OPTIONS = N_("not among the options: %(values)s")
NOT_AN_OPTION = N_("'%(value)s' is not one of the options (%(options)s)")
NO_LONGER_OFFERED = N_("no longer offered: %(values)s")


def input_keys(entity: Entity) -> dict[str, Field]:
    """Every key a caller may send, mapped to the field that owns it."""
    keys: dict[str, Field] = {}
    for field in entity.fields.values():
        for key in field.type.input_keys(field):
            keys[key] = field
    return keys


def coerce_input(entity: Entity, data: dict[str, Any], *, creating: bool, trusted: bool,
                 errors: dict[str, list[str]], keys: dict[str, Field] | None = None) -> dict[str, Any]:
    """Coerce the caller's values; unknown and read-only keys are errors, not dropped.
    `keys`: the entity's `input_keys`, when the caller keeps them."""
    if keys is None:
        keys = input_keys(entity)
        plan = _coercion_plan(entity, keys, data, trusted)
    else:  # kept: the plan of these keys is too (an import's rows share their keys)
        known = _COERCIONS.get((id(keys), trusted, tuple(data)))
        if known is not None and known[0] is keys:
            plan = known[1]
        else:
            plan = _coercion_plan(entity, keys, data, trusted)
            if len(_COERCIONS) > 4096:
                _COERCIONS.clear()
            _COERCIONS[(id(keys), trusted, tuple(data))] = (keys, plan)
    refused, reads = plan
    for key, said in refused:
        errors.setdefault(key, []).append(said)
    values: dict[str, Any] = {}
    seen: set[str] = set()
    for key, field, how in reads:
        # a field is read once, at its first key not refused (here, or by the caller: a
        # field the user may not set; on update one key of it may be refused, not another)
        if field.name in seen or key in errors:
            continue
        seen.add(field.name)
        try:
            if how == _AS_IS:  # the type's read_input is FieldType's: its one key, coerced
                values[field.name] = field.type.coerce(data[field.name], field)
            elif how == _LINES:
                values[field.name] = coerce_lines(field, data[field.name], trusted, errors)
            else:
                values.update(field.type.read_input(data, field))
        except FieldValueError as exc:
            add_error(errors, field.name, exc)
    if "owner" in data:
        try:
            from ..fields.relation import coerce_id

            values["owner"] = coerce_id(data["owner"], bits=32)  # a user
        except FieldValueError as exc:
            errors.setdefault("owner", []).append(exc.message)
    return values


_AS_IS, _LINES, _OWN = range(3)  # how a field's input is read (see `_coercion_plan`)
# (id of the input keys, trusted, keys of an input) -> (the input keys, its plan)
_COERCIONS: dict[tuple[int, bool, tuple[str, ...]], tuple[dict[str, Field], tuple[list, list]]] = {}


def _coercion_plan(entity: Entity, keys: dict[str, Field], data: dict[str, Any], trusted: bool) -> tuple[list, list]:
    """What the keys of an input make of it, whatever their values: the refusals (key,
    message) of keys nobody may write, and for each other key of a field, in the input's
    order, the field and how it is read (`_AS_IS`, `_LINES`, `_OWN`: the type's own
    read_input); `coerce_input` reads each field once, at its first key the caller has
    not refused either."""
    refused: list[tuple[str, str]] = []
    for key in data:
        if key == "owner":
            continue
        if key in STANDARD_READONLY:
            if key != "version" and key != "id":
                refused.append((key, _message(SET_BY_ENGINE)))
            continue
        field = keys.get(key)
        if field is None:
            refused.append((key, _message(UNKNOWN_FIELD_OF, entity=entity.name)))
            continue
        refusal = _refusal_of(field, trusted)
        if refusal:
            refused.append((key, refusal))
    said = {key for key, _said in refused}
    reads: list[tuple[str, Field, int]] = []
    for key in data:
        field = keys.get(key)
        if field is None or key in said:
            continue
        if field.type.name == "lines":
            how = _LINES if field.name in data else None
        elif type(field.type).read_input is FieldType.read_input:
            how = _AS_IS if field.name in data else None  # (its one key absent: nothing to read)
        else:
            how = _OWN
        if how is not None:
            reads.append((key, field, how))
    return refused, reads


def add_error(errors: dict[str, list[str]], key: str, exc: FieldValueError) -> None:
    """A coercion error under the field's key, and the problems of its items (several
    e-mails) under `key.<number>`."""
    for number, messages in getattr(exc, "items", {}).items():
        errors.setdefault(f"{key}.{number}", []).extend(messages)
    if str(exc) or not getattr(exc, "items", None):
        errors.setdefault(key, []).append(getattr(exc, "message", None) or str(exc))


_REFUSALS: dict[tuple[int, bool], tuple[Field, str | None]] = {}  # (id(field), trusted) -> its write_refusal


def _refusal_of(field: Field, trusted: bool) -> str | None:
    """`write_refusal`, worked out once per compiled field (its spec does not change)."""
    known = _REFUSALS.get((id(field), trusted))
    if known is not None and known[0] is field:
        return known[1]
    refusal = write_refusal(field, trusted)
    if len(_REFUSALS) > 8192:
        _REFUSALS.clear()
    _REFUSALS[(id(field), trusted)] = (field, refusal)
    return refusal


def write_refusal(field: Field, trusted: bool) -> str | None:
    """Why a caller may not write this field, or None. Trusted callers (demo data, plugins'
    own writes) may set hidden and read-only fields; nobody sets computed values or autonumbers."""
    if field.is_computed:
        return _message(COMPUTED)
    if field.type.derived:
        return _message(DERIVED)
    if field.is_autonumber:
        return _message(AUTONUMBER)
    if trusted:
        return None
    if field.hidden:
        return _message(HIDDEN)
    if field.readonly:
        return _message(READ_ONLY)
    return None


def coerce_lines(field: Field, rows: Any, trusted: bool, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    result = []
    for i, row in enumerate(field.type.coerce(rows, field)):
        clean: dict[str, Any] = {}
        where = f"{field.name}.{i + 1}"
        if row.get("id") not in (None, ""):
            try:
                clean["id"] = int(row["id"])
            except (TypeError, ValueError):
                errors.setdefault(f"{where}.id", []).append(_message(NOT_A_ROW_ID))
        keys = {k: sub for sub in field.subfields.values() for k in sub.type.input_keys(sub)}
        for key in row:
            if key == "id":
                continue
            sub = keys.get(key)
            refusal = _message(UNKNOWN_FIELD) if sub is None else write_refusal(sub, trusted)
            if refusal:
                errors.setdefault(f"{where}.{key}", []).append(refusal)
        for name, sub in field.subfields.items():
            if write_refusal(sub, trusted):
                continue
            try:
                clean.update(sub.type.read_input(row, sub))
            except FieldValueError as exc:
                add_error(errors, f"{where}.{name}", exc)
        result.append(clean)
    return result


def merge_changed_rows(entity: Entity, changes: dict[str, Any], old: dict[str, Any],
                       errors: dict[str, list[str]]) -> None:
    """An update may send only the changed keys of an existing row (by id): the row is the
    old row with those keys replaced, so its computed values stay right."""
    for field in entity.fields.values():
        if field.type.name != "lines" or not isinstance(changes.get(field.name), list):
            continue
        before = {row["id"]: row for row in old.get(field.name) or []}
        for i, row in enumerate(changes[field.name]):
            row_id = row.get("id")
            if row_id is None:
                continue
            if row_id not in before:
                errors.setdefault(f"{field.name}.{i + 1}.id", []).append(_message(NOT_A_ROW, row=row_id))
                continue
            changes[field.name][i] = {**before[row_id], **row}


def readonly_now(entity: Entity, changes: dict[str, Any], old: dict[str, Any], context: Context,
                 errors: dict[str, list[str]]) -> None:
    """`readonly_when` is judged on the record as it was: a field that was read-only may not
    change in this update (nor any of its parts, such as a person's last name)."""
    for field in entity.fields.values():
        if field.readonly_when is None:
            continue
        changed = [k for k in field.type.input_keys(field) if k in changes and changes[k] != old.get(k)]
        if changed and condition(field.readonly_when, old, context):
            errors.setdefault(field.name, []).append(_message(READ_ONLY_NOW))


def fill_currencies(fields, record: dict[str, Any]) -> None:
    """An amount without a currency gets the field's currency (an existing one is kept)."""
    for field in _per_fields("currencies", fields, lambda: [f for f in fields.values()
                                                           if f.type.name in ("money", "lines")]):
        if field.type.name == "money" and record.get(field.name) is not None and not field.currency_field:
            key = f"{field.name}_currency"
            if record.get(key) is None:
                record[key] = field.currency
        elif field.type.name == "lines":
            for row in record.get(field.name) or []:
                fill_currencies(field.subfields, row)


def derive_values(fields, record: dict[str, Any], old: dict[str, Any] | None,
                  errors: dict[str, list[str]] | None = None) -> None:
    """The keys fields work out from others (a person's full name from its parts), on the
    complete record: after the new values are merged into the stored ones."""
    for field in _per_fields("derive", fields, lambda: [f for f in fields.values()
                                                       if type(f.type).derive is not FieldType.derive]):
        try:
            field.type.derive(record, field, old)
        except FieldValueError as exc:
            if errors is not None:
                add_error(errors, field.name, exc)


def apply_defaults(fields, record: dict[str, Any], context: Context) -> None:
    plan = None  # the fixed defaults' values in the input language and digits kept: asked once
    for i, field in enumerate(_defaulted(fields)):
        if field.name in record:
            continue
        if field.default_expr is not None:
            value = field.default_expr.evaluate(record, context.variables, now=context.now)
            try:
                record.update(field.type.read_input({field.name: value}, field))
            except FieldValueError:
                record[field.name] = None
        elif field.default is not None:
            if plan is None:
                plan = _fixed_defaults(fields, (_LANGUAGE.get(), _EXACT_DIGITS.get()))
            values = plan[i]
            record.update(values if values is not None else field.type.read_input({field.name: field.default}, field))


def _fixed_defaults(fields, reading: tuple[str, int | None]) -> list[dict[str, Any] | None]:
    """Per field of `_defaulted(fields)`, its fixed default coerced as input in `reading`
    (the input language and digits kept), when the values cannot be changed in place
    (text, numbers, booleans); None: coerced afresh each time (a list of tags), or no
    fixed default. Worked out once per compiled entity's fields and reading."""
    def build() -> list[dict[str, Any] | None]:
        plan: list[dict[str, Any] | None] = []
        for field in _defaulted(fields):
            values = None
            if field.default_expr is None and field.default is not None:
                try:
                    values = field.type.read_input({field.name: field.default}, field)
                except FieldValueError:  # said when the default is used, as before
                    values = None
                if values is not None and not all(isinstance(v, _SCALARS) for v in values.values()):
                    values = None
            plan.append(values)
        return plan
    return _per_fields(("fixed defaults", *reading), fields, build)


_PER_FIELDS: dict[tuple[Any, int], tuple[Any, Any]] = {}  # (what, id(fields)) -> (fields, it)


def _per_fields(what: Any, fields, build) -> Any:
    """`build()`, worked out once for the fields of a compiled entity or child row (an
    immutable mapping; others, each time): what every save of a record would else work
    out again from the same fields (those with a default, those deriving keys, …)."""
    known = _PER_FIELDS.get((what, id(fields)))
    if known is not None and known[0] is fields:
        return known[1]
    found = build()
    if isinstance(fields, MappingProxyType):
        if len(_PER_FIELDS) > 4096:
            _PER_FIELDS.clear()
        _PER_FIELDS[(what, id(fields))] = (fields, found)
    return found


def _defaulted(fields) -> list[Field]:
    """The fields that have a default (neither computed nor autonumbers)."""
    return _per_fields("defaults", fields, lambda: [
        f for f in fields.values() if not (f.is_computed or f.is_autonumber)
        and (f.default_expr is not None or f.default is not None)])


_SCALARS = (str, int, float, bool, type(None), Decimal, date, datetime, time)


def compute(fields, order, record: dict[str, Any], context: Context,
            errors: dict[str, list[str]] | None = None, prefix: str = "") -> None:
    """Computed values in dependency order (engine/model/derived.py `compute`: the one place
    they are worked out, migrations included)."""
    derived.compute(fields, order, record, context.variables, context.now, errors, prefix)


def prepare_lines(entity: Entity, record: dict[str, Any], context: Context,
                  errors: dict[str, list[str]] | None = None) -> None:
    """Defaults and computed values of each child row, before the parent's computed fields."""
    for field in _per_fields("lines", entity.fields, lambda: [
            f for f in entity.fields.values() if f.type.name == "lines"]):
        if not isinstance(record.get(field.name), list):
            continue
        order = computed_order(field.subfields)
        for i, row in enumerate(record[field.name]):
            apply_defaults(field.subfields, row, context)
            compute(field.subfields, order, row, context, errors, f"{field.name}.{i + 1}.")


def condition(expression, record: dict[str, Any], context: Context) -> bool:
    return bool(evaluated(expression, record, context)) if expression is not None else False


_MEMO_TYPES = frozenset({str, int, bool, type(None)})  # values whose equal ones an expression cannot tell apart


def evaluated(expression, record: dict[str, Any], context: Context) -> Any:
    """`expression.evaluate` on the record. An expression calling no function is a pure
    function of the fields it reads, the user and the time, which a context holds fixed:
    its value is remembered per context for the values it read (of plain types), so the
    rows of an import batch that share them (a classification, a level) evaluate it once."""
    if expression.functions:
        return expression.evaluate(record, context.variables, now=context.now)
    # keyed by the expression's identity (kept beside the value, so an id is never taken for
    # another's): two expressions of one text (a rule's `when` and a field's `required_when`)
    # would else be compared tree by tree on every lookup
    key: list[Any] = [id(expression)]
    for name in expression.fields:
        value = record.get(name)
        if type(value) not in _MEMO_TYPES:
            return expression.evaluate(record, context.variables, now=context.now)
        key.append(type(value))
        key.append(value)
    memo = context.__dict__.get("_evaluated")
    if memo is None or memo[0] is not context.actor or memo[1] != context.now or len(memo[2]) > 4096:
        memo = context.__dict__["_evaluated"] = (context.actor, context.now, {})
    found = memo[2].get(tuple(key))
    if found is None or found[0] is not expression:
        found = memo[2][tuple(key)] = (expression, expression.evaluate(record, context.variables, now=context.now))
    return found[1]




def is_visible(field: Field, record: dict[str, Any], context: Context) -> bool:
    return field.visible_when is None or condition(field.visible_when, record, context)


def is_required(field: Field, record: dict[str, Any], context: Context) -> bool:
    """A field nobody can see (hidden by a layer, or `visible_when` false) is never required."""
    if field.hidden or not is_visible(field, record, context):
        return False
    return field.required or condition(field.required_when, record, context)


def _rows_by_id(rows: Any) -> dict[Any, dict[str, Any]]:
    return {row.get("id"): row for row in rows or [] if isinstance(row, dict) and row.get("id") is not None}


def option_problem(field: Field, value: Any, before: Any, trusted: bool) -> str | None:
    """Why a choice value may not be stored, or None. A value the record already holds is
    kept (a hidden option, or a value from before the options changed); a new value must be
    an option, and one that is not hidden (imports, `trusted`, may set hidden ones)."""
    if type(value) is str and (value == before or value in field.active_option_values):
        return None  # one option, offered (or kept): most values
    chosen = value if isinstance(value, list) else [value]
    had = before if isinstance(before, list) else [before]
    new = [v for v in chosen if v not in had]
    unknown = [v for v in new if v not in field.option_values]
    if unknown:
        listed = ", ".join(field.active_option_values)
        if isinstance(value, list):
            return _message(NOT_OPTIONS, values=", ".join(map(str, unknown)))
        return _message(NOT_AN_OPTION, value=unknown[0], options=listed)
    gone = [v for v in new if v not in field.active_option_values]
    if gone and not trusted:
        return _message(NO_LONGER_OFFERED, values=", ".join(map(str, gone)))
    return None


_TEXT_OR_CONTAINER = (str, list, dict)


def validate_fields(fields, record: dict[str, Any], old: dict[str, Any] | None, context: Context, validators,
                    errors: dict[str, list[str]], prefix: str = "", trusted: bool = False) -> None:
    get = record.get
    for entry in _validation_plan(fields):
        value = get(entry[1])
        if value is None and not entry[7]:  # absent, never required and no currency: nothing to check
            continue
        field, name, kind, money, may_require, checks, is_empty, _absent_matters = entry
        if money:  # the currency: one of the field's set, or the other field's code
            for where, message in field.type.currency_errors(record, old, field).items():
                errors.setdefault(prefix + where, []).append(message)
        if value is None or (is_empty(value) if is_empty is not None  # (every type holds None empty)
                             else isinstance(value, _TEXT_OR_CONTAINER) and not value):  # (FieldType.is_empty:
            # == "", [] or {}, inline; asked by type first: a Decimal compared with "" and [] was slow)
            if may_require and is_required(field, record, context):
                errors.setdefault(prefix + name, []).append(_message(REQUIRED))
            continue
        if kind is None and checks is None and not field.validators:
            continue  # nothing more to check of this value
        key = prefix + name
        if kind == "rows":
            before = _rows_by_id((old or {}).get(name))
            for i, row in enumerate(value):
                validate_fields(field.subfields, row, before.get(row.get("id")), context, validators, errors,
                                f"{key}.{i + 1}.", trusted)
            continue
        if kind == "choice":
            problem = option_problem(field, value, (old or {}).get(name), trusted)
            if problem:
                errors.setdefault(key, []).append(problem)
                continue
        if checks is not None:
            for message in checks(value, field):
                errors.setdefault(key, []).append(message)
        for suffix, item in field.type.each_value(record, field) if field.validators else ():
            for validator in field.validators:  # each e-mail of an emails field, else the value
                message = validators[validator](item, field)
                if message:
                    errors.setdefault(key + suffix, []).append(message)


def _validation_plan(fields) -> list[tuple]:
    """Per field, worked out once for a compiled entity's (or child row's) fields: (field,
    name, "rows" / "choice" / None, whether it is money, whether it may be required at all
    (`is_required` is asked only then: autonumbers, computed and hidden fields never are, nor
    fields neither required nor required_when), its type's check of a stored value (None:
    not stored, or a type that checks nothing more than coercion did), its type's `is_empty`
    (None: FieldType's, which `validate_fields` asks inline), whether it is looked at when
    the record has no value for it (money, for its currency; fields that may be required))."""
    def build() -> list[tuple]:
        plan = []
        for field in fields.values():
            kind = "rows" if field.type.name in ("lines", "links") else \
                "choice" if field.type.name in ("choice", "multichoice") else None
            may_require = not (field.is_autonumber or field.is_computed or field.hidden) \
                and (field.required or field.required_when is not None)
            checks = field.type.validate if field.type.storage == "column" and not field.is_computed \
                and type(field.type).validate is not FieldType.validate else None
            money = field.type.name == "money"
            plan.append((field, field.name, kind, money, may_require, checks,
                         None if type(field.type).is_empty is FieldType.is_empty else field.type.is_empty,
                         money or may_require))
        return plan
    return _per_fields("validation", fields, build)


def validate_record(entity: Entity, record: dict[str, Any], old: dict[str, Any] | None, context: Context,
                    validators, trusted: bool = False) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    validate_fields(entity.fields, record, old, context, validators, errors, trusted=trusted)
    for rule in entity.rules:
        if rule.when is not None and not condition(rule.when, record, context):
            continue
        if not evaluated(rule.check, record, context):
            language = context.actor.language
            errors.setdefault(rule.field or "", []).append(text(rule.message, language, rule.name))
    return errors
