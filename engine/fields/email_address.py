"""E-mail addresses as people type them, checked by the maintained `email-validator` package.

A hand-written pattern let `x@y.co<script>` through (issue 11, defect 6): the syntax of an
address (RFC 5321/5322, internationalised addresses of RFC 6531) is `email-validator`'s
job. It is called without DNS lookups — saving a record must not depend on the network, and
a company's mail server being down is no reason to refuse its address. Addresses are
stored in lower case, as before, so that duplicates are found whatever the case typed.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from ..messages import N_, message
from .base import FieldValueError

MAX_LENGTH = 254  # the longest address SMTP carries (RFC 5321, 4.5.3.1.3)


def checked_email(value: str) -> str:
    """`value` as an address to store: trimmed, normalised (the domain as Unicode, in
    NFC), lower case; FieldValueError("'…' is not an e-mail address") when it is not one."""
    text = value.strip()
    shown = text if len(text) <= 60 else text[:57] + "…"
    if len(text) > MAX_LENGTH:  # the length is the problem to name, not the syntax
        raise FieldValueError(message(N_("'%(value)s' is not an e-mail address: at most %(limit)s characters "
                                         "(got %(length)s)"), value=shown, limit=MAX_LENGTH, length=len(text)))
    try:
        result = validate_email(text, check_deliverability=False, allow_display_name=False)
    except EmailNotValidError:
        raise FieldValueError(message(N_("'%(value)s' is not an e-mail address"), value=shown)) from None
    return result.normalized.lower()
