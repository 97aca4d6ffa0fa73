"""A new row as the database gives it back, worked out without reading it.

A batch of imported records (`RecordService._save_many`) is not read back after its
INSERT: each saved record is built from the values inserted, converted as the driver
would convert them on the way in and out (SQLite keeps a NUMERIC as a double and a
date-time without its zone, PostgreSQL gives a timestamptz in the session's zone, …).
Only conversions known to be exact are mirrored; for any other value (a column type not
listed here, a Decimal with more places than its column, a JSON value that is not plain,
…) `echo_rows` answers None and the batch is read back as before, so the saved records
are always those a read would give (tests/imports/test_import_batch.py compares both
paths field by field on SQLite and PostgreSQL).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_ZERO = timedelta(0)

# how a column's values come back (per column kind): the value as it is, or converted
_SAME_STR, _SAME_INT, _SAME_BOOL, _SAME_DATE, _FLOAT, _DECIMAL, _DATETIME, _JSON, _JSONB, _UNKNOWN = range(10)


class Unsure(Exception):
    """A value whose trip through the database is not mirrored here: read the rows back."""


def echo_plan(conn: Connection, table: sa.Table) -> list[tuple[str, int, Any, bool]]:
    """Per column: (name, kind, its argument, whether the database fills it when left out)."""
    dialect = conn.dialect
    plan = []
    for column in table.c:
        kind, argument = _kind(column.type.dialect_impl(dialect), dialect.name)
        defaulted = column.default is not None or column.server_default is not None
        plan.append((column.name, kind, argument, defaulted))
    return plan


def _kind(impl: sa.types.TypeEngine, dialect: str) -> tuple[int, Any]:
    if isinstance(impl, (sa.types.TypeDecorator, sa.Enum, sa.Interval, sa.PickleType)):
        return _UNKNOWN, None
    if isinstance(impl, sa.Boolean):
        return _SAME_BOOL, None
    if isinstance(impl, sa.Integer):
        return _SAME_INT, None
    if isinstance(impl, sa.String):
        return _SAME_STR, None
    if isinstance(impl, sa.Float):  # SQLite's REAL is a double; PostgreSQL's may keep fewer digits
        return (_FLOAT, None) if dialect == "sqlite" and not impl.asdecimal else (_UNKNOWN, None)
    if isinstance(impl, sa.Numeric):
        if not impl.asdecimal or impl.scale is None:
            return _UNKNOWN, None
        return _DECIMAL, impl.scale
    if isinstance(impl, sa.DateTime):
        return (_DATETIME, None) if dialect == "sqlite" or impl.timezone else (_UNKNOWN, None)
    if isinstance(impl, sa.Date):
        return _SAME_DATE, None
    if isinstance(impl, sa.JSON):
        # JSONB keeps its own order of keys and form of numbers: lists of text and whole numbers only
        return (_JSONB if dialect == "postgresql" and "JSONB" in type(impl).__name__.upper() else _JSON), None
    return _UNKNOWN, None


def session_zone(conn: Connection) -> tzinfo | None:
    """The zone PostgreSQL gives timestamptz values in (psycopg's connection setting)."""
    if conn.dialect.name != "postgresql":
        return None
    info = getattr(conn.connection.dbapi_connection, "info", None)
    return getattr(info, "timezone", None)


def echo_rows(conn: Connection, plan: list[tuple[str, int, Any, bool]], rows: list[dict[str, Any]],
              ids: list[int]) -> list[dict[str, Any]] | None:
    """The rows as a SELECT of every column would give them (with their ids), or None
    when a value's trip through the database is not one mirrored here. Worked out a
    column at a time: most columns hold values given back as they are (their types, asked
    once for the whole batch, say so), and only the others are converted value by value."""
    sqlite = conn.dialect.name == "sqlite"
    zone = None if sqlite else session_zone(conn)
    empty = {name: None for name, _kind, _argument, _defaulted in plan}  # a column left out is NULL
    echoed = []
    for row, record_id in zip(rows, ids, strict=True):
        out = empty.copy()
        out.update(row)
        out["id"] = record_id
        echoed.append(out)
    if any(len(out) != len(empty) for out in echoed):
        return None  # a key that is no column
    try:
        for name, kind, argument, defaulted in plan:
            if name == "id":
                continue
            if defaulted and any(name not in row for row in rows):
                raise Unsure(name)  # the database fills it: its value is not known here
            kinds = set(map(type, [out[name] for out in echoed]))
            if kinds <= _AS_THEY_ARE.get(kind, _NONE):
                continue  # (most columns: every value given back as it is)
            before: Any = None
            after: Any = None
            for out in echoed:
                value = out[name]
                if value is not None:
                    if value is not before:  # the same object as the row before (the batch's clock): as it
                        before, after = value, _echo(value, kind, argument, sqlite, zone)
                    out[name] = after
    except Unsure:
        return None
    return echoed


_NONE = frozenset({type(None)})
# the column kinds whose values of these exact types come back as they are
_AS_THEY_ARE = {_SAME_STR: frozenset({str, type(None)}), _SAME_INT: frozenset({int, type(None)}),
                _SAME_BOOL: frozenset({bool, type(None)}), _SAME_DATE: frozenset({date, type(None)})}


def _echo(value: Any, kind: int, argument: Any, sqlite: bool, zone: tzinfo | None) -> Any:
    kind_of = type(value)
    if kind == _SAME_STR:
        if kind_of is str:
            return value
    elif kind == _SAME_INT:
        if kind_of is int:
            return value
    elif kind == _DECIMAL:
        if kind_of is Decimal and value.is_finite():
            if sqlite:  # kept as a double, given back as SQLAlchemy formats it to the column's places
                return Decimal(f"{float(value):.{argument}f}")
            if value.as_tuple().exponent == -argument:
                return value
    elif kind == _DATETIME:
        if kind_of is datetime:
            if sqlite:  # stored as its wall-clock text, given back without a zone
                return value.replace(tzinfo=None)
            if zone is not None and value.tzinfo is not None and value.utcoffset() is not None:
                return value.astimezone(zone)
    elif kind == _SAME_BOOL:
        if kind_of is bool:
            return value
    elif kind == _SAME_DATE:
        if kind_of is date:
            return value
    elif kind == _FLOAT:
        if kind_of is float and math.isfinite(value):
            return value
    elif kind in (_JSON, _JSONB):
        if _plain_json(value, kind == _JSONB):
            return value
    raise Unsure(kind)


def _plain_json(value: Any, strict: bool) -> bool:
    """Whether a JSON value comes back as itself: text, whole numbers, booleans, None and
    lists of them (and, in plain JSON, finite numbers and objects with text keys)."""
    kind_of = type(value)
    if value is None or kind_of in (str, int, bool):
        return True
    if kind_of is float:
        return not strict and math.isfinite(value)
    if kind_of is list:
        return all(_plain_json(v, strict) for v in value)
    if kind_of is dict:
        return not strict and all(type(k) is str and _plain_json(v, strict) for k, v in value.items())
    return False
