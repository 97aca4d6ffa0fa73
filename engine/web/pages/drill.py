"""Drill-down from a figure to the list page: the URL parameters naming one row of a
report, and the list filter they stand for.

A report row's records are selected by `engine.reports.filter_for` (the report's filter,
its period and the row's group values). When the list page's own filters can say that
(`DrillDown.params`), a click goes to the plain filtered list; otherwise (a report filter
such as `stage == 'won'`, a currency, an empty group) the list page gets these reserved
parameters, which no field can be named after (field names start with a letter):

    _report=NAME  _row=JSON of {"g": [group values], "c": [currencies]}  _from, _to=YYYY-MM-DD

and narrows its query with the drill-down's `where` and filters, so its count is the figure.
Imported by lists.py and reports.py; imports neither.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ...reports import saved as saved_reports
from ...reports.checks import DATE_TYPES, DEPARTMENT, STANDARD
from ...reports.compute import DrillDown, Report, Row, filter_for
from ...reports.compute import _allowed as _allowed  # the viewer's refusals, as run() makes them
from ..i18n import gettext as _
from . import model

SAVED = re.compile(r"saved_[1-9][0-9]{0,9}")  # a saved report's name (engine/reports/saved.py)

PARAMS = ("_report", "_row", "_from", "_to")
CURRENCY = re.compile(r"[A-Z]{3}")  # ISO 4217 codes: nothing else reaches the drill-down's condition


class BadDrill(ValueError):
    """Drill-down parameters the page cannot use; the message says which and why."""


@dataclass(frozen=True)
class Drill:
    report: Report
    drill: DrillDown
    params: tuple[tuple[str, str], ...]  # the reserved parameters, to keep on paging and sort links


def row_key(row: Row) -> str:
    """One row's group values and currencies as the `_row` parameter."""
    return json.dumps({"g": [_plain(v) for v in row.groups], "c": list(row.currencies)}, separators=(",", ":"),
                      ensure_ascii=False)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def span_params(period: tuple[date, date] | None) -> list[tuple[str, str]]:
    return [("_from", period[0].isoformat()), ("_to", period[1].isoformat())] if period else []


def read_span(first: str | None, last: str | None) -> tuple[date, date] | None:
    """A period given as two days (both or neither), the first not after the last."""
    if not first and not last:
        return None
    try:
        span = (date.fromisoformat(first or ""), date.fromisoformat(last or ""))
    except ValueError:
        raise BadDrill(_("A period needs a first and a last day (YYYY-MM-DD).")) from None
    if span[0] > span[1]:
        raise BadDrill(_("The period's first day is after its last day."))
    return span


def decode_row(report: Report, key: str) -> tuple[list[Any], list[str | None]]:
    """The `_row` parameter back as group values (dates as dates) and currencies."""
    try:
        data = json.loads(key)
        groups, currencies = data["g"], data.get("c") or []
        if not isinstance(groups, list) or not isinstance(currencies, list):
            raise TypeError
    except (ValueError, TypeError, KeyError, AttributeError):
        raise BadDrill(_("This link to a report's records is damaged.")) from None
    scalar = (str, int, bool, type(None))
    if len(groups) != len(report.groups) or not all(isinstance(v, scalar) for v in groups) \
            or not all(c is None or (isinstance(c, str) and CURRENCY.fullmatch(c)) for c in currencies):
        raise BadDrill(_("This link to a report's records is damaged."))
    entity = model().entity(report.entity)
    values = []
    for group, value in zip(report.groups, groups, strict=True):
        field_ = entity.fields.get(group.field)
        kind = field_.type.name if field_ is not None else STANDARD.get(group.field)
        if isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**63:
            raise BadDrill(_("This link to a report's records is damaged."))  # beyond the database's integers
        if (kind in ("user", "link") or group.field == DEPARTMENT) and value is not None \
                and (not isinstance(value, int) or isinstance(value, bool)):
            raise BadDrill(_("This link to a report's records is damaged."))  # records are numbered
        if group.bucket == "month_of_year":  # a month number, every year's together
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 12):
                raise BadDrill(_("This link to a report's records is damaged."))
            values.append(value)
            continue
        if kind in DATE_TYPES and value is not None and not isinstance(value, str):
            raise BadDrill(_("This link to a report's records is damaged."))
        if isinstance(value, str) and kind in DATE_TYPES:
            try:
                value = date.fromisoformat(value)
            except ValueError:
                raise BadDrill(_("This link to a report's records is damaged.")) from None
        values.append(value)
    return values, currencies


def drill_of(service: Any, report: Report, row_groups: Iterable[Any], currencies: Iterable[str | None],
             period: tuple[date, date] | None, context: Any) -> DrillDown:
    return filter_for(service, report, list(row_groups), context, currencies=tuple(currencies), period=period)


def read_drill(entity_name: str, args: Mapping[str, Any], service: Any, context: Any) -> Drill | None:
    """The drill-down the list page's reserved parameters ask for (None: none asked)."""
    name = args.get("_report")
    if not name:
        if any(args.get(p) for p in PARAMS):
            raise BadDrill(_("_report: name the report whose records to show."))
        return None
    report = model().reports.get(name)
    if report is None and SAVED.fullmatch(name) and int(name.removeprefix("saved_")) < 2**31:  # a report built on the builder page, as its owner shares it
        try:
            report = saved_reports.report_for(service, int(name.removeprefix("saved_")), context)
        except (saved_reports.SavedReportNotFound, saved_reports.SavedReportOutdated):
            report = None
    if report is None or report.entity != entity_name:
        raise BadDrill(_("There is no report '%(name)s' on these records.", name=name))
    _allowed(service, report, model().entity(report.entity), context)  # the report's own refusals (403)
    groups, currencies = decode_row(report, args.get("_row") or '{"g":[]}')
    period = read_span(args.get("_from"), args.get("_to"))
    if period is not None and report.period is None:
        raise BadDrill(_("Report '%(name)s' has no period.", name=name))
    drill = drill_of(service, report, groups, currencies, period, context)
    params = tuple((p, args.get(p)) for p in PARAMS if args.get(p))
    return Drill(report, drill, params)
