"""Helpers for the expression tests: the fields of a test entity, a table that matches
them, and functions that run an expression through SQL on a real database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from engine.expr import Expression

UTC = dt.UTC
NOW = dt.datetime(2024, 5, 17, 13, 45, 30, 123456, tzinfo=UTC)

FIELDS: dict[str, Any] = {
    "s": "string",
    "t": "string",
    "n": "number",
    "m": "number",
    "i": "number",
    "b": "boolean",
    "c": "boolean",
    "d": "date",
    "e": "date",
    "dt": "datetime",
    "du": "datetime",
    "tags": "list",
}
VARIABLES = {
    "user": {"id": "number", "roles": "list", "team_members": "list", "region": "string", "start": "date"},
}
USER = {"id": 7, "roles": ["admin", "sales"], "team_members": [7, 8, 9], "region": "EU", "start": dt.date(2024, 1, 1)}


def tags_type() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def make_table(metadata: sa.MetaData, name: str = "expr_items") -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("s", sa.String(40)),
        sa.Column("t", sa.String(40)),
        sa.Column("n", sa.Numeric(14, 4)),
        sa.Column("m", sa.Numeric(14, 4)),
        sa.Column("i", sa.Integer),
        sa.Column("b", sa.Boolean),
        sa.Column("c", sa.Boolean),
        sa.Column("d", sa.Date),
        sa.Column("e", sa.Date),
        sa.Column("dt", sa.DateTime(timezone=True)),
        sa.Column("du", sa.DateTime(timezone=True)),
        sa.Column("tags", tags_type()),
    )


def columns_of(table: sa.Table) -> dict[str, Any]:
    return {column.name: column for column in table.c if column.name != "id"}


def insert_rows(engine: sa.Engine, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    with engine.begin() as conn:
        conn.execute(table.delete())
        if rows:
            conn.execute(table.insert(), [{"id": index + 1, **_full(row)} for index, row in enumerate(rows)])


def _full(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: row.get(name) for name in FIELDS}


def sql_ids(engine: sa.Engine, table: sa.Table, expression: Expression, variables=None, now=NOW) -> set[int]:
    condition = expression.to_sql(columns_of(table), variables, now)
    with engine.connect() as conn:
        return set(conn.execute(sa.select(table.c.id).where(condition)).scalars())


def python_ids(expression: Expression, rows: Sequence[Mapping[str, Any]], variables=None, now=NOW) -> set[int]:
    return {index + 1 for index, row in enumerate(rows) if expression.evaluate(row, variables, now)}


def sql_values(engine: sa.Engine, table: sa.Table, expression: Expression, variables=None, now=NOW) -> dict[int, Any]:
    value = expression.to_sql(columns_of(table), variables, now, as_value=True)
    with engine.connect() as conn:
        return {row[0]: row[1] for row in conn.execute(sa.select(table.c.id, value.label("v")).order_by(table.c.id))}


def sql_scalar(engine: sa.Engine, table: sa.Table, expression: Expression, row: Mapping[str, Any], variables=None, now=NOW) -> Any:
    """Insert `row` alone and select the expression's value for it."""
    insert_rows(engine, table, [row])
    return sql_values(engine, table, expression, variables, now)[1]


def same_value(a: Any, b: Any) -> bool:
    """Equality for results: numbers by value, everything else exactly (1 is not True)."""
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a == b
    return type(a) is type(b) and a == b
