"""Many rows into one table at once (an import's records, their audit entries, its items).

`conn.execute(table.insert(), rows)` converts every value of every row by looking up its
column's bind processor, row after row: for an import, a third of its time went there
(SQLite), more than the database took to store the rows. `insert_rows` sends the same
statement SQLAlchemy compiles for these columns, with each value converted by the same
processor SQLAlchemy would call (the column type's, for this dialect), but a column at a
time, a value repeated from the row before (the batch's clock, a city) converted once,
and the rows handed to the driver's executemany as they are.

Only when that is exactly what `conn.execute` would do: rows naming the same columns,
no Python-side column default the statement would have to fill in, no bind name that
SQLAlchemy escapes. Otherwise the rows go through `conn.execute` as before.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# (id of the table, columns, dialect name) -> (the table, its plan: see `_plan`)
_PLANS: dict[tuple[int, tuple[str, ...], str], tuple[sa.Table, tuple[str, list[str], bool, list[Any]] | None]] = {}


def insert_rows(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """INSERT `rows` (dicts of column values) into `table`, in their order."""
    if not rows:
        return
    keys = tuple(rows[0])
    if any(len(row) != len(keys) for row in rows) or any(row.keys() != rows[0].keys() for row in rows):
        conn.execute(table.insert(), rows)
        return
    plan = _plan(conn, table, keys)
    if plan is None:
        conn.execute(table.insert(), rows)
        return
    sql, order, positional, processors = plan
    columns = []
    for key, process in zip(order, processors, strict=True):
        values = [row[key] for row in rows]
        if process is not None:
            values = _converted(values, process)
        columns.append(values)
    if positional:
        conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))
    else:
        conn.exec_driver_sql(sql, [dict(zip(order, values, strict=True)) for values in zip(*columns, strict=True)])


def _converted(values: list[Any], process: Any) -> list[Any]:
    """`process` of each value; a value that is the previous one (the same object) is not
    converted again (a bind processor is a function of its value)."""
    out = []
    before: Any = _NOTHING
    after: Any = None
    for value in values:
        if value is not before:
            before, after = value, process(value)
        out.append(after)
    return out


_NOTHING = object()


def _plan(conn: Connection, table: sa.Table, keys: tuple[str, ...]) -> tuple[str, list[str], bool, list[Any]] | None:
    """The statement SQLAlchemy compiles for an INSERT of these columns, the columns in the
    order of its parameters, whether they are positional (else named by the columns) and
    each one's bind processor; None when the statement would hold more than these values
    (see the module's doc)."""
    dialect = conn.dialect
    cache_key = (id(table), keys, dialect.name)
    found = _PLANS.get(cache_key)
    if found is not None and found[0] is table:
        return found[1]
    plan = None
    if all(k in table.c for k in keys) and not any(
            c.default is not None for c in table.c if c.key not in keys):
        compiled = table.insert().compile(dialect=dialect, column_keys=list(keys))
        order = list(compiled.positiontup or ()) if compiled.positional else list(compiled.bind_names.values())
        if sorted(order) == sorted(keys) and not getattr(compiled, "escaped_bind_names", None):
            processors = [table.c[k].type._cached_bind_processor(dialect) for k in order]
            plan = (str(compiled), order, bool(compiled.positional), processors)
    if len(_PLANS) > 512:
        _PLANS.clear()
    _PLANS[cache_key] = (table, plan)
    return plan
