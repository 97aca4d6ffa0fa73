"""Totals of a list's number and money columns, for every row the list's filters match.

A list shows one page; its totals are of all the rows the user's filters and row scope reach
(what the count says), worked out in SQL, never by adding up a page. The rules are the
list's own: only fields the user may see unmasked and unrestricted are summed; money is
summed per currency (never added across currencies); computed-when-read fields have no
column to sum and get no total.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa

from ..fields.numbers import numbers_in
from ..model.model import Entity, Field
from .context import Context
from .query import Query, build_select

# the field types a list totals: amounts and counts (a percent or a year adds up to nothing)
SUMMED_TYPES = frozenset({"integer", "decimal", "money"})


def summable(entity: Entity, name: str) -> Field | None:
    """The field behind a column that gets a total, or None."""
    field_ = entity.fields.get(name)
    if field_ is None or field_.type.name not in SUMMED_TYPES or field_.type.storage != "column":
        return None
    if name not in entity.table.c:
        return None  # computed when read: no column to sum
    return field_


def currency_sql(field_: Field, table: sa.Table) -> Any:
    """The currency of each row's amount, as SQL (a field's fixed currency when the row has none)."""
    if field_.currency_field:
        return table.c[field_.currency_field]
    column = table.c[f"{field_.name}_currency"]
    return sa.func.coalesce(column, sa.literal(field_.currency)) if field_.currency else column


def totals(service: Any, entity_name: str, query: Query, context: Context,
           names: Iterable[str]) -> dict[str, list[tuple[str | None, Decimal | int]]]:
    """{field: [(currency or None, total), …]} for the columns `names` that get a total and
    that this user may see in full. Money fields get one entry per currency, in code order."""
    entity = service.model.entities[entity_name]
    access = service.authorize(entity.name, "read", context)
    withheld = access.hidden_fields() | access.scoped_fields() | set(service._masks(entity, access, context))
    fields = [f for f in (summable(entity, n) for n in dict.fromkeys(names)) if f is not None and f.name not in withheld]
    if not fields:
        return {}
    restrict = service._restriction(access, "read", context)
    with numbers_in(context.actor.language):  # filter values typed by the user
        rows = build_select(entity, query.unpaged(), context, columns=[entity.table.c.id], restrict=restrict,
                            hidden=access.hidden_fields() | access.scoped_fields()).subquery()
    table = entity.table
    matching = sa.select(table).where(table.c.id.in_(sa.select(rows.c.id))).subquery()
    found: dict[str, list[tuple[str | None, Decimal | int]]] = {}
    with service.reading() as conn:
        plain = [f for f in fields if f.type.name != "money"]
        if plain:
            sums = conn.execute(sa.select(*(sa.func.sum(matching.c[f.name]) for f in plain))).one()
            for field_, value in zip(plain, sums, strict=True):
                found[field_.name] = [(None, _exact(field_, value))]
        for field_ in (f for f in fields if f.type.name == "money"):
            currency = currency_sql(field_, matching).label("currency")
            amount = sa.func.sum(matching.c[field_.name])
            statement = (sa.select(currency, amount).where(matching.c[field_.name].is_not(None))
                         .group_by(currency).order_by(currency))
            found[field_.name] = [(code, _exact(field_, value)) for code, value in conn.execute(statement)]
    return found


def _exact(field_: Field, value: Any) -> Decimal | int:
    """A sum as the field's own kind of number (SQLite adds decimals as doubles: rounded back
    to the field's scale, which holds every digit a stored value can have)."""
    if value is None:
        return 0
    if field_.type.name == "integer":
        return int(value)
    scale = field_.scale if field_.scale is not None else field_.type.default_scale
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
