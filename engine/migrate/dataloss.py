"""Counting, in the live database, what a change would touch.

Every number in a plan ("3 values longer than 20 characters", "2 duplicate groups") comes
from a query here, run with the live (pre-rename) names. Queries use lightweight
`sa.table()`/`sa.column()` constructs so they work on tables the model no longer describes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

Expr = ColumnElement[Any]


def _table(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, *[sa.column(c) for c in columns])


def count_rows(conn: Connection, table: str) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(_table(table))).scalar_one()


def count_where(conn: Connection, table: str, column: str, predicate: Callable[[Expr], Expr]) -> int:
    t = _table(table, column)
    return conn.execute(sa.select(sa.func.count()).select_from(t).where(predicate(t.c[column]))).scalar_one()


def non_empty(column: Expr, type_: sa.types.TypeEngine) -> Expr:
    """A value a person entered: not NULL, and for text not the empty string."""
    if isinstance(type_, sa.String) and not isinstance(type_, sa.Enum):
        return sa.and_(column.is_not(None), column != "")
    return column.is_not(None)


def count_non_empty(conn: Connection, table: str, column: str, type_: sa.types.TypeEngine) -> int:
    return count_where(conn, table, column, lambda c: non_empty(c, type_))


def count_nulls(conn: Connection, table: str, column: str) -> int:
    return count_where(conn, table, column, lambda c: c.is_(None))


def duplicate_groups(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    examples: int = 3,
    converted: dict[str, Callable[[Expr], Expr]] | None = None,
) -> tuple[int, list[str]]:
    """How many distinct values occur more than once (NULLs never clash), with a few examples.

    `converted` maps a column to the expression its values will have after a type change,
    to find the duplicates that change would create."""
    t = _table(table, *columns)
    converted = converted or {}
    cols = [converted[c](t.c[c]).label(c) if c in converted else t.c[c] for c in columns]
    groups = (
        sa.select(*cols, sa.func.count().label("n"))
        .where(*[c.is_not(None) for c in cols])
        .group_by(*cols)
        .having(sa.func.count() > 1)
        .subquery()
    )
    total = conn.execute(sa.select(sa.func.count()).select_from(groups)).scalar_one()
    rows = conn.execute(sa.select(groups).order_by(groups.c.n.desc()).limit(examples)).all()
    shown = []
    for row in rows:
        value = ", ".join(repr(v) for v in row[: len(columns)])
        shown.append(f"{value} x{row[-1]}")
    return total, shown


def orphans(
    conn: Connection, table: str, columns: Sequence[str], target: str, target_columns: Sequence[str]
) -> int:
    """Rows whose reference points at no row of the target table."""
    t = _table(table, *columns)
    r = _table(target, *target_columns).alias("target")
    match = sa.and_(*[r.c[tc] == t.c[c] for c, tc in zip(columns, target_columns, strict=True)])
    query = (
        sa.select(sa.func.count())
        .select_from(t)
        .where(*[t.c[c].is_not(None) for c in columns])
        .where(~sa.exists().where(match))
    )
    return conn.execute(query).scalar_one()
