"""Choice, multi-choice and tags.

Choices are validated by the records service (records/values.py `validate_fields`), not by
a database CHECK constraint, so that adding an option is a metadata change and never a table
rewrite. A value a record already holds stays valid on it — a hidden option, or one a
migration kept — but is not accepted as a new value. Coercion only tidies the input.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ..messages import N_, message
from .base import FieldType, FieldValueError

JSON_LIST = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class ChoiceType(FieldType):
    name = "choice"
    value_type = "string"
    options = frozenset({"options", "option_set", "replaced_options"})
    required_options = ("options",)
    description = "One value from a list of options (with labels and colours)."

    def sql_type(self, field):
        longest = max((len(str(o.value)) for o in field.options), default=1)
        return sa.String(max(64, longest))

    def coerce(self, value, field):
        if value is None or value == "":
            return None
        if isinstance(value, (dict, list)):
            raise FieldValueError(message(N_("expected one of the options")))
        return str(value).strip() or None


class MultiChoiceType(FieldType):
    name = "multichoice"
    value_type = "list"
    options = frozenset({"options", "option_set", "replaced_options"})
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
        raise FieldValueError(message(N_("expected a list of values")))

    def coerce(self, value, field):
        return list(dict.fromkeys(self._items(value))) or None


class TagsType(MultiChoiceType):
    name = "tags"
    options = frozenset({"options", "option_set"})
    required_options = ()
    description = "Free-form tags; `options` only suggests (stored as a JSON list)."

    def coerce(self, value, field):
        items = list(dict.fromkeys(self._items(value)))
        too_long = [v for v in items if len(v) > 64]
        if too_long:
            raise FieldValueError(message(N_("a tag has at most 64 characters")))
        return items or None
