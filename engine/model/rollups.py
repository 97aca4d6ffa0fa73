"""How a rollup's value is worked out: one aggregate query over the related records.

The same query serves the records service (after every write of a related record it
refreshes the records the write touched, under a row lock so that two writes never both
count without the other), migrations (the whole table, a batch of parents at a time) and
users whose roles let them read only some of the related records (the query then carries
their row restriction, so a rollup never reveals a record they cannot read).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .derived import Derived
from .model import Entity, Field

NO_USER = {"user": {"id": None, "username": "system", "roles": [], "department": None, "departments": [],
                    "teams": [], "team_members": [], "language": "en", "is_admin": True}}


@dataclass(frozen=True)
class Rollup:
    """A compiled rollup: `Field.rollup`."""

    child: str  # the related entity
    link: str  # its link (or polymorphic link) to the record holding the rollup
    polymorphic: bool
    aggregate: str  # count, sum, avg, min, max
    field: str | None  # the related records' field aggregated (None: count)
    where: Any = None  # engine.expr.Expression over the related records, or None

    @property
    def reads(self) -> frozenset[str]:
        """The related records' fields the value depends on."""
        found = {self.link, *([self.field] if self.field else [])}
        if self.polymorphic:
            found.add(f"{self.link}_entity")
        if self.where is not None:
            found |= self.where.fields
        return frozenset(found)

    def empty(self) -> Any:
        """The value with no related record: 0 for count and sum, else nothing."""
        return 0 if self.aggregate in ("count", "sum") else None

    def aggregate_sql(self, child: Entity) -> Any:
        table = child.table
        if self.aggregate == "count":
            return sa.func.count(table.c.id)
        column = table.c[self.field]
        if self.aggregate == "sum":
            return sa.func.coalesce(sa.func.sum(column), 0)
        return getattr(sa.func, self.aggregate)(column)

    def case_sql(self, child: Entity) -> Any:
        """The aggregate with its `where` moved inside (CASE WHEN), so that several rollups
        over the same records are worked out by one query."""
        if self.where is None:
            return self.aggregate_sql(child)
        table = child.table
        condition = self.where.to_sql(dict(table.c), NO_USER, now=datetime.now(UTC))
        if self.aggregate == "count":
            return sa.func.count(sa.case((condition, table.c.id)))
        value = sa.case((condition, table.c[self.field]))
        if self.aggregate == "sum":
            return sa.func.coalesce(sa.func.sum(value), 0)
        return getattr(sa.func, self.aggregate)(value)

    def conditions(self, child: Entity, parent: str, restrict: Any = None) -> list[Any]:
        table = child.table
        found = []
        if self.polymorphic:
            found.append(table.c[f"{self.link}_entity"] == parent)
        if self.where is not None:
            found.append(self.where.to_sql(dict(table.c), NO_USER, now=datetime.now(UTC)))
        if restrict is not None:
            found.append(restrict)
        return found

    def values(self, conn: Connection, child: Entity, parent: str, ids: Iterable[int],
               restrict: Any = None) -> dict[int, Any]:
        """{parent id: value} for these records (every id present; the empty value where no
        related record counts)."""
        ids = sorted(set(ids))
        found = dict.fromkeys(ids, self.empty())
        link = child.table.c[self.link]
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            statement = (sa.select(link, self.aggregate_sql(child)).where(link.in_(chunk),
                                                                          *self.conditions(child, parent, restrict))
                         .group_by(link))
            for parent_id, value in conn.execute(statement):
                found[parent_id] = value
        return found


def values_together(conn: Connection, child: Entity, parent: str, rollups: dict[str, Rollup],
                    record_id: int) -> dict[str, Any]:
    """{name: value} of several rollups over the same related records (one link) of one
    record, in one query."""
    first = next(iter(rollups.values()))
    table = child.table
    where = [table.c[first.link] == record_id]
    if first.polymorphic:
        where.append(table.c[f"{first.link}_entity"] == parent)
    names = list(rollups)
    row = conn.execute(sa.select(*[rollups[n].case_sql(child) for n in names]).where(*where)).first()
    values = {}
    for i, name in enumerate(names):
        value = row[i] if row is not None else None
        values[name] = rollups[name].empty() if value is None else value
    return values


@dataclass(eq=False)
class RollupValues(Derived):
    """A rollup column for migrations: its values worked out again when the definition (or
    a formula of the related records it reads) changes."""

    model_entities: dict
    entity: Entity
    field: Field
    fingerprint: str = ""
    what: str = ""
    order: int = -1  # before the computed fields of its record, which may read it

    def fingerprint_from(self, entity: Entity, values) -> None:
        self.fingerprint = values[(entity.name, self.field.name)]

    def values(self, conn: Connection, rows: list[dict[str, Any]]) -> list[Any]:
        rollup = self.field.rollup
        child = self.model_entities[rollup.child]
        found = rollup.values(conn, child, self.entity.name, [r["id"] for r in rows])
        return [self.field.type.coerce(found[r["id"]], self.field) for r in rows]


def attach_rollups(entities: dict[str, Entity]) -> None:
    """Mark the rollup columns of every entity for the planner."""
    for entity in entities.values():
        for field in entity.fields.values():
            if field.rollup is None or field.name not in entity.table.c:
                continue
            rollup = field.rollup
            entity.table.c[field.name].info["derived"] = RollupValues(
                model_entities=entities, entity=entity, field=field,
                what=f"{rollup.aggregate} of {rollup.child}" + (f".{rollup.field}" if rollup.field else "")
                + (f" where {rollup.where.source}" if rollup.where is not None else ""))
