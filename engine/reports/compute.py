"""Running a report for a viewer: one GROUP BY query within their row scope.

    result = run(service, "pipeline_by_stage", context, period=(date(2026, 1, 1), date(2026, 3, 31)))
    result.columns        # group labels, currency columns, measure labels (viewer's language)
    result.rows           # Row(groups, labels, currencies, values, conversion)
    result.drill(service, row)   # the list filter selecting exactly that row's records

How each figure is made:
* the rows are the records the viewer may read (`RecordService._restriction`, the same
  condition their lists and counts use) that meet the report's filter, the period and an
  extra filter, selected by the records service's own `build_select`;
* group values and aggregates are computed by the database in one GROUP BY query; a
  measure's filter becomes a conditional aggregate (`SUM(CASE WHEN … THEN amount END)`);
* date buckets are the bucket's first day as text, computed in UTC alike on SQLite and
  PostgreSQL (weeks start on Monday);
* a sum, average, minimum or maximum of money adds its currency to the grouping, so
  amounts of different currencies are never added together;
* ratios are computed from the aggregated measures (None when the divisor is 0 or empty);
* titles of linked records, users and departments are read afterwards, one query each;
* a funnel's steps are its `steps` (default: every option of its stage field, in option
  order); each step counts the records that reached at least it, those at it or at a later
  step (the records are joined to the steps they passed, so any measure is computed by the
  database as for other groups), so the figures never grow and each step's conversion from
  the one before is at most 100 %; records at a stage that is not a step (a terminal
  "lost") do not count, and a step's drill-down is `stage in [that step, later steps]`;
* a number card with a period gets the figures of the period of the same length just before.

Refused (PermissionDenied): a viewer who may not read the entity, who holds none of the
report's `roles`, or from whom a field the report uses is hidden or scoped; masked fields
are refused to everyone but administrators (a reveal is one audited record, a group label
would show every value).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ..expr.sqlconstructs import DateDiff, DatetimeDiff
from ..fields.numbers import numbers_in
from ..model.model import Entity, text
from ..records.context import Context
from ..records.errors import PermissionDenied, RecordError, ValidationError
from ..records.masking import masked_fields
from ..records.query import Query, build_select
from ..records.titles import numbered, read_titles
from ..storage import departments, users
from .checks import DATE_TYPES, DEPARTMENT, STANDARD
from .definition import Group, Measure, Report

EMPTY = {"en": "(empty)", "zh": "（空）"}
YES_NO = {"en": ("Yes", "No"), "zh": ("是", "否")}
CURRENCY = {"en": "Currency", "zh": "币种"}
DEPARTMENT_LABEL = {"en": "Department", "zh": "部门"}
OWNER_LABEL = {"en": "Owner", "zh": "负责人"}
STANDARD_LABELS = {"owner": OWNER_LABEL, "created_by": {"en": "Created by", "zh": "创建人"},
                   "created_at": {"en": "Created", "zh": "创建时间"}, "updated_at": {"en": "Updated", "zh": "更新时间"}}


class ReportNotFound(RecordError):
    status = 404

    def __init__(self, name: str):
        self.name = name
        super().__init__(f"no report named '{name}'")


@dataclass(frozen=True)
class Column:
    name: str  # the group's field, `currency:FIELD`, or the measure's name
    label: str
    kind: str  # group | currency | measure


@dataclass
class Row:
    groups: tuple[Any, ...]  # raw values: an option, a record or user id, a bucket's first day...
    labels: tuple[str, ...]  # the same, as the viewer reads them
    values: dict[str, Any]  # by measure name
    currencies: tuple[str | None, ...] = ()  # one per currency column
    conversion: Decimal | None = None  # funnel: the first measure against the step before
    colors: tuple[str | None, ...] = ()  # per group: a choice option's colour (for charts)

    @property
    def currency(self) -> str | None:
        return self.currencies[0] if self.currencies else None


@dataclass
class Result:
    report: Report
    columns: list[Column]
    rows: list[Row]
    period: tuple[date, date] | None = None
    previous: list[Row] | None = None  # number card with a period: the period just before
    previous_period: tuple[date, date] | None = None
    currency_fields: tuple[str, ...] = ()  # the money fields whose currencies group the rows
    extra_filter: Any = None

    def value(self, measure: str, row: int = 0) -> Any:
        return self.rows[row].values.get(measure) if row < len(self.rows) else None

    def table(self) -> list[list[Any]]:
        """Header and rows as the viewer reads them (labels, currencies, values)."""
        lines: list[list[Any]] = [[c.label for c in self.columns]]
        for row in self.rows:
            lines.append([*row.labels, *row.currencies, *(row.values.get(m.name) for m in self.report.measures)])
        return lines

    def drill(self, service: Any, row: Row, context: Context | None = None) -> DrillDown:
        return filter_for(service, self.report, row.groups, context, currencies=row.currencies,
                          period=self.period, currency_fields=self.currency_fields, extra_filter=self.extra_filter)


@dataclass(frozen=True)
class DrillDown:
    """The records behind one row: `Query(where=where, filters=filters)` of the records
    service selects exactly them (within the viewer's scope, as the report counted).
    `params`: the same as the list page's URL parameters, when its filters can say it
    (None when they cannot: a report filter, a currency, an empty value)."""

    entity: str
    where: str | None
    filters: tuple[tuple[str, str, Any], ...]
    params: tuple[tuple[str, str], ...] | None

    def query(self, **kwargs) -> Query:
        return Query(where=self.where, filters=self.filters, **kwargs)


# -- running ---------------------------------------------------------------------------------------
def run(service: Any, report_name: str | Report, context: Context | None = None,
        period: tuple[date, date] | None = None, extra_filter: Any = None) -> Result:
    """The report's figures for the context's user. `report_name`: a report of the model, or
    a Report built outside the YAML (engine/reports/built.py); `period`: (first day, last
    day), both included, applied to the report's `period` field; `extra_filter`: an
    expression or list filters ((field, operator, value), ...) narrowing it further."""
    context = context or Context()
    report = report_name if isinstance(report_name, Report) else service.model.reports.get(report_name)
    if report is None:
        raise ReportNotFound(str(report_name))
    entity = service.model.entity(report.entity)
    access = _allowed(service, report, entity, context)
    language = context.actor.language
    if period is not None:
        if report.period is None:
            raise ValidationError({"period": [f"report '{report.name}' has no period field"]})
        if not (isinstance(period, tuple) and len(period) == 2 and all(isinstance(d, date) for d in period)
                and period[0] <= period[1]):
            raise ValidationError({"period": ["a period is (first day, last day), the first not after the last"]})
    with service.reading():  # one connection for the figures and their labels
        rows, currency_fields = _query(service, report, entity, access, context, period, extra_filter)
        result = Result(report, _columns(report, entity, currency_fields, language), rows, period,
                        currency_fields=currency_fields, extra_filter=extra_filter)
        _label(service, report, entity, result.rows, context)
    if funnel_steps(report, entity) is not None and not currency_fields:
        result.rows = _funnel(report, entity, result.rows, language)
    if period is not None and report.chart == "number":
        start, end = period
        length = (end - start).days + 1
        result.previous_period = (start - timedelta(days=length), start - timedelta(days=1))
        result.previous, _ = _query(service, report, entity, access, context, result.previous_period, extra_filter)
    return result


def _allowed(service: Any, report: Report, entity: Entity, context: Context) -> Any:
    actor = context.actor
    if report.roles and not (actor.system or actor.is_admin) and not set(actor.roles) & report.roles:
        raise PermissionDenied(entity.name, "report", f"report '{report.name}' is for {', '.join(sorted(report.roles))}")
    access = service.authorize(entity.name, "read", context)
    # masked values stay masked in reports, also for roles that may reveal them one record at
    # a time (a reveal is audited; a group label would show them unaudited)
    masked = set() if access.bypass else set(masked_fields(entity))
    unseen = set(access.hidden_fields()) | set(access.scoped_fields()) | masked
    used = sorted(report.fields & unseen)
    if used:
        raise PermissionDenied(entity.name, "report", f"report '{report.name}' uses '{used[0]}', which is hidden "
                               "from you: hidden fields cannot be grouped, filtered or summed")
    return access


def _kind(entity: Entity, name: str) -> str | None:
    """The type of a field the report uses; the standard columns as what they behave like."""
    field_ = entity.fields.get(name)
    if field_ is not None:
        return field_.type.name
    return STANDARD.get(name)


def _period_filters(report: Report, entity: Entity, period: tuple[date, date] | None) -> list[tuple]:
    if period is None:
        return []
    start, end = period
    if _kind(entity, report.period) == "date":
        return [(report.period, "gte", start), (report.period, "lte", end)]
    return [(report.period, "gte", datetime.combine(start, time(), UTC)),
            (report.period, "lt", datetime.combine(end + timedelta(days=1), time(), UTC))]


def _base(service: Any, report: Report, entity: Entity, access: Any, context: Context,
          period: tuple[date, date] | None, extra_filter: Any) -> sa.Select:
    """SELECT … FROM the entity WHERE (the viewer's scope, the filter, the period, the extra
    filter): the records service's own statement, so a report counts what a list shows."""
    wheres = [report.filter_source] if report.filter_source else []
    filters = _period_filters(report, entity, period)
    if isinstance(extra_filter, str) and extra_filter.strip():
        wheres.append(extra_filter)
    elif extra_filter:
        filters += [tuple(f) for f in extra_filter]
    where = " and ".join(f"({w})" for w in wheres) or None
    restrict = service._restriction(access, "read", context)
    hidden = access.hidden_fields() | access.scoped_fields()
    query = Query(where=where, filters=tuple(filters), limit=None, sort=())
    with numbers_in(context.actor.language):  # filter values typed by the user
        return build_select(entity, query, context, columns=[entity.table.c.id], restrict=restrict, hidden=hidden)


def _const(value: str) -> Any:
    """A constant written into the SQL (never a bound parameter): GROUP BY must see the very
    expression the SELECT has, and PostgreSQL tells two parameters apart."""
    return sa.literal_column("'" + value.replace("'", "''") + "'")


def bucket_sql(column: Any, bucket: str, dialect: str, is_date: bool) -> Any:
    """The first day of the bucket holding `column`, as 'YYYY-MM-DD' text, in UTC
    (`month_of_year`: the month, 1 to 12, as a number: every year's March together)."""
    if bucket == "month_of_year":
        if dialect == "postgresql":
            moment = column if is_date else column.op("AT TIME ZONE")(_const("UTC"))
            return sa.cast(sa.extract("month", moment), sa.Integer)
        return sa.cast(sa.func.strftime(_const("%m"), column), sa.Integer)
    if dialect == "postgresql":
        moment = sa.cast(column, sa.DateTime()) if is_date else column.op("AT TIME ZONE")(_const("UTC"))
        start = sa.func.date_trunc(_const(bucket), moment)
        return sa.func.to_char(start, _const("YYYY-MM-DD"))
    if bucket == "day":
        return sa.func.date(column)
    if bucket == "week":
        return sa.func.date(column, _const("weekday 0"), _const("-6 days"))
    if bucket == "month":
        return sa.func.strftime(_const("%Y-%m-01"), column)
    if bucket == "year":
        return sa.func.strftime(_const("%Y-01-01"), column)
    month = sa.cast(sa.func.strftime(_const("%m"), column), sa.Integer)
    first = (month - 1) // 3 * 3 + 1
    year = sa.cast(sa.func.strftime(_const("%Y"), column), sa.Integer)
    return sa.case((column.is_(None), sa.null()), else_=sa.func.printf(_const("%04d-%02d-01"), year, first))


def _group_sql(report: Report, group: Group, entity: Entity, dialect: str, owners: Any) -> Any:
    table = entity.table
    if group.field == DEPARTMENT:
        return owners.c.department_id
    column = table.c[group.field]
    kind = _kind(entity, group.field)
    if kind in DATE_TYPES:
        bucket = group.bucket or ("day" if kind != "date" else None)
        if bucket is not None:
            return bucket_sql(column, bucket, dialect, kind == "date")
    return column


def funnel_steps(report: Report, entity: Entity) -> tuple[str, ...] | None:
    """A funnel's steps in order: its `steps`, else every option of its stage field that is
    not hidden (None: not a funnel). Each step counts the records that reached at least it."""
    if report.chart != "funnel" or len(report.groups) != 1:
        return None
    field_ = entity.fields.get(report.groups[0].field)
    if field_ is None or field_.type.name != "choice" or not field_.options:
        return None
    return report.steps or field_.active_option_values


def _steps_sql(column: Any, steps: tuple[str, ...]) -> tuple[Any, Any]:
    """The funnel's steps as a derived table (rank, step) and the join condition putting each
    record on every step up to its own stage: a record at `proposal` counts at prospecting,
    qualification and proposal ("reached at least"). A stage that is not a step has no rank
    and joins nothing. Constants, not parameters: the same statement on SQLite and PostgreSQL."""
    selects = [sa.select(sa.literal_column(str(i), sa.Integer).label("rank"), _const(step).label("step"))
               for i, step in enumerate(steps)]
    table = (sa.union_all(*selects) if len(selects) > 1 else selects[0]).subquery("funnel_steps")
    rank = sa.case(*((column == _const(step), i) for i, step in enumerate(steps)), else_=sa.null())
    return table, rank >= table.c.rank


def _currency_sql(field_: Any, table: sa.Table) -> Any:
    if field_.currency_field:
        return table.c[field_.currency_field]
    column = table.c[f"{field_.name}_currency"]
    return sa.func.coalesce(column, _const(field_.currency)) if field_.currency else column


def _measure_sql(measure: Measure, entity: Entity, context: Context, related: Any = None) -> Any:
    """The aggregate of one measure. `related`: the measure's subquery (a `from:` measure),
    whose per-record partial aggregates are added up here."""
    if related is not None:
        if measure.kind == "avg":
            return sa.func.sum(related.c.s, type_=sa.Float()) / sa.func.nullif(sa.func.sum(related.c.n), 0)
        if measure.kind in ("count", "sum"):
            return sa.func.coalesce(sa.func.sum(related.c.v), 0)
        return getattr(sa.func, measure.kind)(related.c.v, type_=related.c.v.type)
    table = entity.table
    condition = None
    if measure.filter is not None:
        condition = measure.filter.to_sql(dict(table.c), context.variables, now=context.now)
    if measure.currency is not None:
        in_currency = _currency_sql(entity.fields[measure.field], table) == _const(measure.currency)
        condition = in_currency if condition is None else sa.and_(condition, in_currency)
    if measure.kind == "count":
        return sa.func.count(sa.case((condition, 1))) if condition is not None else sa.func.count()
    column = table.c[measure.field]
    if measure.since is not None:
        diff = DateDiff if _kind(entity, measure.field) == "date" else DatetimeDiff
        column = diff(column, table.c[measure.since])
    value = sa.case((condition, column)) if condition is not None else column
    if measure.kind == "count_distinct":
        return sa.func.count(sa.distinct(value))
    if measure.kind == "avg" or measure.since is not None:
        return getattr(sa.func, measure.kind)(value, type_=sa.Float())
    return getattr(sa.func, measure.kind)(value, type_=column.type)


def _related(service: Any, report: Report, measure: Measure, context: Context, name: str) -> Any:
    """A `from:` measure's records, aggregated per record they link to: (k: the linked id,
    v: count, sum, min or max; s, n: sum and count for an average), within the viewer's
    row scope of that entity and refused when a field it reads is hidden from them."""
    other = service.model.entity(measure.related[0])
    rows = other.child_tables[measure.related[1]] if len(measure.related) == 3 else None
    source = rows if rows is not None else other.table  # an order's lines, or the records themselves
    link = source.c[measure.related[-1]]
    access = service.authorize(other.name, "read", context)
    masked = set() if access.bypass else set(masked_fields(other))
    unseen = set(access.hidden_fields()) | set(access.scoped_fields()) | masked
    reads = {measure.related[1], *([measure.field] if measure.field and rows is None else []),
             *(measure.filter.fields if measure.filter is not None else ())}
    used = sorted(reads & unseen)
    if used:
        raise PermissionDenied(other.name, "report", f"report '{report.name}' uses '{other.name}.{used[0]}', which "
                               "is hidden from you: hidden fields cannot be grouped, filtered or summed")
    restrict = service._restriction(access, "read", context)
    query = Query(where=measure.filter_source, limit=None, sort=())
    with numbers_in(context.actor.language):
        base = build_select(other, query, context, columns=[other.table.c.id], restrict=restrict,
                            hidden=access.hidden_fields() | access.scoped_fields())
    if rows is not None:
        base = base.select_from(other.table.join(rows, rows.c.parent_id == other.table.c.id))
    if measure.currency is not None:
        fields = other.fields[measure.related[1]].subfields if rows is not None else other.fields
        base = base.where(_currency_sql(fields[measure.field], source) == _const(measure.currency))
    if measure.kind == "count":
        values = [sa.func.count().label("v")]
    else:
        column = source.c[measure.field]
        if measure.kind == "avg":
            values = [sa.func.sum(column, type_=sa.Float()).label("s"), sa.func.count(column).label("n")]
        else:
            values = [getattr(sa.func, measure.kind)(column, type_=column.type).label("v")]
    statement = base.with_only_columns(link.label("k"), *values, maintain_column_froms=True)
    return statement.where(link.is_not(None)).group_by(link).subquery(name)


def _money_fields(report: Report, entity: Entity) -> tuple[str, ...]:
    """The money fields summed (averaged…) by the report: each adds its currency to the grouping
    (not a measure in one currency, nor one of related records)."""
    found: dict[str, str] = {}  # currency key -> the first money field with it
    for m in report.measures:
        if m.related or m.currency or m.since:
            continue
        if m.kind in ("sum", "avg", "min", "max") and _kind(entity, m.field) == "money":
            found.setdefault(entity.fields[m.field].currency_field or f"{m.field}_currency", m.field)
    return tuple(found.values())


def _query(service: Any, report: Report, entity: Entity, access: Any, context: Context,
           period: tuple[date, date] | None, extra_filter: Any) -> tuple[list[Row], tuple[str, ...]]:
    base = _base(service, report, entity, access, context, period, extra_filter)
    dialect = service.engine.dialect.name
    table = entity.table
    owners = users.alias("report_owner")
    groups = [_group_sql(report, g, entity, dialect, owners).label(f"g{i}") for i, g in enumerate(report.groups)]
    steps = funnel_steps(report, entity)
    stacked = steps is not None and _stackable(report)
    if stacked:  # one GROUP BY stage; each step then adds up the steps after it (_stack)
        base = base.where(table.c[report.groups[0].field].in_([_const(s) for s in steps]))
    elif steps is not None:  # each record on every step it reached (_steps_sql)
        step_table, reached = _steps_sql(table.c[report.groups[0].field], steps)
        groups[0] = step_table.c.step.label("g0")
    money = _money_fields(report, entity)
    currencies = [_currency_sql(entity.fields[f], table).label(f"c{i}") for i, f in enumerate(money)]
    plain = [m for m in report.measures if m.kind != "ratio"]
    subqueries = {m.name: _related(service, report, m, context, f"r{i}") for i, m in enumerate(plain) if m.related}
    aggregates = [_measure_sql(m, entity, context, subqueries.get(m.name)).label(f"m{i}")
                  for i, m in enumerate(plain)]
    statement = base.with_only_columns(*groups, *currencies, *aggregates, maintain_column_froms=True)
    source = table
    if any(g.field == DEPARTMENT for g in report.groups):
        source = source.outerjoin(owners, owners.c.id == table.c.owner)
    for sub in subqueries.values():
        source = source.outerjoin(sub, sub.c.k == table.c.id)
    if steps is not None and not stacked:
        source = source.join(step_table, reached)
    if source is not table:
        statement = statement.select_from(source)
    keys = [*groups, *currencies]
    if keys:
        statement = statement.group_by(*(k.element for k in keys))
    if report.having is not None:
        by_name = {m.name: a.element for m, a in zip(plain, aggregates, strict=True)}
        statement = statement.having(report.having.to_sql(by_name, context.variables, now=context.now))
    statement = statement.order_by(*_order(report, entity, groups, currencies, aggregates, steps))
    by_ratio = _sorted_by_ratio(report)
    if report.limit and not by_ratio:
        statement = statement.limit(report.limit)
    with service.reading() as conn:
        found = conn.execute(statement).all()
    rows = []
    measured = [service.model.entity(m.related[0]) if m.related else entity for m in plain]
    for record in found:
        values = {m.name: _value(m, measured[i], record[len(keys) + i]) for i, m in enumerate(plain)}
        groups_found = tuple(_group_value(g, entity, record[i]) for i, g in enumerate(report.groups))
        rows.append(Row(groups_found, (), values, tuple(record[len(groups) + i] for i in range(len(currencies)))))
    if stacked:
        rows = _stack(report, plain, rows, steps)
    for row in rows:
        _ratios(report, row)
    if by_ratio:  # a ratio is worked out from the aggregates: sorted here (empty last), then cut
        name = report.sort.lstrip("-")
        filled = sorted((r for r in rows if r.values[name] is not None), key=lambda r: r.values[name],
                        reverse=report.sort.startswith("-"))
        rows = (filled + [r for r in rows if r.values[name] is None])[:report.limit or None]
    return rows, money


def _stackable(report: Report) -> bool:
    """Whether a funnel's figures can be added up from one GROUP BY stage: counts and sums
    add, minimums and maximums combine; an average, a distinct count, `having`, a `limit`
    or a sort by a measure need each record on every step it reached (_steps_sql), which
    reads every record once per step (a million records: a second)."""
    plain = [m for m in report.measures if m.kind != "ratio"]
    return not report.having and not report.limit and all(m.kind in ("count", "sum", "min", "max") for m in plain) \
        and (report.sort is None or report.sort.lstrip("-") == report.groups[0].field)


def _stack(report: Report, plain: list[Measure], rows: list[Row], steps: tuple[str, ...]) -> list[Row]:
    """Each step's figures from the rows of one GROUP BY stage: a step counts its own stage's
    records and every later step's (the records that reached it), per currency, in step
    order; a step no record reached has no row (`_funnel` shows it at 0)."""
    by_key: dict[tuple, dict[str, Row]] = {}
    for row in rows:
        by_key.setdefault(row.currencies, {})[row.groups[0]] = row
    stacked: list[Row] = []
    for currencies, found in by_key.items():
        total: dict[str, Any] | None = None
        for step in reversed(steps):
            own = found.get(step)
            if own is not None:
                total = dict(own.values) if total is None else {
                    m.name: _combine(m.kind, total[m.name], own.values[m.name]) for m in plain}
            if total is not None:
                template = own or next(iter(found.values()))
                stacked.append(Row((step, *template.groups[1:]), (), dict(total), currencies))
    stacked.sort(key=lambda r: (steps.index(r.groups[0]), tuple("" if c is None else c for c in r.currencies)))
    return stacked


def _combine(kind: str, a: Any, b: Any) -> Any:
    if a is None or b is None:
        return b if a is None else a
    if kind in ("count", "sum"):
        return a + b
    return min(a, b) if kind == "min" else max(a, b)


def _sorted_by_ratio(report: Report) -> bool:
    name = (report.sort or "").lstrip("-")
    return any(m.name == name and m.kind == "ratio" for m in report.measures)


def _order(report: Report, entity: Entity, groups: list, currencies: list, aggregates: list,
           steps: tuple[str, ...] | None = None) -> list:
    """Default: groups in their natural order (choices in option order, empty last; a
    funnel's steps in their order), then currencies; `sort` puts a measure or a group first."""
    natural = []
    for group, column in zip(report.groups, groups, strict=True):
        if steps is not None:
            natural.append(sa.case(*((column.element == _const(s), i) for i, s in enumerate(steps))))
            continue
        natural += _natural(group, entity, column.element)
    for column in currencies:
        natural += [column.element.is_(None), column.element]
    if not report.sort:
        return natural
    name, descending = report.sort.lstrip("-"), report.sort.startswith("-")
    plain = [m for m in report.measures if m.kind != "ratio"]
    first: list = []
    if name in [m.name for m in plain]:
        element = aggregates[[m.name for m in plain].index(name)].element
        first = [element.is_(None), element.desc() if descending else element.asc()]
    elif name in [m.name for m in report.measures]:
        return natural  # a ratio: sorted once computed (see _ratios' caller)
    else:
        for group, column in zip(report.groups, groups, strict=True):
            if group.field == name:
                keys = _natural(group, entity, column.element)
                first = [keys[0], *(k.desc() if descending else k for k in keys[1:])]
    return [*first, *natural]


def _natural(group: Group, entity: Entity, element: Any) -> list:
    field_ = entity.fields.get(group.field)
    if field_ is not None and field_.type.name == "choice" and field_.options:
        rank = sa.case({o.value: i for i, o in enumerate(field_.options)}, value=element, else_=len(field_.options))
        return [element.is_(None), rank, element]
    return [element.is_(None), element]


def _group_value(group: Group, entity: Entity, value: Any) -> Any:
    if group.bucket == "month_of_year":
        return None if value is None else int(value)
    kind = _kind(entity, group.field)
    if isinstance(value, str) and kind in DATE_TYPES and (group.bucket or kind != "date"):
        return date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        return value.date()
    return value


def _value(measure: Measure, entity: Entity, value: Any) -> Any:
    if measure.kind in ("count", "count_distinct"):
        return int(value or 0)
    kind = _kind(entity, measure.field)
    if value is None:
        return None
    if kind == "duration" or measure.since is not None:
        return timedelta(microseconds=round(value))
    if measure.kind == "avg":
        return Decimal(repr(float(value))).quantize(Decimal("0.0001"))
    if kind == "integer":
        return int(value)
    if kind in ("datetime", "date_or_datetime") and isinstance(value, (str, datetime)):  # in UTC, as records
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def _ratios(report: Report, row: Row) -> None:
    for m in report.measures:
        if m.kind != "ratio":
            continue
        top, bottom = (row.values.get(n) for n in m.ratio)
        row.values[m.name] = _divide(top, bottom)


def _divide(top: Any, bottom: Any) -> Decimal | None:
    if top is None or bottom in (None, 0):
        return None
    if isinstance(top, timedelta) or isinstance(bottom, timedelta):
        top = Decimal(top // timedelta(microseconds=1)) if isinstance(top, timedelta) else Decimal(top)
        bottom = Decimal(bottom // timedelta(microseconds=1)) if isinstance(bottom, timedelta) else Decimal(bottom)
        if bottom == 0:
            return None
    return (Decimal(top) / Decimal(bottom)).quantize(Decimal("0.0001"))


# -- labels ----------------------------------------------------------------------------------------
def group_label(group: Group, entity: Entity, language: str) -> str:
    if group.label:
        return text(group.label, language)
    if group.field == DEPARTMENT:
        return text(DEPARTMENT_LABEL, language)
    if group.field in entity.fields:
        return entity.fields[group.field].label_text(language)
    return text(STANDARD_LABELS.get(group.field, OWNER_LABEL), language)


def _columns(report: Report, entity: Entity, money: tuple[str, ...], language: str) -> list[Column]:
    columns = [Column(g.field, group_label(g, entity, language), "group") for g in report.groups]
    for name in money:
        label = text(CURRENCY, language) if len(money) == 1 else \
            f"{entity.fields[name].label_text(language)} · {text(CURRENCY, language)}"
        columns.append(Column(f"currency:{name}", label, "currency"))
    columns += [Column(m.name, text(m.label, language, m.name), "measure") for m in report.measures]
    return columns


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def bucket_text(day: date | int, bucket: str, language: str) -> str:
    zh = language.startswith("zh")
    if bucket == "month_of_year":  # a month number, 1 to 12
        month = day if isinstance(day, int) else day.month
        return f"{month}月" if zh else MONTHS[month - 1]
    if bucket == "year":
        return f"{day.year}年" if zh else str(day.year)
    if bucket == "quarter":
        quarter = (day.month - 1) // 3 + 1
        return f"{day.year}年第{quarter}季度" if zh else f"{day.year} Q{quarter}"
    if bucket == "month":
        return f"{day.year}年{day.month}月" if zh else f"{day.year}-{day.month:02d}"
    if bucket == "week":
        year, week, _ = day.isocalendar()
        return f"{year}年第{week}周" if zh else f"{year}-W{week:02d}"
    return day.isoformat()


def _label(service: Any, report: Report, entity: Entity, rows: list[Row], context: Context) -> None:
    """Each row's group values as the viewer reads them; titles, users and departments read
    once per group (one query each)."""
    language = context.actor.language
    columns = []
    for i, group in enumerate(report.groups):
        values = {row.groups[i] for row in rows if row.groups[i] is not None}
        columns.append(_labels_of(service, group, entity, values, context, language))
    for row in rows:
        row.labels = tuple(columns[i].get(value) if value is not None else text(EMPTY, language)
                           for i, value in enumerate(row.groups))
        row.colors = tuple(_color(entity, group, value) for group, value in zip(report.groups, row.groups,
                                                                                  strict=True))


def _color(entity: Entity, group: Group, value: Any) -> str | None:
    field_ = entity.fields.get(group.field)
    option = field_.option(str(value)) if field_ is not None and field_.options and value is not None else None
    return option.color if option is not None else None


def _labels_of(service: Any, group: Group, entity: Entity, values: set, context: Context,
               language: str) -> dict[Any, str]:
    field_ = entity.fields.get(group.field)
    kind = _kind(entity, group.field)
    if group.field == DEPARTMENT:
        return _names(service, departments, departments.c.name, values)
    if kind == "user":
        return _names(service, users, sa.func.coalesce(sa.func.nullif(users.c.display_name, ""), users.c.username),
                      values)
    if kind == "link":
        target = service.model.entity(field_.to)
        titles = read_titles(service, target, values, context, language)
        return {v: titles.get(v) or numbered(target, v, language) for v in values}
    if kind == "choice":
        return {v: text(o.label, language, v) if (o := field_.option(str(v))) else str(v) for v in values}
    if kind == "boolean":
        yes, no = YES_NO.get(language[:2], YES_NO["en"])
        return {v: yes if v else no for v in values}
    if kind in DATE_TYPES:
        bucket = group.bucket or "day"
        return {v: bucket_text(v, bucket, language) if isinstance(v, date) or bucket == "month_of_year" else str(v)
                for v in values}
    return {v: str(v) for v in values}


def _names(service: Any, table: sa.Table, name: Any, ids: Iterable[Any]) -> dict[Any, str]:
    wanted = sorted(i for i in ids if isinstance(i, int))
    if not wanted:
        return {}
    with service.reading() as conn:
        found = dict(conn.execute(sa.select(table.c.id, name).where(table.c.id.in_(wanted))).all())
    return {i: str(found.get(i, f"#{i}")) for i in wanted}


def _funnel(report: Report, entity: Entity, rows: list[Row], language: str) -> list[Row]:
    """Every step in order, steps no record reached at 0, and each step's conversion from the
    one before: reached(this) / reached(before), never above 100 % (the counts never grow)."""
    field_ = entity.fields[report.groups[0].field]
    by_value = {row.groups[0]: row for row in rows}
    stages = list(funnel_steps(report, entity) or ())
    result = []
    for value in stages:
        row = by_value.get(value)
        if row is None:
            values = {m.name: 0 if m.kind in ("count", "count_distinct", "sum") else None
                      for m in report.measures if m.kind != "ratio"}
            option = field_.option(str(value)) if value is not None else None
            row = Row((value,), (text(option.label, language, value) if option else text(EMPTY, language),), values,
                      colors=(option.color if option else None,))
            _ratios(report, row)
        result.append(row)
    first = report.measures[0].name
    for before, row in zip(result, result[1:], strict=False):
        row.conversion = _divide(row.values.get(first), before.values.get(first))
    return result


# -- drill-down ------------------------------------------------------------------------------------
def filter_for(service: Any, report: Report | str, groups: Sequence[Any], context: Context | None = None, *,
               currencies: Sequence[str | None] = (), period: tuple[date, date] | None = None,
               currency_fields: Sequence[str] | None = None, extra_filter: Any = None) -> DrillDown:
    """The filter of the list page that selects exactly the records of one row: the report's
    filter, period and extra filter, and each group's value (a bucket as its first and last
    day). `groups`: a Row's `groups` (and `currencies`), as `Result.drill` passes them."""
    report = service.model.reports[report] if isinstance(report, str) else report
    entity = service.model.entity(report.entity)
    filters: list[tuple[str, str, Any]] = list(_period_filters(report, entity, period))
    wheres: list[str] = [f"({report.filter_source})"] if report.filter_source else []
    if isinstance(extra_filter, str) and extra_filter.strip():
        wheres.append(f"({extra_filter})")
    elif extra_filter:
        filters += [tuple(f) for f in extra_filter]
    exact = not wheres
    steps = funnel_steps(report, entity)
    for group, value in zip(report.groups, groups, strict=False):
        kind = _kind(entity, group.field)
        if steps is not None and value in steps:  # a funnel's step: the records that reached it
            reached = list(steps[steps.index(value):])
            filters.append((group.field, "in", reached) if len(reached) > 1 else (group.field, "eq", value))
        elif group.field == DEPARTMENT:
            with service.reading() as conn:
                members = sorted(conn.execute(sa.select(users.c.id).where(
                    users.c.department_id.is_(None) if value is None else users.c.department_id == value)).scalars())
            if value is None:
                wheres.append(f"(owner == null or owner in [{', '.join(str(i) for i in members)}])")
            else:
                filters.append(("owner", "in", members))
            exact = False
        elif value is None:
            filters.append((group.field, "empty", None))
            exact = False
        elif group.bucket == "month_of_year":
            wheres.append(f"month({group.field}) == {int(value)}")
            exact = False
        elif kind in DATE_TYPES and (group.bucket or kind != "date"):
            start, end = _bucket_span(value, group.bucket or "day")
            if kind == "date":
                filters += [(group.field, "gte", start), (group.field, "lt", end)]
            else:
                filters += [(group.field, "gte", datetime.combine(start, time(), UTC)),
                            (group.field, "lt", datetime.combine(end, time(), UTC))]
        else:
            filters.append((group.field, "eq", value))
    money = tuple(currency_fields) if currency_fields is not None else _money_fields(report, entity)
    for name, code in zip(money, currencies, strict=False):
        field_ = entity.fields[name]
        key = field_.currency_field or f"{name}_currency"
        if code is None:
            wheres.append(f"is_empty({key})")
        elif field_.currency and not field_.currency_field:
            wheres.append(f"coalesce({key}, '{field_.currency}') == '{code}'")
        else:
            wheres.append(f"{key} == '{code}'")
        exact = False
    where = " and ".join(wheres) or None
    return DrillDown(entity.name, where, tuple(filters), _params(entity, filters) if exact else None)


def _bucket_span(day: date, bucket: str) -> tuple[date, date]:
    """The first day of a bucket and the first day after it."""
    if bucket == "day":
        return day, day + timedelta(days=1)
    if bucket == "week":
        return day, day + timedelta(days=7)
    if bucket == "year":
        return day, date(day.year + 1, 1, 1)
    months = 3 if bucket == "quarter" else 1
    month = day.month - 1 + months
    return day, date(day.year + month // 12, month % 12 + 1, 1)


def _params(entity: Entity, filters: list[tuple[str, str, Any]]) -> tuple[tuple[str, str], ...] | None:
    """The list page's URL parameters for these filters (engine/web/pages/lists.py: a
    filter of `list.filters`, or a link field), or None when it has none for one of them.
    Date ranges on one field (a period and a bucket) become one range: the list page takes
    each parameter once."""
    params: list[tuple[str, str]] = []
    ranges: dict[str, list[date | None]] = {}
    offered = set(entity.list.filters)
    for name, op, value in filters:
        kind = _kind(entity, name)
        if name not in offered and kind != "link":
            return None
        if kind in DATE_TYPES and op in ("gte", "lt", "lte"):
            day = value.date() if isinstance(value, datetime) else value
            span = ranges.setdefault(name, [None, None])
            if op == "gte":
                span[0] = day if span[0] is None else max(span[0], day)
            else:
                last = day - timedelta(days=1) if op == "lt" else day
                span[1] = last if span[1] is None else min(span[1], last)
        elif op == "eq" and kind in ("choice", "link", "user", "boolean"):
            params.append((name, ("1" if value else "0") if kind == "boolean" else str(value)))
        elif op == "in" and kind == "choice":  # the list page takes a choice filter's options repeated
            params += [(name, str(v)) for v in value]
        else:
            return None  # text is searched (contains) by the list page, not matched
    for name, (first, last) in ranges.items():
        if first is not None:
            params.append((f"{name}.from", first.isoformat()))
        if last is not None:
            params.append((f"{name}.to", last.isoformat()))
    return tuple(params)


__all__ = ["Column", "DrillDown", "ReportNotFound", "Result", "Row", "bucket_sql", "filter_for", "funnel_steps",
           "run"]
