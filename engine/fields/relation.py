"""Relations: link (many-to-one), links (many-to-many), lines (child rows), user.

* `link` is a foreign-key column to the target entity's `id`.
* `links` lives in an association table `ENTITY__FIELD(id, source_id, target_id, payload…)`.
* `lines` lives in a child table `ENTITY__FIELD(id, parent_id, position, sub-fields…)`,
  deleted with the parent. Sub-fields are ordinary fields (any column type).
"""

from __future__ import annotations

import sqlalchemy as sa

from .base import FieldType, FieldValueError

ON_DELETE = {"restrict": "RESTRICT", "set_null": "SET NULL", "cascade": "CASCADE"}
ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def coerce_id(value) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, dict) and "id" in value:
        value = value["id"]
    if isinstance(value, bool):
        raise FieldValueError("expected a record id")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise FieldValueError(f"'{value}' is not a record id") from None
    if number <= 0:
        raise FieldValueError(f"'{value}' is not a record id")
    return number


class LinkType(FieldType):
    name = "link"
    value_type = "number"
    options = frozenset({"to", "on_delete"})
    required_options = ("to",)
    description = "A reference to one record of another entity (foreign key)."

    def columns(self, field):
        ondelete = ON_DELETE[field.on_delete or "set_null"]
        return [sa.Column(field.name, ID_TYPE, sa.ForeignKey(f"{field.to}.id", ondelete=ondelete),
                          nullable=True, index=True,
                          info={"field": field.name, "renamed_from": field.renamed_from})]

    def coerce(self, value, field):
        return coerce_id(value)


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
            raise FieldValueError("expected a list of rows")
        return [dict(v) for v in value]

    def is_empty(self, value):
        return not value
