"""How a value reads when its field type says so (`FieldType.display`): a duration as
`1 h 30 min` / `1小时30分钟`, an address on the lines of an envelope, a person's full name;
and how a rollup reads, by what it aggregates (a count whole, a sum of amounts as money).

Record pages show the text as it is (several lines for an address); list cells, kanban
cards and CSV cells put its lines on one (`one_line`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ...fields.base import FieldType
from ...model.model import Field
from ..i18n import fmt, language
from ..state import WebState


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


# -- rollups --------------------------------------------------------------------------------
def rollup_kind(field: Field) -> str:
    """How a rollup's value reads: "integer" for a count, "date" or "datetime" for the
    first or last of them, else by the kind of the field it aggregates: "money" (amounts
    summed as numbers, with two places and no currency, as records may mix currencies),
    "percent", "integer" (a sum of whole numbers), or "decimal" (an average, a sum of
    decimals)."""
    rollup = field.rollup
    if rollup is None or rollup.aggregate == "count":
        return "integer"
    if field.returns in ("date", "datetime"):
        return field.returns
    child = WebState.of().model.entities.get(rollup.child)
    source = child.fields.get(rollup.field) if child is not None and rollup.field else None
    kind = (source.returns if source.is_computed else source.type.name) if source is not None else None
    if kind == "money" or (source is not None and source.type.name == "money"):
        return "money"
    if kind == "percent":
        return "percent"
    if kind == "integer" and rollup.aggregate != "avg":
        return "integer"
    return "decimal"


def rollup_text(field: Field, value: Any, locale: str | None = None) -> str:
    """A rollup's value for a page, in the reader's locale ("" when empty)."""
    if value is None or value == "":
        return ""
    kind = rollup_kind(field)
    if kind in ("date", "datetime"):
        return fmt(value, kind, locale)
    if kind == "integer":
        try:
            return fmt(Decimal(value).to_integral_value(), "decimal", locale)
        except (ArithmeticError, ValueError, TypeError):
            return str(value)
    text = fmt(value, "money" if kind == "money" else "decimal", locale)
    return f"{text} %" if kind == "percent" else text


def rollup_plain(field: Field, value: Any) -> str:
    """A rollup's value for a spreadsheet: a plain number (a count whole, amounts with two
    places), or an ISO date."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    try:
        number = Decimal(value)
    except (ArithmeticError, ValueError, TypeError):
        return str(value)
    kind = rollup_kind(field)
    if kind == "integer":
        return str(number.to_integral_value())
    if kind == "money":
        return str(number.quantize(Decimal("0.01")))
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text
