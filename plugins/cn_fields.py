"""Validators for Chinese business data (bundled, optional: list `cn_fields` under `plugins:`).

* `uscc` — 统一社会信用代码: 18 characters with a check character (GB 32100-2015).
* `cn_mobile` — mainland China mobile number, with or without +86.
"""

from __future__ import annotations

import re

from engine.hookspecs import hookimpl

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
MOBILE_RE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def validate_uscc(value, field) -> str | None:
    code = str(value).strip().upper()
    if len(code) != 18 or any(c not in USCC_CHARS for c in code):
        return "a unified social credit code has 18 characters (digits and capital letters except I, O, S, V, Z)"
    if uscc_check_char(code[:17]) != code[17]:
        return "the check character of this unified social credit code is wrong"
    return None


def validate_cn_mobile(value, field) -> str | None:
    digits = re.sub(r"[\s\-()]", "", str(value))
    if not digits.startswith(("+86", "86", "1")):
        return None  # a foreign number: the phone type already checked its shape
    if not MOBILE_RE.match(digits):
        return "not a mainland China mobile number (11 digits starting with 13-19)"
    return None


@hookimpl
def tailor_validators():
    return {"uscc": validate_uscc, "cn_mobile": validate_cn_mobile}
