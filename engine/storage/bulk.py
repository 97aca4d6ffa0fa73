"""Many rows into one table at once (an import's records, their audit entries, its items).

`conn.execute(table.insert(), rows)` converts every value of every row by looking up its
column's bind processor, row after row: for an import, a third of its time went there
(SQLite), more than the database took to store the rows. `insert_rows` sends the same
statement SQLAlchemy compiles for these columns, with each value converted by the same
processor SQLAlchemy would call (the column type's, for this dialect), but a column at a
time, a value repeated from the row before (the batch's clock, a city) converted once,
and the rows handed to the driver's executemany as they are.

On PostgreSQL, an executemany is still one INSERT per row for the server (each planned,
executed and answered), which took longer than the rows' own checks. There the converted
columns go as one array each to one statement, `INSERT … SELECT … FROM unnest(…) WITH
ORDINALITY … ORDER BY` the rows' order: each array is cast to its column's base type
(VARCHAR, NUMERIC, …: never a length or scale, which a cast would cut or round silently),
sent in the driver's binary format (JSON in an array's text form is escaped character by
character), and the INSERT assigns it to the column as it assigns a parameter (a text too
long for its column is refused, a number rounded to the column's scale, as one row at a
time). Only for columns of the base types listed in `_ARRAYS` holding values of one Python
type (the driver types an array by one of its values), else by executemany.

Only when that is exactly what `conn.execute` would do: rows naming the same columns,
no Python-side column default the statement would have to fill in, no bind name that
SQLAlchemy escapes. Otherwise the rows go through `conn.execute` as before.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# (id of the table, columns, dialect name) -> (the table, its plan: see `_plan`)
_PLANS: dict[tuple[int, tuple[str, ...], str], tuple[sa.Table, tuple[str, list[str], bool, list[Any], str | None] | None]] = {}
# PostgreSQL's base types whose arrays `unnest` gives back as the values sent one by one
_ARRAYS = frozenset({"VARCHAR", "TEXT", "BIGINT", "INTEGER", "SMALLINT", "NUMERIC", "BOOLEAN", "DATE",
                     "TIMESTAMP WITH TIME ZONE", "TIMESTAMP WITHOUT TIME ZONE", "JSON", "JSONB"})
_NOT_ELEMENTS = (list, tuple, dict)  # values an array would take for arrays or records of their own


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
    sql, order, positional, processors, arrays = plan
    columns = []
    for key, process in zip(order, processors, strict=True):
        values = [row[key] for row in rows]
        if process is not None:
            values = _converted(values, process)
        columns.append(values)
    if arrays is not None and len(rows) > 1 and all(_one_kind(values) for values in columns):
        conn.exec_driver_sql(arrays, {f"p{i}": values for i, values in enumerate(columns)})
    elif positional:
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


def _one_kind(values: list[Any]) -> bool:
    """Whether the values (None aside) are of one Python type, none of them a container,
    and date-times all with a zone or all without (the driver types an array by one of
    its values)."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if len(kinds) > 1 or any(issubclass(kind, _NOT_ELEMENTS) for kind in kinds):
        return False
    if kinds and issubclass(next(iter(kinds)), (datetime, time)):
        return len({v.tzinfo is None for v in values if v is not None}) <= 1
    return True


def _plan(conn: Connection, table: sa.Table,
          keys: tuple[str, ...]) -> tuple[str, list[str], bool, list[Any], str | None] | None:
    """The statement SQLAlchemy compiles for an INSERT of these columns, the columns in the
    order of its parameters, whether they are positional (else named by the columns), each
    one's bind processor and the INSERT of arrays (`_unnest`); None when the statement would
    hold more than these values (see the module's doc)."""
    dialect = conn.dialect
    cache_key = (id(table), keys, dialect.name)
    found = _PLANS.get(cache_key)
    if found is not None and found[0] is table:
        return found[1]
    plan = None
    if all(k in table.c for k in keys) and not any(
            c.default is not None for c in table.c if c.key not in keys):
        compiled = table.insert().compile(dialect=dialect, column_keys=list(keys), for_executemany=True)
        order = list(compiled.positiontup or ()) if compiled.positional else list(compiled.bind_names.values())
        if sorted(order) == sorted(keys) and not getattr(compiled, "escaped_bind_names", None):
            processors = [table.c[k].type._cached_bind_processor(dialect) for k in order]
            arrays = _unnest(conn, table, order) if dialect.name == "postgresql" else None
            plan = (str(compiled), order, bool(compiled.positional), processors, arrays)
    if len(_PLANS) > 512:
        _PLANS.clear()
    _PLANS[cache_key] = (table, plan)
    return plan


def _unnest(conn: Connection, table: sa.Table, order: list[str]) -> str | None:
    """PostgreSQL: INSERT the columns `order` from one array each (parameters p0, p1, …),
    in the arrays' order; None if a column's type is not one of `_ARRAYS`."""
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    casts = []
    for i, key in enumerate(order):
        column = table.c[key]
        base = re.sub(r"\(.*?\)", "", dialect.type_compiler_instance.process(column.type.dialect_impl(dialect))).strip()
        if base not in _ARRAYS:
            return None
        casts.append(f"%(p{i})b::{base}[]")
    names = ", ".join(quote(table.c[key].name) for key in order)
    values = ", ".join(f"v{i}" for i in range(len(order)))
    return (f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({names}) SELECT {values} "
            f"FROM unnest({', '.join(casts)}) WITH ORDINALITY AS given({values}, position) ORDER BY position")
