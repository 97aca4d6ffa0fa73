"""Values the engine works out itself, and how a migration works them out again.

A stored computed field is recomputed by the records service on every save. When a
migration adds one to a table that has rows, or its formula changes, the stored values are
stale until each row is saved again: so every derived column carries a `Derived` object in
its SQLAlchemy `column.info["derived"]`, and the planner (engine/migrate/data.py) compares
its `fingerprint` with the one recorded when the values were last worked out, and plans to
recompute them, in batches, in the migration's transaction.

`compute()` is the one place computed values are worked out: the records service, the
forms' live preview and migrations all call it, so a recomputed value is exactly what saving
the record would store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..fields.base import FieldType, FieldValueError
from .model import Entity, Field, computed_order


def compute(fields: Mapping[str, Field], order: Sequence[str], record: dict[str, Any], variables: Mapping,
            now: datetime | None, errors: dict[str, list[str]] | None = None, prefix: str = "") -> None:
    """Computed values in dependency order. A value that does not fit its field is an error
    when writing (`errors` given) and empty when reading."""
    for name in order:
        field = fields[name]
        value = field.expression.evaluate(record, variables, now=now)
        if field.returns == "integer" and isinstance(value, Decimal) and abs(value) < 2**63:
            value = value.quantize(Decimal(1), rounding=ROUND_HALF_UP)
        try:
            value = field.type.coerce(value, field)
            problems = field.type.result_type(field).validate(value, field) if value is not None else []
        except FieldValueError as exc:
            value, problems = None, [str(exc)]
        if problems and errors is not None:
            errors.setdefault(prefix + name, []).extend(f"computed value: {p}" for p in problems)
        record[name] = None if problems else value


def digest(*parts: Any) -> str:
    """A short, stable fingerprint of what decides a column's values."""
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:32]


def record_of(fields: Mapping[str, Field], row: Mapping[str, Any]) -> dict[str, Any]:
    """A table row as the records service reads it (each field's columns, by its type)."""
    record: dict[str, Any] = {key: row[key] for key in ("id", "created_at", "updated_at", "created_by", "owner")
                              if key in row}
    for key in ("created_at", "updated_at"):
        if isinstance(record.get(key), datetime) and record[key].tzinfo is None:
            record[key] = record[key].replace(tzinfo=UTC)
    for field in fields.values():
        if field.type.storage != "column" or (field.is_computed and not field.stored) or field.name not in row:
            continue
        record[field.name] = field.type.from_row(row, field)
        for key in field.type.input_keys(field)[1:]:
            record[key] = row.get(key)
    return record


class Derived:
    """What a migration needs to know about a column whose values the engine works out."""

    fingerprint: str = ""
    what: str = ""  # for the plan: "computed from qty * price"
    order: int = 0  # within a table: lower first (a computed field before those that read it)
    detail: str | None = None  # recorded with the fingerprint, for `still_valid`

    def fingerprint_from(self, entity: Entity, values: Mapping[tuple[str, str], str]) -> None:
        """Set `fingerprint` from the fields' value fingerprints (`value_fingerprints`)."""

    def still_valid(self, detail: str | None, new_fields: set[str]) -> bool:
        """Whether values worked out as `detail` (recorded before) are still right although
        the fingerprint changed, given the fields whose columns this migration adds (all
        empty). A search key over more fields, each of them new, is: nothing to redo."""
        return False

    def only_from(self, new_fields: set[str]) -> bool:
        """Whether every value is empty when the fields this reads are all among
        `new_fields` (columns a migration adds, empty in every record): a new column of
        such values needs nothing worked out. False unless a subclass knows."""
        return False

    def sql_value(self, table: sa.Table) -> Any:
        """The column's value as SQL over its own row, or None to work it out in Python."""
        return None

    def values(self, conn: Connection, rows: list[dict[str, Any]]) -> list[Any]:
        """The values for these rows (full table rows, already holding values recomputed
        before this one)."""
        raise NotImplementedError


@dataclass(eq=False)
class StoredComputed(Derived):
    """A stored computed field: worked out by `compute()` from the whole record, its child
    rows included (`sum(lines.amount)`), exactly as a save would."""

    entity: Entity
    field: Field
    fingerprint: str = ""
    what: str = ""
    order: int = 0

    def fingerprint_from(self, entity: Entity, values: Mapping[tuple[str, str], str]) -> None:
        self.fingerprint = values[(entity.name, self.field.name)]

    def values(self, conn: Connection, rows: list[dict[str, Any]]) -> list[Any]:
        entity = self.entity
        records = [record_of(entity.fields, row) for row in rows]
        self._children(conn, records)
        variables = {"user": {"id": None, "username": "system", "roles": [], "department": None,
                              "departments": [], "teams": [], "team_members": [], "language": "en",
                              "is_admin": True}}
        now = datetime.now(UTC)
        result = []
        for record in records:
            compute(entity.fields, entity.computed_order, record, variables, now)
            result.append(record.get(self.field.name))
        return result

    def _children(self, conn: Connection, records: list[dict[str, Any]]) -> None:
        """The child rows the entity's formulas read (`lines.amount`), with their own
        computed-when-read values."""
        read = {name for f in self.entity.fields.values() if f.is_computed for name in f.expression.fields}
        ids = [r["id"] for r in records]
        for name, table in self.entity.child_tables.items():
            field = self.entity.fields[name]
            if name not in read or field.type.name != "lines" or not ids:
                continue
            order = [n for n in computed_order(field.subfields) if not field.subfields[n].stored]
            found: dict[int, list[dict[str, Any]]] = {}
            statement = sa.select(table).where(table.c.parent_id.in_(ids)).order_by(table.c.position, table.c.id)
            for row in conn.execute(statement).mappings():
                line = record_of(field.subfields, row)
                compute(field.subfields, order, line, {}, None)
                found.setdefault(row["parent_id"], []).append(line)
            for record in records:
                record[name] = found.get(record["id"], [])


class FilledPart(Derived):
    """A part column a migration works out from the rest of each row when it adds it
    (`FieldType.fill_parts`): an `email` field made `emails` gets its address as the one
    item, so that what the item columns hold agrees with NAME in SQL as in Python."""

    order = -1000  # before computed fields and the search key, which may read the parts

    def __init__(self, field: Field, key: str, position: int):
        self.field = field
        self.key = key
        self.order = FilledPart.order + position
        self.fingerprint = digest("parts", field.type.name, key)
        self.what = f"worked out from {field.name}"

    def values(self, conn: Connection, rows: list[dict[str, Any]]) -> list[Any]:
        found = []
        for row in rows:
            filled = self.field.type.fill_parts(row, self.field) or {}
            found.append(filled.get(self.key, row.get(self.key)))
        return found


def attach_derived(entity: Entity) -> None:
    """Mark the entity's derived and choice columns for the planner (called by the compiler
    once the entity exists)."""
    for field in entity.fields.values():
        if type(field.type).fill_parts is FieldType.fill_parts or field.type.storage != "column":
            continue
        for position, key in enumerate(field.type.input_keys(field)[1:]):
            if key in entity.table.c:
                entity.table.c[key].info["derived"] = FilledPart(field, key, position)
    places = [(entity.table, entity.fields)] + [
        (entity.child_tables[name], field.subfields) for name, field in entity.fields.items()
        if field.type.name == "lines" and name in entity.child_tables]  # options of child rows too
    for table, fields in places:
        for field in fields.values():
            if field.type.name in ("choice", "multichoice") and field.name in table.c:
                replaced = field.spec.get("replaced_options") or {}
                table.c[field.name].info["choices"] = ChoiceValues(
                    frozenset(field.option_values), field.type.name == "multichoice",
                    tuple(sorted((str(k), None if v is None else str(v)) for k, v in replaced.items())))
    order = {name: i for i, name in enumerate(entity.computed_order)}
    for name in entity.computed_order:
        field = entity.fields[name]
        if not field.stored or name not in entity.table.c:
            continue
        entity.table.c[name].info["derived"] = StoredComputed(
            entity=entity, field=field, what=f"computed from {field.expression.source}", order=order[name])


def value_fingerprints(entities: Mapping[str, Entity]) -> dict[tuple[str, str], str]:
    """For every field: what decides the values it holds, so that a change anywhere it
    depends on changes its fingerprint. A computed field: its formula and result type, and
    the fingerprints of what it reads (child-row formulas included); a rollup: its
    definition and the fingerprints of the related records' fields it reads; any field: its
    type and the `replaced_options` a migration rewrote its values with."""
    memo: dict[tuple[str, str], str] = {}

    def of(entity: Entity, name: str, stack: frozenset) -> str:
        key = (entity.name, name)
        field = entity.fields.get(name)
        if field is None:
            return name  # a standard column
        if key in memo:
            return memo[key]
        if key in stack:
            return "cycle"
        stack = stack | {key}
        if field.is_computed:
            parts: list[Any] = ["computed", field.expression.source, field.returns, field.precision, field.scale]
            for dep in sorted(field.expression.fields):
                other = entity.fields.get(dep)
                if other is not None and other.type.name == "lines":
                    parts.append((dep, [(sub.name, sub.expression.source if sub.is_computed else sub.type.name,
                                         _replaced(sub)) for sub in other.subfields.values()]))
                else:
                    parts.append((dep, of(entity, dep, stack)))
        elif field.rollup is not None and field.rollup.child in entities:
            rollup, child = field.rollup, entities[field.rollup.child]
            parts = ["rollup", rollup.child, rollup.link, rollup.aggregate, rollup.field, field.returns,
                     field.precision, field.scale, rollup.where.source if rollup.where is not None else None]
            parts += [(n, of(child, n, stack)) for n in sorted(rollup.reads)]
        else:
            parts = ["value", field.type.name, _replaced(field)]
        memo[key] = digest(*parts)
        return memo[key]

    for entity in entities.values():
        for name in entity.fields:
            of(entity, name, frozenset())
    return memo


def _replaced(field: Field) -> list:
    replaced = field.spec.get("replaced_options") if isinstance(field.spec, Mapping) else None
    return sorted((str(k), str(v)) for k, v in (replaced or {}).items())


def fingerprint_all(entities: Mapping[str, Entity]) -> None:
    """Give every derived column its fingerprint, once all entities are compiled (a rollup
    depends on another entity's fields)."""
    found = value_fingerprints(entities)
    for entity in entities.values():
        for column in entity.table.columns:
            derived = column.info.get("derived")
            if derived is not None:
                derived.fingerprint_from(entity, found)


@dataclass(frozen=True)
class ChoiceValues:
    """What a choice column may hold (`column.info["choices"]`): when this changes, the
    planner checks the stored values against it (engine/migrate/data.py)."""

    values: frozenset[str]  # every option, hidden ones included
    multiple: bool  # a JSON list of values (multichoice)
    replaced: tuple[tuple[str, str | None], ...] = ()  # replaced_options: old -> new (None: empty)

    @property
    def fingerprint(self) -> str:
        return digest("choices", sorted(self.values), self.multiple, sorted(self.replaced, key=repr))
