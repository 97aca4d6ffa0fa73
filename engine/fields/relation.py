"""Relations: link (many-to-one), polymorphic link, links (many-to-many), lines (child rows), user.

* `link` is a foreign-key column to the target entity's `id`.
* `polymorphic_link` points at a record of one of several entities (`to: [customer,
  contact, opportunity]`): NAME holds the id and NAME_entity the entity's name. No foreign
  key can say that, so the records service checks the target exists (and that the user may
  read it) on every write and applies the field's `on_delete` when a target is deleted.
* `links` lives in an association table `ENTITY__FIELD(id, source_id, target_id, payload…)`.
* `lines` lives in a child table `ENTITY__FIELD(id, parent_id, position, sub-fields…)`,
  deleted with the parent. Sub-fields are ordinary fields (any column type).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ..ids import id_or_none
from ..messages import N_, message
from .base import FieldType, FieldValueError

ON_DELETE = {"restrict": "RESTRICT", "set_null": "SET NULL", "cascade": "CASCADE"}
ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def coerce_id(value, bits: int = 64) -> int | None:
    """A record id (`bits`: 32 for a user's, whose table has INTEGER ids; see engine/ids.py)."""
    if value is None or value == "":
        return None
    if isinstance(value, dict) and "id" in value:
        value = value["id"]
    if isinstance(value, bool):
        raise FieldValueError(message(N_("expected a record id")))
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        value = int(value)  # an id computed by an expression
    number = id_or_none(value if isinstance(value, int) else str(value).strip(), bits)
    if number is None:  # ids are positive and fit their column: anything else names no record
        shown = str(value) if len(str(value)) <= 40 else str(value)[:37] + "…"
        raise FieldValueError(message(N_("'%(value)s' is not a record id"), value=shown))
    return number


class LinkType(FieldType):
    name = "link"
    value_type = "number"
    options = frozenset({"to", "on_delete", "filter"})
    required_options = ("to",)
    description = "A reference to one record of another entity (foreign key)."

    def columns(self, field):
        ondelete = ON_DELETE[field.on_delete or "set_null"]
        return [sa.Column(field.name, ID_TYPE, sa.ForeignKey(f"{field.to}.id", ondelete=ondelete),
                          nullable=True, index=True,
                          info={"field": field.name, "renamed_from": field.renamed_from})]

    def coerce(self, value, field):
        return coerce_id(value)


class PolymorphicLinkType(FieldType):
    """A record of one of several entities. Input: `{"entity": "customer", "id": 5}`,
    `"customer:5"`, or NAME and NAME_entity as two keys; expressions see NAME (the id) and
    NAME_entity (the entity's name)."""

    name = "polymorphic_link"
    value_type = "number"
    parts = {"entity": "string"}
    options = frozenset({"to", "on_delete"})
    required_options = ("to",)
    sortable = False
    can_be_unique = False
    allowed_in_rows = False  # the records service checks targets of the record's own fields
    description = "A reference to one record of one of several entities (a task's parent)."

    def columns(self, field):
        info = {"field": field.name, "renamed_from": field.renamed_from}
        entity_info = {"field": field.name, "polymorphic": tuple(field.targets),
                       "renamed_from": f"{field.renamed_from}_entity" if field.renamed_from else None}
        return [sa.Column(field.name, ID_TYPE, nullable=True, info=info),
                sa.Column(self.entity_key(field), sa.String(64), nullable=True, info=entity_info)]

    @staticmethod
    def entity_key(field) -> str:
        return f"{field.name}_entity"

    def target(self, value: Any, field) -> tuple[str | None, int | None]:
        """(entity, id) from `{"entity", "id"}`, `"entity:id"` or `("entity", id)`; the
        entity alone (`"customer"`) gives (entity, None)."""
        entity: Any = None
        if isinstance(value, dict):
            entity, value = value.get("entity"), value.get("id")
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            entity, value = value
        elif isinstance(value, str) and not value.strip().isdigit():
            entity, _, value = value.strip().partition(":")
        if entity is not None:
            entity = str(entity).strip() or None
            if entity is not None and entity not in field.targets:
                raise FieldValueError(message(N_("'%(entity)s' is not one of %(targets)s"), entity=entity,
                                              targets=", ".join(field.targets)))
        return entity, coerce_id(value)

    def read_input(self, data, field):
        key = self.entity_key(field)
        if field.name not in data and key not in data:
            return {}
        if field.name not in data:
            raise FieldValueError(f"give the record too: {field.name} with {key}")
        entity, record_id = self.target(data.get(field.name), field)
        if entity is None and data.get(key) not in (None, ""):
            entity, _ = self.target({"entity": data.get(key), "id": None}, field)
        if record_id is None:
            return {field.name: None, key: None}  # a kind of record chosen, but no record: empty
        if entity is None:
            raise FieldValueError(message(N_("say which kind of record %(id)s is: one of %(targets)s"),
                                          id=record_id, targets=", ".join(field.targets)))
        return {field.name: record_id, key: entity}

    def coerce(self, value, field):
        return self.target(value, field)[1]

    def search_texts(self, record, field):
        return []


class UserType(LinkType):
    name = "user"
    options = frozenset({"on_delete"})
    required_options = ()
    description = "A user of this CRM (for example an account manager)."

    def columns(self, field):
        ondelete = ON_DELETE[field.on_delete or "set_null"]
        return [sa.Column(field.name, ID_TYPE, sa.ForeignKey("tailor_user.id", ondelete=ondelete),
                          nullable=True, index=True,
                          info={"field": field.name, "renamed_from": field.renamed_from})]

    def coerce(self, value, field):
        return coerce_id(value, bits=32)  # tailor_user.id is an INTEGER


class LinksType(FieldType):
    name = "links"
    value_type = "list"
    options = frozenset({"to", "payload"})
    required_options = ("to",)
    storage = "table"
    sortable = False
    can_be_unique = False
    description = "References to many records of another entity, with optional payload fields."

    def table_name(self, entity: str, field) -> str:
        return f"{entity}__{field.name}"

    def coerce(self, value, field):
        """A list of ids or of {id, payload…} dicts; returns a list of dicts."""
        if value is None or value == "":
            return []
        if not isinstance(value, (list, tuple)):
            value = [value]
        result, seen = [], set()
        for item in value:
            target = coerce_id(item)
            if target is None or target in seen:
                continue
            seen.add(target)
            row = {"id": target}
            if isinstance(item, dict):
                unknown = sorted(k for k in item if k != "id" and k not in field.subfields)
                if unknown:
                    raise FieldValueError(f"unknown link field(s): {', '.join(unknown)}")
                for name, sub in field.subfields.items():
                    row[name] = sub.type.coerce(item.get(name), sub)
            result.append(row)
        return result

    def is_empty(self, value):
        return not value


class LinesType(FieldType):
    name = "lines"
    value_type = "lines"
    options = frozenset({"fields"})
    required_options = ("fields",)
    storage = "table"
    sortable = False
    can_be_unique = False
    description = "Child rows edited inline with the record (for example order lines)."

    def table_name(self, entity: str, field) -> str:
        return f"{entity}__{field.name}"

    def coerce(self, value, field):
        if value is None or value == "":
            return []
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, dict) for v in value):
            raise FieldValueError(message(N_("expected a list of rows")))
        return [dict(v) for v in value]

    def is_empty(self, value):
        return not value
