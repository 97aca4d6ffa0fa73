"""Rollups: an aggregate over related records, stored on the record they point at.

    open_pipeline:
      type: rollup
      from: opportunity.customer        # the records (opportunity) and their link to this one
      aggregate: sum                    # count, sum, avg, min, max
      field: amount                     # not for count
      where: "stage not in ['won', 'lost']"

The value is a column of this record, kept correct by the records service on every write of
a related record (engine/model/rollups.py), worked out again by migrations when the
definition changes, and shown to each user over the related records they may read.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..messages import N_, message
from .base import FieldType, FieldValueError
from .scalar import DateTimeType, DateType, DecimalType, IntegerType

AGGREGATES = ("count", "sum", "avg", "min", "max")
_RESULTS = {"integer": IntegerType(), "decimal": DecimalType(), "date": DateType(), "datetime": DateTimeType()}
_VALUE_TYPES = {"integer": "number", "decimal": "number", "date": "date", "datetime": "datetime"}


class RollupType(FieldType):
    name = "rollup"
    value_type = "number"
    options = frozenset({"from", "aggregate", "field", "where", "scale"})
    required_options = ("from", "aggregate")
    can_be_unique = False
    derived = True
    description = "An aggregate (count, sum, avg, min, max) over related records, kept up to date."

    def result_type(self, field) -> FieldType:
        return _RESULTS[field.returns or "decimal"]

    def value_type_of(self, returns: str | None) -> str:
        return _VALUE_TYPES.get(returns or "decimal", "number")

    def sql_type(self, field):
        if (field.returns or "decimal") == "decimal":  # as wide as a database number goes
            return sa.Numeric(38, field.scale if field.scale is not None else 4, asdecimal=True)
        return self.result_type(field).sql_type(field)

    def from_row(self, row, field):
        return self.result_type(field).from_row(row, field)  # a date-time as UTC, as stored

    def reads_as_stored(self, field):
        return self.result_type(field).reads_as_stored(field)

    def coerce(self, value, field):
        if value is None or value == "":
            return None
        try:
            return self.result_type(field).coerce(value, field)
        except FieldValueError:
            raise
        except (TypeError, ValueError):
            raise FieldValueError(message(N_("'%(value)s' does not fit this rollup"), value=value)) from None
