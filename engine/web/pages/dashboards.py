"""Dashboards (dashboards/*.yaml, engine/reports/dashboards.py): a grid of report widgets
with one period picker for them all.

    GET /dashboards/NAME?period=...   one dashboard (for its roles; administrators: any)
    the home page (home.py)           the user's dashboard: the first for their roles

Each widget runs its report for the viewer like the report's own page (reports.py), with
the dashboard's period when the report has a period field; a widget whose report the
viewer may not see is left out, so one dashboard serves a director and a rep alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, render_template, request

from ...records import PermissionDenied, ValidationError
from ...reports.compute import Report, Result
from ...reports.dashboards import Dashboard, Widget
from ..auth import context
from ..errors import page
from ..i18n import gettext as _
from . import bp, model
from .drill import BadDrill
from .reports import Period, may_see, period_names, read_period, run_for


@dataclass
class Shown:
    widget: Widget
    report: Report
    result: Result


def widgets_for(dashboard: Dashboard, ctx: Any, period: Period) -> list[Shown]:
    """The widgets the viewer may see, each with its report's figures for them."""
    shown = []
    for widget in dashboard.widgets:
        report = model().reports.get(widget.report)
        if report is None or not may_see(report, ctx):
            continue
        try:
            result = run_for(report, ctx, period)
        except PermissionDenied:
            continue
        shown.append(Shown(widget, report, result))
    return shown


def dashboard_context(dashboard: Dashboard, ctx: Any, action: str) -> dict[str, Any]:
    """What templates/dashboards/_grid.html needs; BadDrill for a bad period."""
    period = read_period(request.args, dashboard.period)
    others = [d for d in model().dashboards.values() if d is not dashboard and d.for_actor(ctx.actor)]
    return {"dashboard": dashboard, "shown": widgets_for(dashboard, ctx, period), "period": period,
            "periods": period_names(), "action": action, "others": others}


def users_dashboard(ctx: Any) -> Dashboard | None:
    """The home page's dashboard: the first for the user's roles that has a widget they may
    see (a dashboard of reports on records their roles do not reach would show nothing)."""
    for dashboard in model().dashboards.values():
        if dashboard.for_actor(ctx.actor) and any(
                (report := model().reports.get(w.report)) is not None and may_see(report, ctx)
                for w in dashboard.widgets):
            return dashboard
    return None


@bp.get("/dashboards/<name>")
def dashboard_page(name: str):
    ctx = context()
    dashboard = model().dashboards.get(name)
    if dashboard is None or not dashboard.for_actor(ctx.actor):
        abort(404)
    try:
        values = dashboard_context(dashboard, ctx, request.path)
    except (BadDrill, ValidationError) as exc:
        return page(400, _("Bad request"), str(exc))
    return render_template("dashboards/dashboard.html", **values)
