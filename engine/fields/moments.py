"""date_or_datetime: a day (an all-day task) or a moment (a call at 14:30), in one field.

Storage: NAME, a `TIMESTAMP WITH TIME ZONE` column (UTC), and NAME_time, a `BOOLEAN` part
saying whether a time was given. A day is stored as midnight UTC of that day with
NAME_time false; a moment as itself with NAME_time true. Sorting and range filters use the
one timestamp column, so days and moments sort together (a day before the moments of the
same UTC day).

In records NAME is a `date` (a day) or an aware UTC `datetime` (a moment). Expressions see
NAME as a datetime (a day reads as midnight UTC, exactly what the column holds, so Python
and SQL agree) and NAME_time as a boolean: `date(due) == today()`, `due < now()`,
`not due_time`.

A row whose NAME_time is NULL (the field was changed from `date` or `datetime`, and the
column added) reads as a day when the timestamp is midnight UTC, else as a moment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

import sqlalchemy as sa

from ..messages import N_, message
from .base import FieldValueError
from .scalar import AT_LEAST, AT_MOST, BooleanType, RangedType

_DAY_ONLY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
EXAMPLES = "2026-12-04, or 2026-12-04 14:30"
EXPECTED_MOMENT = N_("expected a date, or a date and time (%(examples)s)")
NOT_A_MOMENT = N_("'%(value)s' is not a date, or a date and time (%(examples)s)")
OUT_OF_RANGE = N_("'%(value)s' is out of range")


def as_moment(value: date | datetime) -> datetime:
    """A day as midnight UTC; a moment as itself, in UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(), UTC)


def has_time(value: Any) -> bool | None:
    return None if value is None else isinstance(value, datetime)


class DateOrDateTimeType(RangedType):
    name = "date_or_datetime"
    value_type = "datetime"
    parts = {"time": "boolean"}
    can_be_unique = False
    allowed_in_rows = False
    description = "A day (all day) or a moment (day and time); NAME_time says which."

    def time_key(self, field) -> str:
        return f"{field.name}_time"

    def columns(self, field):
        info = {"field": field.name, "renamed_from": field.renamed_from}
        part_info = {"field": field.name,
                     "renamed_from": f"{field.renamed_from}_time" if field.renamed_from else None}
        return [sa.Column(field.name, sa.DateTime(timezone=True), nullable=True, info=info),
                sa.Column(self.time_key(field), sa.Boolean(), nullable=True, info=part_info)]

    def sql_type(self, field):
        return sa.DateTime(timezone=True)

    def form_keys(self, field):
        return [field.name]  # NAME_time follows from what is typed

    def coerce(self, value, field):
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            return value
        elif isinstance(value, (dict, list, bool, int, float)):
            raise FieldValueError(message(EXPECTED_MOMENT, examples=EXAMPLES))
        else:
            text = str(value).strip()
            try:
                if _DAY_ONLY.fullmatch(text):
                    return date.fromisoformat(text)
                if len(text) > 40:
                    raise ValueError(text)
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise FieldValueError(message(NOT_A_MOMENT, value=text[:40], examples=EXAMPLES)) from None
        try:
            return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(UTC)
        except OverflowError:
            raise FieldValueError(message(OUT_OF_RANGE, value=value)) from None

    def read_input(self, data, field):
        key = self.time_key(field)
        result = {}
        if field.name in data:
            result[field.name] = self.coerce(data[field.name], field)
        if key in data:  # accepted when it agrees with NAME (a record sent back as it was read)
            flag = BooleanType().coerce(data[key], field)
            if field.name not in data or (flag is not None and flag != has_time(result[field.name])):
                raise FieldValueError(f"'{key}' follows from '{field.name}': give a date ({EXAMPLES[:10]}) "
                                      "for all day, or a date and time")
        return result

    def derive(self, record, field, old) -> None:
        if field.name in record:
            record[self.time_key(field)] = has_time(record[field.name])

    def to_row(self, value, field):
        return {field.name: None if value is None else as_moment(value), self.time_key(field): has_time(value)}

    def from_row(self, row: Mapping[str, Any], field):
        value = row.get(field.name)
        if not isinstance(value, datetime):
            return value
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        flag = row.get(self.time_key(field))
        if flag is None:  # a row from before the field was a date_or_datetime
            flag = value.timetz() != time(tzinfo=UTC)
        return value if flag else value.date()

    def validate(self, value, field):
        """A bound that is a day covers that whole (UTC) day."""
        errors = []
        moment = as_moment(value)
        for bound, outside, words in ((field.min, lambda a, b: a < b, AT_LEAST), (field.max, lambda a, b: a > b, AT_MOST)):
            if bound is None:
                continue
            if outside(moment, bound) if isinstance(bound, datetime) else outside(moment.date(), bound):
                errors.append(message(words, bound=bound.isoformat()))
        return errors
