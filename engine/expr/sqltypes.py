"""SQLAlchemy types for values the SQL translation binds and returns.

They make bound parameters and selected results look like Python evaluation's values on
both databases: numbers come back as Decimal (SQLite returns floats), datetimes go in as
UTC and come back aware, and durations travel as microsecond counts but come back as
timedelta.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from .types import Type, ValueType
from .values import micros, to_datetime, to_duration, to_number


class ExprNumber(TypeDecorator):
    impl = sa.Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect):
        # SQLite has no decimals: bind floats, read floats and convert them ourselves
        # (SQLAlchemy's float->Decimal conversion would warn and fix 10 places).
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Numeric(asdecimal=False))
        return dialect.type_descriptor(sa.Numeric())

    def process_bind_param(self, value: Any, dialect) -> Any:
        return to_number(value)

    def process_result_value(self, value: Any, dialect) -> Decimal | None:
        return to_number(value)


class ExprDateTime(TypeDecorator):
    """Always UTC: aware on PostgreSQL (timestamptz), naive UTC text on SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect) -> dt.datetime | None:
        value = to_datetime(value)
        if value is not None and dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect) -> dt.datetime | None:
        return to_datetime(value)


class ExprDate(TypeDecorator):
    impl = sa.Date
    cache_ok = True

    def process_bind_param(self, value: Any, dialect) -> dt.date | None:
        if isinstance(value, dt.datetime):
            return to_datetime(value).date()  # type: ignore[union-attr]
        return value


class ExprDuration(TypeDecorator):
    """A duration as a whole number of microseconds in SQL; a timedelta in Python."""

    impl = sa.Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Numeric(asdecimal=False))
        return dialect.type_descriptor(sa.Numeric())

    def process_bind_param(self, value: Any, dialect) -> int | None:
        if isinstance(value, dt.timedelta):
            return micros(value)
        return None if value is None else int(value)

    def process_result_value(self, value: Any, dialect) -> dt.timedelta | None:
        if value is None:
            return None
        return to_duration(int(round(value)))


def sql_type_for(type_: Type) -> sa.types.TypeEngine:
    kind = type_.kind
    if kind is ValueType.NUMBER:
        return ExprNumber()
    if kind is ValueType.STRING:
        return sa.String()
    if kind is ValueType.BOOLEAN:
        return sa.Boolean()
    if kind is ValueType.DATE:
        return ExprDate()
    if kind is ValueType.DATETIME:
        return ExprDateTime()
    if kind is ValueType.DURATION:
        return ExprDuration()
    if kind is ValueType.LIST:
        return sa.JSON()
    return sa.types.NullType()
