"""Dashboards from dashboards/*.yaml: a grid of report widgets with a shared period picker,
for some roles or for everyone. The home page shows a user the first dashboard for their
roles (lowest `order`, then name); the pages are engine/web/pages/dashboards.py.

A dashboard adds no figure of its own: each widget runs its report for the viewer
(engine/reports/compute.py), so a widget shows exactly what the report's page shows them,
within their row scope, and a widget whose report they may not see is left out.

Checks (E020–E023, with positions, at start-up like every YAML problem): an unknown report,
an unknown role, a chart override that does not fit the report's groups, and a dashboard
with no widget."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import Position, did_you_mean
from ..spec.yamlload import PosDict, PosList
from .checks import CHARTS_ONE_GROUP, group_field

PERIODS = ("this_month", "this_quarter", "this_year", "last_month", "last_quarter", "last_year", "all")
DEFAULT_ORDER = 100


def _empty() -> Mapping:
    return MappingProxyType({})


@dataclass(frozen=True)
class Widget:
    name: str
    report: str
    width: int = 6
    chart: str | None = None  # None: the report's own chart
    label: Mapping[str, str] = field(default_factory=_empty)  # None: the report's label


@dataclass(frozen=True)
class Dashboard:
    name: str
    label: Mapping[str, str]
    widgets: tuple[Widget, ...]
    roles: frozenset[str] = frozenset()
    order: int = DEFAULT_ORDER
    period: str = "this_year"
    description: Mapping[str, str] = field(default_factory=_empty)

    def for_actor(self, actor: Any) -> bool:
        """Whether a user sees it: administrators and holders of one of its roles; everyone
        when it names none."""
        return not self.roles or bool(actor.is_admin) or bool(set(actor.roles) & self.roles)


def chart_misfit(chart: str, groups: int, funnel_choice: bool) -> str | None:
    """Why a chart cannot draw a report with `groups` groups (None: it can). The same rules
    as the report's own `chart` (E006)."""
    if chart == "number" and groups:
        return "a number card shows one figure but the report groups its rows"
    if chart in CHARTS_ONE_GROUP and groups != 1:
        return f"a {chart} chart needs exactly one group (the report has {groups})"
    if chart in ("stacked_bar", "pivot") and groups != 2:
        return f"a {chart} needs two groups (the report has {groups})"
    if chart in ("bar", "line", "area") and not groups:
        return f"a {chart} chart needs a group (the report has none)"
    if chart == "funnel" and groups == 1 and not funnel_choice:
        return "a funnel needs a choice field (its stages) as the report's group"
    return None


class DashboardChecker:
    """Checks every merged dashboard; problems go to the project's checker."""

    def __init__(self, checker: Any):
        self.checker = checker
        self.spec = checker.spec

    def add(self, code: str, message: str, where: Position, hint: str | None = None) -> None:
        self.checker.add(code, message, where, hint)

    def run(self, dashboards: Mapping[str, PosDict]) -> None:
        for name, dashboard in dashboards.items():
            self.dashboard(name, dashboard)

    def dashboard(self, name: str, dashboard: PosDict) -> None:
        where = f"dashboard '{name}'"
        roles = dashboard.get("roles")
        for i, role in enumerate(roles if isinstance(roles, PosList) else ()):
            if role not in self.spec.roles:
                self.add("E021", f"{where} names unknown role '{role}'", roles.position_of(i),
                         did_you_mean(str(role), self.spec.roles) or "roles are defined in roles.yaml")
        widgets = dashboard.get("widgets")
        if not isinstance(widgets, PosList) or not widgets:
            self.add("E023", f"{where} has no widget", dashboard.position_of("widgets" if "widgets" in dashboard
                                                                             else "dashboard"),
                     "widgets: [{report: NAME, width: 6}, ...]")
            return
        for i, widget in enumerate(widgets):
            if isinstance(widget, PosDict):
                self.widget(where, widget, widgets.position_of(i))

    def widget(self, where: str, widget: PosDict, position: Position) -> None:
        report_name = widget.get("report")
        if not isinstance(report_name, str):
            self.add("E203", f"a widget of {where} needs the key 'report'", position)
            return
        report = self.spec.reports.get(report_name)
        if not isinstance(report, PosDict):
            self.add("E020", f"{where} shows unknown report '{report_name}'", widget.position_of("report"),
                     did_you_mean(report_name, self.spec.reports) or "reports are defined in reports/*.yaml")
            return
        chart = widget.get("chart")
        if not isinstance(chart, str):
            return
        groups = [group_field(g) for g in report.get("group_by") or ()] \
            if isinstance(report.get("group_by"), list) else []
        entity = self.spec.entities.get(report.get("entity"))
        fields = entity.get("fields") if isinstance(entity, PosDict) else None
        first = fields.get(groups[0]) if isinstance(fields, PosDict) and groups and groups[0] else None
        misfit = chart_misfit(chart, len(groups), isinstance(first, Mapping) and first.get("type") == "choice")
        if misfit:
            self.add("E022", f"{where} draws report '{report_name}' as a {chart}: {misfit}",
                     widget.position_of("chart"), "leave out `chart` to use the report's own chart")


def compile_dashboards(dashboards: Mapping[str, Any], label_of: Any) -> Mapping[str, Dashboard]:
    """The checked dashboards (plain data) as Dashboard objects, in the order a home page
    picks from (lowest `order`, then name)."""
    compiled = []
    for name, spec in dashboards.items():
        widgets = []
        for item in spec.get("widgets") or ():
            if not isinstance(item, Mapping) or not isinstance(item.get("report"), str):
                continue
            widgets.append(Widget(
                name=item.get("name") or item["report"], report=item["report"], width=int(item.get("width") or 6),
                chart=item.get("chart"), label=label_of(item["label"]) if item.get("label") else _empty()))
        compiled.append(Dashboard(
            name=name, label=label_of(spec.get("label") or name.replace("_", " ").capitalize()),
            widgets=tuple(widgets), roles=frozenset(spec.get("roles") or ()),
            order=int(spec.get("order", DEFAULT_ORDER)), period=spec.get("period") or "this_year",
            description=label_of(spec["description"]) if spec.get("description") else _empty()))
    compiled.sort(key=lambda d: (d.order, d.name))
    return MappingProxyType({d.name: d for d in compiled})


def dashboard_for(model: Any, actor: Any) -> Dashboard | None:
    """The dashboard a user's home page shows: the first for their roles, or None."""
    return next((d for d in getattr(model, "dashboards", {}).values() if d.for_actor(actor)), None)
