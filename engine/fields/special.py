"""Money, computed and autonumber fields."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ..messages import N_, message
from .base import FieldType, FieldValueError
from .scalar import BooleanType, DateTimeType, DateType, DecimalType, IntegerType, StringType

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


class MoneyType(DecimalType):
    """An amount and its currency, in two columns: NAME and NAME_currency.

    In records and expressions NAME is the amount (a number), NAME_currency the ISO code.
    With `currency_field: OTHER` the currency is the value of another field of the record
    (or of the same row, in lines), such as a deal's `currency` choice: the field then
    stores only its amount, and pages show it with OTHER's code.

    A field's currencies are one set (`Field.currencies`, worked out by the compiler): forms
    offer exactly those and the service accepts only those, except that an update may keep
    the code a record already has (as a hidden option stays on the records holding it).
    """

    name = "money"
    parts = {"currency": "string"}
    options = frozenset({"min", "max", "precision", "scale", "currency", "currencies", "currency_field"})
    default_scale = 2
    description = "An amount with its currency (two columns: NAME, NAME_currency), or with currency_field."

    def part_types(self, spec):
        return {} if spec.get("currency_field") else dict(self.parts)

    def columns(self, field):
        info = {"field": field.name, "renamed_from": field.renamed_from}
        amount = sa.Column(field.name, self.sql_type(field), nullable=True, info=info)
        if field.currency_field:
            return [amount]
        currency_info = {"field": field.name,
                         "renamed_from": f"{field.renamed_from}_currency" if field.renamed_from else None}
        return [amount, sa.Column(f"{field.name}_currency", sa.String(3), nullable=True, info=currency_info)]

    def currency_key(self, field) -> str:
        """The key of a record holding this amount's currency."""
        return field.currency_field or f"{field.name}_currency"

    def currency_of(self, record: Mapping[str, Any], field) -> str | None:
        """The currency to show beside the amount of `record` (None when there is none)."""
        code = record.get(self.currency_key(field))
        if field.currency_field:
            return str(code) if code not in (None, "") else None
        return code or field.currency

    def read_input(self, data, field):
        result = {}
        raw = data.get(field.name)
        currency = None if field.currency_field else data.get(self.currency_key(field))
        if isinstance(raw, dict):
            if field.currency_field and raw.get("currency") not in (None, ""):
                raise FieldValueError(message(N_("the currency of this amount is the value of '%(field)s': set it "
                                                 "there"), field=field.currency_field))
            currency = raw.get("currency", currency)
            raw = raw.get("amount")
        if field.name in data:
            result[field.name] = self.coerce(raw, field)
        if currency not in (None, ""):
            code = str(currency).strip().upper()
            if not CURRENCY_RE.match(code):
                raise FieldValueError(message(N_("'%(value)s' is not a currency code (e.g. CNY, USD)"), value=currency))
            result[self.currency_key(field)] = code
        return result  # a missing currency is filled by the service (kept on update)

    def currency_errors(self, record: Mapping[str, Any], old: Mapping[str, Any] | None,
                        field) -> dict[str, str]:
        """Problems of the currency of a record (a row) being saved, by key: a code outside
        the field's currencies (unless the record already had it), or, with a currency
        field, an amount whose currency is missing or is no ISO code."""
        key = self.currency_key(field)
        code = record.get(key)
        kept = old is not None and old.get(key) == code
        if not field.currency_field:
            if code is not None and field.currencies and code not in field.currencies and not kept:
                return {field.name: message(N_("currency must be one of %(currencies)s (got %(code)s)"),
                                            currencies=", ".join(field.currencies), code=code)}
            return {}
        amount = record.get(field.name)
        unchanged = kept and old.get(field.name) == amount
        if amount is None or unchanged:
            return {}
        if code in (None, ""):
            return {key: message(N_("is needed: it is the currency of '%(field)s'"), field=field.name)}
        if not isinstance(code, str) or not CURRENCY_RE.match(code):
            return {key: message(N_("'%(value)s' is not a currency code (e.g. CNY, USD), which '%(field)s' needs"),
                             value=code, field=field.name)}
        return {}

    def to_row(self, value, field):
        return {field.name: value}


_RETURN_TYPES = {
    "string": StringType(),
    "integer": IntegerType(),
    "decimal": DecimalType(),
    "number": DecimalType(),
    "money": DecimalType(),
    "percent": DecimalType(),
    "boolean": BooleanType(),
    "date": DateType(),
    "datetime": DateTimeType(),
}
_VALUE_TYPES = {"string": "string", "integer": "number", "decimal": "number", "number": "number",
                "money": "number", "percent": "number", "boolean": "boolean", "date": "date",
                "datetime": "datetime"}


class ComputedType(FieldType):
    """A value computed from an expression: stored (a column, recomputed on every save,
    sortable and filterable) or virtual (computed when read)."""

    name = "computed"
    options = frozenset({"expression", "returns", "stored", "precision", "scale"})
    required_options = ("expression",)
    can_be_unique = False
    description = "Computed from an expression; `stored: false` computes it when read."

    def result_type(self, field) -> FieldType:
        return _RETURN_TYPES[field.returns or "decimal"]

    def value_type_of(self, field) -> str:
        return _VALUE_TYPES[field.returns or "decimal"]

    def columns(self, field):
        if not field.stored:
            return []
        return [sa.Column(field.name, self.result_type(field).sql_type(field), nullable=True,
                          info={"field": field.name, "renamed_from": field.renamed_from})]

    def coerce(self, value, field):
        return self.result_type(field).coerce(value, field)


AUTONUMBER_TOKEN = re.compile(r"\{(YYYY|YY|MM|DD|#+)\}")


def autonumber_problem(fmt: str) -> str | None:
    counters = re.findall(r"\{#+\}", fmt)
    if len(counters) != 1:
        return "the format needs exactly one counter such as {####}"
    leftover = AUTONUMBER_TOKEN.sub("", fmt)
    if "{" in leftover or "}" in leftover:
        return "unknown placeholder: use {YYYY}, {YY}, {MM}, {DD} and one {###…}"
    return None


class AutonumberType(FieldType):
    """`ORD-{YYYY}-{####}`: the counter lives in `tailor_sequence`, keyed by the format with
    its date parts filled in (so it restarts each year when the format has {YYYY}); the
    increment happens in the record's own transaction under a row lock."""

    name = "autonumber"
    value_type = "string"
    options = frozenset({"format"})
    required_options = ("format",)
    description = "A number assigned on creation, e.g. ORD-{YYYY}-{####}; never duplicated."

    def sql_type(self, field):
        return sa.String(64)

    def sequence_key(self, entity: str, field, moment: datetime) -> str:
        prefix = AUTONUMBER_TOKEN.sub(lambda m: _date_part(m.group(1), moment) if "#" not in m.group(1) else "#",
                                      field.format)
        return f"{entity}.{field.name}:{prefix}"

    def render(self, field, moment: datetime, counter: int) -> str:
        def fill(match):
            token = match.group(1)
            if token.startswith("#"):
                return str(counter).zfill(len(token))
            return _date_part(token, moment)

        return AUTONUMBER_TOKEN.sub(fill, field.format)

    def coerce(self, value, field):
        if value in (None, ""):
            return None
        return str(value)


def _date_part(token: str, moment: datetime) -> str:
    return {"YYYY": f"{moment.year:04d}", "YY": f"{moment.year % 100:02d}",
            "MM": f"{moment.month:02d}", "DD": f"{moment.day:02d}"}[token]


def to_decimal(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))
