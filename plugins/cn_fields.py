"""Validators for Chinese business data (bundled, optional: list `cn_fields` under `plugins:`).

* `uscc` — 统一社会信用代码: 18 characters with a check character (GB 32100-2015).
* `cn_mobile` — mainland China mobile number, with or without +86.
"""

from __future__ import annotations

import re

from engine.fields.base import FieldValueError
from engine.fields.phone import parse_phone
from engine.hookspecs import hookimpl
from engine.messages import N_, message

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
MOBILE_RE = re.compile(r"^(?:86)?1[3-9][0-9]{9}$")


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def validate_uscc(value, field) -> str | None:
    code = str(value).strip().upper()
    if len(code) != 18 or any(c not in USCC_CHARS for c in code):
        return message(N_("a unified social credit code has 18 characters (digits and capital letters except I, O, S, "
                          "V, Z)"))
    if uscc_check_char(code[:17]) != code[17]:
        return message(N_("the check character of this unified social credit code is wrong"))
    return None


def validate_cn_mobile(value, field) -> str | None:
    """Read as the phone type reads it (`+86 138 0013 8000`, `138-0013-8000`, full-width
    digits); a number with another country code is not a mainland one and is left alone."""
    try:
        phone = parse_phone(str(value))
    except FieldValueError as exc:
        return exc.message
    digits = phone.digits
    if phone.international:
        if not digits.startswith("86"):
            return None  # a foreign number: the phone type already checked its shape
        digits = digits[2:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif not digits.startswith(("86", "1")):
        return None
    if phone.extension or not MOBILE_RE.match(digits):
        return message(N_("not a mainland China mobile number (11 digits starting with 13-19)"))
    return None


@hookimpl
def tailor_validators():
    return {"uscc": validate_uscc, "cn_mobile": validate_cn_mobile}
