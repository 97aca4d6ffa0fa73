"""Small SQL constructs whose text differs between SQLite and PostgreSQL.

`to_sql()` builds dialect-neutral SQLAlchemy expressions; these constructs pick their
text when the statement is compiled for a dialect. Each one exists because the naive
portable spelling gives a different answer from Python on one of the two databases:

* numbers: SQLite computes in floats and divides integers as integers, PostgreSQL
  overflows `integer` and picks a small scale for `numeric` division. Arithmetic casts
  and rounds to 10 places (see values.DECIMAL_PLACES) so both agree with Decimal.
* durations are microsecond counts: exact integers everywhere, where julianday()
  differences would be inexact floats.
* SQLite stores datetimes as text `YYYY-MM-DD HH:MM:SS.ffffff`; its date functions
  round to milliseconds, so microseconds are split off and handled as integers.
* tags are JSON arrays: `json_each` on SQLite, `@>` containment on PostgreSQL.
* string ordering uses code-point order (`COLLATE "C"` on PostgreSQL), SQLite's default.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from .sqltypes import ExprDate, ExprDateTime, ExprDuration, ExprNumber
from .values import DECIMAL_PLACES, MICROS_PER_DAY


class _Construct(FunctionElement):
    """Base: arguments are SQL expressions; subclasses render them per dialect."""

    inherit_cache = True
    name = "tailor_expr"

    @property
    def args(self) -> list[sa.ColumnElement]:
        return list(self.clauses.clauses)


def _unsupported(element, compiler, **kw):
    raise CompileError(
        f"{type(element).__name__} has SQL for sqlite and postgresql only, not {compiler.dialect.name}"
    )


def _sql(compiler, element, **kw) -> str:
    return compiler.process(element, **kw)


# ------------------------------------------------------------------ numbers

PG_DIVISION_SCALE = "1.00000000000000000000"  # 20 places: numeric division keeps at least as many


class NumberOp(_Construct):
    """`left <op> right` rounded to DECIMAL_PLACES; division by zero is NULL."""

    type = ExprNumber()
    inherit_cache = True
    operator = "+"


class NumberAdd(NumberOp):
    inherit_cache = True
    operator = "+"


class NumberSubtract(NumberOp):
    inherit_cache = True
    operator = "-"


class NumberMultiply(NumberOp):
    inherit_cache = True
    operator = "*"


class NumberDivide(NumberOp):
    inherit_cache = True
    operator = "/"


compiles(NumberOp)(_unsupported)


@compiles(NumberOp, "sqlite")
def _number_op_sqlite(element, compiler, **kw):
    left, right = (_sql(compiler, a, **kw) for a in element.args)
    if element.operator == "/":
        return f"round(CAST({left} AS REAL) / NULLIF({right}, 0), {DECIMAL_PLACES})"
    return f"round(({left}) {element.operator} ({right}), {DECIMAL_PLACES})"


@compiles(NumberOp, "postgresql")
def _number_op_pg(element, compiler, **kw):
    left, right = (f"CAST({_sql(compiler, a, **kw)} AS NUMERIC)" for a in element.args)
    if element.operator == "/":
        return f"round({left} * {PG_DIVISION_SCALE} / NULLIF({right}, 0), {DECIMAL_PLACES})"
    return f"round({left} {element.operator} {right}, {DECIMAL_PLACES})"


class RoundHalfUp(_Construct):
    """round(x, places) half away from zero; `places` is a literal integer clause."""

    type = ExprNumber()
    inherit_cache = True


compiles(RoundHalfUp)(_unsupported)


@compiles(RoundHalfUp, "sqlite")
def _round_sqlite(element, compiler, **kw):
    value, places = (_sql(compiler, a, **kw) for a in element.args)
    return f"round({value}, {places})"


@compiles(RoundHalfUp, "postgresql")
def _round_pg(element, compiler, **kw):
    # round(numeric) rounds half away from zero; round(double precision) would round half to even.
    value, places = (_sql(compiler, a, **kw) for a in element.args)
    return f"round(CAST({value} AS NUMERIC), {places})"


def round_half_up(value: sa.ColumnElement, places: int | sa.ColumnElement) -> RoundHalfUp:
    """`places` is an int, or an SQL integer expression (round()'s checked literal argument)."""
    if isinstance(places, int):
        places = sa.literal_column(str(places))
    return RoundHalfUp(value, places)


# ------------------------------------------------------------------ strings


class OrderingKey(_Construct):
    """A string operand of <, <=, >, >=: compared by code point on both databases."""

    type = sa.String()
    inherit_cache = True


compiles(OrderingKey)(_unsupported)


@compiles(OrderingKey, "sqlite")
def _ordering_sqlite(element, compiler, **kw):
    return _sql(compiler, element.args[0], **kw)  # SQLite's BINARY collation is code-point order


@compiles(OrderingKey, "postgresql")
def _ordering_pg(element, compiler, **kw):
    return f'({_sql(compiler, element.args[0], **kw)} COLLATE "C")'


class StringPosition(_Construct):
    """1-based position of `sub` in `s`, 0 if absent (case-sensitive, no wildcards)."""

    type = sa.Integer()
    inherit_cache = True


compiles(StringPosition)(_unsupported)


@compiles(StringPosition, "sqlite")
def _strpos_sqlite(element, compiler, **kw):
    s, sub = (_sql(compiler, a, **kw) for a in element.args)
    return f"instr({s}, {sub})"


@compiles(StringPosition, "postgresql")
def _strpos_pg(element, compiler, **kw):
    s, sub = (_sql(compiler, a, **kw) for a in element.args)
    return f"strpos(CAST({s} AS TEXT), CAST({sub} AS TEXT))"


# ------------------------------------------------------------------ JSON lists (tags)


def _pg_jsonb(compiler, element, **kw) -> str:
    text = _sql(compiler, element, **kw)
    if isinstance(element.type, JSONB) or isinstance(element.type.dialect_impl(compiler.dialect), JSONB):
        return text
    return f"CAST({text} AS JSONB)"


class JsonContains(_Construct):
    """`item in tags` for a JSON array column; NULL/JSON null lists contain nothing."""

    type = sa.Boolean()
    inherit_cache = True


compiles(JsonContains)(_unsupported)


@compiles(JsonContains, "sqlite")
def _json_contains_sqlite(element, compiler, **kw):
    items, item = (_sql(compiler, a, **kw) for a in element.args)
    return f"EXISTS (SELECT 1 FROM json_each({items}) WHERE json_each.value = {item})"


@compiles(JsonContains, "postgresql")
def _json_contains_pg(element, compiler, **kw):
    items = _pg_jsonb(compiler, element.args[0], **kw)
    item = _sql(compiler, element.args[1], **kw)
    return f"({items} @> jsonb_build_array(CAST({item} AS TEXT)))"


class JsonIsNull(_Construct):
    """A list column holds no list: SQL NULL, or JSON `null` (what sa.JSON stores for None)."""

    type = sa.Boolean()
    inherit_cache = True


compiles(JsonIsNull)(_unsupported)


@compiles(JsonIsNull, "sqlite")
def _json_is_null_sqlite(element, compiler, **kw):
    items = _sql(compiler, element.args[0], **kw)
    return f"({items} IS NULL OR json_type({items}) = 'null')"


@compiles(JsonIsNull, "postgresql")
def _json_is_null_pg(element, compiler, **kw):
    items = _pg_jsonb(compiler, element.args[0], **kw)
    return f"({items} IS NULL OR jsonb_typeof({items}) = 'null')"


class JsonLength(_Construct):
    """Number of items of a JSON array; NULL when the value is NULL or not an array."""

    type = sa.Integer()
    inherit_cache = True


compiles(JsonLength)(_unsupported)


@compiles(JsonLength, "sqlite")
def _json_length_sqlite(element, compiler, **kw):
    items = _sql(compiler, element.args[0], **kw)
    return f"(CASE json_type({items}) WHEN 'array' THEN json_array_length({items}) END)"


@compiles(JsonLength, "postgresql")
def _json_length_pg(element, compiler, **kw):
    items = _pg_jsonb(compiler, element.args[0], **kw)
    return f"(CASE jsonb_typeof({items}) WHEN 'array' THEN jsonb_array_length({items}) END)"


# ------------------------------------------------------------------ dates, datetimes, durations


def _pg_utc(compiler, element, **kw) -> str:
    """A timestamptz as UTC wall-clock time, so EXTRACT/CAST do not depend on the session zone."""
    text = _sql(compiler, element, **kw)
    impl = element.type.dialect_impl(compiler.dialect)
    if isinstance(element.type, ExprDateTime) or getattr(impl, "timezone", False):
        return f"({text} AT TIME ZONE 'UTC')"
    return text


class DateDiff(_Construct):
    """date - date as microseconds."""

    type = ExprDuration()
    inherit_cache = True


compiles(DateDiff)(_unsupported)


@compiles(DateDiff, "sqlite")
def _date_diff_sqlite(element, compiler, **kw):
    a, b = (_sql(compiler, x, **kw) for x in element.args)
    # julianday() of two dates differ by an exact whole number of days.
    return f"(CAST(julianday({a}) - julianday({b}) AS INTEGER) * {MICROS_PER_DAY})"


@compiles(DateDiff, "postgresql")
def _date_diff_pg(element, compiler, **kw):
    a, b = (_sql(compiler, x, **kw) for x in element.args)
    return f"(CAST(({a}) - ({b}) AS BIGINT) * {MICROS_PER_DAY})"


class DatetimeShift(_Construct):
    """datetime + microseconds, exact to the microsecond."""

    type = ExprDateTime()
    inherit_cache = True


class EpochMicros(_Construct):
    """A datetime as microseconds since 1970 (SQLite only needs it; see ComparableDatetime)."""

    type = sa.BigInteger()
    inherit_cache = True


def _sqlite_epoch_micros(compiler, element, **kw) -> str:
    # Flatten shifts so nested `dt + hours(1) + hours(2)` stays linear in size.
    deltas = []
    while isinstance(element, DatetimeShift):
        base, delta = element.args
        deltas.append(f"CAST({_sql(compiler, delta, **kw)} AS INTEGER)")
        element = base
    text = _sql(compiler, element, **kw)
    # strftime('%s') would round .9995 s up to the next second: give it whole seconds only.
    micros = (
        f"(CAST(strftime('%s', substr({text}, 1, 19)) AS INTEGER) * 1000000"
        f" + CAST(substr({text} || '000000', 21, 6) AS INTEGER))"
    )
    for delta in reversed(deltas):
        micros = f"({micros} + {delta})"
    return micros


compiles(EpochMicros)(_unsupported)


@compiles(EpochMicros, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    return _sqlite_epoch_micros(compiler, element.args[0], **kw)


@compiles(EpochMicros, "postgresql")
def _epoch_pg(element, compiler, **kw):
    return f"CAST(EXTRACT(EPOCH FROM {_sql(compiler, element.args[0], **kw)}) * 1000000 AS BIGINT)"


compiles(DatetimeShift)(_unsupported)


@compiles(DatetimeShift, "sqlite")
def _datetime_shift_sqlite(element, compiler, **kw):
    micros = _sqlite_epoch_micros(compiler, element, **kw)
    # Back to SQLAlchemy's storage format; `e` is computed once, `s` is floor(e / 1e6).
    return (
        "(SELECT strftime('%Y-%m-%d %H:%M:%S', s, 'unixepoch') || '.' || printf('%06d', e - s * 1000000)"
        " FROM (SELECT e, e / 1000000 - (e % 1000000 < 0) AS s"
        f" FROM (SELECT CAST({micros} AS INTEGER) AS e)))"
    )


@compiles(DatetimeShift, "postgresql")
def _datetime_shift_pg(element, compiler, **kw):
    base, delta = (_sql(compiler, a, **kw) for a in element.args)
    return f"(({base}) + INTERVAL '1 microsecond' * CAST({delta} AS DOUBLE PRECISION))"


class ComparableDatetime(_Construct):
    """A datetime operand compared with a computed datetime: SQLite compares microseconds,
    because computed and stored text could differ in format; PostgreSQL compares natively."""

    type = sa.BigInteger()
    inherit_cache = True


compiles(ComparableDatetime)(_unsupported)


@compiles(ComparableDatetime, "sqlite")
def _comparable_sqlite(element, compiler, **kw):
    return _sqlite_epoch_micros(compiler, element.args[0], **kw)


@compiles(ComparableDatetime, "postgresql")
def _comparable_pg(element, compiler, **kw):
    return _sql(compiler, element.args[0], **kw)


class DatetimeDiff(_Construct):
    """datetime - datetime as microseconds."""

    type = ExprDuration()
    inherit_cache = True


compiles(DatetimeDiff)(_unsupported)


@compiles(DatetimeDiff, "sqlite")
def _datetime_diff_sqlite(element, compiler, **kw):
    a, b = (_sqlite_epoch_micros(compiler, x, **kw) for x in element.args)
    return f"({a} - {b})"


@compiles(DatetimeDiff, "postgresql")
def _datetime_diff_pg(element, compiler, **kw):
    a, b = (_sql(compiler, x, **kw) for x in element.args)
    # EXTRACT returns numeric (PostgreSQL 14+), exact to the microsecond.
    return f"CAST(EXTRACT(EPOCH FROM ({a}) - ({b})) * 1000000 AS BIGINT)"


class FloorDays(_Construct):
    """Whole days in a microsecond count, rounded down (what date ± duration moves by)."""

    type = sa.Integer()
    inherit_cache = True


compiles(FloorDays)(_unsupported)


@compiles(FloorDays, "sqlite")
def _floor_days_sqlite(element, compiler, **kw):
    micros = _sql(compiler, element.args[0], **kw)
    # Integer division truncates; subtract one for negative non-multiples. No floor() needed,
    # which SQLite only has when built with math functions.
    return (
        f"(SELECT e / {MICROS_PER_DAY} - (e % {MICROS_PER_DAY} < 0)"
        f" FROM (SELECT CAST({micros} AS INTEGER) AS e))"
    )


@compiles(FloorDays, "postgresql")
def _floor_days_pg(element, compiler, **kw):
    micros = _sql(compiler, element.args[0], **kw)
    # A divisor with 20 decimal places keeps the quotient exact enough for floor().
    return f"CAST(floor(CAST({micros} AS NUMERIC) / {MICROS_PER_DAY}.00000000000000000000) AS INTEGER)"


class DateShift(_Construct):
    """date + whole days (NULL days give NULL)."""

    type = ExprDate()
    inherit_cache = True


compiles(DateShift)(_unsupported)


@compiles(DateShift, "sqlite")
def _date_shift_sqlite(element, compiler, **kw):
    day, days = (_sql(compiler, a, **kw) for a in element.args)
    return f"date({day}, ({days}) || ' days')"


@compiles(DateShift, "postgresql")
def _date_shift_pg(element, compiler, **kw):
    day, days = (_sql(compiler, a, **kw) for a in element.args)
    return f"(({day}) + CAST({days} AS INTEGER))"


class DatePart(_Construct):
    type = sa.Integer()
    inherit_cache = True
    sqlite_format = "%Y"
    pg_field = "YEAR"


class YearOf(DatePart):
    inherit_cache = True
    sqlite_format = "%Y"
    pg_field = "YEAR"


class MonthOf(DatePart):
    inherit_cache = True
    sqlite_format = "%m"
    pg_field = "MONTH"


compiles(DatePart)(_unsupported)


@compiles(DatePart, "sqlite")
def _date_part_sqlite(element, compiler, **kw):
    value = _sql(compiler, element.args[0], **kw)
    return f"CAST(strftime('{element.sqlite_format}', substr({value}, 1, 19)) AS INTEGER)"


@compiles(DatePart, "postgresql")
def _date_part_pg(element, compiler, **kw):
    value = _pg_utc(compiler, element.args[0], **kw)
    return f"CAST(EXTRACT({element.pg_field} FROM {value}) AS INTEGER)"


class DateOf(_Construct):
    """The (UTC) date of a datetime."""

    type = ExprDate()
    inherit_cache = True


compiles(DateOf)(_unsupported)


@compiles(DateOf, "sqlite")
def _date_of_sqlite(element, compiler, **kw):
    return f"date(substr({_sql(compiler, element.args[0], **kw)}, 1, 19))"


@compiles(DateOf, "postgresql")
def _date_of_pg(element, compiler, **kw):
    return f"CAST({_pg_utc(compiler, element.args[0], **kw)} AS DATE)"
