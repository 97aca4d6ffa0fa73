"""List queries: filters, free-text search, sort and paging, all whitelisted.

A caller names fields, never columns or SQL: every name is checked against the compiled
entity, every value is coerced by its field type and bound as a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa

from ..expr import ExpressionError, compile_expression
from ..expr.builtins import _is_empty_sql as is_empty_sql
from ..expr.sqlconstructs import JsonContains
from ..fields.base import FieldValueError
from ..model.constants import STANDARD_SORTABLE
from ..model.model import Entity
from .context import Context
from .errors import ValidationError

OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "empty", "not_empty")
MAX_LIMIT = 1000


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", tuple(tuple(f) for f in self.filters))
        if self.sort is not None and isinstance(self.sort, str):
            object.__setattr__(self, "sort", (self.sort,))

    def unpaged(self) -> Query:
        return replace(self, limit=None, offset=0, sort=())


def _column_fields(entity: Entity) -> dict[str, Any]:
    return {name: f for name, f in entity.fields.items()
            if f.type.storage == "column" and not (f.is_computed and not f.stored)}


def build_select(entity: Entity, query: Query, context: Context, columns: list | None = None) -> sa.Select:
    table = entity.table
    errors: dict[str, list[str]] = {}
    selectable = _column_fields(entity)
    if columns is None:
        if query.columns is None:
            columns = list(table.c)
        else:
            wanted = ["id", "version", *query.columns]
            columns = []
            for name in dict.fromkeys(wanted):
                if name in ("id", "version", "created_at", "updated_at", "owner", "created_by"):
                    columns.append(table.c[name])
                elif name in selectable:
                    field_ = selectable[name]
                    columns += [table.c[c] for c in field_.type.column_names(field_)]
                else:
                    errors.setdefault(name, []).append("cannot be selected")
    statement = sa.select(*columns)
    conditions = []
    if query.where:
        try:
            expression = compile_expression(query.where, entity_env(entity), expected="boolean")
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
        term = "%" + query.search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        searchable = [table.c[n] for n in entity.list.search if n in table.c]
        if searchable:
            conditions.append(sa.or_(*[c.ilike(term, escape="\\") for c in searchable]))
    if errors:
        raise ValidationError(errors)
    if conditions:
        statement = statement.where(*conditions)
    sort = entity.list.sort if query.sort is None else query.sort
    order = []
    for key in sort:
        if not isinstance(key, str):
            raise ValidationError({"sort": [f"{key!r} is not a field name"]})
        name = key.lstrip("-")
        if name not in STANDARD_SORTABLE and (name not in selectable or not selectable[name].type.sortable):
            raise ValidationError({"sort": [f"cannot sort on '{name}'"]})
        column = table.c[name]
        order.append(column.desc() if key.startswith("-") else column.asc())
    if order and not any(key.lstrip("-") == "id" for key in sort):
        order.append(table.c.id.desc() if sort and sort[0].startswith("-") else table.c.id.asc())
    if order:
        statement = statement.order_by(*order)
    if query.limit is not None:
        try:
            limit = int(query.limit)
            offset = int(query.offset or 0)
        except (TypeError, ValueError):
            raise ValidationError({"limit": ["must be a number"]}) from None
        if not 0 < limit <= MAX_LIMIT or offset < 0:
            raise ValidationError({"limit": [f"must be between 1 and {MAX_LIMIT}, offset at least 0"]})
        statement = statement.limit(limit).offset(offset)
    return statement


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
    if op in ("empty", "not_empty"):
        is_list = field_ is not None and field_.type.value_type == "list"
        empty = is_empty_sql(column) if is_list else column.is_(None)
        return empty if op == "empty" else sa.not_(empty)
    try:
        if op == "in":
            items = value if isinstance(value, (list, tuple)) else str(value).split(",")
            return column.in_([coerce(v) for v in items])
        if op == "contains":
            if field_ is not None and field_.type.value_type == "list":
                return JsonContains(column, sa.bindparam(None, str(value), type_=sa.String()))
            if field_ is None or field_.type.value_type != "string":
                errors.setdefault(name, []).append("'contains' works on text and list fields")
                return None
            term = "%" + str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            return column.ilike(term, escape="\\")
        coerced = coerce(value)
        if field_ is not None and field_.type.value_type == "list":
            errors.setdefault(name, []).append(f"use 'contains' to filter on {field_.type.name}")
            return None
    except (FieldValueError, ValueError, TypeError) as exc:
        errors.setdefault(name, []).append(str(exc))
        return None
    return {"eq": column == coerced, "ne": column.is_distinct_from(coerced), "lt": column < coerced,
            "lte": column <= coerced, "gt": column > coerced, "gte": column >= coerced}[op]


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise FieldValueError(f"'{value}' is not a number") from None


def entity_env(entity: Entity):
    """The expression environment of an entity, as the compiler built it."""
    return entity.env


__all__ = ["Query", "build_select", "field"]
