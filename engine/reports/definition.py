"""Compiled reports: immutable definitions built with the model from the checked YAML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .checks import DEPARTMENT, OWNER, group_field, measure_kind


def _empty() -> Mapping:
    return MappingProxyType({})


@dataclass(frozen=True)
class Group:
    """One group_by item: a field (or `owner`, `owner.department`), in buckets for a date."""

    field: str
    bucket: str | None = None
    label: Mapping[str, str] = field(default_factory=_empty)  # given in the YAML; else the field's

    @property
    def reads(self) -> str:
        """The field of the record it reads (`owner` for the owner's department)."""
        return OWNER if self.field == DEPARTMENT else self.field


@dataclass(frozen=True)
class Measure:
    name: str
    kind: str  # count | sum | avg | min | max | count_distinct | ratio
    label: Mapping[str, str]
    field: str | None = None
    ratio: tuple[str, str] | None = None
    filter: Any = None  # engine.expr.Expression (a conditional aggregate)
    filter_source: str | None = None
    since: str | None = None  # a duration: `field` minus this date or date-time field, per record
    # (entity, link field) or (entity, lines field, link field of its rows): aggregates the
    # records (or order lines) linking to each record of the report
    related: tuple[str, ...] | None = None
    currency: str | None = None  # a money field: only amounts in this currency (no currency column)

    @property
    def reads(self) -> frozenset[str]:
        """The fields of the report's entity it reads (none for a related measure: those are
        the related entity's)."""
        if self.related is not None:
            return frozenset()
        names = {n for n in (self.field, self.since) if n}
        if self.filter is not None:
            names |= set(self.filter.fields)
        return frozenset(names)


@dataclass(frozen=True)
class Report:
    name: str
    entity: str
    label: Mapping[str, str]
    measures: tuple[Measure, ...]
    groups: tuple[Group, ...] = ()
    filter: Any = None  # engine.expr.Expression
    filter_source: str | None = None
    period: str | None = None
    chart: str = "table"
    roles: frozenset[str] = frozenset()
    sort: str | None = None
    limit: int | None = None
    description: Mapping[str, str] = field(default_factory=_empty)
    having: Any = None  # engine.expr.Expression over the measures: which rows are kept
    having_source: str | None = None
    steps: tuple[str, ...] = ()  # a funnel's steps in order (empty: every option of its stage field)
    origin: Any = field(default=None, compare=False)  # engine.model.model.Origin: layers that define it

    def measure(self, name: str) -> Measure:
        return next(m for m in self.measures if m.name == name)

    @property
    def fields(self) -> frozenset[str]:
        """Every field of the entity the report reads: grouped, aggregated, filtered, its period."""
        names = {g.reads for g in self.groups}
        for m in self.measures:
            names |= m.reads
        if self.filter is not None:
            names |= set(self.filter.fields)
        if self.period:
            names.add(self.period)
        return frozenset(names)


def compile_reports(reports: Mapping[str, Any], expressions: Mapping[tuple, Any], label_of: Any,
                    origins: Mapping[str, Any] | None = None) -> Mapping[str, Report]:
    """The checked reports (`spec.reports`, plain data) as Report objects."""
    compiled = {}
    for name, spec in reports.items():
        groups = []
        for item in spec.get("group_by") or ():
            fname = group_field(item)
            bucket = item.get("bucket") if isinstance(item, Mapping) else None
            label = label_of(item["label"]) if isinstance(item, Mapping) and item.get("label") else _empty()
            groups.append(Group(fname, bucket, label))
        measures = []
        for m in spec.get("measures") or ():
            kind = measure_kind(m)
            ratio = tuple(m["ratio"]) if kind == "ratio" else None
            measures.append(Measure(
                name=m["name"], kind=kind, label=label_of(m.get("label") or m["name"].replace("_", " ").capitalize()),
                field=m.get(kind) if kind not in ("count", "ratio") else None, ratio=ratio,
                filter=expressions.get(("report", name, "measure", m["name"], "filter")),
                filter_source=m.get("filter"), since=m.get("since"),
                related=tuple(m["from"].split(".")) if isinstance(m.get("from"), str) else None,
                currency=m.get("currency")))
        compiled[name] = Report(
            name=name, entity=spec["entity"], label=label_of(spec.get("label") or name.replace("_", " ").capitalize()),
            measures=tuple(measures), groups=tuple(groups),
            filter=expressions.get(("report", name, "filter")), filter_source=spec.get("filter"),
            period=spec.get("period"), chart=spec.get("chart") or "table", roles=frozenset(spec.get("roles") or ()),
            sort=spec.get("sort"), limit=spec.get("limit"),
            description=label_of(spec["description"]) if spec.get("description") else _empty(),
            having=expressions.get(("report", name, "having")), having_source=spec.get("having"),
            steps=tuple(spec.get("steps") or ()), origin=(origins or {}).get(name))
    return MappingProxyType(compiled)
