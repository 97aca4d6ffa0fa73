"""What an id is, everywhere input arrives (URLs, query strings, forms, the records service).

Entity tables have BIGINT ids (1 .. 2^63-1); the engine's own tables (users, departments,
saved views, approval flows and tasks, notifications) have INTEGER ids (1 .. 2^31-1). A
number outside its column's range names no row, and must be refused before it reaches the
database: SQLite cannot bind 2^63 (OverflowError) and PostgreSQL refuses a parameter cast
to INTEGER beyond 32 bits (`integer out of range`) — both were 500s.

Written ids are ASCII digits without a sign, a leading zero, `_` or inner spaces. Python's
`int()` also reads `1_000`, full-width `１２` and Arabic-Indic `١٢`, which would let several
spellings name one record; ids are made by the machine, never typed in a user's script.
"""

from __future__ import annotations

import re

MAX_ID = 2**63 - 1  # BIGINT: entity tables, links to them
MAX_ID32 = 2**31 - 1  # INTEGER: tailor_user, tailor_flow, tailor_task, ... and links to users
ID_TEXT = re.compile(r"[1-9][0-9]{0,18}")  # at most 19 digits: every BIGINT, nothing far beyond


def largest(bits: int) -> int:
    """The largest id a column of `bits` (32 or 64) holds."""
    if bits not in (32, 64):
        raise ValueError(f"an id column has 32 or 64 bits, not {bits}")
    return MAX_ID32 if bits == 32 else MAX_ID


def id_or_none(raw: object, bits: int = 64) -> int | None:
    """`raw` as an id if it is one (an int, or ASCII digits; 1 .. the column's largest), else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        number = raw
    elif isinstance(raw, str) and ID_TEXT.fullmatch(raw.strip(" ")):
        number = int(raw)
    else:
        return None
    return number if 0 < number <= largest(bits) else None
