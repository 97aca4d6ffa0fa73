"""The built-in functions, as plain `Function` data.

The plugin system registers this list through the same hook third-party plugins use,
so nothing here may depend on being built in. Python and SQL implementations sit side
by side because they must agree; `tests/expr/test_functions.py` checks each on both
databases. SQL implementations receive arguments already typed (a list is `sa.JSON`,
a string `sa.String`...), durations as microsecond counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from .functions import ArgInfo, CallContext, Function
from .sqlconstructs import DateOf, JsonLength, MonthOf, StringPosition, YearOf, round_half_up
from .sqltypes import ExprDate, ExprDateTime, ExprDuration
from .values import MICROS_PER_DAY, MICROS_PER_HOUR, duration_of, to_utc
from .values import round_half_up as py_round_half_up

MAX_ROUND_PLACES = 10


def _duration_sql(unit: int):
    def build(number: sa.ColumnElement) -> sa.ColumnElement:
        micros = number * sa.literal_column(str(unit), sa.BigInteger())
        return sa.type_coerce(round_half_up(micros, 0), ExprDuration())

    return build


def _length(value: Any) -> Decimal:
    return Decimal(len(value))


def _length_sql(value: sa.ColumnElement) -> sa.ColumnElement:
    if isinstance(value.type, sa.JSON):
        return JsonLength(value)
    return sa.func.length(value)


def _round(value: Decimal, places: Decimal = Decimal(0)) -> Decimal:
    return py_round_half_up(value, int(places))


def _round_sql(value: sa.ColumnElement, places: sa.ColumnElement | None = None) -> sa.ColumnElement:
    if places is None:
        return round_half_up(value, 0)
    return round_half_up(value, sa.cast(places, sa.Integer()))


def _check_round(args: Sequence[ArgInfo]) -> str | None:
    if len(args) < 2:
        return None
    places = args[1]
    if (
        not places.is_literal
        or not isinstance(places.value, Decimal)
        or places.value != places.value.to_integral_value()
        or not 0 <= places.value <= MAX_ROUND_PLACES
    ):
        return f"round's places must be a whole number literal from 0 to {MAX_ROUND_PLACES}"
    return None


def _datetime_part(value: dt.date, part: str) -> Decimal:
    if isinstance(value, dt.datetime):
        value = to_utc(value)
    return Decimal(getattr(value, part))


def _present(values: Sequence[Any]) -> list[Any]:
    return [v for v in values if v is not None]


def _sum(values: Sequence[Decimal]) -> Decimal:
    total = Decimal(0)
    for value in _present(values):
        total += value
    return total


def _count(values: Sequence[Any]) -> Decimal:
    return Decimal(len(_present(values)))


def _min(values: Sequence[Any]) -> Any:
    present = _present(values)
    return min(present) if present else None


def _max(values: Sequence[Any]) -> Any:
    present = _present(values)
    return max(present) if present else None


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str | list | tuple):
        return len(value) == 0
    return False


def is_empty_sql(value: sa.ColumnElement) -> sa.ColumnElement:
    if isinstance(value.type, sa.JSON):
        return sa.func.coalesce(JsonLength(value), 0) == 0
    if isinstance(value.type, sa.String):
        return sa.func.coalesce(value, "") == ""
    return value.is_(None)


def _today(context: CallContext) -> dt.date:
    return context.today


def _now(context: CallContext) -> dt.datetime:
    return context.now


BUILTIN_FUNCTIONS: list[Function] = [
    Function(
        "today", [], "date", _today, pass_context=True,
        sql=lambda context: sa.literal(context.today, ExprDate()),
        description="The current date (UTC).",
    ),
    Function(
        "now", [], "datetime", _now, pass_context=True,
        sql=lambda context: sa.literal(context.now, ExprDateTime()),
        description="The current date and time (UTC).",
    ),
    Function(
        "days", ["number"], "duration", lambda n: duration_of(n, MICROS_PER_DAY),
        sql=_duration_sql(MICROS_PER_DAY),
        description="A duration of n days (may be fractional or negative): `today() - close_date > days(30)`.",
    ),
    Function(
        "hours", ["number"], "duration", lambda n: duration_of(n, MICROS_PER_HOUR),
        sql=_duration_sql(MICROS_PER_HOUR),
        description="A duration of n hours.",
    ),
    Function(
        "len", ["string|list|rows"], "number", _length, sql=_length_sql,
        description="Number of characters of a string, items of a list or child rows (`rows` in Python only).",
    ),
    Function(
        "lower", ["string"], "string", str.lower, sql=sa.func.lower,
        description="Lower-case. SQL folds the case of ASCII letters only on SQLite.",
    ),
    Function(
        "upper", ["string"], "string", str.upper, sql=sa.func.upper,
        description="Upper-case. SQL folds the case of ASCII letters only on SQLite.",
    ),
    Function(
        "trim", ["string"], "string", lambda s: s.strip(" "), sql=sa.func.trim,
        description="The string without leading and trailing spaces.",
    ),
    Function(
        "contains", ["string", "string"], "boolean", lambda s, sub: sub in s,
        sql=lambda s, sub: StringPosition(s, sub) > 0,
        description="Whether the string contains the other one (case-sensitive, no wildcards).",
    ),
    Function(
        "startswith", ["string", "string"], "boolean", lambda s, prefix: s.startswith(prefix),
        sql=lambda s, prefix: sa.func.substr(s, 1, sa.func.length(prefix)) == prefix,
        description="Whether the string starts with the prefix (case-sensitive).",
    ),
    Function(
        "coalesce", ["T", "T"], "T", lambda a, b: a if a is not None else b, null_safe=True,
        sql=lambda a, b: sa.func.coalesce(a, b, type_=a.type),
        description="The first argument unless it is null, else the second.",
    ),
    Function(
        "round", ["number", "number"], "number", _round, sql=_round_sql, min_args=1, check=_check_round,
        description="Rounded half away from zero to the given number of decimal places (a literal 0-10, default 0).",
    ),
    Function(
        "abs", ["number"], "number", abs, sql=sa.func.abs,
        description="Absolute value.",
    ),
    Function(
        "year", ["date|datetime"], "number", lambda d: _datetime_part(d, "year"),
        sql=YearOf,
        description="The year of a date or (UTC) datetime.",
    ),
    Function(
        "month", ["date|datetime"], "number", lambda d: _datetime_part(d, "month"),
        sql=MonthOf,
        description="The month (1-12) of a date or (UTC) datetime.",
    ),
    Function(
        "date", ["datetime"], "date", lambda d: to_utc(d).date(),
        sql=DateOf,
        description="The UTC date of a datetime. `date('2024-01-31')` with a literal is a date literal.",
    ),
    Function(
        "sum", ["list[number]"], "number", _sum,
        description="Sum of the non-null numbers, 0 for none: `sum(lines.amount)`. Python only.",
    ),
    Function(
        "count", ["list|rows"], "number", _count,
        description="Number of non-null items, or of child rows: `count(lines)`. Python only.",
    ),
    Function(
        "min", ["list[T]"], "T", _min,
        description="Smallest non-null item, null for none. Python only.",
    ),
    Function(
        "max", ["list[T]"], "T", _max,
        description="Largest non-null item, null for none. Python only.",
    ),
    Function(
        "is_empty", ["any"], "boolean", _is_empty, sql=is_empty_sql, null_safe=True,
        description="True for null, an empty string or an empty list.",
    ),
]  # fmt: skip
