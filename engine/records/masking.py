"""Masking per role: `mask: phone | email | name` on a field shows `138****1234`,
`w***@example.com` or `王*` instead of the value.

Decided in the records service, on every record it hands out (get, list, search, titles,
exports, conflicts, the audit trail), so that every page and export obeys it without
knowing about it. Who sees what:

* a role granted `reveal` on the entity (roles.yaml) sees masked values too, and may reveal
  one record's values (`RecordService.reveal`: the record page's Reveal button), which is
  written to the audit trail with who and when; its CSV exports hold the full values;
* any other role sees masked values everywhere and may not change a masked value (sending
  back the masked text is no change: the stored value is kept);
* administrators and the engine itself see the values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..model.model import Entity

STARS = "****"


def mask_text(kind: str, value: Any) -> Any:
    """The masked form of a value (None and empty values stay as they are)."""
    if not isinstance(value, str) or not value:
        return value
    if kind == "phone":
        digits = [c for c in value if c.isdigit()]
        if len(digits) >= 7:
            return "".join(digits[:3]) + STARS + "".join(digits[-4:])
        return ("".join(digits[:1]) + STARS + "".join(digits[-1:])) if len(digits) > 2 else STARS
    if kind == "email":
        local, at, domain = value.partition("@")
        return (local[:1] + "***" + at + domain) if at else value[:1] + "***"
    # a name: the first character of each word kept (王*, J*** S****)
    return " ".join(word[:1] + "*" * max(1, len(word) - 1) for word in value.split())


def mask_value(kind: str, value: Any) -> Any:
    """A value masked: a text, or each text of a list (the items of a list of phones)."""
    if isinstance(value, list):
        return [mask_value(kind, item) for item in value]
    if isinstance(value, dict) and "value" in value:  # an item as {value, kind, primary}
        return {**value, "value": mask_text(kind, value["value"])}
    return mask_text(kind, value)


def masked_fields(entity: Entity) -> dict[str, str]:
    """{field name: mask} of an entity's masked fields."""
    return {name: field.mask for name, field in entity.fields.items() if field.mask}


def masked_keys(entity: Entity, names: Mapping[str, str]) -> dict[str, str]:
    """{record key: mask} of every key that holds a masked field's value: NAME, and the
    parts of a person's name or the items of a list of phones (FieldType.masked_keys)."""
    keys: dict[str, str] = {}
    for name, kind in names.items():
        field = entity.fields.get(name)
        for key in (field.type.masked_keys(field) if field is not None else [name]):
            keys[key] = kind
    return keys


def mask_record(entity: Entity, record: dict[str, Any], names: Mapping[str, str],
                keys: Mapping[str, str] | None = None) -> dict[str, Any]:
    for key, kind in (masked_keys(entity, names) if keys is None else keys).items():
        if key in record:
            record[key] = mask_value(kind, record[key])
    return record


def mask_records(entity: Entity, rows: Iterable[dict[str, Any]], names: Mapping[str, str]) -> list[dict[str, Any]]:
    if not names:
        return list(rows)
    keys = masked_keys(entity, names)  # once for the page, not once a row
    return [mask_record(entity, row, names, keys) for row in rows]


def mask_changes(entity: Entity, entry: dict[str, Any], names: Mapping[str, str]) -> None:
    """An audit trail entry with the masked fields' before and after masked."""
    changes = entry.get("changes")
    if not isinstance(changes, dict):
        return
    for key, kind in masked_keys(entity, names).items():
        pair = changes.get(key)
        if isinstance(pair, list):
            changes[key] = [mask_value(kind, v) for v in pair]


def unmask(kind: str, sent: Any, stored: Any) -> tuple[Any, bool]:
    """What a user who sees masked values sent back, with each masked text they left as
    shown replaced by the stored value it stands for; and whether a stored value was
    changed or taken away (which only a user who may reveal it may do). Items of a list are
    matched by their masked text, so a phone added beside masked ones keeps those."""
    if isinstance(stored, list) and isinstance(sent, list):
        pool: dict[Any, list[Any]] = {}
        for value in stored:
            pool.setdefault(mask_text(kind, value), []).append(value)
        restored, restated = [], False
        for item in sent:
            text = item.get("value") if isinstance(item, dict) else item
            same = pool.get(text)
            value = same.pop(0) if same else text
            restated = restated or (not same and text in stored)  # a hidden value typed in clear
            restored.append({**item, "value": value} if isinstance(item, dict) else value)
        kept = [item.get("value") if isinstance(item, dict) else item for item in restored]
        return restored, restated or any(value not in kept for value in stored if value not in (None, ""))
    if stored in (None, "") or not isinstance(sent, (str, type(None))):
        return sent, False
    if sent == mask_text(kind, stored):
        return stored, False
    # anything but the masked text counts as a change, the stored value typed in clear too:
    # otherwise "refused" against "accepted" would tell a user who guessed the hidden value
    return sent, True
