"""List queries: filters, free-text search, sort and paging, all whitelisted.

A caller names fields, never columns or SQL: every name is checked against the compiled
entity, every value is coerced by its field type and bound as a parameter.

Keyset paging: `Query(after=...)` continues after a row instead of skipping `offset` rows,
so page 10,000 costs what page 1 costs (an index range scan on the `(sort column, id)`
index the compiler creates for `list.sort`). The cursor is the row's sort values and its
id — as a tuple, or as the opaque URL-safe token `cursor(entity, query, row)` makes
(base64 of JSON naming the sort too, so a cursor is refused under another sort). The rows
"after" the cursor follow the database's own NULL placement (PostgreSQL sorts NULL above
every value, SQLite below), so the order is exactly the one ORDER BY gives and the index
still serves it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, DecimalException
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

from ..expr import ExpressionError, compile_expression
from ..expr.builtins import is_empty_sql
from ..expr.sqlconstructs import JsonContains
from ..fields.base import FieldValueError
from ..fields.encryption import keyring
from ..fields.numbers import NOT_A_NUMBER
from ..messages import message
from ..model.constants import STANDARD_SORTABLE
from ..model.model import Entity
from ..model.search import FoldedContains, search_condition
from .context import Context
from .errors import ValidationError

OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "empty", "not_empty")
MAX_LIMIT = 1000
MAX_CURSOR = 4000  # characters of an `after` token
MAX_SEARCH = 200  # characters of a search
NULLS_LOW = frozenset({"sqlite", "mysql", "mariadb"})  # dialects sorting NULL below every value


@dataclass(frozen=True)
class Query:
    where: str | None = None  # an expression, e.g. "amount > 1000 and stage != 'lost'"
    filters: tuple[tuple[str, str, Any], ...] = ()  # (field, operator, value)
    search: str | None = None
    sort: tuple[str, ...] | None = None  # field names, '-' prefix for descending
    limit: int | None = 50
    offset: int = 0
    columns: tuple[str, ...] | None = None  # fields to select; None selects all
    with_children: bool = False
    # keyset paging: rows after this one in the sort order; a `cursor()` token, or the
    # sort values followed by the id of the last row seen
    after: str | tuple | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", tuple(tuple(f) for f in self.filters))
        if self.sort is not None and isinstance(self.sort, str):
            object.__setattr__(self, "sort", (self.sort,))
        if isinstance(self.after, list):
            object.__setattr__(self, "after", tuple(self.after))

    def unpaged(self) -> Query:
        return replace(self, limit=None, offset=0, sort=(), after=None)


_COLUMN_NAMES: dict[int, tuple[Any, tuple[str, ...]]] = {}


def _column_names(field_: Any) -> tuple[str, ...]:
    """The table columns of a field (a money field has two), worked out once per field
    (the cache keeps the field, so its id cannot be reused by another while it is there)."""
    found = _COLUMN_NAMES.get(id(field_))
    if found is None or found[0] is not field_:
        if len(_COLUMN_NAMES) > 10_000:
            _COLUMN_NAMES.clear()
        found = _COLUMN_NAMES[id(field_)] = (field_, tuple(field_.type.column_names(field_)))
    return found[1]


def _column_fields(entity: Entity) -> dict[str, Any]:
    return {name: f for name, f in entity.fields.items()
            if f.type.storage == "column" and not (f.is_computed and not f.stored)}


STANDARD_COLUMNS = ("id", "version", "created_at", "updated_at", "owner", "created_by")


def read_for(entity: Entity, names: Iterable[str]) -> list[str]:
    """What to read from the table for these fields: a field computed when read stands for
    the fields its expression uses (the service computes it after reading)."""
    result: list[str] = []

    def add(name: str, seen: frozenset[str]) -> None:
        field_ = entity.fields.get(name)
        if field_ is not None and field_.is_computed and not field_.stored:
            for dep in sorted(field_.expression.fields):
                if dep not in seen and (dep in entity.fields or dep in STANDARD_COLUMNS):
                    add(dep, seen | {name})
        else:
            result.append(name)

    for name in names:
        add(name, frozenset())
    return result


def virtual_of(entity: Entity, names: Iterable[str]) -> set[str]:
    """The fields computed when read among these, with those they are computed from."""
    found: set[str] = set()
    todo = list(names)
    while todo:
        field_ = entity.fields.get(todo.pop())
        if field_ is not None and field_.is_computed and not field_.stored and field_.name not in found:
            found.add(field_.name)
            todo.extend(field_.expression.fields)
    return found


def build_select(entity: Entity, query: Query, context: Context, columns: list | None = None, *,
                 restrict: Any = None, hidden: frozenset[str] = frozenset()) -> sa.Select:
    """The SELECT of a query. `restrict`: the rows the user may reach (SQL, from their
    roles); `hidden`: fields the user may not see, which cannot be selected, filtered,
    sorted, searched or named in `where` (they answer like fields that do not exist)."""
    table = entity.table
    errors: dict[str, list[str]] = {}
    selectable = {n: f for n, f in _column_fields(entity).items() if n not in hidden}
    for key in query.sort or ():
        if isinstance(key, str) and key.lstrip("-") in hidden:
            raise ValidationError({"sort": [f"cannot sort on '{key.lstrip('-')}'"]})
    if query.sort is None and any(k.lstrip("-") in hidden for k in entity.list.sort):
        # the entity's default order names a field this user may not see or sort on (a rollup
        # worked out for them): an order by it would tell its values, so it is left out
        query = replace(query, sort=tuple(k for k in entity.list.sort if k.lstrip("-") not in hidden) or ("-id",))
    keys = order_keys(entity, query)
    if columns is None:
        if query.columns is None:
            hidden_columns = {c for n in hidden if n in entity.fields
                              for c in entity.fields[n].type.column_names(entity.fields[n])}
            columns = [c for c in table.c if c.name not in hidden_columns]
        else:
            # the sort columns too: a caller pages on with the last row's sort values
            wanted = ["id", "version", *read_for(entity, query.columns), *(name for name, _desc in keys)]
            columns = []
            for name in dict.fromkeys(wanted):
                if name in STANDARD_COLUMNS:
                    columns.append(table.c[name])
                elif name in selectable:
                    field_ = selectable[name]
                    columns += [table.c[c] for c in _column_names(field_)]
                else:
                    errors.setdefault(name, []).append("cannot be selected")
    statement = sa.select(*columns)
    conditions = []
    if query.where:
        try:
            expression = compile_expression(query.where, entity_env(entity), expected="boolean")
            if expression.fields & hidden:
                raise ExpressionError("E502", f"unknown name '{sorted(expression.fields & hidden)[0]}'", 0)
            sealed = sorted(n for n in expression.fields if n in entity.fields and entity.fields[n].encrypted)
            if sealed:  # the column holds ciphertext: a comparison in SQL would be silently wrong
                raise ExpressionError("E412", f"'{sealed[0]}' is encrypted: a condition cannot compare it "
                                      "(filter on its exact value instead)", 0)
            conditions.append(expression.to_sql(dict(table.c), context.variables, now=context.now))
        except ExpressionError as exc:
            errors.setdefault("where", []).append(f"{exc.code} {exc.message}")
        except Exception as exc:  # NotSQLExpressible and friends
            errors.setdefault("where", []).append(str(exc))
    for item in query.filters:
        if len(item) != 3:
            errors.setdefault("filters", []).append("each filter is (field, operator, value)")
            continue
        name, op, value = item
        condition = _filter(entity, selectable, name, op, value, errors)
        if condition is not None:
            conditions.append(condition)
    if query.search is not None and not isinstance(query.search, str):
        errors.setdefault("search", []).append("must be text")
    elif query.search:
        if len(query.search) > MAX_SEARCH or "\x00" in query.search:
            errors.setdefault("search", []).append(f"at most {MAX_SEARCH} characters of text")
        else:
            condition = search_condition(entity, query.search, hidden)
            if condition is not None:
                conditions.append(condition)
    parts = None
    if query.after is not None:
        values = _after_values(entity, keys, query.after, errors)
        if values is not None:
            parts = keyset_parts([(table.c[name], desc, value) for (name, desc), value in zip(keys, values,
                                                                                              strict=True)])
    if restrict is not None:
        conditions.append(restrict)
    if errors:
        raise ValidationError(errors)
    limit = offset = None
    if query.limit is not None:
        try:
            limit = int(query.limit)
            offset = int(query.offset or 0)
        except (TypeError, ValueError):
            raise ValidationError({"limit": ["must be a number"]}) from None
        if not 0 < limit <= MAX_LIMIT or offset < 0:
            raise ValidationError({"limit": [f"must be between 1 and {MAX_LIMIT}, offset at least 0"]})

    def ordered(select: sa.Select, source) -> sa.Select:
        order = [source.c[name].desc() if desc else source.c[name].asc() for name, desc in keys]
        return select.order_by(*order) if order else select

    if parts is not None and parts[1] is not None:
        # The first sort column may be NULL: the rows after the cursor are two index
        # ranges, its values after the cursor's and its NULLs. Each is read in order up to
        # the page size, then the two short lists are merged, so no page scans the rows
        # before it (an OR of both in one WHERE would).
        missing = [table.c[name] for name, _desc in keys if name not in {c.name for c in statement.selected_columns}]
        statement = statement.add_columns(*missing) if missing else statement
        branches = []
        for part in parts:
            branch = ordered(statement.where(*conditions, part), table)
            if limit is not None:
                branch = branch.limit(limit + offset)
            branches.append(sa.select(*branch.subquery().c))
        page = sa.union_all(*branches).subquery("page")
        statement = ordered(sa.select(*page.c), page)
    else:
        if parts is not None:
            conditions.append(parts[0])
        if conditions:
            statement = statement.where(*conditions)
        statement = ordered(statement, table)
    if limit is not None:
        statement = statement.limit(limit).offset(offset)
    return statement


def order_keys(entity: Entity, query: Query) -> list[tuple[str, bool]]:
    """The full order of a query as (field name, descending): its sort (or the entity's
    list sort), then `id` as the tie-breaker, so the order is total (keyset paging needs
    that). Only sortable fields; anything else is a ValidationError."""
    selectable = _column_fields(entity)
    sort = entity.list.sort if query.sort is None else query.sort
    keys: list[tuple[str, bool]] = []
    for key in sort:
        if not isinstance(key, str):
            raise ValidationError({"sort": [f"{key!r} is not a field name"]})
        name = key.lstrip("-")
        if name not in STANDARD_SORTABLE and (name not in selectable or not selectable[name].type.sortable):
            raise ValidationError({"sort": [f"cannot sort on '{name}'"]})
        if name in selectable and selectable[name].encrypted:
            raise ValidationError({"sort": [f"cannot sort on '{name}': it is encrypted"]})
        keys.append((name, key.startswith("-")))
    if keys and not any(name == "id" for name, _desc in keys):
        keys.append(("id", keys[0][1]))
    if not keys and query.after is not None:
        keys.append(("id", False))
    return keys


def cursor(entity: Entity, query: Query, row: dict[str, Any]) -> str:
    """The opaque `after` token of a row (from `list(query)`) to read the rows after it."""
    keys = order_keys(entity, replace(query, after=query.after or ""))
    payload = {"s": [("-" if desc else "") + name for name, desc in keys],
               "v": [_jsonable(stored(entity, name, row[name])) for name, _desc in keys]}
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def stored(entity: Entity, name: str, value: Any) -> Any:
    """A record's value as its column holds it (a duration is a count of microseconds, a
    day of a date_or_datetime field its midnight UTC)."""
    field_ = entity.fields.get(name)
    if field_ is None or value is None:
        return value
    return field_.type.to_row(value, field_).get(name, value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _after_values(entity: Entity, keys: list[tuple[str, bool]], after: Any, errors) -> list[Any] | None:
    """The cursor's values, each checked and converted for its column."""
    if isinstance(after, str):
        try:
            if len(after) > MAX_CURSOR:
                raise ValueError
            data = json.loads(base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)).decode("utf-8"))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            errors.setdefault("after", []).append("is not a page cursor")
            return None
        expected = [("-" if desc else "") + name for name, desc in keys]
        if not isinstance(data, dict) or data.get("s") != expected:
            errors.setdefault("after", []).append("belongs to another sort order")
            return None
        values = data.get("v")
    elif isinstance(after, tuple):  # a row's own values: as their columns hold them
        values = [stored(entity, name, value) if i < len(keys) else value
                  for i, ((name, _desc), value) in enumerate(zip(keys, after, strict=False))]
        values += list(after[len(values):])
    else:
        errors.setdefault("after", []).append("is a cursor or the sort values and id of a row")
        return None
    if not isinstance(values, list) or len(values) != len(keys):
        errors.setdefault("after", []).append(f"needs {len(keys)} values ({', '.join(n for n, _d in keys)})")
        return None
    result = []
    for (name, _desc), value in zip(keys, values, strict=True):
        try:
            result.append(_cursor_value(entity.table.c[name], value))
        except (ValueError, TypeError, DecimalException, FieldValueError):
            errors.setdefault("after", []).append(f"'{value}' does not fit {name}")
            return None
    return result


def _cursor_value(column: sa.Column, value: Any) -> Any:
    """A cursor value as its column stores it (the JSON of a token holds text for dates)."""
    if value is None:
        if column.name == "id":
            raise ValueError("id")
        return None
    kind = column.type
    if isinstance(kind, sa.Boolean):
        if not isinstance(value, bool):
            raise ValueError(value)
        return value
    if isinstance(value, bool) or isinstance(value, (dict, list)):
        raise ValueError(value)
    if isinstance(kind, sa.Integer):
        number = int(value) if isinstance(value, int) else int(str(value))
        if abs(number) >= 2**63:
            raise ValueError(value)
        return number
    if isinstance(kind, sa.Numeric):
        number = Decimal(str(value))
        if not number.is_finite() or number.adjusted() > 40:
            raise ValueError(value)
        return number
    if isinstance(kind, sa.DateTime):
        from ..fields.scalar import DateTimeType

        return DateTimeType().coerce(value if isinstance(value, datetime) else str(value), None)
    if isinstance(kind, sa.Date):
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    if isinstance(value, (int, float, Decimal)):
        raise ValueError(value)
    text = str(value)
    if "\x00" in text:
        raise ValueError(value)
    return text


class KeysetAfter(ColumnElement):
    """`WHERE` the row comes after the cursor in `ORDER BY` order: a boolean condition
    compiled for the database it runs on, since databases place NULL differently."""

    type = sa.Boolean()
    inherit_cache = False  # holds values: never share a compiled form
    _is_implicitly_boolean = True  # a condition: no `= 1` where booleans are integers

    def __init__(self, terms: list[tuple[sa.Column, bool, Any]]):
        self.terms = terms  # (column, descending, cursor value), the last one is id


@compiles(KeysetAfter)
def _compile_keyset(element: KeysetAfter, compiler, **kw) -> str:
    condition = after_condition(element.terms, compiler.dialect.name in NULLS_LOW)
    return "(" + compiler.process(condition, **kw) + ")"


class NullsLast(ColumnElement):
    """True where this database sorts NULL after the values in this direction (or, with
    `first=True`, before them): a constant the planner folds away."""

    type = sa.Boolean()
    inherit_cache = False
    _is_implicitly_boolean = True

    def __init__(self, descending: bool, first: bool = False):
        self.descending = descending
        self.first = first


@compiles(NullsLast)
def _compile_nulls_last(element: NullsLast, compiler, **kw) -> str:
    last = (compiler.dialect.name in NULLS_LOW) == element.descending
    return compiler.process(sa.true() if last != element.first else sa.false(), **kw)


def keyset_parts(terms: list[tuple[sa.Column, bool, Any]]) -> tuple[Any, Any]:
    """The rows after the cursor as (condition, None) when the first sort column cannot be
    NULL, else as (rows where it is not NULL, rows where it is NULL): two conditions that
    each are one index range."""
    column, desc, value = terms[0]
    if not column.nullable or len(terms) == 1:
        return KeysetAfter(terms), None
    rest = KeysetAfter(terms[1:])
    if value is None:
        return sa.and_(column.is_not(None), NullsLast(desc, first=True)), sa.and_(column.is_(None), rest)
    bound = sa.bindparam(None, value, type_=column.type)
    beyond = column < bound if desc else column > bound
    values = sa.and_(column <= bound if desc else column >= bound, sa.or_(beyond, sa.and_(column == bound, rest)))
    return values, sa.and_(column.is_(None), NullsLast(desc))


def after_condition(terms: list[tuple[sa.Column, bool, Any]], nulls_low: bool) -> Any:
    """Rows strictly after (v1, …, id) in the order `k1, …, id`:

        after(k1) OR (k1 same as v1 AND after(k2, …))

    where a key's NULLs come last when the database sorts NULL high and the key ascends,
    or NULL low and it descends. A leading range bound (`k1 >= v1` ascending) that the
    condition implies is added so the index is entered at the cursor, not at its start."""

    def nulls_last(desc: bool) -> bool:
        return nulls_low == desc

    def beyond(column, desc: bool, value):
        if value is None:
            return sa.false() if nulls_last(desc) else column.is_not(None)
        value = sa.bindparam(None, value, type_=column.type)  # a parameter, also for True/False
        compared = column < value if desc else column > value
        if nulls_last(desc) and column.nullable:
            return sa.or_(compared, column.is_(None))
        return compared

    def same(column, value):
        return column.is_(None) if value is None else column == sa.bindparam(None, value, type_=column.type)

    column, desc, value = terms[-1]
    condition = beyond(column, desc, value)
    for column, desc, value in reversed(terms[:-1]):
        condition = sa.or_(beyond(column, desc, value), sa.and_(same(column, value), condition))
    column, desc, value = terms[0]
    if len(terms) > 1 and value is not None and not (nulls_last(desc) and column.nullable):
        bound = sa.bindparam(None, value, type_=column.type)
        condition = sa.and_(column <= bound if desc else column >= bound, condition)
    return condition


def _filter(entity: Entity, selectable: dict, name: str, op: str, value: Any, errors) -> Any:
    table = entity.table
    if op not in OPERATORS:
        errors.setdefault(name, []).append(f"unknown operator '{op}' (use one of {', '.join(OPERATORS)})")
        return None
    if name in ("id", "owner", "created_by", "version"):
        field_ = None
        coerce = _as_int
    elif name in ("created_at", "updated_at"):
        field_ = None
        from ..fields.scalar import DateTimeType

        coerce = lambda v: DateTimeType().coerce(v, None)  # noqa: E731
    elif name in selectable:
        field_ = selectable[name]
        coerce = lambda v: field_.type.coerce(v, field_)  # noqa: E731
    else:
        errors.setdefault(name, []).append("cannot be filtered on")
        return None
    column = table.c[name]
    if field_ is not None and field_.encrypted and op not in ("empty", "not_empty"):
        return _encrypted_filter(table, field_, op, value, errors)
    if field_ is not None and field_.type.name == "polymorphic_link" and op in ("eq", "ne", "in"):
        return _polymorphic(table, field_, op, value, errors)
    if op in ("empty", "not_empty"):
        is_list = field_ is not None and field_.type.value_type == "list"
        empty = is_empty_sql(column) if is_list else column.is_(None)
        return empty if op == "empty" else sa.not_(empty)
    try:
        if op == "in":
            items = value if isinstance(value, (list, tuple)) else str(value).split(",")
            return column.in_([stored(entity, name, coerce(v)) for v in items])
        if op == "contains":
            if field_ is not None and field_.type.value_type == "list":
                return JsonContains(column, sa.bindparam(None, str(value), type_=sa.String()))
            if field_ is None or field_.type.value_type != "string":
                errors.setdefault(name, []).append("'contains' works on text and list fields")
                return None
            if "\x00" in str(value):
                errors.setdefault(name, []).append("contains a character that cannot be searched for")
                return None
            return FoldedContains(column, str(value))  # case and accents ignored, as in searches
        coerced = coerce(value)
        if field_ is not None and field_.type.value_type == "list":
            errors.setdefault(name, []).append(f"use 'contains' to filter on {field_.type.name}")
            return None
    except (FieldValueError, ValueError, TypeError) as exc:
        errors.setdefault(name, []).append(str(exc))
        return None
    if field_ is not None:
        coerced = stored(entity, name, coerced)
    if op == "eq" and coerced is None:
        return column.is_(None)
    if op == "ne":
        return column.is_distinct_from(coerced)
    if coerced is None:  # nothing is less or greater than "empty"
        return sa.false()
    value = sa.bindparam(None, coerced, type_=column.type)  # a parameter, also for True/False
    return {"eq": column == value, "lt": column < value, "lte": column <= value, "gt": column > value,
            "gte": column >= value}[op]


def _encrypted_filter(table: sa.Table, field_: Any, op: str, value: Any, errors) -> Any:
    """An encrypted field is compared by the keyed hash of its normalised value (NAME_hash):
    equal, not equal or one of; nothing that needs the clear text (contains, order)."""
    if op not in ("eq", "ne", "in"):
        errors.setdefault(field_.name, []).append(
            f"is encrypted: only exact matches (eq, ne, in) can be searched for, not '{op}'")
        return None
    items = value if op == "in" and isinstance(value, (list, tuple)) else (
        str(value).split(",") if op == "in" else [value])
    try:
        coerced = [field_.type.coerce(v, field_) for v in items]
    except (FieldValueError, ValueError, TypeError) as exc:
        errors.setdefault(field_.name, []).append(str(exc))
        return None
    column = table.c[f"{field_.name}_hash"]
    digests = [d for v in coerced if v is not None for d in keyring().digests(field_.type.exact_key(v))]
    if op == "eq" and not digests:
        return column.is_(None)
    if op == "ne":
        return column.is_(None) | column.not_in(digests) if digests else column.is_not(None)
    return column.in_(digests) if digests else sa.false()


def _polymorphic(table: sa.Table, field_: Any, op: str, value: Any, errors) -> Any:
    """A polymorphic link filtered by record (`"customer:5"`, `{"entity", "id"}`) or by the
    kind of record alone (`"customer"`)."""
    items = value if op == "in" and isinstance(value, (list, tuple)) else \
        (str(value).split(",") if op == "in" else [value])
    conditions = []
    for item in items:
        try:
            entity, record_id = field_.type.target(item, field_)
        except FieldValueError as exc:
            errors.setdefault(field_.name, []).append(str(exc))
            return None
        parts = []
        if entity is not None:
            parts.append(table.c[f"{field_.name}_entity"] == entity)
        if record_id is not None:
            parts.append(table.c[field_.name] == record_id)
        conditions.append(sa.and_(*parts) if parts else table.c[field_.name].is_(None))
    condition = sa.or_(*conditions) if conditions else sa.false()
    return sa.or_(table.c[field_.name].is_(None), sa.not_(condition)) if op == "ne" else condition


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise FieldValueError(message(NOT_A_NUMBER, value=value)) from None


def entity_env(entity: Entity):
    """The expression environment of an entity, as the compiler built it."""
    return entity.env


__all__ = ["Query", "build_select", "cursor", "field", "order_keys"]
