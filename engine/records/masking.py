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


def masked_fields(entity: Entity) -> dict[str, str]:
    """{field name: mask} of an entity's masked fields."""
    return {name: field.mask for name, field in entity.fields.items() if field.mask}


def mask_record(entity: Entity, record: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    for name, kind in names.items():
        if name in record:
            record[name] = mask_text(kind, record[name])
    return record


def mask_records(entity: Entity, rows: Iterable[dict[str, Any]], names: Mapping[str, str]) -> list[dict[str, Any]]:
    return [mask_record(entity, row, names) for row in rows] if names else list(rows)


def mask_changes(entity: Entity, entry: dict[str, Any], names: Mapping[str, str]) -> None:
    """An audit trail entry with the masked fields' before and after masked."""
    changes = entry.get("changes")
    if not isinstance(changes, dict):
        return
    for name, kind in names.items():
        pair = changes.get(name)
        if isinstance(pair, list):
            changes[name] = [mask_text(kind, v) for v in pair]
