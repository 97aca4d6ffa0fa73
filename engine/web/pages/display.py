"""How a value reads when its field type says so (`FieldType.display`): a duration as
`1 h 30 min` / `1小时30分钟`, an address on the lines of an envelope, a person's full name.

Record pages show the text as it is (several lines for an address); list cells, kanban
cards and CSV cells put its lines on one (`one_line`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...fields.base import FieldType
from ...model.model import Field
from ..i18n import language


def displayed(field: Field | None) -> bool:
    """Whether the field's type says how its values read."""
    return field is not None and type(field.type).display is not FieldType.display


def display_text(field: Field, record: Mapping[str, Any], lang: str | None = None) -> str | None:
    """The value as its type says it reads in the user's language, or None (the page then
    formats it by its kind)."""
    if not displayed(field):
        return None
    return field.type.display(record, field, lang or language())


def one_line(text: str) -> str:
    """A value shown on several lines (an address) as one, for a cell."""
    return ", ".join(line for line in text.split("\n") if line)
