"""What a column type change does to the values already stored.

Each change is classified as:

* widening (longer string, string -> text, integer -> bigint/numeric, more digits): no value
  can change, applied like any additive change;
* narrowing within a kind (shorter string, fewer decimals, smaller number range): only
  the values that do not fit change (cut, rounded, or emptied when out of range), so the
  change is destructive exactly when such values exist, and the plan counts them;
* a change of kind (text <-> number, anything -> text, anything else): every stored value
  is rewritten, so it is destructive whenever the column holds a value.

The same SQL expression converts the values on both databases: PostgreSQL uses it as
`ALTER COLUMN ... TYPE ... USING <expr>`; SQLite (dynamically typed) runs it as an UPDATE
before Alembic rebuilds the table with the new declared type. Both databases therefore end
with the same values, which is what the plan announced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement

Expr = ColumnElement[Any]
ColumnFn = Callable[[Expr], Expr]

INTEGER_PATTERN = r"^[+-]?[0-9]+$"
DECIMAL_PATTERN = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$"


@dataclass(frozen=True)
class Kind:
    """A type reduced to what matters for data loss."""

    family: str  # text, number, boolean, date, datetime, time, json, binary, other
    length: int | None = None  # text: max characters, None = unbounded
    max_abs: Decimal | None = None  # number: largest magnitude, None = unbounded
    scale: int | None = None  # number: decimals kept, None = unbounded (floats)
    integer: bool = False


_INTEGER_MAX = {sa.SmallInteger: 2**15 - 1, sa.BigInteger: 2**63 - 1}


def kind_of(type_: sa.types.TypeEngine) -> Kind:
    if isinstance(type_, sa.Boolean):
        return Kind("boolean")
    if isinstance(type_, sa.Integer):
        maximum = next((m for cls, m in _INTEGER_MAX.items() if isinstance(type_, cls)), 2**31 - 1)
        return Kind("number", max_abs=Decimal(maximum), scale=0, integer=True)
    if isinstance(type_, sa.Float):
        return Kind("number")
    if isinstance(type_, sa.Numeric):
        precision, scale = type_.precision, type_.scale
        if precision is None:
            return Kind("number")
        scale = scale or 0
        return Kind("number", max_abs=Decimal(10) ** (precision - scale) - Decimal(10) ** -scale, scale=scale)
    if isinstance(type_, sa.JSON):
        return Kind("json")
    if isinstance(type_, (sa.Enum,)):
        return Kind("text", length=type_.length)
    if isinstance(type_, sa.String):
        return Kind("text", length=None if isinstance(type_, sa.Text) else type_.length)
    if isinstance(type_, sa.DateTime):
        return Kind("datetime")
    if isinstance(type_, sa.Date):
        return Kind("date")
    if isinstance(type_, sa.Time):
        return Kind("time")
    if isinstance(type_, sa.LargeBinary):
        return Kind("binary")
    return Kind("other")


def empty_value(type_: sa.types.TypeEngine) -> Any:
    """The value a required field gets when there is nothing better ('' / 0 / false)."""
    family = kind_of(type_).family
    return {"text": "", "number": 0, "boolean": False}.get(family)


@dataclass
class Loss:
    """Rows matching `predicate` (over the old column) are changed as `describe(n)` says."""

    predicate: ColumnFn
    describe: Callable[[int], str]
    empties: bool = False  # the value is replaced (NULL, or the fill value of a required field)


@dataclass
class Conversion:
    widening: bool
    kind_change: bool
    losses: list[Loss] = field(default_factory=list)
    # new value of the column, written with the old column (None: the database converts alone)
    convert: ColumnFn | None = None
    # rows the SQLite UPDATE must touch (the others are converted by the rebuild's CAST)
    touched: ColumnFn | None = None
    summary: str = ""


def _is_null_literal(replacement: Expr) -> bool:
    return isinstance(replacement, sa.sql.elements.Null)


def _values(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"


def analyse(
    old: sa.types.TypeEngine, new: sa.types.TypeEngine, replacement: Expr, replacement_text: str
) -> Conversion:
    """How converting `old` to `new` treats stored values.

    `replacement` is what a value that cannot be kept becomes: NULL for an optional field,
    else the field's default or the type's empty value (`replacement_text` says which).
    """
    a, b = kind_of(old), kind_of(new)
    emptied = "emptied" if _is_null_literal(replacement) else f"replaced by {replacement_text}"

    if a.family == b.family == "text":
        return _text_to_text(a, b)
    if a.family == "date" and b.family == "datetime":
        return Conversion(widening=True, kind_change=False, convert=lambda c: MidnightUtc(c),
                          touched=lambda c: c.is_not(None), summary="each day becomes its midnight UTC")
    if a.family == b.family == "number":
        return _number_to_number(a, b, new, replacement, emptied)
    if a.family == "text" and b.family == "number":
        return _text_to_number(b, new, replacement, emptied)
    if b.family == "text" and a.family in ("number", "boolean", "date", "datetime", "time", "json"):
        return _to_text(a, b, new, replacement, emptied)
    if a.family == b.family and a.family != "other":
        # e.g. DATETIME with/without time zone, JSON/JSONB: same values, the database converts
        return Conversion(widening=True, kind_change=False, summary="same kind of value")
    return Conversion(
        widening=False,
        kind_change=True,
        losses=[
            Loss(
                lambda c: c.is_not(None),
                lambda n: (
                    f"{_values(n)} cannot be converted from {a.family} to {b.family} and would be {emptied}"
                ),
                empties=True,
            )
        ],
        convert=lambda c: replacement if _is_null_literal(replacement) else sa.cast(replacement, new),
        touched=lambda c: c.is_not(None),
        summary=f"change of kind ({a.family} -> {b.family})",
    )


class MidnightUtc(ColumnElement):
    """A DATE column's value as the timestamp of its midnight UTC, whatever the session's
    time zone (a `date` field becoming a `date_or_datetime` or a `datetime`)."""

    type = sa.DateTime(timezone=True)
    inherit_cache = True

    def __init__(self, day: Expr):
        self.day = day


@compiles(MidnightUtc)
def _midnight_utc(element: MidnightUtc, compiler, **kw) -> str:
    return compiler.process(sa.cast(element.day, sa.DateTime(timezone=True)), **kw)


@compiles(MidnightUtc, "postgresql")
def _midnight_utc_postgresql(element: MidnightUtc, compiler, **kw) -> str:
    return compiler.process(sa.func.timezone("UTC", sa.cast(element.day, sa.DateTime())), **kw)


@compiles(MidnightUtc, "sqlite")
def _midnight_utc_sqlite(element: MidnightUtc, compiler, **kw) -> str:
    # SQLAlchemy keeps SQLite datetimes as text `YYYY-MM-DD HH:MM:SS.ffffff` (in UTC here)
    text = sa.func.substr(element.day, 1, 10).op("||")(sa.literal_column("' 00:00:00.000000'"))
    return compiler.process(text, **kw)


def _text_to_text(a: Kind, b: Kind) -> Conversion:
    if b.length is None or (a.length is not None and b.length >= a.length):
        return Conversion(widening=True, kind_change=False, summary="wider")
    n = b.length

    def too_long(c: Expr) -> Expr:
        return sa.func.length(c) > n

    return Conversion(
        widening=False,
        kind_change=False,
        losses=[Loss(too_long, lambda k: f"{_values(k)} longer than {n} characters would be cut to {n}")],
        convert=lambda c: sa.func.substr(c, 1, n),
        touched=too_long,
        summary=f"shorter: at most {n} characters",
    )


def _number_to_number(a: Kind, b: Kind, new, replacement: Expr, emptied: str) -> Conversion:
    fewer_decimals = b.scale is not None and (a.scale is None or b.scale < a.scale)
    smaller_range = b.max_abs is not None and (a.max_abs is None or b.max_abs < a.max_abs)
    if not fewer_decimals and not smaller_range:
        return Conversion(widening=True, kind_change=False, summary="wider")

    def rounded(c: Expr) -> Expr:
        if fewer_decimals:
            return sa.func.round(sa.cast(c, sa.Numeric), b.scale)
        return c

    def out_of_range(c: Expr) -> Expr:
        return sa.func.abs(rounded(c)) > b.max_abs if smaller_range else sa.false()

    def has_more_decimals(c: Expr) -> Expr:
        return sa.and_(rounded(c) != c, sa.not_(out_of_range(c))) if fewer_decimals else sa.false()

    losses = []
    if fewer_decimals:
        what = "fractions" if b.scale == 0 else f"more than {b.scale} decimals"
        verb = "rounded to whole numbers" if b.scale == 0 else f"rounded to {b.scale} decimals"
        losses.append(Loss(has_more_decimals, lambda k: f"{_values(k)} with {what} would be {verb}"))
    if smaller_range:
        losses.append(
            Loss(
                out_of_range,
                lambda k: f"{_values(k)} too large for the new type would be {emptied}",
                empties=True,
            )
        )
    return Conversion(
        widening=False,
        kind_change=False,
        losses=losses,
        convert=lambda c: sa.case((out_of_range(c), replacement), else_=rounded(c)),
        touched=lambda c: sa.or_(out_of_range(c), has_more_decimals(c)),
        summary="narrower",
    )


def _text_to_number(b: Kind, new, replacement: Expr, emptied: str) -> Conversion:
    pattern = INTEGER_PATTERN if b.integer else DECIMAL_PATTERN

    def converts(c: Expr) -> Expr:
        return sa.func.trim(c).regexp_match(pattern)

    def non_empty(c: Expr) -> Expr:
        return sa.and_(c.is_not(None), sa.func.trim(c) != "")

    def does_not_convert(c: Expr) -> Expr:
        return sa.and_(non_empty(c), sa.not_(converts(c)))

    def converted(c: Expr) -> Expr:
        return sa.and_(non_empty(c), converts(c))

    number = "whole number" if b.integer else "number"
    return Conversion(
        widening=False,
        kind_change=True,
        losses=[
            Loss(does_not_convert, lambda k: f"{_values(k)} not a {number} would be {emptied}", empties=True),
            Loss(
                converted,
                lambda k: (
                    f"{_values(k)} would be stored as numbers (text form such as leading zeros is lost)"
                ),
            ),
        ],
        convert=lambda c: sa.case((converts(c), sa.cast(sa.func.trim(c), new)), else_=replacement),
        touched=lambda c: c.is_not(None),
        summary="change of kind (text -> number)",
    )


def _to_text(a: Kind, b: Kind, new, replacement: Expr, emptied: str) -> Conversion:
    def as_text(c: Expr) -> Expr:
        return sa.cast(c, sa.Text)

    def too_long(c: Expr) -> Expr:
        return sa.func.length(as_text(c)) > b.length if b.length is not None else sa.false()

    def fits(c: Expr) -> Expr:
        return sa.and_(c.is_not(None), sa.not_(too_long(c)))

    losses = [Loss(fits, lambda k: f"{_values(k)} would be stored as text")]
    if b.length is not None:
        losses.insert(
            0,
            Loss(
                too_long,
                lambda k: f"{_values(k)} longer than {b.length} characters as text would be {emptied}",
                empties=True,
            ),
        )
    return Conversion(
        widening=False,
        kind_change=True,
        losses=losses,
        convert=lambda c: sa.case((too_long(c), replacement), else_=sa.cast(c, new)),
        touched=lambda c: c.is_not(None),
        summary=f"change of kind ({a.family} -> text)",
    )
