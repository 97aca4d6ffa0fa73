"""How a value reads when its field type says so (`FieldType.display`): a duration as
`1 h 30 min` / `1小时30分钟`, an address on the lines of an envelope, a person's full name;
and how a rollup reads, by what it aggregates (a count whole, a sum of amounts as money).

Record pages show the text as it is (several lines for an address); list cells, kanban
cards and CSV cells put its lines on one (`one_line`).

Several e-mails or phones are shown by the pages themselves: a record page lists every
item with its kind (`contact_items`), a list cell the primary with a "+2" hint
(`contact_summary`), a CSV export the primary and, in a column of its own, the others
(`others_text`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from markupsafe import Markup, escape

from ...fields.base import FieldType
from ...fields.contact_lists import ContactListType
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


# -- several e-mails or phones (engine/fields/contact_lists.py) -------------------------------
def item_list(field: Field | None) -> bool:
    """Whether the field holds several e-mails or phones, one of them the primary."""
    return field is not None and isinstance(field.type, ContactListType)


def kind_text(field: Field, code: str, lang: str | None = None) -> str:
    """A kind of item in the reader's language (a kind the field no longer lists: its code)."""
    found = next((k for k in field.type.kinds(field) if k.value == code), None)
    return found.text(lang or language()) if found is not None else code


def contact_items(field: Field, record: Mapping[str, Any], lang: str | None = None) -> list[dict[str, Any]] | None:
    """For a record page: every item, the primary first, with its kind and its link
    (mailto:, tel:); None for a field of another type."""
    if not item_list(field):
        return None
    return [{"value": value, "kind": kind_text(field, kind, lang), "href": field.type.href(value), "primary": first}
            for value, kind, first in field.type.primary_first(record, field)]


def contact_summary(field: Field, record: Mapping[str, Any]) -> Markup:
    """For a list cell or a card: the primary, and "+2" when there are more (the others in
    its tooltip)."""
    primary = record.get(field.name)
    if primary in (None, ""):
        return Markup("")
    others = [value for value, _kind in field.type.others(record, field)]
    if not others:
        return escape(primary)
    return Markup('{} <span class="muted more-items" title="{}">+{}</span>').format(
        primary, ", ".join(others), len(others))


def others_text(field: Field, record: Mapping[str, Any], lang: str | None = None) -> str:
    """For a CSV cell: the items that are not the primary, with their kinds
    (`ann@home.org (Personal); ann@old.com (Other)`)."""
    return "; ".join(f"{value} ({kind_text(field, kind, lang)})" for value, kind in field.type.others(record, field))


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
