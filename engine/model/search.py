"""Search that ignores case and accents, the same on SQLite and PostgreSQL.

`TOMÁS` must find `Tomás`, `garcia` must find `García`, and `415-555-0188` must find
`(415) 555-0188`. Neither database does that by itself (SQLite's LIKE folds ASCII letters
only; PostgreSQL's ILIKE keeps accents, and `unaccent` is an extension a hosted database may
not offer). So every entity with searchable fields (`list.search`) has one more column,
`tailor_search`: the *search key*, the folded text of all those fields (each field type says
what it adds: `FieldType.search_texts`; a phone adds its digits). The records service
writes it with every save; migrations work it out again when the searchable fields change
(engine/migrate/data.py). A search folds the words typed the same way and looks for each of
them in the key, with parameters only.

A user for whom a role hides one of the searchable fields must not find records by that
field: for them the search looks in the visible fields one by one instead, folded in SQL
(`FoldedContains`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from ..fields.base import FieldType
from ..fields.phone import phone_digits
from ..fields.scalar import StringType, is_encrypted
from .derived import Derived, digest, record_of
from .model import Entity

SEARCH_COLUMN = "tailor_search"
VERSION = 1  # of the folding below: a change here makes migrations rebuild every key
MAX_WORDS = 6
SEPARATOR = "\n"  # between the texts of a key: no search word holds it
_SPACE = re.compile(r"\s+")

# Accented Latin letters and their plain forms, for folding inside SQL where the database
# cannot (PostgreSQL's translate() is exact and needs no extension): every letter of the
# Latin blocks whose decomposition is one ASCII letter with marks (Vietnamese ễ included),
# in both cases, since lower() of a non-ASCII letter depends on the database's locale.
_SPECIAL = {"Đ": "d", "đ": "d", "Ħ": "h", "ħ": "h", "ı": "i", "Ł": "l", "ł": "l", "Ø": "o", "ø": "o",
            "Ŧ": "t", "ŧ": "t", "Ŀ": "l", "ŀ": "l"}


def _latin_table() -> tuple[str, str]:
    accented, plain = [], []
    for start, end in ((0x00C0, 0x024F), (0x1E00, 0x1EFF)):
        for code in range(start, end + 1):
            char = chr(code)
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            target = _SPECIAL.get(char) or (base.lower() if len(base) == 1 and base.isascii() and base.isalpha()
                                            and base != char else None)
            if target:
                accented.append(char)
                plain.append(target)
    return "".join(accented), "".join(plain)


_ACCENTED, _PLAIN = _latin_table()


def fold(text: str) -> str:
    """Text as searched: compatibility forms unified (full-width letters and digits become
    ASCII), accents removed, case folded, runs of spaces made one."""
    if text.isascii():  # nothing to decompose, strip or translate, and casefold is lower: most names and codes
        return _SPACE.sub(" ", text.lower()).strip()
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = stripped.translate(_EXTRA).casefold()
    return _SPACE.sub(" ", plain).strip()


_EXTRA = str.maketrans({"Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i", "Ł": "L", "ł": "l", "Ø": "O", "ø": "o",
                        "Ŧ": "T", "ŧ": "t", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe"})


def searchable(entity: Entity) -> tuple[str, ...]:
    """The fields an entity's search looks in (`list.search`), that it stores."""
    return tuple(n for n in entity.list.search if n in entity.fields)


def search_key(entity: Entity, record: Mapping[str, Any]) -> str | None:
    """The folded text of the record's searchable fields."""
    texts: list[str] = []
    for name, field in _search_plan(entity):
        if field is None:  # its type's search text is the value when that is text
            value = record.get(name)
            found = (value,) if isinstance(value, str) and value else ()
        else:
            found = field.type.search_texts(record, field)
        for text in found:
            folded = fold(str(text))
            if folded and folded not in texts:
                texts.append(folded)
    return SEPARATOR.join(texts) or None


def _search_plan(entity: Entity) -> list[tuple[str, Any]]:
    """(name, field) of an entity's searchable fields, worked out once per compiled entity
    (kept on it: a frozen dataclass, so in its __dict__); the field is None where its text
    is its value as `FieldType.search_texts` gives it (a text field not encrypted: most),
    which `search_key` then reads without the call."""
    known = entity.__dict__.get("_search_plan")
    if known is not None:
        return known
    plan = []
    for name in searchable(entity):
        field = entity.fields[name]
        own = type(field.type).search_texts
        plain = own is FieldType.search_texts or (own is StringType.search_texts and not is_encrypted(field))
        plan.append((name, None if plain else field))
    entity.__dict__["_search_plan"] = plan
    return plan


def words(term: str) -> list[str]:
    return [w for w in fold(term).split(" ") if w][:MAX_WORDS]


def _like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_condition(entity: Entity, term: str, hidden: frozenset[str] = frozenset()) -> Any:
    """The WHERE condition of a search for `term`; None when there is nothing to search."""
    table = entity.table
    found = words(term)
    digits = phone_digits(term)
    if not found:
        return None
    names = searchable(entity)
    visible = [n for n in names if n not in hidden and not entity.fields[n].hidden]
    exact = _exact_matches(entity, [n for n in visible if entity.fields[n].encrypted], term)
    clear = [n for n in visible if not entity.fields[n].encrypted]
    if SEARCH_COLUMN in table.c and len(visible) == len(names):
        key = table.c[SEARCH_COLUMN]
        condition = sa.and_(*[key.like(_like(w), escape="\\") for w in found])
        if digits is not None:
            condition = sa.or_(condition, key.like(_like(digits), escape="\\"))
        return sa.or_(condition, *exact)
    columns = [table.c[n] for n in clear if n in table.c]  # a role hides one of them: field by field
    if not columns and not exact:
        return sa.false()
    words_typed = [w for w in term.split() if w][:MAX_WORDS]
    per_word = [sa.or_(*[FoldedContains(c, w) for c in columns]) for w in words_typed] if columns else [sa.false()]
    return sa.or_(sa.and_(*per_word), *exact)


def _exact_matches(entity: Entity, names: list[str], term: str) -> list[Any]:
    """Encrypted fields are not in the search key (it is clear text): the whole term is
    compared with their values by its keyed hash (a phone by its digits), exact match only."""
    if not names:
        return []
    from ..fields.encryption import keyring

    found = []
    for name in names:
        field = entity.fields[name]
        column = entity.table.c.get(f"{name}_hash")
        if column is None:
            continue
        try:
            value = field.type.coerce(term, field)
        except ValueError:  # FieldValueError: the term cannot be such a value (letters for a phone)
            continue
        if value:
            found.append(column.in_(keyring().digests(field.type.exact_key(value))))
    return found


class FoldedContains(sa.sql.expression.ColumnElement):
    """`column` contains `term`, case and accents ignored, with both sides folded the same
    way by the database it runs on: SQLite calls the Python `fold()` on the column
    (registered on every connection by engine/storage/connection.py) and the term is
    folded in Python; PostgreSQL lowers and translates accented letters on both sides in
    SQL, so that text typed exactly as stored is always found (whatever the database's
    locale does with `lower()`)."""

    type = sa.Boolean()
    inherit_cache = False  # holds the term: never share a compiled form
    _is_implicitly_boolean = True

    def __init__(self, column: Any, term: str):
        self.column = column
        self.term = term


@compiles(FoldedContains)
def _folded_contains_sqlite(element: FoldedContains, compiler, **kw) -> str:
    pattern = sa.bindparam(None, _like(fold(element.term)), type_=sa.String())
    return compiler.process(sa.func.tailor_fold(element.column).like(pattern, escape="\\"), **kw)


def _fold_pg(value: Any) -> Any:
    return sa.func.lower(sa.func.translate(sa.cast(value, sa.Text), _ACCENTED, _PLAIN))


@compiles(FoldedContains, "postgresql")
def _folded_contains_postgresql(element: FoldedContains, compiler, **kw) -> str:
    escaped = element.term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    term = _fold_pg(sa.bindparam(None, escaped, type_=sa.String()))
    pattern = sa.literal("%", sa.String()).concat(term).concat(sa.literal("%", sa.String()))
    return compiler.process(_fold_pg(element.column).like(pattern, escape="\\"), **kw)


class SearchKey(Derived):
    """The search key as a derived column (`column.info["derived"]`): migrations work it
    out again when the searchable fields, their types or the folding change."""

    order = 1_000_000  # after every computed field (a key may hold a computed value)

    def __init__(self, entity: Entity):
        self.entity = entity
        self.parts: list[list[str]] = []
        self.what = f"search key of {', '.join(searchable(entity))}"

    def fingerprint_from(self, entity: Entity, values) -> None:
        """The searchable fields, each with what decides its values (a formula, options a
        migration rewrote): a change to any of them changes the keys."""
        self.parts = [[n, entity.fields[n].type.name + (" encrypted" if entity.fields[n].encrypted else ""),
                       values[(entity.name, n)]] for n in searchable(entity)]
        self.fingerprint = digest("search", VERSION, [tuple(p) for p in self.parts])
        self.detail = json.dumps({"version": VERSION, "fields": self.parts})

    def still_valid(self, detail: str | None, new_fields: set[str]) -> bool:
        """Keys built from some of today's fields are still right when every field added
        to the search since is one this migration adds (empty in every record): adding a
        text field to a big table must not rebuild every key."""
        try:
            before = json.loads(detail) if detail else None
        except ValueError:
            return False
        if not isinstance(before, dict) or before.get("version") != VERSION:
            return False
        old = [list(p) for p in before.get("fields") or []]
        return all(p in self.parts for p in old) and all(p in old or p[0] in new_fields for p in self.parts)

    def only_from(self, new_fields: set[str]) -> bool:
        """A key over fields that are all new and empty is empty: the first text field of
        an entity (which adds the search key column) must not work out a million keys."""
        return bool(self.parts) and all(p[0] in new_fields for p in self.parts)

    def appended_text(self, detail: str | None, filled: Mapping[str, Any], empty: set[str]) -> str | None:
        """The one folded text every stored key gains, when the only change since `detail`
        is a text field added last to the search with the same value in every record (a new
        required field's default, in `filled`), besides new fields still empty (`empty`).
        Then a migration appends it in one UPDATE (`key || separator || text` where the key
        lacks it) instead of working out every key in Python; None otherwise."""
        try:
            before = json.loads(detail) if detail else None
        except ValueError:
            return None
        if not isinstance(before, dict) or before.get("version") != VERSION or not self.parts:
            return None
        old = [list(p) for p in before.get("fields") or []]
        last = self.parts[-1]
        if last in old or last[0] not in filled or [p for p in self.parts[:-1] if p in old] != old:
            return None
        if any(p not in old and p[0] not in empty for p in self.parts[:-1]):
            return None
        field = self.entity.fields[last[0]]
        if field.encrypted or field.type.name not in ("string", "email"):
            return None
        texts = [fold(str(t)) for t in field.type.search_texts({field.name: filled[field.name]}, field)]
        texts = [t for t in texts if t]
        return texts[0] if len(texts) == 1 else None

    def values(self, conn, rows: list[dict[str, Any]]) -> list[Any]:
        return [search_key(self.entity, record_of(self.entity.fields, row)) for row in rows]


def attach_search(entity: Entity) -> None:
    if SEARCH_COLUMN in entity.table.c:
        entity.table.c[SEARCH_COLUMN].info["derived"] = SearchKey(entity)
