"""The compiled model: immutable, versioned, the only thing later stages read.

Everything the web pages, records service and migrations need is resolved here once at
start-up: labels per language, options, compiled expressions, SQLAlchemy Core tables.
`CompiledModel.version` is a hash of the merged spec and the engine version; the database
stores the versions it has been migrated to, so each web worker can notice a newer one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa

from ..fields.base import FieldType

EMPTY: Mapping = MappingProxyType({})


def _empty() -> Mapping:
    return EMPTY



def text(label: Mapping[str, str] | None, language: str = "en", fallback: str = "") -> str:
    """The label in `language`, else English, else any language, else `fallback`."""
    if not label:
        return fallback
    return label.get(language) or label.get("en") or next(iter(label.values()), fallback)


@dataclass(frozen=True)
class Origin:
    """Which layer defined an element, where, and which layers changed which keys."""

    defined_in: str
    position: str
    changes: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Option:
    value: str
    label: Mapping[str, str]
    color: str | None = None
    hidden: bool = False
    origin: Origin | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Field:
    entity: str
    name: str
    type: FieldType
    label: Mapping[str, str]
    help: Mapping[str, str] = field(default_factory=_empty)
    placeholder: Mapping[str, str] = field(default_factory=_empty)
    required: bool = False
    unique: bool = False
    default: Any = None
    default_expr: Any = None  # engine.expr.Expression
    min: Any = None
    max: Any = None
    max_length: int | None = None
    min_length: int | None = None
    pattern: re.Pattern | None = None
    index: bool = False
    readonly: bool = False
    hidden: bool = False
    visible_when: Any = None
    required_when: Any = None
    readonly_when: Any = None
    renamed_from: str | None = None
    options: tuple[Option, ...] = ()
    to: str | None = None
    targets: tuple[str, ...] = ()  # a polymorphic link's entities (`to: [customer, contact]`)
    on_delete: str | None = None
    subfields: Mapping[str, Field] = field(default_factory=_empty)
    expression: Any = None
    rollup: Any = None  # engine.model.rollups.Rollup of a rollup field
    returns: str | None = None
    stored: bool = True
    format: str | None = None
    precision: int | None = None
    scale: int | None = None
    currency: str | None = None
    # a money field's currencies: offered by forms and accepted by the service (its own
    # `currencies`, else the project's, else just its `currency`); empty with currency_field
    currencies: tuple[str, ...] = ()
    currency_field: str | None = None  # money: the field of the record (row) holding the currency
    validators: tuple[str, ...] = ()
    # a link's `filter`: engine.expr.Expression on the target's fields (`record.…` the
    # record or row being edited); the records it allows are those its lookup offers
    link_filter: Any = None
    copy_from: tuple[str, str] | None = None  # (link field beside this one, field of its target)
    spec: Mapping[str, Any] = field(default_factory=_empty)
    origin: Origin | None = None

    # worked out once per field (its options never change): every save of a choice asks
    @cached_property
    def option_values(self) -> tuple[str, ...]:
        return tuple(o.value for o in self.options)

    @cached_property
    def active_option_values(self) -> tuple[str, ...]:
        return tuple(o.value for o in self.options if not o.hidden)

    @property
    def is_computed(self) -> bool:
        return self.expression is not None

    @property
    def is_autonumber(self) -> bool:
        return self.type.name == "autonumber"

    @property
    def stores_column(self) -> bool:
        return bool(self.type.columns(self))

    @property
    def encrypted(self) -> bool:
        """Stored as AES-GCM ciphertext, found by exact value only (engine/fields/encryption.py)."""
        return bool(self.spec.get("encrypted")) and hasattr(self.type, "exact_key")

    @property
    def mask(self) -> str | None:
        """How the value shows to roles not granted `reveal` (engine/records/masking.py)."""
        mask = self.spec.get("mask")
        return mask if isinstance(mask, str) else None

    def label_text(self, language: str = "en") -> str:
        return text(self.label, language, self.name.replace("_", " ").capitalize())

    def option(self, value: str) -> Option | None:
        return next((o for o in self.options if o.value == value), None)


@dataclass(frozen=True)
class Rule:
    name: str
    check: Any  # Expression
    message: Mapping[str, str]
    when: Any = None
    field: str | None = None
    origin: Origin | None = None


@dataclass(frozen=True)
class Section:
    label: Mapping[str, str]
    fields: tuple[str, ...]
    columns: int = 2
    collapsed: bool = False


@dataclass(frozen=True)
class Tab:
    label: Mapping[str, str]
    sections: tuple[Section, ...]


@dataclass(frozen=True)
class ListConfig:
    columns: tuple[str, ...]
    filters: tuple[str, ...] = ()
    sort: tuple[str, ...] = ("-id",)
    search: tuple[str, ...] = ()
    page_size: int = 50


@dataclass(frozen=True)
class Agenda:
    """`agenda:` — records that are things to do by a date (activities, follow-ups, tickets):
    the owner's home lists those `open` and due today or overdue. `open` is expression text
    run in SQL by the records service (checked at start-up); None: every dated record."""
    due: str
    open: str | None = None


@dataclass(frozen=True)
class Title:
    """What names a record: `parts` (fields joined by a space: one field, or
    first_name and last_name) or `expression` (a compiled string expression), then
    `fallbacks`, groups of fields tried in order when that is empty."""

    parts: tuple[str, ...] = ()
    expression: Any = None  # engine.expr.Expression of type string
    fallbacks: tuple[tuple[str, ...], ...] = ()
    declared: bool = False  # written in YAML (`title:`), not chosen by the compiler

    @property
    def field(self) -> str | None:
        """The one field the title is, when it is one field."""
        return self.parts[0] if len(self.parts) == 1 and self.expression is None else None

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields the title itself reads (fallbacks aside)."""
        if self.expression is not None:
            return tuple(sorted(self.expression.fields))
        return self.parts


@dataclass(frozen=True)
class Entity:
    name: str
    label: Mapping[str, str]
    plural: Mapping[str, str]
    title_field: str | None
    fields: Mapping[str, Field]
    list: ListConfig
    tabs: tuple[Tab, ...]
    rules: tuple[Rule, ...]
    table: sa.Table
    child_tables: Mapping[str, sa.Table] = field(default_factory=_empty)
    hidden: bool = False
    stage: str | None = None
    menu: str | None = None
    icon: str | None = None
    renamed_from: str | None = None
    origin: Origin | None = None
    env: Any = field(default=None, compare=False, repr=False)  # engine.expr.Env of its fields
    title: Title = field(default_factory=Title)  # what names a record (engine/model/titles.py)
    menu_order: int | None = None
    in_menu: bool = True  # false: left out of the navigation, pages and links kept
    agenda: Agenda | None = None  # things to do by a date: listed on their owner's home

    def label_text(self, language: str = "en") -> str:
        return text(self.label, language, self.name.replace("_", " ").capitalize())

    def plural_text(self, language: str = "en") -> str:
        return text(self.plural, language, self.label_text(language))

    @property
    def sections(self) -> tuple[Section, ...]:
        return tuple(s for tab in self.tabs for s in tab.sections)

    @property
    def computed_order(self) -> tuple[str, ...]:
        """Computed fields in dependency order (cycles were rejected by the checks)."""
        return self._computed_order

    def __post_init__(self) -> None:
        object.__setattr__(self, "_computed_order", computed_order(self.fields))


def computed_order(fields: Mapping[str, Field]) -> tuple[str, ...]:
    """Names of the computed fields, each after the computed fields it reads."""
    order: list[str] = []

    def visit(name: str, stack: frozenset) -> None:
        field_ = fields.get(name)
        if name in order or name in stack or field_ is None or not field_.is_computed:
            return
        for dep in field_.expression.fields:
            visit(dep, stack | {name})
        order.append(name)

    for name in fields:
        visit(name, frozenset())
    return tuple(order)


STANDARD_COLUMNS = ("id", "created_at", "updated_at", "created_by", "owner", "version")


@dataclass(frozen=True)
class CompiledModel:
    project: str
    version: str
    label: Mapping[str, str]
    languages: tuple[str, ...]
    default_language: str
    currency: str
    entities: Mapping[str, Entity]
    metadata: sa.MetaData
    menu: tuple[tuple[Mapping[str, str], tuple[str, ...]], ...]
    spec: Mapping[str, Any]
    plugins: Any = field(default=None, compare=False, repr=False)
    functions: Any = field(default=None, compare=False, repr=False)
    validators: Mapping[str, Any] = field(default_factory=_empty)
    roles: Mapping[str, Any] = field(default_factory=_empty)  # engine.permissions.Role by name
    actions: tuple[str, ...] = ()  # every action roles may name
    workflows: Mapping[str, Any] = field(default_factory=_empty)  # engine.workflows.Workflow by name
    reports: Mapping[str, Any] = field(default_factory=_empty)  # engine.reports.Report by name (reports/*.yaml)
    # engine.reports.dashboards.Dashboard by name (dashboards/*.yaml), in home-page order
    dashboards: Mapping[str, Any] = field(default_factory=_empty)
    resolvers: Mapping[str, Any] = field(default_factory=_empty)  # approver resolvers by name
    workflow_actions: Mapping[str, Any] = field(default_factory=_empty)  # workflow actions by name
    warnings: tuple[Any, ...] = ()  # engine.errors.Problem with W codes: the project loads, `tailor check` shows them
    # the designer layer's change sets: id -> author (engine/spec/designer.py); empty without one
    designer_changes: Mapping[str, str] = field(default_factory=_empty, compare=False)

    def workflow_of(self, entity: str) -> Any:
        """The entity's workflow (engine.workflows.Workflow), or None."""
        for workflow in self.workflows.values():
            if workflow.entity == entity:
                return workflow
        return None

    def entity(self, name: str) -> Entity:
        try:
            return self.entities[name]
        except KeyError:
            raise KeyError(f"unknown entity '{name}'") from None
