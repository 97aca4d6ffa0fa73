"""Choice, multi-choice and tags.

Choices are validated by the records service, not by a database CHECK constraint, so that
adding an option is a metadata change and never a table rewrite. A hidden option stays
valid on records that already hold it but is not accepted as a new value.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from .base import FieldType, FieldValueError

JSON_LIST = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class ChoiceType(FieldType):
    name = "choice"
    value_type = "string"
    options = frozenset({"options", "option_set"})
    required_options = ("options",)
    description = "One value from a list of options (with labels and colours)."

    def sql_type(self, field):
        longest = max((len(str(o.value)) for o in field.options), default=1)
        return sa.String(max(64, longest))

    def coerce(self, value, field):
        if value is None or value == "":
            return None
        text = str(value).strip()
        if text not in field.option_values:
            raise FieldValueError(f"'{text}' is not one of the options ({', '.join(field.option_values)})")
        return text


class MultiChoiceType(FieldType):
    name = "multichoice"
    value_type = "list"
    options = frozenset({"options", "option_set"})
    required_options = ("options",)
    sortable = False
    can_be_unique = False
    description = "Several values from a list of options (stored as a JSON list)."

    def sql_type(self, field):
        return JSON_LIST

    def _items(self, value):
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [v for v in (s.strip() for s in value.split(",")) if v]
        if isinstance(value, (list, tuple)):
            return [str(v).strip() for v in value if str(v).strip()]
        raise FieldValueError("expected a list of values")

    def coerce(self, value, field):
        items = list(dict.fromkeys(self._items(value)))
        unknown = [v for v in items if v not in field.option_values]
        if unknown:
            raise FieldValueError(f"not among the options: {', '.join(unknown)}")
        return items or None


class TagsType(MultiChoiceType):
    name = "tags"
    required_options = ()
    description = "Free-form tags; `options` only suggests (stored as a JSON list)."

    def coerce(self, value, field):
        items = list(dict.fromkeys(self._items(value)))
        too_long = [v for v in items if len(v) > 64]
        if too_long:
            raise FieldValueError("a tag has at most 64 characters")
        return items or None
