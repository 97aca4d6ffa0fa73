"""How an entity's records are named: the title, chosen once when the model compiles.

`title:` in YAML is a field name or an expression of type string
(`title: "first_name + ' ' + last_name"`). Without it the compiler picks a name-like field,
never a salutation, by `name_candidates` (best first):

1. a field of type `person_name` (by type name: a plugin or a later engine adds it);
2. a field named `name`, `full_name` or `display_name`;
3. `first_name` and `last_name` together, when both exist; then other `*_name` fields;
4. `subject`, or a field named `title` (a deal's or a task's name; in an entity with
   person names it is an honorific and is never used);
5. an autonumber (order numbers);
6. an e-mail;
7. the first visible `string` field that is not salutation-like and not a choice;
8. a phone number.

The other name-like groups (all but step 7) are the title's fallbacks: a record whose
title is empty is named by the first of them it has a value for (a contact without a
name by its e-mail), and one with none of them by "<entity label> #<id>"
(engine/records/titles.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model import Field, Title

NAME_FIELDS = ("name", "full_name", "display_name")
SUBJECT_FIELDS = ("subject", "title")
# fields that say how to address a person, not who it is
SALUTATION_LIKE = frozenset({"salutation", "prefix", "suffix", "honorific", "gender", "sex", "title",
                             "name_prefix", "name_suffix", "courtesy_title", "form_of_address", "greeting",
                             "middle_name", "nickname", "nick_name"})
STRING_TYPES = ("string",)
EMAIL_TYPES = ("email", "emails")
PHONE_TYPES = ("phone", "phones")
PERSON_NAME_TYPES = ("person_name",)


def _salutation_like(name: str) -> bool:
    return name in SALUTATION_LIKE or name.endswith(("_salutation", "_prefix", "_suffix", "_honorific", "_gender"))


def _textual(field: Field) -> bool:
    """Holds a short text that can name a record: a string value, not a choice or long text."""
    if field.hidden or field.type.storage == "table":
        return False
    if field.is_computed:
        return field.returns == "string"
    return field.type.value_type == "string" and field.type.name not in ("choice", "text", "url")


def name_candidates(fields: Mapping[str, Field], generic: bool = True) -> list[tuple[str, ...]]:
    """Groups of fields that can name a record, best first (see the module docstring).
    `generic=False` leaves out step 7 (any string field): such a field may name records
    when nothing else can, but is no stand-in for a missing name (a customer without a
    name is not called by its city)."""
    shown = [f for f in fields.values() if not f.hidden and f.type.storage != "table"]
    texts = [f for f in shown if _textual(f)]
    groups: list[tuple[str, ...]] = []

    def add(*names: str) -> None:
        if names and names not in groups:
            groups.append(names)

    for f in shown:
        if f.type.name in PERSON_NAME_TYPES:
            add(f.name)
    text_names = [f.name for f in texts]
    for name in NAME_FIELDS:
        if name in text_names:
            add(name)
    suffixed = [n for n in text_names if n.endswith("_name") and not _salutation_like(n)]
    if "first_name" in suffixed and "last_name" in suffixed:
        add("first_name", "last_name")
        suffixed = [n for n in suffixed if n not in ("first_name", "last_name")]
    for name in suffixed:
        add(name)
    person_like = bool(groups)
    for name in SUBJECT_FIELDS:
        if name in text_names and not (name == "title" and person_like):
            add(name)
    for f in shown:
        if f.is_autonumber:
            add(f.name)
    for f in shown:
        if f.type.name in EMAIL_TYPES:
            add(f.name)
    for f in texts if generic else ():
        if f.type.name in STRING_TYPES and not _salutation_like(f.name):
            add(f.name)
    for f in shown:
        if f.type.name in PHONE_TYPES:
            add(f.name)
    return groups


def choose_title(fields: Mapping[str, Field], declared: str | None, expression: Any = None) -> Title:
    """The title of an entity: the declared field or expression, else the best candidate;
    the other candidates are its fallbacks."""
    candidates = name_candidates(fields)
    if expression is not None:
        parts: tuple[str, ...] = ()
    elif declared:
        parts = (declared,)
    else:
        parts = candidates[0] if candidates else ()
    fallbacks = tuple(g for g in name_candidates(fields, generic=False) if g != parts)
    return Title(parts=parts, expression=expression, fallbacks=fallbacks, declared=bool(declared or expression))


__all__ = ["Title", "choose_title", "name_candidates"]
