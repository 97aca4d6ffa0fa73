"""The JSON text of the engine's JSON columns (audit changes, records' JSON values, runs).

`json.dumps` is what SQLAlchemy calls by default; for an import it was a twentieth of the
time (the audit entry of every new record holds all its values: about 10 µs a record).
orjson writes the same JSON ten times faster. It is used only where it means exactly what
`json.dumps` would: a value it does not take as json.dumps takes it (a subclass of str or
int, a date-time, a dataclass, an integer beyond 64 bits, a key that is not text) goes to
`json.dumps` as before, which also raises where it raised. The text differs only in form:
no spaces after separators and non-ASCII characters as UTF-8 instead of \\u escapes (both
databases read it to the same values), and a float NaN or infinity, which json.dumps writes
as a token no JSON reader takes (PostgreSQL refuses it), is written as null.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# values of these kinds go to json.dumps: orjson would write them differently, or at all
_HANDED_ON = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, option=_HANDED_ON).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value)
