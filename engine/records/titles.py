"""The one way to name records: which columns a title needs, and the title of a row.

Lists, link columns, lookups, the record page, boards, search results, approvals and
notifications all name records; they all ask here, so they name them alike:

    columns = title_columns(entity, visible)        # what to put in Query.columns
    title_of(entity, row, language)                 # the text
    read_titles(service, entity, ids, context)      # {id: title} for many ids, one query a chunk

What names a record is compiled once (engine/model/titles.py): the title (one field, two
fields joined, or an expression), then fallbacks. A row's title is the first of these that
is not empty, else "<entity label> #<id>" in the reader's language. Only the keys a row
holds are used: the records service leaves out fields the reader may not see, so a title
never shows them (an expression reading one is skipped as a whole).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from ..model.model import STANDARD_COLUMNS, Entity, text
from .context import Context
from .errors import ValidationError
from .query import Query, read_for

CHUNK = 500  # ids per query


def _readable(entity: Entity, name: str) -> bool:
    return name in STANDARD_COLUMNS or name in entity.fields


def _selectable(entity: Entity, name: str) -> bool:
    """Whether a list query can read it: a standard column, a field stored in the row, or
    a field computed when read from such fields (not from child rows)."""
    if name in STANDARD_COLUMNS:
        return True
    field = entity.fields.get(name)
    if field is None:
        return False
    if field.is_computed and not field.stored:
        return all(n in STANDARD_COLUMNS or (n in entity.fields and entity.fields[n].type.storage == "column")
                   for n in read_for(entity, [name]))
    return field.type.storage == "column" and field.stores_column


def title_columns(entity: Entity, visible: Callable[[str], bool] | None = None) -> tuple[str, ...]:
    """The fields a title needs (for `Query.columns`), those of its fallbacks included;
    `visible(name)`: whether the reader may see a field (an expression reading one they
    may not is left out whole)."""
    naming = entity.title
    seen = (lambda name: True) if visible is None else visible
    wanted: list[str] = []
    if naming is None:
        return ()
    if naming.expression is not None:
        used = [n for n in sorted(naming.expression.fields) if _readable(entity, n)]
        if all(seen(n) and _selectable(entity, n) for n in used if n in entity.fields):
            wanted += used
    wanted += [n for n in naming.parts if seen(n)]
    for group in naming.fallbacks:
        wanted += [n for n in group if seen(n)]
    return tuple(dict.fromkeys(n for n in wanted if n != "id" and _selectable(entity, n)))


def _shown(entity: Entity, name: str, row: Mapping[str, Any], language: str,
           fmt: Callable[[Any], str] | None) -> str:
    """One value as title text ("" when empty): a type's own display, an option's label,
    else the value as text."""
    value = row.get(name)
    if value is None or value == "" or value == []:
        return ""
    field = entity.fields.get(name)
    if field is not None:
        shown = field.type.display(row, field, language)
        if shown is not None:
            return str(shown).strip()
        if field.options:
            values = value if isinstance(value, list) else [value]
            return ", ".join(text(o.label, language, o.value) if (o := field.option(str(v))) else str(v)
                             for v in values)
    if fmt is not None:
        return str(fmt(value)).strip()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value).strip()


def _joined(entity: Entity, names: Iterable[str], row: Mapping[str, Any], language: str,
            fmt: Callable[[Any], str] | None) -> str:
    return " ".join(t for t in (_shown(entity, n, row, language, fmt) for n in names if n in row) if t)


def _evaluated(entity: Entity, row: Mapping[str, Any]) -> str:
    expression = entity.title.expression
    if any(n not in row for n in expression.fields if _readable(entity, n)):
        return ""  # a field the reader may not see (or that was not read)
    try:
        value = expression.evaluate(row)
    except Exception:  # noqa: BLE001 - a title never breaks a page: it falls back
        return ""
    return str(value).strip() if value is not None else ""


def title_of(entity: Entity, row: Mapping[str, Any], language: str = "en",
             fmt: Callable[[Any], str] | None = None) -> str:
    """The title of a row: the title, else the first fallback with a value, else
    "<entity label> #<id>". `fmt` formats numbers and dates for the reader (pages pass
    theirs; without it they read as ISO text)."""
    naming = entity.title
    if naming is not None:
        found = _evaluated(entity, row) if naming.expression is not None else ""
        found = found or _joined(entity, naming.parts, row, language, fmt)
        for group in naming.fallbacks:
            if found:
                break
            found = _joined(entity, group, row, language, fmt)
        if found:
            return found
    return numbered(entity, row.get("id"), language)


def numbered(entity: Entity, record_id: Any, language: str = "en") -> str:
    """A record with nothing to name it by: "<entity label> #<id>"."""
    return f"{entity.label_text(language)} #{record_id}"


def read_titles(service: Any, entity: Entity, ids: Iterable[Any], context: Context, language: str = "en",
                fmt: Callable[[Any], str] | None = None) -> dict[int, str]:
    """Titles of records by id, for those the reader may read (others are left out: the
    caller shows them as it can, e.g. by number). One query per chunk of ids."""
    wanted = sorted({i for i in ids if isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63})
    if not wanted:
        return {}
    access = service.access(entity, context)
    if not access.can("read"):
        return {}
    columns = title_columns(entity, access.visible)
    found: dict[int, str] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        query = Query(filters=(("id", "in", chunk),), columns=columns, sort=(), limit=len(chunk))
        try:
            rows = service.list(entity.name, query, context)
        except ValidationError:  # a field an approval step hides from this reader
            rows = service.list(entity.name, Query(filters=(("id", "in", chunk),), sort=(), limit=len(chunk)),
                                context)
        for row in rows:
            found[row["id"]] = title_of(entity, row, language, fmt)
    return found


__all__ = ["numbered", "read_titles", "title_columns", "title_of"]
