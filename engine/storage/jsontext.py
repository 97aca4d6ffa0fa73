"""The JSON text of the engine's JSON columns (audit changes, records' JSON values, runs).

`json.dumps` is what SQLAlchemy calls by default; for an import it was a twentieth of the
time (the audit entry of every new record holds all its values: about 10 µs a record).
orjson writes the same JSON ten times faster. Values it would write differently go to
`json.dumps` as before (which raises where it raised): a subclass of str or int, a
date-time, a dataclass, an integer beyond 64 bits, a key that is not text. It also takes
a few values json.dumps refused (an Enum, a UUID: written as their value, as text), and
writes a float NaN or infinity as null (json.dumps wrote a token no JSON reader takes,
which PostgreSQL refused); records hold neither (numbers refuse them). The text differs
only in form: no spaces after separators, non-ASCII characters as UTF-8 instead of \\u
escapes; both databases read it to the same values.
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
