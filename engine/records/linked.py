"""What a record takes from the records it links to: a link's `filter` and `copy_from`.

Both live here, in the records service, so that pages, imports and the API obey them alike
(the browser only shows their effect: suggestions, a price filled in).

* `filter` (an expression on the target's fields; `record.NAME` the record or row being
  saved, and for a row's link `parent.NAME` the record holding the row) limits the records a
  link may name. It is checked when it is at stake: on create, when the link changes, or
  when a value of the record (or parent) it reads changes. A target that later
  stops matching (a product no longer sold) does not block edits of other fields.
* `copy_from: LINK.FIELD` fills a field from the linked record when the link is chosen: on
  create, and when the link changes on update, unless the caller gives the field a value
  (then theirs stands: the field stays editable). A read-only field always takes the copy.
  The linked record is read as the user may read it: a target outside their rows, or a
  field hidden or masked for them, copies nothing (a copy never shows what a read would not).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..fields.base import FieldValueError
from ..messages import N_, Localized, message
from ..model.model import Entity, Field
from .context import Context

if TYPE_CHECKING:  # pragma: no cover
    from .service import RecordService

NOT_A_CHOICE = N_("%(entity)s %(id)s cannot be chosen for %(field)s: it does not meet the field's condition")


def filter_values(field: Field, values: Mapping[str, Any], context: Context,
                  parent: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The variables a link's filter is evaluated with: the user, `record` holding the
    values of the record (row) it reads, and for a row's link `parent`, those of the record
    holding the row (missing ones are null)."""
    wanted = field.link_filter.attributes("record")
    variables = {**context.variables, "record": {name: values.get(name) for name in wanted}}
    above = field.link_filter.attributes("parent")
    if above:
        variables["parent"] = {name: (parent or {}).get(name) for name in above}
    return variables


def filter_clause(field: Field, target: Entity, values: Mapping[str, Any], context: Context,
                  parent: Mapping[str, Any] | None = None) -> Any:
    """The SQL condition of the target records the filter allows, for these record values."""
    return field.link_filter.to_sql(dict(target.table.c), filter_values(field, values, context, parent),
                                    now=context.now)


def at_stake(field: Field, new: Mapping[str, Any], old: Mapping[str, Any] | None,
             parent: Mapping[str, Any] | None = None, parent_old: Mapping[str, Any] | None = None) -> bool:
    """Whether saving `new` over `old` chooses the link anew (or changes what its filter
    reads: of the record, or of the parent record of a row)."""
    if old is None or new.get(field.name) != old.get(field.name):
        return True
    if any(new.get(name) != old.get(name) for name in field.link_filter.attributes("record")):
        return True
    return parent_old is not None and any((parent or {}).get(name) != parent_old.get(name)
                                          for name in field.link_filter.attributes("parent"))


def label(item: Any, languages: tuple[str, ...]) -> Localized:
    """A field's or an entity's label inside a message, in each project language."""
    return Localized({lang: item.label_text(lang) for lang in languages}, item.label_text("en"))


def given_keys(entity: Entity, values: Mapping[str, Any]) -> dict[str, Any]:
    """What the caller gave a value to, before defaults and stored values are merged in:
    {"": top-level keys, LINES: [keys of each row]}."""
    given: dict[str, Any] = {"": {k for k, v in values.items() if v is not None}}
    for name, field in entity.fields.items():
        if field.type.name == "lines" and isinstance(values.get(name), list):
            given[name] = [{k for k, v in row.items() if v is not None} for row in values[name]]
    return given


def field_at(entity: Entity, path: str) -> tuple[Field | None, dict[str, Field]]:
    """The field named by `NAME` or `LINES.NAME`, and the fields beside it."""
    head, _, rest = path.partition(".")
    field = entity.fields.get(head)
    if field is not None and rest and field.type.name == "lines":
        return field.subfields.get(rest), dict(field.subfields)
    return (None, {}) if rest else (field, dict(entity.fields))


class LinkRules:
    """The service's link rules, with what they need of each entity worked out once."""

    def __init__(self, service: RecordService):
        self.service = service
        self.model = service.model
        self._plans: dict[str, tuple] = {}

    # -- which fields --------------------------------------------------------------------
    def plan(self, entity: Entity) -> tuple[list[Field], dict[str, list[Field]], list[Field], dict[str, list[Field]]]:
        """(filtered links, filtered links of each lines field, copying fields, copying
        fields of each lines field)."""
        found = self._plans.get(entity.name)
        if found is None:
            def filtered(fields):
                return [f for f in fields.values() if f.type.name == "link" and f.link_filter is not None]

            def copying(fields):
                return [f for f in fields.values() if f.copy_from is not None and f.copy_from[0] in fields]

            rows = {n: f for n, f in entity.fields.items() if f.type.name == "lines"}
            found = self._plans[entity.name] = (
                filtered(entity.fields), {n: filtered(f.subfields) for n, f in rows.items() if filtered(f.subfields)},
                copying(entity.fields), {n: copying(f.subfields) for n, f in rows.items() if copying(f.subfields)})
        return found

    @staticmethod
    def field_at(entity: Entity, path: str) -> tuple[Field | None, dict[str, Field]]:
        return field_at(entity, path)

    # -- filter -----------------------------------------------------------------------------
    def check(self, conn: Connection, entity: Entity, record: Mapping[str, Any], old: Mapping[str, Any] | None,
              errors: dict[str, list[str]], context: Context) -> None:
        """A link naming a record its filter does not allow is an error of that field
        (`lines.2.product` for a row's)."""
        links, row_links, _copies, _row_copies = self.plan(entity)
        for field in links:
            value = record.get(field.name)
            if value is not None and field.name not in errors and at_stake(field, record, old):
                self._check_one(conn, field, value, record, field.name, errors, context)
        for name, fields in row_links.items():
            before = {row.get("id"): row for row in (old or {}).get(name) or []}
            for i, row in enumerate(record.get(name) or []):
                prior = before.get(row.get("id")) if row.get("id") is not None else None
                for field in fields:
                    key = f"{name}.{i + 1}.{field.name}"
                    value = row.get(field.name)
                    if value is not None and key not in errors and at_stake(field, row, prior, record, old):
                        self._check_one(conn, field, value, row, key, errors, context, record)

    def _check_one(self, conn: Connection, field: Field, value: Any, values: Mapping[str, Any], key: str,
                   errors: dict[str, list[str]], context: Context, parent: Mapping[str, Any] | None = None) -> None:
        target = self.model.entity(field.to)
        if not isinstance(value, int) or isinstance(value, bool):
            return  # not an id: the target check says so
        statement = sa.select(target.table.c.id).where(target.table.c.id == value,
                                                       filter_clause(field, target, values, context, parent))
        if conn.execute(statement).first() is None:
            languages = tuple(self.model.languages)
            errors.setdefault(key, []).append(message(NOT_A_CHOICE, entity=label(target, languages), id=value,
                                                      field=label(field, languages)))

    # -- copy_from --------------------------------------------------------------------------
    def copy(self, conn: Connection, entity: Entity, record: dict[str, Any], old: Mapping[str, Any] | None,
             given: Mapping[str, Any], context: Context, trusted: bool = False) -> None:
        """Fill the fields that copy from a link chosen in this save (see the module)."""
        _links, _row_links, copies, row_copies = self.plan(entity)
        if copies:
            self._copy_into(conn, entity.fields, [(record, old, given.get("", set()))], copies, context, trusted)
        for name, fields in row_copies.items():
            rows = record.get(name)
            if not isinstance(rows, list):
                continue
            before = {row.get("id"): row for row in (old or {}).get(name) or []}
            kept = given.get(name) or []
            items = [(row, before.get(row.get("id")) if row.get("id") is not None else None,
                      kept[i] if i < len(kept) else set()) for i, row in enumerate(rows)]
            self._copy_into(conn, entity.fields[name].subfields, items, fields, context, trusted)

    def _copy_into(self, conn: Connection, fields: Mapping[str, Field], items: list[tuple], copies: list[Field],
                   context: Context, trusted: bool) -> None:
        wanted: dict[str, list[tuple[dict, Field, int]]] = {}  # link name -> (record, copying field, target id)
        for values, prior, given in items:
            for field in copies:
                link_name = field.copy_from[0]
                target_id = values.get(link_name)
                if not isinstance(target_id, int) or isinstance(target_id, bool):
                    continue
                chosen = prior is None or prior.get(link_name) != target_id
                forced = field.readonly and not (trusted and field.name in given)
                if (chosen and (forced or field.name not in given)) or (forced and values.get(field.name) is None):
                    wanted.setdefault(link_name, []).append((values, field, target_id))
        for link_name, todo in wanted.items():
            link = fields[link_name]
            names = {field.copy_from[1] for _v, field, _id in todo}
            found = self.read(conn, self.model.entity(link.to), {i for _v, _f, i in todo}, names, context)
            for values, field, target_id in todo:
                source = found.get(target_id)
                if source is not None and field.copy_from[1] in source:
                    values.update(copied(field, self.model.entity(link.to).fields[field.copy_from[1]], source))

    def read(self, conn: Connection, target: Entity, ids: set[int], names: set[str],
             context: Context) -> dict[int, dict[str, Any]]:
        """The fields `names` of the target records, as this user may read them: records
        outside their rows are missing, fields hidden or masked for them left out."""
        service = self.service
        access = service.access(target, context)
        if not access.can("read"):
            return {}
        names = set(names) - set(access.hidden_fields()) - set(service._masks(target, access, context))
        if not names or not ids:
            return {}
        table = target.table
        columns = [table.c.id, *(table.c[c] for n in sorted(names) for c in target.fields[n].type.column_names(
            target.fields[n]))]
        statement = sa.select(*columns).where(table.c.id.in_(sorted(ids)))
        scope = service._restriction(access, "read", context)
        if scope is not None:
            statement = statement.where(scope)
        rows = {}
        for row in conn.execute(statement):
            record = service._from_row(target, dict(row._mapping))
            rows[record["id"]] = record
        return rows

    def values_for(self, entity: Entity, path: str, target_id: Any, context: Context) -> dict[str, Any]:
        """What choosing record `target_id` for the link at `path` copies into the fields
        beside it (for a form to show at once): {field name (and part keys): value}."""
        link, fields = self.field_at(entity, path)
        if link is None or link.type.name != "link" or not isinstance(target_id, int):
            return {}
        copies = [f for f in fields.values() if f.copy_from is not None and f.copy_from[0] == link.name]
        if not copies:
            return {}
        target = self.model.entity(link.to)
        with self.service._read() as conn:
            found = self.read(conn, target, {target_id}, {f.copy_from[1] for f in copies}, context).get(target_id)
        result: dict[str, Any] = {}
        for field in copies:
            if found is not None and field.copy_from[1] in found:
                result.update(copied(field, target.fields[field.copy_from[1]], found))
        return result


def copied(field: Field, source: Field, record: Mapping[str, Any]) -> dict[str, Any]:
    """The keys `field` takes from the linked record (an amount of money its currency too,
    when both are money and this one has its own currency). Nothing when it does not fit."""
    value = record.get(source.name)
    data = {field.name: value}
    if field.type.name == "money" and source.type.name == "money" and not field.currency_field:
        currency = source.type.currency_of(record, source) if hasattr(source.type, "currency_of") else None
        if currency:
            data[f"{field.name}_currency"] = currency
    try:
        return field.type.read_input(data, field)
    except (FieldValueError, TypeError, ValueError):
        return {}
