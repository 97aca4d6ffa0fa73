"""Polymorphic links on pages: which kinds of record a user is offered, how a target reads
("Customer · Acme Ltd"), and how a form's two inputs become the value for the service.

A form shows a polymorphic link as a select of kinds (`NAME_entity`) and a
search-as-you-type lookup of records of the chosen kind, whose hidden input (`NAME`) holds
`KIND:ID`: the kind the record was picked for travels with it. When the select no longer
says that kind, the user changed the kind after picking, and the record (of the other
kind) is dropped (`posted`); the page never guesses a record of the new kind.

Titles come from engine/records/titles.py through the callers' look-ups, which leave out
records the reader may not read: those read "Customer #5", never their title.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model.model import Field
from ..records.titles import numbered
from .auth import context
from .i18n import language
from .state import WebState

SEPARATOR = " · "


def entity_key(field: Field) -> str:
    return f"{field.name}_entity"


def target_of(field: Field, record: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """(kind, id) a record's polymorphic link points at, or (None, None)."""
    record_id = record.get(field.name)
    kind = record.get(entity_key(field))
    if not isinstance(record_id, int) or isinstance(record_id, bool) or not isinstance(kind, str) or not kind:
        return None, None
    return kind, record_id


def kind_label(kind: str, lang: str | None = None) -> str:
    """The label of a kind of record in the reader's language (its name if it is gone)."""
    entity = WebState.of().model.entities.get(kind)
    return entity.label_text(lang or language()) if entity is not None else kind


def target_text(kind: str, record_id: int, title: str | None, lang: str | None = None) -> str:
    """"Customer · Acme Ltd"; "Customer #5" when the reader may not read the record (no
    title) or it has nothing to be named by."""
    lang = lang or language()
    entity = WebState.of().model.entities.get(kind)
    plain = numbered(entity, record_id, lang) if entity is not None else f"{kind} #{record_id}"
    if not title or title == plain:
        return plain
    return f"{kind_label(kind, lang)}{SEPARATOR}{title}"


def readable_kinds(field: Field) -> list[str]:
    """The kinds a user may pick records of: those they may read, with a lookup (not
    hidden entities), in the order of `to`."""
    state = WebState.of()
    ctx = context()
    found = []
    for kind in field.targets:
        entity = state.model.entities.get(kind)
        if entity is not None and not entity.hidden and state.service.access(entity, ctx).can("read"):
            found.append(kind)
    return found


def kind_choices(field: Field, keep: str | None = None, *, every: bool = False) -> list[tuple[str, str]]:
    """[(kind, label)] to offer: the kinds the user may read (`every`: all of `to`, for
    filters of records the user reads anyway), and `keep`, the kind a record holds now,
    so that saving it unchanged keeps it."""
    lang = language()
    offered = list(field.targets) if every else readable_kinds(field)
    if isinstance(keep, str) and keep and keep not in offered:  # (even one `to` no longer names)
        offered.append(keep)
    return [(kind, kind_label(kind, lang)) for kind in offered]


def form_value(kind: str | None, record_id: Any) -> str:
    """What the hidden input holds: `KIND:ID`, or "" without a record."""
    if record_id in (None, ""):
        return ""
    return f"{kind}:{record_id}" if kind else str(record_id)


def posted(raw_id: Any, raw_kind: Any) -> tuple[str, str]:
    """(id text, kind) for the service from the two inputs: a record picked for another
    kind than the one now chosen is dropped (the user changed the kind); text that is
    no record is passed on, for the service to refuse next to the field."""
    raw_id = raw_id.strip() if isinstance(raw_id, str) else ""
    kind = raw_kind.strip() if isinstance(raw_kind, str) else ""
    picked_for, separator, number = raw_id.rpartition(":")
    if separator:
        return (number.strip(), kind) if picked_for.strip() == kind else ("", kind)
    return raw_id, kind


__all__ = ["entity_key", "form_value", "kind_choices", "kind_label", "posted", "readable_kinds", "target_of",
           "target_text"]
