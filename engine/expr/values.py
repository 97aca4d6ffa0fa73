"""Runtime values: how Python-side evaluation reads, computes and compares them.

Everything here is chosen so the SQL translation can produce the same answer:
numbers are Decimals and every arithmetic result is rounded half away from zero to
`DECIMAL_PLACES` places (SQLite computes in binary floats, and rounding is what makes
`0.1 * 3 == 0.3` true on both sides); datetimes are timezone-aware UTC; durations are
whole microseconds (exact integers in SQL); and comparisons never mix kinds, so
`Decimal(1) == True` cannot sneak in.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .types import Type, ValueType

UTC = dt.UTC
DECIMAL_PLACES = 10
_QUANTUM = Decimal(1).scaleb(-DECIMAL_PLACES)
# Wide enough that quantizing any realistic amount to 10 places never overflows precision.
NUMBER_CONTEXT = decimal.Context(prec=60, rounding=ROUND_HALF_UP, Emax=999_999, Emin=-999_999)
MICROS_PER_SECOND = 1_000_000
MICROS_PER_HOUR = 3_600 * MICROS_PER_SECOND
MICROS_PER_DAY = 86_400 * MICROS_PER_SECOND
ONE_MICROSECOND = dt.timedelta(microseconds=1)


# ------------------------------------------------------------------ reading values


def to_number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return None if value is None or not value.is_finite() else value
    if isinstance(value, bool):
        raise TypeError("expected a number, got a boolean")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # repr() is the shortest text that round-trips: 0.1 reads as Decimal('0.1').
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return to_number(Decimal(value.strip()))
        except decimal.InvalidOperation:
            raise TypeError(f"expected a number, got {value!r}") from None
    raise TypeError(f"expected a number, got {type(value).__name__}")


def to_utc(value: dt.datetime) -> dt.datetime:
    """Naive datetimes are taken as UTC (SQLite returns them naive)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_datetime(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return to_utc(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return to_utc(dt.datetime.fromisoformat(value))
    raise TypeError(f"expected a datetime, got {type(value).__name__}")


def to_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return to_utc(value).date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    raise TypeError(f"expected a date, got {type(value).__name__}")


def to_duration(value: Any) -> dt.timedelta | None:
    """A timedelta; a bare number is a count of microseconds (how SQL carries durations)."""
    if value is None or isinstance(value, dt.timedelta):
        return value
    if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
        return dt.timedelta(microseconds=int(value))
    raise TypeError(f"expected a duration, got {type(value).__name__}")


def to_string(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


def to_boolean(value: Any) -> bool:
    """A missing boolean is false: boolean fields never read as None."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise TypeError(f"expected a boolean, got {value!r}")


def to_list(value: Any, item: Type | None) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple | set | frozenset):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    if item is None or item.kind is ValueType.ANY:
        return [_loose(v) for v in value]
    return [normalize(v, item) for v in value]


def _loose(value: Any) -> Any:
    """Items of an untyped list: numbers become Decimals so they compare like numbers."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return to_number(value)
    if isinstance(value, dt.datetime):
        return to_utc(value)
    return value


def normalize(value: Any, type_: Type) -> Any:
    """Bring a record or variable value into the form evaluation works with.

    Raises TypeError for a value that does not fit the type (also for unparsable text).
    """
    try:
        return _normalize(value, type_)
    except ValueError:
        raise TypeError(f"expected a {type_}, got {value!r}") from None


def _normalize(value: Any, type_: Type) -> Any:
    kind = type_.kind
    if kind is ValueType.NUMBER:
        return to_number(value)
    if kind is ValueType.STRING:
        return to_string(value)
    if kind is ValueType.BOOLEAN:
        return to_boolean(value)
    if kind is ValueType.DATE:
        return to_date(value)
    if kind is ValueType.DATETIME:
        return to_datetime(value)
    if kind is ValueType.DURATION:
        return to_duration(value)
    if kind is ValueType.LIST:
        return to_list(value, type_.item)
    if kind is ValueType.ROWS:
        return to_rows(value, type_)
    return _loose(value)


def to_rows(value: Any, type_: Type) -> list[dict[str, Any]]:
    if value is None:
        return []
    rows = []
    for row in value:
        if not isinstance(row, Mapping):
            row = {name: getattr(row, name, None) for name, _ in type_.columns}
        rows.append({name: normalize(row.get(name), col) for name, col in type_.columns})
    return rows


def attribute(obj: Any, name: str) -> Any:
    """A context variable's attribute, whether the variable is a mapping or an object."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


# ------------------------------------------------------------------ numbers


def round_number(value: Decimal) -> Decimal:
    """Round an arithmetic result to DECIMAL_PLACES, half away from zero, trailing zeros dropped.
    A number too large to carry DECIMAL_PLACES within the context's precision has no
    fraction worth keeping: it is kept as it is (a field that stores it refuses it)."""
    try:
        rounded = value.quantize(_QUANTUM, context=NUMBER_CONTEXT)
    except decimal.InvalidOperation:
        return value
    return tidy(rounded)


def tidy(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation (Decimal('1E+2'))."""
    try:
        if value == value.to_integral_value():
            return value.quantize(Decimal(1), context=NUMBER_CONTEXT)
        return value.normalize(NUMBER_CONTEXT)
    except decimal.InvalidOperation:
        return value


def add(a: Decimal, b: Decimal) -> Decimal:
    return round_number(NUMBER_CONTEXT.add(a, b))


def subtract(a: Decimal, b: Decimal) -> Decimal:
    return round_number(NUMBER_CONTEXT.subtract(a, b))


def multiply(a: Decimal, b: Decimal) -> Decimal:
    return round_number(NUMBER_CONTEXT.multiply(a, b))


def divide(a: Decimal, b: Decimal) -> Decimal | None:
    """Division by zero is None (SQL: NULLIF(b, 0))."""
    if b == 0:
        return None
    return round_number(NUMBER_CONTEXT.divide(a, b))


def round_half_up(value: Decimal, places: int = 0) -> Decimal:
    return tidy(value.quantize(Decimal(1).scaleb(-places), context=NUMBER_CONTEXT))


# ------------------------------------------------------------------ durations and dates


def micros(value: dt.timedelta) -> int:
    return value // ONE_MICROSECOND


def duration_of(number: Decimal, unit_micros: int) -> dt.timedelta:
    """`days(1.5)`: a whole number of microseconds, rounded half away from zero like SQL's round()."""
    count = NUMBER_CONTEXT.multiply(number, Decimal(unit_micros))
    return dt.timedelta(microseconds=int(count.to_integral_value(ROUND_HALF_UP)))


def scale_duration(value: dt.timedelta, factor: Decimal) -> dt.timedelta:
    return duration_of(factor, micros(value))


def shift_date(day: dt.date, delta: dt.timedelta) -> dt.date:
    """date ± duration moves by whole days, rounding the duration down (floor), as SQL does."""
    return day + dt.timedelta(days=micros(delta) // MICROS_PER_DAY)


# ------------------------------------------------------------------ comparisons


def _family(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Decimal | int | float):
        return "number"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    return type(value).__name__


def equal(a: Any, b: Any) -> bool:
    """Null-safe equality that never equates different kinds (True is not 1)."""
    if a is None or b is None:
        return a is None and b is None
    if _family(a) != _family(b):
        return False
    return bool(a == b)


def ordered(op: str, a: Any, b: Any) -> bool:
    """`<`, `<=`, `>`, `>=`; anything compared with None is False."""
    if a is None or b is None or _family(a) != _family(b):
        return False
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def member(item: Any, container: Any) -> bool:
    if item is None or container is None:
        return False
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    return any(equal(item, candidate) for candidate in container)
