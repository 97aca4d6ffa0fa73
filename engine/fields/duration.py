"""Duration: a length of time (a call's duration, time spent, an SLA target).

Stored as a whole number of microseconds (`BIGINT`), which is exactly how the expression
language carries durations in SQL (engine/expr/sqltypes.py `ExprDuration`): the column
compares with `hours(2)` as it is, on both databases, and `time_spent > hours(2)` gives the
same answer in Python and in SQL. In records a duration is a `timedelta`, kept to the whole
second (input is rounded, half up).

Input is what people type: `1:30` (h:mm), `1:30:15`, `90` (a bare number is in the field's
`unit`, minutes unless stated), `90 min`, `1h 30m`, `1h30`, `1.5 h`, `2 d`, `1 w`,
`1小时30分`, `45分钟`, `2天`, ISO 8601 (`PT1H30M`, what audit entries hold). Negative,
absurd (over MAX_DAYS) or unreadable values are refused with a message saying what to type.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, DecimalException, InvalidOperation
from typing import Any

import sqlalchemy as sa

from ..messages import N_, message
from .base import FieldValueError
from .scalar import RangedType, range_errors

MICROS = 1_000_000
SECOND, MINUTE, HOUR, DAY, WEEK = 1, 60, 3600, 86400, 7 * 86400
MAX_DAYS = 10_000  # about 27 years: anything longer is a typing mistake
MAX_SECONDS = MAX_DAYS * DAY
UNITS = {"seconds": SECOND, "minutes": MINUTE, "hours": HOUR, "days": DAY}
DEFAULT_UNIT = "minutes"

# unit words (after NFKC and lower-casing) -> seconds
_WORDS: dict[str, int] = {}
for _seconds, _names in (
    (WEEK, ("w", "wk", "wks", "week", "weeks", "周", "星期", "个星期")),
    (DAY, ("d", "day", "days", "天", "日")),
    (HOUR, ("h", "hr", "hrs", "hour", "hours", "小时", "个小时", "时", "钟头", "个钟头")),
    (MINUTE, ("m", "min", "mins", "minute", "minutes", "分", "分钟")),
    (SECOND, ("s", "sec", "secs", "second", "seconds", "秒", "秒钟")),
):
    for _name in _names:
        _WORDS[_name] = _seconds
_NEXT_SMALLER = {WEEK: DAY, DAY: HOUR, HOUR: MINUTE, MINUTE: SECOND}

_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_CLOCK = re.compile(r"([0-9]+):([0-9]{1,2})(?::([0-9]{1,2}))?", re.ASCII)
_BARE = re.compile(_NUMBER, re.ASCII)
_PART = re.compile(rf"({_NUMBER})\s*([a-z\u4e00-\u9fff]*)\s*(?:,|and)?\s*", re.ASCII)
_ISO = re.compile(rf"p(?:({_NUMBER})w)?(?:({_NUMBER})d)?(?:t(?:({_NUMBER})h)?(?:({_NUMBER})m)?(?:({_NUMBER})s)?)?",
                  re.ASCII)
EXAMPLES = "1:30, 90 min, 1h 30m, 1.5 h, 2 d, 1小时30分"
NOT_A_DURATION = N_("'%(value)s' is not a duration (e.g. %(examples)s)")
NEGATIVE = N_("a duration cannot be negative")
TOO_LONG = N_("a duration is at most %(days)s days")
EXPECTED = N_("expected a duration (e.g. %(examples)s)")
NOT_YES_NO = N_("expected a duration, not yes or no")


def _not_a_duration(value: Any) -> FieldValueError:
    return FieldValueError(message(NOT_A_DURATION, value=value, examples=EXAMPLES))


def _unit_seconds(field: Any) -> int:
    spec = getattr(field, "spec", None) or {}
    return UNITS.get(spec.get("unit") or DEFAULT_UNIT, MINUTE)


def _checked(seconds: Decimal, raw: Any) -> timedelta:
    """Whole seconds (half up), within 0 .. MAX_DAYS days."""
    if not seconds.is_finite():
        raise _not_a_duration(raw)
    if seconds < 0:
        raise FieldValueError(message(NEGATIVE))
    if seconds > MAX_SECONDS:
        raise FieldValueError(message(TOO_LONG, days=f"{MAX_DAYS:,}"))
    whole = int(seconds.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return timedelta(seconds=whole)


def parse_duration(value: Any, unit_seconds: int = MINUTE) -> timedelta | None:
    """A duration from user input (see the module docstring); None for empty input."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise FieldValueError(message(NOT_YES_NO))
    if isinstance(value, timedelta):
        micros = value // timedelta(microseconds=1)
        return _checked(Decimal(micros) / MICROS, value)
    if isinstance(value, (int, Decimal, float)):
        try:
            seconds = Decimal(str(value)) * unit_seconds
        except (DecimalException, ValueError):
            raise _not_a_duration(value) from None
        return _checked(seconds, value)
    if isinstance(value, (dict, list)):
        raise FieldValueError(message(EXPECTED, examples=EXAMPLES))
    raw = str(value)
    text = unicodedata.normalize("NFKC", raw).strip().lower()
    if not text:
        return None
    if len(text) > 60:
        raise _not_a_duration(f"{raw[:60]}…")
    if text.startswith("-"):
        raise FieldValueError(message(NEGATIVE))
    try:
        seconds = _seconds_of(text, unit_seconds)
    except (DecimalException, InvalidOperation):
        seconds = None
    if seconds is None:
        raise _not_a_duration(raw)
    return _checked(seconds, raw)


def _seconds_of(text: str, unit_seconds: int) -> Decimal | None:
    if _BARE.fullmatch(text):
        return Decimal(text) * unit_seconds
    clock = _CLOCK.fullmatch(text)
    if clock:
        hours, minutes, seconds = clock.group(1), int(clock.group(2)), int(clock.group(3) or 0)
        if minutes >= 60 or seconds >= 60 or len(hours) > 9:
            return None
        return Decimal(int(hours) * HOUR + minutes * MINUTE + seconds)
    iso = _ISO.fullmatch(text)
    if iso and any(iso.groups()):
        return sum((Decimal(g) * size for g, size in zip(iso.groups(), (WEEK, DAY, HOUR, MINUTE, SECOND),
                                                         strict=True) if g), Decimal(0))
    total, position, previous = Decimal(0), 0, None
    while position < len(text):
        match = _PART.match(text, position)
        if match is None or match.end() == position:
            return None
        number, word = match.group(1), match.group(2)
        if word:
            size = _WORDS.get(word)
        else:  # `1h30`: a number after a unit is in the next smaller one
            size = _NEXT_SMALLER.get(previous) if previous is not None and match.end() == len(text) else None
        if size is None or (previous is not None and size >= previous) or len(number) > 20:
            return None  # an unknown word, or units repeated or out of order
        total += Decimal(number) * size
        previous, position = size, match.end()
    return total if previous is not None else None


def iso_duration(value: timedelta) -> str:
    """ISO 8601 (`PT1H30M`, `P2DT4H`): how audit entries and exports keep a duration."""
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, DAY)
    hours, rest = divmod(rest, HOUR)
    minutes, seconds = divmod(rest, MINUTE)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    text = "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return text if text != "P" else "PT0S"


_WORDS_SHOWN = {"en": ("d", "h", "min", "s"), "zh": ("天", "小时", "分钟", "秒")}


def format_duration(value: timedelta, language: str = "en") -> str:
    """`1 h 30 min` / `1小时30分钟`: the largest units first, zero parts left out."""
    language = language.replace("-", "_").split("_")[0]
    words = _WORDS_SHOWN.get(language, _WORDS_SHOWN["en"])
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, DAY)
    hours, rest = divmod(rest, HOUR)
    minutes, seconds = divmod(rest, MINUTE)
    pieces = [(n, w) for n, w in zip((days, hours, minutes, seconds), words, strict=True) if n] or [(0, words[2])]
    if language == "zh":
        return "".join(f"{n}{w}" for n, w in pieces)
    return " ".join(f"{n} {w}" for n, w in pieces)


def clock_text(value: timedelta) -> str:
    """`1:30` (h:mm, `1:30:15` with seconds): what spreadsheets read as a duration."""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, HOUR)
    minutes, seconds = divmod(rest, MINUTE)
    return f"{hours}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


class DurationType(RangedType):
    name = "duration"
    value_type = "duration"
    options = frozenset({"min", "max", "unit"})
    can_be_unique = False
    description = "A length of time (1:30, 90 min, 1h 30m, 1小时30分), stored in microseconds."

    def sql_type(self, field):
        return sa.BigInteger()

    def coerce(self, value, field):
        if value == "":
            return None
        return parse_duration(value, _unit_seconds(field))

    def validate(self, value, field):
        return range_errors(value, field, format_duration)

    def to_row(self, value, field):
        return {field.name: None if value is None else value // timedelta(microseconds=1)}

    def from_row(self, row, field):
        value = row.get(field.name)
        if value is None or isinstance(value, timedelta):
            return value
        return timedelta(microseconds=int(value))

    def display(self, record, field, language):
        value = record.get(field.name)
        return format_duration(value, language) if isinstance(value, timedelta) else None
