"""Phone numbers as people type them: `(415) 555-0188`, `+1 415 555 0188 ext. 12`,
`0532-8888 6666`, `010-6552 9988 转 123`, `１３８００１３８０００`.

What is stored is what the user typed, tidied: trimmed, runs of spaces collapsed, full-width
characters and other decimal digits turned into ASCII. What is refused is what is really
not a number someone could dial: letters (other than an extension marker: ext, ext., x, #,
;ext=, 转, 分机), a `+` anywhere but at the start, fewer than 3 or more than 15 digits (E.164's
limit) before the extension, an extension of more than 6 digits, nothing but punctuation.

No number is refused because a numbering plan says its range is unassigned: `555-0188` is a
fictional-use range, and an office's new range may be newer than any library. The maintained
`phonenumbers` library (Google's libphonenumber data) is asked only for what it does well:
where the country code of a `+` number ends, and how the country writes it nationally, so
that searches find `+44 20 7946 0958` by `020 7946 0958` too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import phonenumbers

from ..messages import N_, message
from .base import FieldValueError
from .scalar import StringType

NOT_A_PHONE = N_("'%(value)s' is not a phone number")
EXPECTED_TEXT = N_("expected text")

if TYPE_CHECKING:  # pragma: no cover
    from ..model.model import Field

MIN_DIGITS = 3
MAX_DIGITS = 15  # E.164
MAX_EXTENSION = 6
PUNCTUATION = frozenset(" -./()")
ASCII_DIGITS = frozenset("0123456789")
# dashes and spaces of every kind become the ASCII ones
DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63"), "-")
SPACES = dict.fromkeys(map(ord, "\u00a0\u202f\u2007\u2009\u3000\t"), " ")
EXTENSION = re.compile(
    r"^(?P<main>.*?)\s*(?:;\s*ext\s*=|,?\s*(?:extension|ext\.?|x|#|转|轉|分机|分機)\s*[:.]?)\s*(?P<ext>\d+)\s*$",
    re.IGNORECASE)


@dataclass(frozen=True)
class Phone:
    """A phone number taken apart: `digits` of the number (the country code included when
    it starts with `+`), `country` (that code, else ""), `extension` (digits, else "")."""

    text: str
    digits: str
    international: bool
    extension: str
    country: str = ""
    national: str = ""  # the national significant number of an international one
    national_dialled: str = ""  # as the country dials it at home (a trunk 0 included)


def tidy(value: str) -> str:
    """Trimmed, one space between words, full-width forms and other digits in ASCII."""
    chars = []
    for ch in value.translate(DASHES).translate(SPACES):
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:  # full-width ASCII (a Chinese IME's ＋８６ （０２１）)
            ch = chr(code - 0xFEE0)
        elif ch.isdecimal() and not ch.isascii():
            ch = str(unicodedata.decimal(ch))
        chars.append(ch)
    return " ".join("".join(chars).split())


def parse_phone(value: str) -> Phone:
    """A tidied phone number taken apart; FieldValueError says what is wrong with it."""
    text = tidy(value)
    if not text:
        raise FieldValueError(message(N_("is not a phone number")))
    main, extension = text, ""
    match = EXTENSION.match(text)
    if match:
        main, extension = match.group("main"), match.group("ext")
    if not main:
        raise FieldValueError(message(NOT_A_PHONE, value=text))
    international = main.startswith("+")
    body = main[1:] if international else main
    for ch in body:
        if ch == "+":
            raise FieldValueError(message(N_("'%(value)s': a + may only stand at the start of a phone number"),
                                              value=text))
        if ch.isalpha():
            raise FieldValueError(message(N_("'%(value)s' is not a phone number: letters are only allowed to mark "
                                             "an extension (ext. 12, x12, 转 12)"), value=text))
        if ch not in ASCII_DIGITS and ch not in PUNCTUATION:
            raise FieldValueError(message(N_("'%(value)s' is not a phone number: '%(char)s' does not belong in one"),
                                              value=text, char=ch))
    if not _balanced(body):
        raise FieldValueError(message(N_("'%(value)s' is not a phone number: a parenthesis is not closed"),
                                      value=text))
    digits = "".join(ch for ch in body if ch in ASCII_DIGITS)
    if not digits:
        raise FieldValueError(message(NOT_A_PHONE, value=text))
    if len(digits) < MIN_DIGITS:
        raise FieldValueError(message(N_("'%(value)s' is too short for a phone number (at least %(digits)s digits)"),
                                      value=text, digits=MIN_DIGITS))
    if len(digits) > MAX_DIGITS:
        raise FieldValueError(message(N_("'%(value)s' has too many digits for a phone number (at most %(digits)s "
                                         "before the extension)"), value=text, digits=MAX_DIGITS))
    if len(extension) > MAX_EXTENSION:
        raise FieldValueError(message(N_("'%(value)s': an extension has at most %(digits)s digits"),
                                      value=text, digits=MAX_EXTENSION))
    phone = Phone(text, digits, international, extension)
    return _with_country(phone, main) if international else phone


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
            if depth > 1:
                return False
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _with_country(phone: Phone, main: str) -> Phone:
    """The country code, national number and home dialling of a `+` number, where the
    numbering plan knows them (a number it cannot read keeps its digits alone)."""
    try:
        parsed = phonenumbers.parse(main, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and parsed.country_code:
        country = str(parsed.country_code)
        national = phonenumbers.national_significant_number(parsed)
        dialled = re.sub(r"\D", "", phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL))
        return Phone(phone.text, phone.digits, True, phone.extension, country, national, dialled)
    for size in (1, 2, 3):  # country codes are prefix-free: at most one of these is one
        if int(phone.digits[:size]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            country = phone.digits[:size]
            return Phone(phone.text, phone.digits, True, phone.extension, country, phone.digits[size:])
    return phone


def phone_digits(text: Any) -> str | None:
    """A search term that looks like a phone number as the digits its search texts hold
    (`+1 415 555 0188` -> `14155550188`, `415-555-0188` -> `4155550188`); None for a term
    that is no phone number (letters, a lone digit or two)."""
    if not isinstance(text, str) or not any(ch.isdecimal() for ch in text):
        return None
    try:
        return parse_phone(text).digits
    except FieldValueError:
        return None


def phone_search_texts(value: Any) -> list[str]:
    """The stored text, its digits (with the country code when given), and for an
    international number its national digits, with and without a trunk prefix."""
    if not isinstance(value, str) or not value:
        return []
    try:
        phone = parse_phone(value)
    except FieldValueError:  # a value stored before the rules: searchable as it is
        return [value]
    found = [value, phone.digits, phone.national, phone.national_dialled]
    return list(dict.fromkeys(t for t in found if t))


class PhoneType(StringType):
    name = "phone"
    default_length = 40
    description = "A phone number as people write it: +, digits, spaces, ( ) - . /, an extension."

    def coerce(self, value, field):
        if isinstance(value, (dict, list)):
            raise FieldValueError(message(EXPECTED_TEXT))
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise FieldValueError(message(N_("expected a phone number as text")))
        return parse_phone(str(value)).text

    def search_texts(self, record: Mapping[str, Any], field: Field) -> list[str]:
        if field.spec.get("encrypted"):  # found by the hash of its digits instead
            return []
        return phone_search_texts(record.get(field.name))

    def exact_key(self, value: str) -> str:
        """A phone number is compared by its digits: `138 0013 8000` is `13800138000`."""
        try:
            return parse_phone(value).digits
        except FieldValueError:
            return value.strip()
