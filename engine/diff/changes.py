"""What a diff is made of: `Change` (one difference between two models) and `Diff`.

Kept as plain, frozen data whose values are JSON-able (labels as {language: text}, lists,
strings, numbers), so the same object feeds the text rendering, `--json` and the
designer's preview without conversions that could disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

# The categories in the order the text rendering shows them (and `to_json` counts them).
CATEGORIES = ("project", "entity", "field", "option", "index", "rule", "role", "field_permission",
              "workflow", "approval")


def plain(value: Any) -> Any:
    """A JSON-able copy: mappings become dicts, sets sorted lists, expressions their source."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    source = getattr(value, "source", None)
    if isinstance(source, str):  # engine.expr.Expression
        return source
    pattern = getattr(value, "pattern", None)
    if isinstance(pattern, str):  # a compiled regular expression
        return pattern
    return str(value)


@dataclass(frozen=True)
class Change:
    """One difference. `kind` is `<category>.<what>` (e.g. "field.added", "option.relabelled");
    `target` names the element ("customer", "customer.industry", "customer.industry=retail",
    "sales_rep:customer", "order.submit"); `key` the property, action or node concerned, if any;
    `old` and `new` the values before and after (None where there is none)."""

    kind: str
    target: str
    entity: str | None = None
    key: str | None = None
    old: Any = None
    new: Any = None

    @property
    def category(self) -> str:
        return self.kind.split(".", 1)[0]

    def to_json(self) -> dict[str, Any]:
        return {"category": self.category, "kind": self.kind, "target": self.target, "entity": self.entity,
                "key": self.key, "old": plain(self.old), "new": plain(self.new)}


@dataclass(frozen=True)
class Step:
    """One step of the migration plan between the two models (an engine.migrate Operation,
    kept as data). `values` is counted in a database when one is given: the rows of a dropped
    table, else the non-empty values of the column the step changes."""

    kind: str
    table: str
    column: str | None
    detail: str
    destructive: bool = False
    blocked: str | None = None
    applies: bool = True
    data_loss: str | None = None
    values: int | None = None

    @property
    def target(self) -> str:
        return f"{self.table}.{self.column}" if self.column else self.table

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "table": self.table, "column": self.column, "target": self.target,
                "detail": self.detail, "destructive": self.destructive, "blocked": self.blocked,
                "applies": self.applies, "data_loss": self.data_loss, "values": self.values}


@dataclass(frozen=True)
class Touched:
    """A table the migration touches, the columns it changes there (none: the whole table,
    created, dropped or kept), and (with a database) how many rows the table holds."""

    table: str
    columns: tuple[str, ...] = ()
    rows: int | None = None
    new: bool = False  # the migration creates it

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "columns": list(self.columns), "rows": self.rows, "new": self.new}


@dataclass(frozen=True)
class Migration:
    """The migration plan from the old model's schema to the new one.

    `source` says where it was planned: "scratch" (an empty SQLite database built at the old
    model: every step is listed, but nothing is counted), "database" (the given database,
    which is at the old model: the planner counted what each step touches and destroys) or
    "given" (a plan handed to `diff_models`)."""

    source: str
    dialect: str
    steps: tuple[Step, ...] = ()
    touched: tuple[Touched, ...] = ()
    notes: tuple[str, ...] = ()
    database: bool = False  # rows and values were counted in a database
    sql: str | None = None  # the DDL the steps run, in `dialect` (None for a given plan)

    @property
    def applying(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.applies)

    @property
    def safe(self) -> tuple[Step, ...]:
        return tuple(s for s in self.applying if not s.destructive and not s.blocked)

    @property
    def destructive(self) -> tuple[Step, ...]:
        return tuple(s for s in self.applying if s.destructive and not s.blocked)

    @property
    def blocked(self) -> tuple[Step, ...]:
        return tuple(s for s in self.applying if s.blocked)

    @property
    def kept(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if not s.applies)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "dialect": self.dialect, "database": self.database,
                "steps": [s.to_json() for s in self.steps], "touched": [t.to_json() for t in self.touched],
                "notes": list(self.notes), "destructive": len(self.destructive), "blocked": len(self.blocked),
                "sql": self.sql}


@dataclass(frozen=True)
class Side:
    """One of the two compared models."""

    project: str
    version: str
    path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"project": self.project, "version": self.version, "path": self.path}


@dataclass(frozen=True)
class Diff:
    old: Side
    new: Side
    changes: tuple[Change, ...]
    migration: Migration | None = None
    labels: Mapping[str, Any] = field(default_factory=dict, compare=False)  # "category:target" -> label

    @property
    def different(self) -> bool:
        """Whether anything differs: a change, or a migration step (kept removals included)."""
        return bool(self.changes) or bool(self.migration and self.migration.steps)

    def of(self, category: str) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.category == category)

    def find(self, kind: str, target: str, key: str | None = None) -> Change | None:
        """The change of `kind` on `target` (and `key`), or None."""
        return next((c for c in self.changes if c.kind == kind and c.target == target
                     and (key is None or c.key == key)), None)
