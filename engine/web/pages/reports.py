"""Report pages: the list of reports a user may see, one report's chart and table with a
period picker, CSV/XLSX export of its figures, and drill-down from a figure to the list.

    GET /reports                      the reports the user may see
    GET /reports/NAME?period=...      chart + table (period: this_month, this_quarter,
                                      this_year, last_month, last_quarter, last_year, all,
                                      custom with from=YYYY-MM-DD&to=YYYY-MM-DD)
    GET /reports/NAME/export.csv|xlsx the same figures as a file
    GET /reports/NAME/drill?_row=...  the list page filtered to one row's records

Every figure comes from `engine.reports.run` for the signed-in user (their row scope, their
refusals: a 403 page, never a 500). The result is drawn by `templates/reports/_result.html`
from a `ResultView` (the `report_view` global), which the dashboards and the report builder
include with `report` and `result`: the chart's JSON for static/charts.js, the table, the
number card, and each figure's drill-down URL.
"""

from __future__ import annotations

import csv
import io
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from flask import Response, redirect, render_template, request, url_for
from flask_babel import get_timezone

from ...fields.duration import clock_text
from ...imports.files import safe_cell
from ...imports.files import writer as xlsx_writer
from ...model.model import text
from ...records import PermissionDenied, ValidationError
from ...reports import saved as saved_reports
from ...reports.compute import Report, ReportNotFound, Result, Row, run
from ...reports.compute import _allowed as _allowed  # the viewer's refusals, as run() makes them
from ..auth import context
from ..errors import page
from ..i18n import fmt, label, language
from ..i18n import gettext as _
from . import bp, model, service
from .drill import BadDrill, decode_row, drill_of, read_span, row_key, span_params
from .lists import list_url

PERIODS = ("this_month", "this_quarter", "this_year", "last_month", "last_quarter", "last_year", "all", "custom")
AXIS_CHARTS = ("bar", "stacked_bar", "line", "area")
DRAWN = (*AXIS_CHARTS, "pie", "donut", "funnel")
MAX_SERIES = 12  # a second group with more values than this is drawn as its first 12
# an option's colour name (the badges' names, tailor.css) as a chart draws it: the badge's
# text colour, lightened a little, so a funnel of stages reads like their badges
CHART_COLORS = {"red": "#e03131", "orange": "#f08c00", "gold": "#f2c200", "green": "#2f9e44", "teal": "#12b886",
                "blue": "#4c6ef5", "purple": "#7950f2", "gray": "#868e96", "grey": "#868e96"}


def chart_color(name: str | None) -> str | None:
    return CHART_COLORS.get(name, name) if name else None


def period_names() -> dict[str, str]:
    return {"this_month": _("This month"), "this_quarter": _("This quarter"), "this_year": _("This year"),
            "last_month": _("Last month"), "last_quarter": _("Last quarter"), "last_year": _("Last year"),
            "all": _("All time"), "custom": _("Custom")}


# -- the period picker --------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    key: str
    span: tuple[date, date] | None

    def params(self) -> list[tuple[str, str]]:
        if self.key == "custom" and self.span:
            return [("period", "custom"), ("from", self.span[0].isoformat()), ("to", self.span[1].isoformat())]
        return [("period", self.key)]


def span_of(key: str, today: date) -> tuple[date, date] | None:
    """The first and last day of a named period around `today`."""
    def month(year: int, m: int) -> tuple[date, date]:
        first = date(year, m, 1)
        nxt = date(year + m // 12, m % 12 + 1, 1)
        return first, nxt - timedelta(days=1)

    def quarter(year: int, q: int) -> tuple[date, date]:
        first = date(year, 3 * q - 2, 1)
        return first, month(year, 3 * q)[1]

    q = (today.month - 1) // 3 + 1
    if key == "this_month":
        return month(today.year, today.month)
    if key == "last_month":
        return month(today.year - (today.month == 1), 12 if today.month == 1 else today.month - 1)
    if key == "this_quarter":
        return quarter(today.year, q)
    if key == "last_quarter":
        return quarter(today.year - (q == 1), 4 if q == 1 else q - 1)
    if key == "this_year":
        return date(today.year, 1, 1), date(today.year, 12, 31)
    if key == "last_year":
        return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)
    return None


def read_period(args: Any, default: str) -> Period:
    """The period the URL asks for (`period`, and `from`/`to` for a custom one); BadDrill
    with a message the page shows when it makes no sense."""
    key = args.get("period") or default
    if key not in PERIODS:
        raise BadDrill(_("period: '%(value)s' is not one of %(names)s", value=key[:40], names=", ".join(PERIODS)))
    if key == "custom":
        span = read_span(args.get("from"), args.get("to"))
        if span is None:
            raise BadDrill(_("A custom period needs a first and a last day (YYYY-MM-DD)."))
        return Period(key, span)
    if args.get("from") or args.get("to"):
        raise BadDrill(_("from and to go with period=custom."))
    return Period(key, span_of(key, datetime.now(get_timezone()).date()))  # the project's day (tailor.yaml timezone)


# -- what a user may see --------------------------------------------------------------------------
def may_see(report: Report, ctx: Any) -> bool:
    """Whether the user may run the report: the entity readable, one of its roles held, no
    field it uses hidden from them (run() refuses the same)."""
    try:
        _allowed(service(), report, model().entity(report.entity), ctx)
        for measure in report.measures:  # `from:` measures read another entity's records (compute._related)
            related = getattr(measure, "related", None)
            if related:
                access = service().authorize(related[0], "read", ctx)
                reads = {related[1], *(measure.filter.fields if measure.filter is not None else ())}
                if len(related) != 3 and measure.field:
                    reads.add(measure.field)
                if reads & (set(access.hidden_fields()) | set(access.scoped_fields())):
                    return False
    except PermissionDenied:
        return False
    return True


def run_for(report: Report, ctx: Any, period: Period | None) -> Result:
    span = period.span if period is not None and report.period else None
    return run(service(), report, ctx, period=span)


# -- presenting a result -------------------------------------------------------------------------
def _percent(report: Report, name: str) -> bool:
    """A ratio of two counts is a rate (win rate): shown as a percentage."""
    measure = report.measure(name)
    if measure.kind != "ratio":
        return False
    return all(report.measure(n).kind in ("count", "count_distinct") for n in measure.ratio)


def figure_text(report: Report, name: str, value: Any) -> str:
    if value is None:
        return "–"
    if _percent(report, name):
        return f"{Decimal(value) * 100:.1f}%"
    if isinstance(value, timedelta):
        return clock_text(value)
    if isinstance(value, Decimal):
        return fmt(value, "money" if report.measure(name).kind in ("sum", "avg", "min", "max") else "decimal")
    return fmt(value)


def chart_number(value: Any) -> float | None:
    """A figure as the chart draws it: durations in hours, everything else a plain number."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return round(value.total_seconds() / 3600, 2)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return float(value)
    return None


@dataclass
class ResultView:
    """What _result.html draws: built once per result."""

    report: Report
    result: Result
    chart: str
    linked: bool  # a report of the model: its figures link to their records
    chart_json: dict[str, Any] | None = None
    header: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    card: dict[str, Any] | None = None
    pivot: dict[str, Any] | None = None  # chart: pivot, two groups: the cross-tab (pivot_view)
    period_text: str = ""
    csv_url: str | None = None
    xlsx_url: str | None = None
    dom_id: str = ""


def drill_url(report: Report, result: Result, row: Row) -> str:
    params = [("_row", row_key(row))] if report.groups or row.currencies else []
    return url_for("pages.report_drill", name=report.name) + "?" + urlencode(params + span_params(result.period))


def measures_drawn(report: Report) -> list[str]:
    """The measures a chart draws: the plain ones (ratios only when there is nothing else)."""
    plain = [m.name for m in report.measures if m.kind != "ratio"]
    ratios = [m.name for m in report.measures if m.kind == "ratio"]
    return plain or ratios


def report_view(report: Report, result: Result, chart: str | None = None, dom_id: str = "") -> ResultView:
    chart = chart or report.chart
    # links (drill-down, exports) for the reports the routes find again: the YAML's, and saved ones
    linked = model().reports.get(report.name) is report or saved_id(report.name) is not None
    view = ResultView(report, result, chart, linked, dom_id=dom_id or f"report-{report.name}")
    links = [drill_url(report, result, row) if linked else None for row in result.rows]
    view.header = [c.label for c in result.columns]
    measure_names = [m.name for m in report.measures]
    for row, link in zip(result.rows, links, strict=True):
        view.rows.append({
            "cells": [*row.labels, *[c or "" for c in row.currencies]],
            "figures": [figure_text(report, n, row.values.get(n)) for n in measure_names],
            "link": link, "conversion": f"{row.conversion * 100:.1f}%" if row.conversion is not None else None,
        })
    if result.period:
        view.period_text = f"{fmt(result.period[0])} – {fmt(result.period[1])}"
    else:
        # no period applied: the report has no period field (a dashboard's period passes it
        # by) or "all" was picked; said plainly, so all-time figures are not read as this month's
        view.period_text = _("All time")
    if linked:
        query = urlencode(span_params(result.period))
        view.csv_url = url_for("pages.report_export", name=report.name, suffix="csv") + (f"?{query}" if query else "")
        view.xlsx_url = url_for("pages.report_export", name=report.name, suffix="xlsx") + (f"?{query}" if query else "")
    if chart == "number":
        view.card = number_card(report, result, links[0] if links else None)
    elif chart == "pivot" and len(report.groups) == 2 and result.rows:
        view.pivot = pivot_view(report, result, links)
    elif chart in DRAWN and result.rows:
        view.chart_json = chart_json(report, result, chart, links)
    return view


# how a pivot's totals combine its cells: only where the cells say the total exactly (an
# average, a distinct count or a ratio of the whole is not made of its parts' figures)
TOTALS = {"count": "add", "sum": "add", "min": "min", "max": "max"}


def _combine(how: str, values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if how == "min":
        return min(present)
    if how == "max":
        return max(present)
    total = present[0]
    for value in present[1:]:
        total = total + value
    return total


def _column_order(report: Report, values: list[Any]) -> list[Any]:
    """The second group's values in their natural order (the rows come sorted by the first
    group, then the second, so the columns are put in order here): options in option order,
    else by value; empty last."""
    field_ = model().entity(report.entity).fields.get(report.groups[1].field)
    options = list(field_.option_values) if field_ is not None and field_.options else None

    def key(value: Any) -> tuple:
        if value is None:
            return (2, 0, "")
        if options is not None:
            return (0, options.index(value) if value in options else len(options), str(value))
        return (1, value, "") if isinstance(value, (int, date)) and not isinstance(value, bool) else (1, 0, str(value))

    try:
        return sorted(values, key=key)
    except TypeError:  # values of mixed kinds: as they came
        return values


def pivot_view(report: Report, result: Result, links: list[str | None]) -> dict[str, Any]:
    """A cross-tab of a report with two groups: the first group's values as rows, the
    second's as columns, the first measure in the cells (each linked to its records like the
    table's rows), and row and column totals where the cells make them (counts and sums
    added, minimums and maximums). Money stays per currency: a row per first-group value and
    currency, and a totals row per currency, so no figure adds two currencies."""
    measure = measures_drawn(report)[0]
    how = TOTALS.get(report.measure(measure).kind)
    columns: list[Any] = []
    labels: dict[Any, str] = {}
    lines: dict[tuple, dict[str, Any]] = {}
    for row, link in zip(result.rows, links, strict=True):
        first, second = row.groups[0], row.groups[1]
        if second not in labels:
            columns.append(second)
            labels[second] = row.labels[1]
        line = lines.setdefault((first, row.currencies), {"label": row.labels[0], "currency": row.currency,
                                                          "values": {}, "links": {}})
        line["values"][second] = row.values.get(measure)
        line["links"][second] = link
    columns = _column_order(report, columns)
    currencies = list(dict.fromkeys(key[1] for key in lines))
    multi = bool(result.currency_fields)

    def text_of(value: Any) -> str:
        return figure_text(report, measure, value) if value is not None else ""

    body = []
    for line in lines.values():
        cells = [{"text": text_of(line["values"].get(c)), "link": line["links"].get(c) if c in line["values"] else None}
                 for c in columns]
        total = _combine(how, list(line["values"].values())) if how else None
        body.append({"label": line["label"], "currency": line["currency"] or "", "cells": cells,
                     "total": text_of(total) if how else None})
    totals = []
    if how:
        for code in currencies:
            same = [line for key, line in lines.items() if key[1] == code]
            per_column = [_combine(how, [line["values"].get(c) for line in same]) for c in columns]
            everything = _combine(how, [v for line in same for v in line["values"].values()])
            totals.append({"currency": (code[0] or "") if code else "", "cells": [text_of(v) for v in per_column],
                           "total": text_of(everything)})
    return {"first": result.columns[0].label, "second": result.columns[1].label,
            "measure": text(report.measure(measure).label, language(), measure),
            "columns": [labels[c] for c in columns], "currency": multi, "rows": body, "totals": totals}


def number_card(report: Report, result: Result, link: str | None) -> dict[str, Any]:
    """The headline figure (the first ratio, else the first measure), the others small, and
    the change against the period just before."""
    ratios = [m.name for m in report.measures if m.kind == "ratio"]
    main = ratios[0] if ratios else report.measures[0].name
    row = result.rows[0] if result.rows else None
    value = row.values.get(main) if row is not None else None
    measure = report.measure(main)
    exact = measure.kind == "count" and measure.filter is None  # the drill-down's records are this figure
    card = {"label": text(measure.label, language(), main), "value": figure_text(report, main, value),
            "link": link if exact else None, "others": [], "change": None}
    for m in report.measures:
        if m.name != main and row is not None:
            card["others"].append((text(m.label, language(), m.name), figure_text(report, m.name, row.values.get(m.name))))
    if result.previous is not None:
        before = result.previous[0].values.get(main) if result.previous else None
        now, then = chart_number(value), chart_number(before)
        card["previous"] = figure_text(report, main, before)
        if now is not None and then is not None:
            if _percent(report, main):
                delta = (now - then) * 100
                card["change"] = (_("%(delta)s pt", delta=f"{delta:+.1f}"),
                                  "up" if delta > 0 else "down" if delta < 0 else "same")
            elif then:
                delta = (now - then) / abs(then) * 100
                card["change"] = (f"{delta:+.1f}%", "up" if delta > 0 else "down" if delta < 0 else "same")
    return card


def chart_json(report: Report, result: Result, chart: str, links: list[str | None]) -> dict[str, Any]:
    """The JSON static/charts.js draws: categories and series, each figure with its link."""
    lang = language()
    spec: dict[str, Any] = {"type": chart, "file": report.name, "categories": [], "series": []}
    drawn = measures_drawn(report)
    spec["percent"] = _percent(report, drawn[0])
    multi_currency = len({row.currencies for row in result.rows}) > 1

    def category(row: Row) -> str:
        name = row.labels[0] if row.labels else text(report.label, lang, report.name)
        return f"{name} ({row.currency})" if multi_currency and row.currency else name

    if chart in ("pie", "donut", "funnel"):
        first = drawn[0]
        data = []
        for row, link in zip(result.rows, links, strict=True):
            item: dict[str, Any] = {"name": category(row), "value": chart_number(row.values.get(first)), "link": link}
            if row.colors and row.colors[0]:
                item["itemStyle"] = {"color": chart_color(row.colors[0])}
            if row.conversion is not None:
                item["conversion"] = f"{row.conversion * 100:.1f}%"
            data.append(item)
        spec["categories"] = [d["name"] for d in data]
        spec["series"] = [{"name": text(report.measure(first).label, lang, first), "data": data}]
        return spec
    if len(report.groups) == 2 and chart == "stacked_bar" or (len(report.groups) == 2 and chart in AXIS_CHARTS):
        return _two_groups(report, result, spec, drawn[0], links, multi_currency)
    spec["categories"] = [category(row) for row in result.rows]
    counting = report.measure(drawn[0]).kind in ("count", "count_distinct")
    for name in drawn[:4]:
        data = [{"value": chart_number(row.values.get(name)), "link": link}
                for row, link in zip(result.rows, links, strict=True)]
        other_axis = (report.measure(name).kind in ("count", "count_distinct")) != counting
        spec["series"].append({"name": text(report.measure(name).label, lang, name), "data": data,
                               "axis": other_axis})
    return spec


def _two_groups(report: Report, result: Result, spec: dict, measure: str, links: list, multi: bool) -> dict:
    categories: list[str] = []
    stacks: dict[str, dict[str, Any]] = {}
    for row, link in zip(result.rows, links, strict=True):
        first = row.labels[0] + (f" ({row.currency})" if multi and row.currency else "")
        if first not in categories:
            categories.append(first)
        second = row.labels[1]
        if second not in stacks and len(stacks) >= MAX_SERIES:
            continue
        stack = stacks.setdefault(second, {"name": second, "values": {},
                                           "color": chart_color(row.colors[1]) if len(row.colors) > 1 else None})
        stack["values"][first] = {"value": chart_number(row.values.get(measure)), "link": link}
    spec["categories"] = categories
    spec["series"] = [{"name": s["name"], "color": s["color"],
                       "data": [s["values"].get(c, {"value": None}) for c in categories]} for s in stacks.values()]
    return spec


# -- the pages ----------------------------------------------------------------------------------
def report_or_404(name: str) -> Report:
    """A report of the YAML, or a saved one (`saved_<id>`, engine/reports/saved.py) the user
    may see: its page, drill-down and exports are the same routes."""
    report = model().reports.get(name)
    if report is None and saved_id(name) is not None:
        try:
            report = saved_reports.report_for(service(), saved_id(name), context())
        except (saved_reports.SavedReportNotFound, saved_reports.SavedReportOutdated):
            report = None
    if report is None:
        raise ReportNotFound(name)
    return report


def saved_id(name: str) -> int | None:
    """The id in a saved report's name (`saved_12`), or None (a YAML report, the builder's preview)."""
    rest = name.removeprefix(saved_reports.NAME_PREFIX)
    return int(rest) if rest != name and rest.isascii() and rest.isdigit() and len(rest) < 10 else None


def not_found():
    return page(404, _("Not found"), _("This report does not exist or you cannot see it."))


@bp.get("/reports")
def report_list():
    ctx = context()
    reports = sorted((r for r in model().reports.values() if may_see(r, ctx)),
                     key=lambda r: label(r.label, r.name).lower())
    entities = model().entities
    return render_template("reports/list.html", reports=reports, entities=entities)


@bp.get("/reports/<name>")
def report_page(name: str):
    ctx = context()
    try:
        report = report_or_404(name)
    except ReportNotFound:
        return not_found()
    try:
        period = read_period(request.args, "this_year" if report.period else "all")
        result = run_for(report, ctx, period)
    except (BadDrill, ValidationError) as exc:
        return page(400, _("Bad request"), str(exc))
    return render_template("reports/report.html", report=report, result=result, period=period,
                           periods=period_names(), entity=model().entity(report.entity))


@bp.get("/reports/<name>/drill")
def report_drill(name: str):
    """The list page with exactly the records of one row: its own filters when they can say
    it, else the reserved drill-down parameters (drill.py)."""
    ctx = context()
    try:
        report = report_or_404(name)
    except ReportNotFound:
        return not_found()
    _allowed(service(), report, model().entity(report.entity), ctx)
    try:
        groups, currencies = decode_row(report, request.args.get("_row") or '{"g":[]}')
        span = read_span(request.args.get("_from"), request.args.get("_to"))
        if span is not None and report.period is None:
            raise BadDrill(_("Report '%(name)s' has no period.", name=name))
        drill = drill_of(service(), report, groups, currencies, span, ctx)
    except (BadDrill, ValidationError) as exc:
        return page(400, _("Bad request"), str(exc))
    entity = model().entity(report.entity)
    if drill.params is not None:
        return redirect(list_url(entity, drill.params), 303)
    params = [("_report", report.name)]
    if report.groups or currencies:
        params.append(("_row", request.args.get("_row") or ""))
    return redirect(list_url(entity, params + span_params(span)), 303)


def export_lines(report: Report, result: Result) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a report's file: group labels, currencies, then each measure as a
    typed value (numbers as numbers, durations as text, rates as fractions)."""
    header = [c.label for c in result.columns]
    lines = []
    for row in result.rows:
        values: list[Any] = [*row.labels, *row.currencies]
        for m in report.measures:
            value = row.values.get(m.name)
            values.append(clock_text(value) if isinstance(value, timedelta) else value)
        lines.append(values)
    return header, lines


@bp.get("/reports/<name>/export.<suffix>")
def report_export(name: str, suffix: str):
    ctx = context()
    if suffix not in ("csv", "xlsx"):
        return not_found()
    try:
        report = report_or_404(name)
    except ReportNotFound:
        return not_found()
    try:
        span = read_span(request.args.get("_from"), request.args.get("_to"))
        if span is None and request.args.get("period"):
            span = read_period(request.args, "all").span
        result = run(service(), report, ctx, period=span if report.period else None)
    except (BadDrill, ValidationError) as exc:
        return page(400, _("Bad request"), str(exc))
    header, lines = export_lines(report, result)
    if suffix == "csv":
        buffer = io.StringIO()
        out = csv.writer(buffer)
        out.writerow([safe_cell(h) for h in header])
        for line in lines:
            out.writerow([safe_cell(v) if isinstance(v, str) else "" if v is None else str(v) for v in line])
        response = Response("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
    else:
        with tempfile.TemporaryFile() as file:
            target = xlsx_writer("xlsx", file, label(report.label, report.name)[:31] or report.name)
            target.row([safe_cell(h) for h in header])
            for line in lines:
                target.row(line)
            target.close()
            file.seek(0)
            data = file.read()
        response = Response(data, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Content-Disposition"] = f'attachment; filename="{report.name}.{suffix}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Any) -> None:
    app.jinja_env.globals["report_view"] = report_view
