"""Numbers as people type them, read in their language; the one parser every numeric type uses.

`0,012` is 0.012 to a German and twelve thousandths or twelve to an American, depending on
how you squint. A CRM must never guess: text is read with the decimal mark and the
thousands separator of the *input language* (Babel's locale data), grouping is accepted only
where it is valid for that language, and anything that could be read two ways is refused
with a message that offers both readings. Python numbers (int, Decimal, finite float) are
not text and pass through as they are.

The input language is a context variable, because `FieldType.coerce(value, field)` is a
public plugin API that has no place for it: the records service sets it to the acting
user's language around coercion (`numbers_in(context.actor.language)`), the web app to the
signed-in user's for each request. Anywhere else (engine code, YAML defaults and bounds,
demo data) it is English.
"""

from __future__ import annotations

import re
import unicodedata
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from babel import Locale, UnknownLocaleError
from babel import numbers as babel_numbers

from ..messages import N_, message
from .base import FieldValueError

DEFAULT_LANGUAGE = "en"
MAX_DIGITS = 100  # digits before or after the mark: no field stores more (NUMERIC(38) at most)
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
SPACES = frozenset(" \u00a0\u202f\u2009\u2007")  # space, NBSP, narrow NBSP, thin, figure space
APOSTROPHES = frozenset("'\u2019")
# invisible marks some locales put around signs (Arabic), and the BOM: not part of the number
INVISIBLE = dict.fromkeys(map(ord, "\u200e\u200f\u061c\u200b\ufeff"))
# what a Chinese or Japanese IME produces in full-width mode, and the typographic minus
WIDE = {ord("＋"): "+", ord("－"): "-", ord("−"): "-", ord("﹣"): "-", ord("．"): ".", ord("，"): ",",
        ord("％"): "%", ord("\u3000"): " ", ord("＇"): "'"}
NOT_FINITE = frozenset({"nan", "snan", "qnan", "inf", "infinity", "∞"})
SCIENTIFIC = re.compile(r"^[+-]?[0-9.,]*[0-9][eE][+-]?[0-9]+$")

SQLITE_EXACT_DIGITS = 15  # a double keeps any 15 significant digits exactly (DBL_DIG)
# full-width digits are what a Chinese or Japanese IME types: the same "script" as ASCII ones
LATIN_ZEROS = frozenset({0x30, 0xFF10})
# mathematical bold, double-struck, sans-serif, monospace digits: styling, not a script
MATH_ZEROS = range(0x1D7CE, 0x1D800)

_LANGUAGE: ContextVar[str] = ContextVar("tailor_number_language", default=DEFAULT_LANGUAGE)
_EXACT_DIGITS: ContextVar[int | None] = ContextVar("tailor_exact_digits", default=None)


def input_language() -> str:
    """The language text numbers are read in now (`en` unless someone set it)."""
    return _LANGUAGE.get()


class _Setting:
    """`with`: a context variable set for the block, reset after it (a class, not a
    generator: entered for every record an import saves)."""

    __slots__ = ("value", "variable", "token")

    def __init__(self, variable: ContextVar, value: Any):
        self.variable, self.value = variable, value

    def __enter__(self) -> None:
        self.token = self.variable.set(self.value)

    def __exit__(self, *_exc: object) -> None:
        self.variable.reset(self.token)


def numbers_in(language: str | None) -> _Setting:
    """Read (and show for editing) text numbers in `language` inside this block."""
    return _Setting(_LANGUAGE, language or DEFAULT_LANGUAGE)


def exact_digits() -> int | None:
    """How many significant digits the database being written keeps exactly (None: all
    that the column's precision allows; 15 on SQLite, which stores NUMERIC as a double)."""
    return _EXACT_DIGITS.get()


def digits_kept(limit: int | None) -> _Setting:
    """Inside this block, decimals with more than `limit` significant digits are refused
    instead of being rounded by the database (the records service, writing to SQLite)."""
    return _Setting(_EXACT_DIGITS, limit)


def set_input_language(language: str | None):
    """Set the input language until `reset_input_language(token)` (a web request's span)."""
    return _LANGUAGE.set(language or DEFAULT_LANGUAGE)


def reset_input_language(token) -> None:
    try:
        _LANGUAGE.reset(token)
    except ValueError:  # set in another context (a response streamed after its request)
        _LANGUAGE.set(DEFAULT_LANGUAGE)


@dataclass(frozen=True)
class Symbols:
    """How a language writes numbers: its decimal mark, its group separators and grouping."""

    language: str
    decimal: str
    group: str
    decimals: frozenset[str]  # what is accepted as the decimal mark (the native script's too)
    groups: frozenset[str]  # what is accepted as the group separator (spaces count as one)
    primary: int  # digits in the last group (3)
    secondary: int  # digits in the groups before it (3; 2 in India)


@lru_cache(maxsize=256)
def symbols(language: str | None) -> Symbols:
    """The number symbols of a language; a language without Babel data reads like English."""
    name = str(language or DEFAULT_LANGUAGE).replace("-", "_")
    try:
        locale = Locale.parse(name)
    except (UnknownLocaleError, ValueError, TypeError):
        if name == DEFAULT_LANGUAGE:
            raise
        return symbols(DEFAULT_LANGUAGE)
    decimal = _plain(babel_numbers.get_decimal_symbol(locale)) or "."
    group = _plain(babel_numbers.get_group_symbol(locale)) or ","
    decimals, groups = {decimal}, {group}
    if group in SPACES:
        groups |= SPACES
    if group in APOSTROPHES:
        groups |= APOSTROPHES
    # a language whose own digits are not Latin (Arabic: ١٢٣٫٥) has its own marks too
    native_decimal = _plain(babel_numbers.get_decimal_symbol(locale, numbering_system="default"))
    native_group = _plain(babel_numbers.get_group_symbol(locale, numbering_system="default"))
    if native_decimal and native_decimal not in ".," and native_decimal not in groups:
        decimals.add(native_decimal)
    if native_group and native_group not in ".," and native_group not in decimals:
        groups.add(native_group)
    pattern = locale.decimal_formats.get(None)
    primary, secondary = (pattern.grouping if pattern is not None else (3, 3))
    if not 0 < primary < 10:
        primary = 3
    if not 0 < secondary < 10:
        secondary = primary
    return Symbols(str(locale), decimal, group, frozenset(decimals), frozenset(groups - decimals), primary,
                   secondary)


def _plain(symbol: str) -> str:
    return symbol.translate(INVISIBLE).strip(" ") if symbol not in SPACES else symbol


def parse_number(value: Any, *, whole: bool = False, percent: bool = False,
                 language: str | None = None) -> int | Decimal | None:
    """A number from input: int, Decimal and finite floats as they are, text read in
    `language` (default: the input language). `whole`: an int is wanted; `percent`: a
    trailing % sign is allowed. Empty text is None; anything else raises FieldValueError
    with a message for the user. The caller checks ranges (`too large` for its column)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise FieldValueError(message(EXPECTED_WHOLE) if whole else message(EXPECTED_NUMBER))
    if isinstance(value, int):
        return value if whole else Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise FieldValueError(message(EXPECTED_FINITE))
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise FieldValueError(message(EXPECTED_FINITE))
        number = value
    elif isinstance(value, str):
        number = read_text(value, percent=percent, language=language)
        if number is None:
            return None
    else:
        raise FieldValueError(message(EXPECTED_WHOLE) if whole else message(EXPECTED_NUMBER))
    if not whole:
        return number
    if number.adjusted() >= MAX_DIGITS:  # int() of 1E+999999999 would not end
        raise FieldValueError(message(TOO_LARGE))
    if number != number.to_integral_value():
        raise FieldValueError(message(NOT_WHOLE, value=_short(value)))
    return int(number)


def read_text(text: str, *, percent: bool = False, language: str | None = None) -> Decimal | None:
    """Text as a Decimal, by the rules of `language` (see the module docstring)."""
    if len(text) <= MAX_DIGITS and _PLAIN_NUMBER.fullmatch(text):  # ASCII digits, maybe a sign and a '.':
        if "." not in text or "." in symbols(language or input_language()).decimals:  # what the rules
            return Decimal(text)  # below make of it, without reading it a character at a time
    s = text.translate(INVISIBLE).translate(WIDE).strip()
    if not s:
        return None
    shown = _short(text.strip())
    if len(s) > 10 * MAX_DIGITS:  # the checks below are linear, but no number is this long
        raise FieldValueError(message(TOO_LARGE) if s.lstrip("+-").isdecimal() else
                              message(TOO_LONG_NUMBER, value=shown))
    if percent and s.endswith("%"):
        s = s[:-1].rstrip()
    sign = ""
    if s[:1] in ("+", "-"):
        sign, s = ("-" if s[0] == "-" else ""), s[1:].lstrip()
    if not s:
        raise FieldValueError(message(NOT_A_NUMBER, value=shown))
    if s.lower() in NOT_FINITE:
        raise FieldValueError(message(NOT_A_NUMBER, value=shown))
    digits_only = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in s)
    if SCIENTIFIC.match(digits_only):
        raise FieldValueError(message(SCIENTIFIC_NOTATION, value=shown))
    sym = symbols(language or input_language())
    _one_script(s, shown)
    whole_part: list[str] = []  # groups of digits before the mark
    fraction: list[str] | None = None
    current: list[str] = []
    separators: list[str] = []
    for ch in s:
        if ch.isdecimal():  # any decimal digit (category Nd): ASCII, full-width, Arabic-Indic…
            current.append(str(unicodedata.decimal(ch)))
        elif ch in sym.decimals and fraction is None:
            whole_part.append("".join(current))
            current, fraction = [], []
        elif ch in sym.groups and fraction is None:
            whole_part.append("".join(current))
            separators.append(ch)
            current = []
        else:
            raise FieldValueError(_not_a_number(shown, ch, sym))
    if fraction is None:
        whole_part.append("".join(current))
        fraction_digits = ""
    else:
        fraction_digits = "".join(current)
    integer_digits = "".join(whole_part)
    if not integer_digits and not fraction_digits:
        raise FieldValueError(message(NOT_A_NUMBER, value=shown))
    if len(whole_part) > 1 and not _grouped_well(whole_part, sym):
        raise FieldValueError(_ambiguous(shown, whole_part, fraction_digits, separators, sym))
    if len(integer_digits.lstrip("0")) > MAX_DIGITS:
        raise FieldValueError(message(TOO_LARGE))
    if len(fraction_digits) > MAX_DIGITS:
        raise FieldValueError(message(TOO_MANY_PLACES, value=shown))
    try:
        return Decimal(f"{sign}{integer_digits or '0'}.{fraction_digits}" if fraction_digits
                       else f"{sign}{integer_digits}")
    except InvalidOperation:  # pragma: no cover - the text is digits by now
        raise FieldValueError(message(NOT_A_NUMBER, value=shown)) from None


def _one_script(s: str, shown: str) -> None:
    """The digits of one number are of one script: `1٢3` is a spoof or a slip, not 123,
    and mathematical styled digits (`𝟏𝟐`) are not typed as numbers."""
    zeros = set()
    for ch in s:
        if ch.isdecimal():
            zero = ord(ch) - unicodedata.decimal(ch)
            if zero in MATH_ZEROS:
                raise FieldValueError(message(NOT_A_DIGIT, value=shown, char=ch))
            zeros.add(0x30 if zero in LATIN_ZEROS else zero)
    if len(zeros) > 1:
        raise FieldValueError(message(MIXED_SCRIPTS, value=shown))


def _grouped_well(groups: list[str], sym: Symbols) -> bool:
    """`1,234,567`: the last group has `primary` digits, the ones before it `secondary`,
    the first 1 to `secondary` digits and no leading zero (`0,012` is not a grouped number)."""
    first, *middle, last = groups
    if len(last) != sym.primary or not 0 < len(first) <= sym.secondary or first.startswith("0"):
        return False
    return all(len(g) == sym.secondary for g in middle)


# The words users meet, translated where shown (engine/messages.py).
EXPECTED_WHOLE = N_("expected a whole number")
EXPECTED_NUMBER = N_("expected a number")
EXPECTED_FINITE = N_("expected a finite number")
TOO_LARGE = N_("number too large")
NOT_WHOLE = N_("'%(value)s' is not a whole number")
TOO_LONG_NUMBER = N_("'%(value)s' is too long for a number")
NOT_A_NUMBER = N_("'%(value)s' is not a number")
SCIENTIFIC_NOTATION = N_("'%(value)s': write the number in full (scientific notation such as 1e5 is not accepted)")
TOO_MANY_PLACES = N_("'%(value)s' has too many digits after the decimal mark")
NOT_A_DIGIT = N_("'%(value)s' is not a number: '%(char)s' is not a digit")
MIXED_SCRIPTS = N_("'%(value)s' is not a number: it mixes digits of different scripts")
AMBIGUOUS = N_("ambiguous: in this language '%(mark)s' separates thousands; write %(as_decimal)s or %(as_whole)s")
MARKS = N_("'%(value)s' is not a number: in this language '%(decimal)s' is the decimal mark and %(group)s "
           "separates thousands (%(example)s)")
A_SPACE = N_("a space")


def _ambiguous(shown: str, groups: list[str], fraction: str, separators: list[str], sym: Symbols) -> str:
    mark = separators[0]
    if len(groups) == 2 and not fraction and mark in ".,":
        as_decimal = f"{groups[0] or '0'}{sym.decimal}{groups[1]}"
        as_whole = "".join(groups).lstrip("0") or "0"
        return message(AMBIGUOUS, mark=mark, as_decimal=as_decimal, as_whole=as_whole)
    return _not_a_number(shown, mark, sym)


def _not_a_number(shown: str, ch: str, sym: Symbols) -> str:
    if ch in ".," or ch in sym.groups:
        group = message(A_SPACE) if sym.group in SPACES else f"'{sym.group}'"
        return message(MARKS, value=shown, decimal=sym.decimal, group=group, example=_example(sym))
    if unicodedata.numeric(ch, None) is not None:
        return message(NOT_A_DIGIT, value=shown, char=ch)
    return message(NOT_A_NUMBER, value=shown)


def _example(sym: Symbols) -> str:
    group = " " if sym.group in SPACES else sym.group
    if sym.secondary != sym.primary:
        return f"12{group}34{group}567{sym.decimal}5"
    return f"1{group}234{group}567{sym.decimal}5"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "…"


def edit_text(value: Any, language: str | None = None) -> str:
    """A stored number as a form shows it for editing: the language's decimal mark and no
    grouping (`1234.5`, `1234,5` in German), so that posting it back reads the same value."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        value = Decimal(repr(value))
    if not isinstance(value, Decimal):
        return str(value)
    text = format(value, "f")
    mark = symbols(language or input_language()).decimal
    return text.replace(".", mark) if mark != "." else text
