"""Report figures against the tests' own plain SQL (text written here), on SQLite and
PostgreSQL: counts, sums per currency, averages, minimums, maximums, distinct counts,
ratios, date buckets, funnels, number cards, link titles, departments, scopes, drill-down."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from engine.records import PermissionDenied
from engine.reports import filter_for, run

CENT = Decimal("0.01")


def money(value) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(CENT)


def moment(value) -> datetime:
    """A datetime column as the driver gives it (text on SQLite, a datetime on PostgreSQL),
    as a naive UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def day(value) -> date | None:
    if value is None:
        return None
    return date.fromisoformat(value) if isinstance(value, str) else value


@pytest.fixture
def world(report_world):
    return report_world()


def test_count_and_money_sum_per_currency(world):
    result = run(world.service, "by_stage", world.people["root"])
    assert [c.kind for c in result.columns] == ["group", "currency", "measure", "measure"]
    assert [c.label for c in result.columns] == ["Stage", "Currency", "Deals", "Revenue"]
    # a money field without a currency of its own shows its default one (MoneyType.currency_of)
    assert world.service.model.entity("opportunity").fields["amount"].currency == "CNY"
    expected = {(stage, currency): (count, money(total)) for stage, currency, count, total in world.sql(
        "SELECT stage, COALESCE(amount_currency, 'CNY'), COUNT(*), SUM(amount) FROM T "
        "GROUP BY stage, COALESCE(amount_currency, 'CNY')")}
    got = {(row.groups[0], row.currency): (row.values["deals"], row.values["revenue"]) for row in result.rows}
    assert got == expected
    assert {c for _s, c in got} == {"CNY", "USD"}  # never added together
    # rows come in option order, currencies after (empty last)
    order = ["lead", "qualified", "proposal", "won", "lost"]
    keys = [(order.index(r.groups[0]), r.currency) for r in result.rows]
    assert keys == sorted(keys)
    assert result.rows[0].labels == ("Lead",)


def test_conditional_aggregates_ratio_and_owner_names(world):
    result = run(world.service, "by_owner", world.people["root"])
    expected = {owner: (deals, hours, won) for owner, deals, hours, won in world.sql(
        "SELECT owner, COUNT(*), SUM(hours), SUM(CASE WHEN stage = 'won' THEN 1 ELSE 0 END) FROM T "
        "WHERE stage <> 'lost' GROUP BY owner")}
    names = dict(world.sql("SELECT id, display_name FROM tailor_user"))
    assert {r.groups[0]: (r.values["deals"], r.values["hours"], r.values["won"]) for r in result.rows} == expected
    for row in result.rows:
        assert row.labels == (names[row.groups[0]],)
        won, closed = row.values["won"], row.values["closed"]
        assert closed == won  # lost deals are filtered out by the report
        assert row.values["win_rate"] == (None if closed == 0 else Decimal(won / closed).quantize(Decimal("0.0001")))
    assert any(r.values["win_rate"] is None for r in result.rows)  # a divisor of 0 gives no ratio


def test_two_reps_see_their_own_totals_and_the_director_all(world):
    totals = {}
    for who in ("rita", "ravi", "mia", "dora"):
        result = run(world.service, "by_owner", world.people[who])
        totals[who] = {r.groups[0]: r.values["deals"] for r in result.rows}
    people = {name: ctx.actor.id for name, ctx in world.people.items()}
    per_owner = dict(world.sql("SELECT owner, COUNT(*) FROM T WHERE stage <> 'lost' GROUP BY owner"))
    assert totals["rita"] == {people["rita"]: per_owner[people["rita"]]}
    assert totals["ravi"] == {people["ravi"]: per_owner[people["ravi"]]}
    assert totals["rita"] != totals["ravi"]
    assert totals["mia"] == {people[p]: per_owner[people[p]] for p in ("mia", "rita")}  # Sales/East
    assert totals["dora"] == per_owner  # the same report, the whole company
    number = run(world.service, "total", world.people["rita"]).rows[0].values
    assert number["deals"] == world.sql("SELECT COUNT(*) FROM T WHERE owner = :o", o=people["rita"])[0][0]


def test_month_buckets_average_minimum_and_period(world):
    raw = world.sql("SELECT close_date, hours FROM T")
    months: dict[date | None, list] = defaultdict(list)
    for close, hours in raw:
        close = day(close)
        months[close.replace(day=1) if close else None].append((close, hours))

    def expected(rows):
        hours = [h for _c, h in rows if h is not None]
        closes = [c for c, _h in rows if c is not None]
        average = Decimal(sum(hours) / len(hours)).quantize(Decimal("0.0001")) if hours else None
        return len(rows), average, min(closes) if closes else None

    result = run(world.service, "monthly", world.people["root"])
    got = {r.groups[0]: (r.values["deals"], r.values["avg_hours"], r.values["first_close"]) for r in result.rows}
    assert got == {k: expected(v) for k, v in months.items()}
    assert [r.groups[0] for r in result.rows] == sorted(k for k in months if k) + [None]
    assert result.rows[0].labels == (f"{result.rows[0].groups[0]:%Y-%m}",)
    period = (date(2025, 3, 1), date(2025, 8, 31))
    within = run(world.service, "monthly", world.people["root"], period=period)
    assert {r.groups[0]: r.values["deals"] for r in within.rows} == {
        k: len(v) for k, v in months.items() if k and period[0] <= k <= period[1]}


@pytest.mark.parametrize("report,bucket", [("by_week", "week"), ("by_day", "day")])
def test_datetime_buckets_are_utc_days_and_monday_weeks(world, report, bucket):
    stamps = [moment(v) for (v,) in world.sql("SELECT closed_at FROM T")]
    if bucket == "week":
        keys = Counter((s.date() - timedelta(days=s.weekday())) for s in stamps)
    else:
        keys = Counter(s.date() for s in stamps)
    result = run(world.service, report, world.people["root"])
    got = {r.groups[0]: r.values["deals"] for r in result.rows}
    if report == "by_day":  # sorted by deals, top 5
        assert [r.values["deals"] for r in result.rows] == sorted(keys.values(), reverse=True)[:5]
        assert all(keys[k] == v for k, v in got.items()) and len(got) == 5
    else:
        assert got == dict(keys)
        assert all(k.weekday() == 0 for k in got)
        first = result.rows[0].groups[0]
        assert result.rows[0].labels == (f"{first.isocalendar()[0]}-W{first.isocalendar()[1]:02d}",)


def test_quarter_and_year_buckets_with_max(world):
    raw = world.sql("SELECT close_date, closed_at FROM T")
    expected: dict = defaultdict(lambda: [0, None])
    for close, closed in raw:
        close, closed = day(close), moment(closed)
        quarter = date(close.year, (close.month - 1) // 3 * 3 + 1, 1) if close else None
        key = (quarter, date(closed.year, 1, 1))
        expected[key][0] += 1
        expected[key][1] = max(expected[key][1] or closed, closed)
    result = run(world.service, "by_quarter", world.people["root"])
    got = {r.groups: (r.values["deals"], moment(r.values["last_close"])) for r in result.rows}
    assert got == {k: tuple(v) for k, v in expected.items()}
    labelled = next(r for r in result.rows if r.groups[0] is not None)
    assert labelled.labels[0] == f"{labelled.groups[0].year} Q{(labelled.groups[0].month - 1) // 3 + 1}"


def test_funnel_counts_the_records_that_reached_each_step(world):
    """Each step counts the records at it or at a later step ("reached at least"), so the
    counts never grow and a conversion is at most 100 %; `lost` is not a step and counts
    nowhere; every measure (a sum, an average) is of the same records, as plain SQL says."""
    result = run(world.service, "funnel", world.people["root"])
    steps = ["lead", "qualified", "proposal", "won"]
    assert [r.groups[0] for r in result.rows] == steps
    for i, row in enumerate(result.rows):
        reached = "', '".join(steps[i:])
        deals, cost, hours = world.sql(f"SELECT COUNT(*), SUM(cost), AVG(hours) FROM T "
                                       f"WHERE stage <> 'proposal' AND stage IN ('{reached}')")[0]
        assert row.values["deals"] == deals, row
        assert row.values["cost"] == (Decimal(str(cost)).quantize(Decimal("0.01")) if cost is not None else 0)
        assert (row.values["avg_hours"] is None) == (hours is None)
        if hours is not None:
            assert abs(float(row.values["avg_hours"]) - float(hours)) < 0.0001
    deals = [r.values["deals"] for r in result.rows]
    assert deals == sorted(deals, reverse=True) and deals[0] > deals[-1] > 0
    # proposal is filtered out, yet the won deals reached it: its figure is won's
    assert deals[2] == deals[3]
    assert result.rows[0].conversion is None
    for before, row in zip(result.rows, result.rows[1:], strict=False):
        assert row.conversion == (Decimal(row.values["deals"]) / before.values["deals"]).quantize(Decimal("0.0001"))
        assert 0 <= row.conversion <= 1
    assert result.rows[3].conversion == 1
    assert [r.colors for r in result.rows][1:3] == [(None,), ("blue",)]  # option colours, for charts


def test_a_funnel_without_steps_has_every_option_as_a_step(world):
    from engine.reports import build_report

    report = build_report(world.service.model, {
        "report": "all_steps", "entity": "opportunity", "group_by": ["stage"], "chart": "funnel",
        "measures": [{"name": "deals", "count": True}]})
    result = run(world.service, report, world.people["root"])
    steps = ["lead", "qualified", "proposal", "won", "lost"]
    assert [r.groups[0] for r in result.rows] == steps
    counts = dict(world.sql("SELECT stage, COUNT(*) FROM T GROUP BY stage"))
    assert [r.values["deals"] for r in result.rows] == [sum(counts.get(s, 0) for s in steps[i:])
                                                        for i in range(len(steps))]


def test_number_card_with_the_previous_period(world):
    period = (date(2026, 1, 1), date(2026, 6, 30))
    result = run(world.service, "total", world.people["root"], period=period)
    length = (period[1] - period[0]).days + 1
    before = (period[0] - timedelta(days=length), period[0] - timedelta(days=1))
    assert result.previous_period == before and (before[1] - before[0]).days + 1 == length

    def figures(start, end):
        deals, hours = world.sql("SELECT COUNT(*), SUM(hours) FROM T WHERE close_date >= :a AND close_date <= :b",
                                 a=start, b=end)[0]
        return {"deals": deals, "hours": hours}

    assert result.rows[0].values == figures(*period)
    assert result.previous[0].values == figures(*before)
    assert result.rows[0].values != result.previous[0].values


def test_departments_link_titles_and_distinct_counts(world):
    result = run(world.service, "by_department", world.people["root"])
    expected = {(dept, customer): (deals, distinct) for dept, customer, deals, distinct in world.sql(
        "SELECT u.department_id, T.customer, COUNT(*), COUNT(DISTINCT T.customer) FROM T "
        "LEFT JOIN tailor_user u ON u.id = T.owner GROUP BY u.department_id, T.customer")}
    assert {r.groups: (r.values["deals"], r.values["customers"]) for r in result.rows} == expected
    departments = dict(world.sql("SELECT id, name FROM tailor_department"))
    customers = {v: k for k, v in world.customers.items()}
    for row in result.rows:
        assert row.labels[0] == departments[row.groups[0]]
        assert row.labels[1] == (customers[row.groups[1]] if row.groups[1] else "(empty)")


def test_standard_columns_created_at_and_created_by(world):
    result = run(world.service, "created", world.people["root"], period=(date(2020, 1, 1), date(2099, 12, 31)))
    raw = world.sql("SELECT created_at, created_by, owner FROM T")
    expected: dict = {}
    for created, by, owner in raw:
        created = moment(created)
        key = (date(created.year, created.month, 1), by)
        count, first, owners = expected.get(key, (0, created, set()))
        expected[key] = (count + 1, min(first, created), owners | {owner})
    got = {r.groups: (r.values["deals"], moment(r.values["first"]), r.values["owners"]) for r in result.rows}
    assert got == {k: (c, f, len(o)) for k, (c, f, o) in expected.items()}
    assert result.rows[0].labels[1] == "root" and [c.label for c in result.columns][:2] == ["Created", "Created by"]
    assert result.rows[0].values["first"].tzinfo is not None
    assert run(world.service, "created", world.people["root"],
               period=(date(2000, 1, 1), date(2000, 12, 31))).rows == []


def test_top_n_by_a_measure(world):
    result = run(world.service, "by_customer", world.people["root"])
    counts = world.sql("SELECT customer, COUNT(*) FROM T GROUP BY customer ORDER BY COUNT(*) DESC")
    assert [r.values["deals"] for r in result.rows] == [c for _k, c in counts[:2]]
    assert len(result.rows) == 2


def test_durations_and_money_maxima_per_currency(world):
    result = run(world.service, "effort", world.people["root"])
    expected = {(s, c): (total, average, longest, top) for s, c, total, average, longest, top in world.sql(
        "SELECT stage, COALESCE(amount_currency, 'CNY'), SUM(effort), AVG(effort), MAX(effort), MAX(amount) "
        "FROM T GROUP BY stage, COALESCE(amount_currency, 'CNY')")}
    assert {(r.groups[0], r.currency) for r in result.rows} == set(expected)
    for row in result.rows:
        total, average, longest, top = expected[(row.groups[0], row.currency)]
        values = row.values
        assert values["total"] == (None if total is None else timedelta(microseconds=int(total)))
        assert values["longest"] == (None if longest is None else timedelta(microseconds=int(longest)))
        assert (values["average"] is None) == (average is None)
        if average is not None:
            assert abs(values["average"] - timedelta(microseconds=float(average))) < timedelta(milliseconds=1)
        assert values["top_amount"] == money(top)


def test_top_n_by_a_ratio_with_empty_ratios_last(world):
    result = run(world.service, "best_rate", world.people["root"])
    figures = world.sql("SELECT customer, SUM(CASE WHEN stage = 'won' THEN 1 ELSE 0 END), "
                        "SUM(CASE WHEN stage IN ('won', 'lost') THEN 1 ELSE 0 END) FROM T GROUP BY customer")
    rates = {c: (None if closed == 0 else Decimal(won / closed).quantize(Decimal("0.0001")))
             for c, won, closed in figures}
    ranked = sorted((r for r in rates.values() if r is not None), reverse=True)
    assert [r.values["rate"] for r in result.rows] == (ranked + [None] * len(rates))[:3]
    assert all(rates[r.groups[0]] == r.values["rate"] for r in result.rows)


def test_unknown_report_and_bad_periods(world):
    from engine.records import ValidationError
    from engine.reports import ReportNotFound

    with pytest.raises(ReportNotFound):
        run(world.service, "nope", world.people["root"])
    with pytest.raises(ValidationError):
        run(world.service, "monthly", world.people["root"], period=(date(2026, 2, 1), date(2026, 1, 1)))
    with pytest.raises(ValidationError):
        run(world.service, "by_stage", world.people["root"], period=(date(2026, 1, 1), date(2026, 1, 31)))
    with pytest.raises(ValidationError):  # a filter naming a field the viewer may not see
        run(world.service, "by_owner", world.people["rita"], extra_filter="cost > 1")


def test_extra_filter_narrows_the_figures(world):
    result = run(world.service, "by_stage", world.people["root"], extra_filter="priority == true")
    expected = {(s, c): n for s, c, n in world.sql(
        "SELECT stage, COALESCE(amount_currency, 'CNY'), COUNT(*) FROM T WHERE priority = :p "
        "GROUP BY stage, COALESCE(amount_currency, 'CNY')", p=True)}
    assert {(r.groups[0], r.currency): r.values["deals"] for r in result.rows} == expected
    listed = run(world.service, "by_stage", world.people["root"], extra_filter=[("stage", "eq", "won")])
    assert {r.groups[0] for r in listed.rows} == {"won"}
    for narrowed in (result, listed):  # drill-down keeps the extra filter
        for row in narrowed.rows:
            drill = narrowed.drill(world.service, row, world.people["root"])
            assert world.service.count("opportunity", drill.query(), world.people["root"]) == row.values["deals"]


def test_labels_in_the_viewers_language(world):
    from dataclasses import replace

    ctx = world.people["root"]
    zh = replace(ctx, actor=replace(ctx.actor, language="zh"))
    result = run(world.service, "monthly", zh)
    first = result.rows[0].groups[0]
    assert result.rows[0].labels == (f"{first.year}年{first.month}月",)
    assert run(world.service, "by_stage", zh).columns[1].label == "币种"
    assert [c.label for c in run(world.service, "by_stage", zh).columns][2:] == ["商机数", "金额"]


# -- permissions -----------------------------------------------------------------------------------
def test_hidden_and_masked_fields_are_refused_at_run_time(world):
    with pytest.raises(PermissionDenied, match="cost"):
        run(world.service, "margin", world.people["rita"])  # cost is hidden from reps
    total = run(world.service, "margin", world.people["dora"]).rows[0].values["cost"]
    assert total == money(world.sql("SELECT SUM(cost) FROM T")[0][0])
    with pytest.raises(PermissionDenied, match="phone"):
        run(world.service, "by_phone", world.people["mia"])  # masked for a role without reveal
    with pytest.raises(PermissionDenied, match="phone"):
        run(world.service, "by_phone", world.people["dora"])  # reveal is per record, audited: not in a report
    assert run(world.service, "by_phone", world.people["root"]).rows[0].values["deals"] == 60


def test_report_roles_and_entity_rights(world):
    with pytest.raises(PermissionDenied):
        run(world.service, "costs", world.people["mia"])  # for directors only
    assert len(run(world.service, "costs", world.people["dora"]).rows) == 5
    from dataclasses import replace

    from engine.records import Context

    nobody = Context(actor=replace(world.people["rita"].actor, roles=()))
    with pytest.raises(PermissionDenied):
        run(world.service, "by_stage", nobody)  # may not read opportunities at all


# -- drill-down ------------------------------------------------------------------------------------
@pytest.mark.parametrize("report", ["by_stage", "by_department", "monthly", "by_quarter", "funnel", "by_week"])
def test_drill_down_selects_exactly_the_records_of_a_row(world, report):
    ctx = world.people["mia"] if report == "by_department" else world.people["root"]
    result = run(world.service, report, ctx)
    assert result.rows
    for row in result.rows:
        drill = result.drill(world.service, row, ctx)
        assert world.service.count(drill.entity, drill.query(limit=None), ctx) == row.values["deals"], row


def test_drill_down_gives_list_page_parameters_when_they_can_say_it(world):
    ctx = world.people["root"]
    by_customer = run(world.service, "by_customer", ctx)
    drill = by_customer.drill(world.service, by_customer.rows[0], ctx)
    assert drill.params == (("customer", str(by_customer.rows[0].groups[0])),) and drill.where is None
    period = (date(2025, 1, 1), date(2025, 12, 31))
    monthly = run(world.service, "monthly", ctx, period=period)
    row = monthly.rows[1]
    drill = monthly.drill(world.service, row, ctx)
    end = (row.groups[0].replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    assert drill.params == (("close_date.from", row.groups[0].isoformat()), ("close_date.to", end.isoformat()))
    assert filter_for(world.service, "funnel", ("won",)).params is None  # the report's filter: not a list filter
    # a funnel's step: the records that reached it, as the list page's repeated choice filter
    from engine.reports import build_report

    plain = build_report(world.service.model, {
        "report": "plain_funnel", "entity": "opportunity", "group_by": ["stage"], "chart": "funnel",
        "steps": ["lead", "qualified", "won"], "measures": [{"name": "deals", "count": True}]})
    assert filter_for(world.service, plain, ("qualified",)).params == (("stage", "qualified"), ("stage", "won"))
    assert filter_for(world.service, plain, ("won",)).params == (("stage", "won"),)
    by_stage = run(world.service, "by_stage", ctx)
    assert by_stage.drill(world.service, by_stage.rows[0], ctx).params is None  # a currency: neither


RELATED = {"reports/per_customer.yaml": """
report: per_customer
entity: customer
group_by: [name]
measures:
  - {name: deals, count: true, from: opportunity.customer}
  - {name: hours, sum: hours, from: opportunity.customer, filter: "stage != 'lost'"}
  - {name: avg_hours, avg: hours, from: opportunity.customer}
  - {name: revenue, sum: amount, currency: CNY, from: opportunity.customer}
having: "deals > 2"
""", "reports/customer_costs.yaml": """
report: customer_costs
entity: customer
measures: [{name: cost, sum: cost, from: opportunity.customer}]
"""}


def test_related_measures_count_within_each_viewers_scope(report_world):
    world = report_world(RELATED)
    names = {v: k for k, v in world.customers.items()}
    totals = {}
    for who in ("root", "rita", "ravi", "mia"):
        ctx = world.people[who]
        actor = ctx.actor
        if who == "root":
            scope = ""
        elif who == "mia":
            scope = " AND owner IN (" + ",".join(str(i) for i in sorted(actor.department_members) or [-1]) + ")"
        else:
            scope = f" AND owner = {actor.id}"
        found = world.sql("SELECT customer, COUNT(*), SUM(CASE WHEN stage != 'lost' THEN hours END), "
                          "AVG(hours * 1.0), SUM(CASE WHEN amount_currency = 'CNY' THEN amount END) FROM T "
                          f"WHERE customer IS NOT NULL{scope} GROUP BY customer")
        expected = {names[c]: (n, h or 0, None if a is None else Decimal(repr(float(a))).quantize(Decimal("0.0001")),
                               Decimal(str(r or 0)).quantize(Decimal("0.01")))
                    for c, n, h, a, r in found if n > 2}
        result = run(world.service, "per_customer", ctx)
        got = {r.groups[0]: (r.values["deals"], r.values["hours"], r.values["avg_hours"], r.values["revenue"])
               for r in result.rows}
        assert got == expected, who
        totals[who] = sum(r.values["deals"] for r in result.rows)
    assert totals["rita"] != totals["ravi"]
    # a hidden field of the related records is not summed for a rep (cost is hidden from reps)
    with pytest.raises(PermissionDenied):
        run(world.service, "customer_costs", world.people["rita"])
    assert run(world.service, "customer_costs", world.people["dora"]).rows[0].values["cost"] is not None


def test_a_built_report_with_related_measures_and_having_runs_like_the_yaml_one(report_world):
    from engine.reports import build_report, check_report

    world = report_world(RELATED)
    document = {"report": "built", "entity": "customer", "group_by": ["name"],
                "measures": [{"name": "deals", "count": True, "from": "opportunity.customer"},
                             {"name": "hours", "sum": "hours", "from": "opportunity.customer",
                              "filter": "stage != 'lost'"}],
                "having": "deals > 2"}
    assert check_report(world.service.model, document) == []
    built = run(world.service, build_report(world.service.model, document), world.people["root"])
    yaml = run(world.service, "per_customer", world.people["root"])
    assert [(r.groups, r.values["deals"], r.values["hours"]) for r in built.rows] == \
        [(r.groups, r.values["deals"], r.values["hours"]) for r in yaml.rows]
    bad = {**document, "measures": [{"name": "cost", "sum": "cost", "from": "opportunity.name"}], "having": "x > 1"}
    assert sorted(p.code for p in check_report(world.service.model, bad)) == ["E009", "E502"]
