"""The reports of examples/crm on its demo data, each figure against plain SQL written here,
for an administrator, a sales manager and a sales rep (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from engine.paths import ROOT
from engine.reports import run

CRM = ROOT / "examples" / "crm"


@pytest.fixture(scope="module")
def crm_model():
    from engine.model import load_model

    return load_model(CRM)


@pytest.fixture
def crm(crm_model, db_url):
    from engine.demo import load_demo
    from engine.migrate import apply_plan, plan_migration
    from engine.permissions.org import load_actor
    from engine.records import Context, RecordService
    from engine.storage import make_engine, users

    engine = make_engine(db_url)
    apply_plan(engine, plan_migration(engine, crm_model.metadata, project=crm_model.project,
                                      metadata_version=crm_model.version))
    load_demo(crm_model, engine, CRM)
    people = {}
    with engine.connect() as conn:
        for row in conn.execute(sa.select(users)).mappings():
            people[row["username"]] = Context(actor=load_actor(conn, row))
    yield RecordService(crm_model, engine), people
    engine.dispose()


def sql(service, statement: str, **params) -> list[tuple]:
    tables = {e.name: e.table.name for e in service.model.entities.values()}
    with service.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(statement.format(**tables)), params)]


def test_the_example_reports_compile(crm_model):
    assert set(crm_model.reports) == {"pipeline_funnel", "revenue_by_owner", "win_rate", "pipeline_by_month",
                                      "tickets_by_status", "revenue_by_region", "revenue_by_team", "sales_trend", "top_customers",
                                      "resolution_time", "overdue_tickets", "campaign_roi", "churn_risk",
                                      "revenue_by_product_line"}
    assert crm_model.reports["win_rate"].label["zh"] == "赢单率"


def test_example_figures_for_the_admin_a_manager_and_a_rep(crm):
    service, people = crm
    for who in ("admin", "zhao.min", "wang.lei"):
        ctx = people[who]
        actor = ctx.actor
        # the rows each may read, as plain SQL: all, the department's owners, or their own
        if who == "admin":
            scope, params = "1 = 1", {}
        elif who == "wang.lei":
            scope, params = "owner = :me", {"me": actor.id}
        else:
            scope, params = "owner IN :members", {"members": tuple(actor.department_members) or (-1,)}
        bind = {"members": sa.bindparam("members", expanding=True)} if "members" in params else {}

        def rows(statement, bind=bind, params=params, scope=scope):
            text = sa.text(statement.format(**{e.name: e.table.name for e in service.model.entities.values()},
                                            scope=scope))
            if bind:
                text = text.bindparams(*bind.values())
            with service.engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text, params)]

        # each step: the deals at it or at a later step (reached at least it); lost is no step
        funnel = run(service, "pipeline_funnel", ctx)
        counts = dict(rows("SELECT stage, COUNT(*) FROM {opportunity} WHERE {scope} GROUP BY stage"))
        stages = ["prospecting", "qualification", "proposal", "negotiation", "won"]
        assert [r.groups[0] for r in funnel.rows] == stages
        assert [r.values["deals"] for r in funnel.rows] == [sum(counts.get(s, 0) for s in stages[i:])
                                                            for i in range(len(stages))], who
        assert all(r.conversion is None or 0 <= r.conversion <= 1 for r in funnel.rows), who

        revenue = run(service, "revenue_by_owner", ctx)
        expected = {(o, c): (Decimal(str(total)).quantize(Decimal("0.01")), n) for o, c, total, n in rows(
            "SELECT owner, COALESCE(amount_currency, 'CNY'), SUM(amount), COUNT(*) FROM {opportunity} "
            "WHERE {scope} AND stage = 'won' GROUP BY owner, COALESCE(amount_currency, 'CNY')")}
        assert {(r.groups[0], r.currency): (r.values["revenue"], r.values["deals"]) for r in revenue.rows} == expected
        assert [r.values["revenue"] for r in revenue.rows] == sorted((r.values["revenue"] for r in revenue.rows),
                                                                    reverse=True)

        rate = run(service, "win_rate", ctx).rows[0].values
        won, closed = rows("SELECT SUM(CASE WHEN stage = 'won' THEN 1 ELSE 0 END), "
                           "SUM(CASE WHEN stage IN ('won', 'lost') THEN 1 ELSE 0 END) FROM {opportunity} "
                           "WHERE {scope}")[0]
        assert (rate["won"], rate["closed"]) == (won or 0, closed or 0)
        assert rate["win_rate"] == (Decimal(won / closed).quantize(Decimal("0.0001")) if closed else None)

        monthly = run(service, "pipeline_by_month", ctx)
        raw = rows("SELECT close_date, expected_revenue FROM {opportunity} "
                   "WHERE {scope} AND stage NOT IN ('won', 'lost')")
        months: dict = {}
        for close, value in raw:
            key = str(close)[:7] if close is not None else None
            total, n = months.get(key, (Decimal(0), 0))
            months[key] = (total + Decimal(str(value or 0)), n + 1)
        got = {(r.groups[0].isoformat()[:7] if r.groups[0] else None): (r.values["expected"] or Decimal(0),
                                                                          r.values["deals"]) for r in monthly.rows}
        assert got == {k: (v[0].quantize(Decimal("0.01")), v[1]) for k, v in months.items()}, who
    # the same report, seen by different people
    admin = run(service, "pipeline_funnel", people["admin"])
    rep = run(service, "pipeline_funnel", people["wang.lei"])
    assert sum(r.values["deals"] for r in rep.rows) < sum(r.values["deals"] for r in admin.rows)


def test_tickets_by_status_and_priority(crm):
    service, people = crm
    result = run(service, "tickets_by_status", people["admin"])
    expected = dict(((s, p), n) for s, p, n in sql(
        service, "SELECT status, priority, COUNT(*) FROM {ticket} GROUP BY status, priority"))
    assert {r.groups: r.values["tickets"] for r in result.rows} == expected
    status = [o.value for o in service.model.entity("ticket").fields["status"].options]
    assert [status.index(r.groups[0]) for r in result.rows] == sorted(status.index(r.groups[0]) for r in result.rows)


# -- the dashboards' reports (sales, service, marketing, churn risk), each against plain SQL --------
def money(value) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def moment(value) -> datetime:
    """A datetime read by plain SQL (text on SQLite), in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def day(value) -> date:
    return date.fromisoformat(value[:10]) if isinstance(value, str) else value


def test_revenue_by_region_trend_and_top_customers(crm):
    service, people = crm
    from engine.storage import users

    for who in ("admin", "wang.lei", "emily.chen"):
        ctx = people[who]
        scope = "" if who == "admin" else f" AND o.owner = {ctx.actor.id}"
        region = run(service, "revenue_by_team", ctx)
        expected = {(d, c): (money(s), n) for d, c, s, n in sql(
            service, "SELECT u.department_id, COALESCE(o.amount_currency, 'CNY'), SUM(o.amount), COUNT(*) "
            f"FROM {{opportunity}} o LEFT JOIN {users.name} u ON u.id = o.owner WHERE o.stage = 'won'{scope} "
            "GROUP BY u.department_id, COALESCE(o.amount_currency, 'CNY')")}
        assert {(r.groups[0], r.currency): (r.values["revenue"], r.values["deals"]) for r in region.rows} == expected
        assert expected, who

        this_year = datetime.now(UTC).year
        trend = run(service, "sales_trend", ctx)
        months: dict = {}
        for close, amount, currency in sql(service, "SELECT o.close_date, o.amount, o.amount_currency FROM "
                                           f"{{opportunity}} o WHERE o.stage = 'won'{scope}"):
            close = day(close)
            if close is None or close.year < this_year - 1:
                continue
            sums = months.setdefault(close.month, {"this_year": None, "last_year": None})
            key = "this_year" if close.year == this_year else "last_year"
            if (currency or "CNY") == "CNY" and amount is not None:
                sums[key] = (sums[key] or 0) + Decimal(str(amount))
        assert {r.groups[0]: r.values for r in trend.rows} == {
            m: {k: money(v) for k, v in sums.items()} for m, sums in months.items()}
        assert [r.groups[0] for r in trend.rows] == sorted(months)

        top = run(service, "top_customers", ctx)
        ranked = sql(service, "SELECT o.customer, SUM(CASE WHEN COALESCE(o.amount_currency, 'CNY') = 'CNY' "
                     f"THEN o.amount END), COUNT(*) FROM {{opportunity}} o WHERE o.stage = 'won'{scope} "
                     "GROUP BY o.customer")
        ranked.sort(key=lambda r: (r[1] is None, -(r[1] or 0)))
        assert [(r.groups[0], r.values["revenue"], r.values["deals"]) for r in top.rows] == \
            [(c, money(s), n) for c, s, n in ranked[:10]]
    # two reps, two different totals of the same report
    totals = {who: sum(r.values["revenue"] for r in run(service, "top_customers", people[who]).rows)
              for who in ("wang.lei", "emily.chen", "admin")}
    assert totals["wang.lei"] != totals["emily.chen"]
    assert totals["wang.lei"] + totals["emily.chen"] == totals["admin"]


def test_resolution_time_and_overdue_tickets(crm):
    service, people = crm
    ctx = people["admin"]
    durations: dict = {}
    for priority, reported, resolved in sql(service, "SELECT priority, reported_at, resolved_at FROM {ticket} "
                                            "WHERE resolved_at IS NOT NULL AND reported_at IS NOT NULL"):
        durations.setdefault(priority, []).append(moment(resolved) - moment(reported))
    result = run(service, "resolution_time", ctx)
    assert durations and {r.groups[0] for r in result.rows} == set(durations)
    for row in result.rows:
        spans = durations[row.groups[0]]
        assert abs(row.values["average"] - sum(spans, timedelta()) / len(spans)) <= timedelta(microseconds=1)
        assert row.values["longest"] == max(spans)
        assert row.values["tickets"] == len(spans)

    now = datetime.now(UTC)
    overdue: dict = {}
    for priority, due, status in sql(service, "SELECT priority, due_at, status FROM {ticket} WHERE due_at IS NOT NULL"):
        if moment(due) < now and status not in ("resolved", "closed"):
            overdue[priority] = overdue.get(priority, 0) + 1
    assert {r.groups[0]: r.values["tickets"] for r in run(service, "overdue_tickets", ctx).rows} == overdue


def test_campaign_return_from_budget_leads_and_won_deals(crm):
    service, people = crm
    for who in ("admin", "chen.jie"):
        result = run(service, "campaign_roi", people[who])
        campaigns = sql(service, "SELECT id, name, budget, COALESCE(budget_currency, 'CNY') FROM {campaign}")
        leads = dict(sql(service, "SELECT campaign, COUNT(*) FROM {lead} WHERE campaign IS NOT NULL GROUP BY campaign"))
        won = dict(sql(service, "SELECT campaign, SUM(amount) FROM {opportunity} WHERE stage = 'won' AND "
                       "COALESCE(amount_currency, 'CNY') = 'CNY' AND campaign IS NOT NULL GROUP BY campaign"))
        expected = {}
        for cid, name, budget, currency in campaigns:
            spent = money(budget) if currency == "CNY" else None
            revenue = money(won.get(cid, 0))
            n = leads.get(cid, 0)
            expected[name] = {"budget": spent, "leads": n, "won_revenue": revenue,
                              "cost_per_lead": (spent / n).quantize(Decimal("0.0001")) if spent is not None and n else None,
                              "roi": (revenue / spent).quantize(Decimal("0.0001")) if spent else None}
        assert {r.groups[0]: r.values for r in result.rows} == expected
        assert any(v["won_revenue"] for v in expected.values())


def test_churn_risk_from_activities_and_orders(crm):
    service, people = crm
    today = datetime.now(UTC).date()
    quiet_since = datetime.now(UTC) - timedelta(days=90)
    orders: dict = {}
    for customer, ordered, total in sql(service, "SELECT customer, order_date, total FROM {sales_order} "
                                        "WHERE currency = 'CNY'"):
        ordered = day(ordered)
        sums = orders.setdefault(customer, [Decimal(0), Decimal(0)])
        if ordered >= today - timedelta(days=180):
            sums[0] += Decimal(str(total or 0))
        elif ordered >= today - timedelta(days=360):
            sums[1] += Decimal(str(total or 0))
    expected = {}
    for _cid, name, last in sql(service, "SELECT id, name, last_activity FROM {customer}"):
        if last is not None and moment(last) >= quiet_since:
            continue
        recent, earlier = orders.get(_cid, [Decimal(0), Decimal(0)])
        if recent < earlier:
            expected[name] = (money(recent), money(earlier))
    result = run(service, "churn_risk", people["admin"])
    assert {r.groups[0]: (r.values["recent_orders"], r.values["earlier_orders"]) for r in result.rows} == expected
    trends = [r.values["trend"] for r in result.rows]
    assert trends == sorted(trends)


def test_revenue_by_customer_region_from_won_opportunities(crm):
    service, people = crm
    for who in ("admin", "wang.lei", "zhao.min"):
        ctx = people[who]
        actor = ctx.actor
        if who == "admin":
            mine, theirs = "", ""
        else:  # a rep reads their own customers and opportunities, a manager their department's
            members = [actor.id] if who == "wang.lei" else sorted(actor.department_members) or [-1]
            owners = ",".join(str(i) for i in members)
            mine, theirs = f" AND c.owner IN ({owners})", f" AND o.owner IN ({owners})"
        customers = dict(sql(service, f"SELECT c.province, COUNT(*) FROM {{customer}} c WHERE 1 = 1{mine} "
                             "GROUP BY c.province"))
        won = sql(service, "SELECT c.province, SUM(CASE WHEN COALESCE(o.amount_currency, 'CNY') = 'CNY' THEN o.amount "
                  "END), COUNT(*) FROM {customer} c JOIN {opportunity} o ON o.customer = c.id WHERE o.stage = 'won'"
                  f"{mine}{theirs} GROUP BY c.province")
        expected = {p: (money(total or 0), n, customers[p]) for p, total, n in won}
        result = run(service, "revenue_by_region", ctx)
        assert expected, who
        assert {r.groups[0]: (r.values["revenue"], r.values["deals"], r.values["customers"])
                for r in result.rows} == expected, who


def test_revenue_by_product_line_from_order_lines(crm):
    service, people = crm
    lines = service.model.entity("sales_order").child_tables["lines"].name
    for who in ("admin", "wang.lei", "emily.chen"):
        ctx = people[who]
        scope = "" if who == "admin" else f" AND o.owner = {ctx.actor.id}"
        expected = {category: (money(total), n) for category, total, n in sql(
            service, f"SELECT p.category, SUM(l.amount), COUNT(*) FROM {lines} l JOIN {{sales_order}} o "
            "ON o.id = l.parent_id JOIN {product} p ON p.id = l.product WHERE o.currency = 'CNY' AND "
            f"o.status IN ('approved', 'shipped', 'paid'){scope} GROUP BY p.category")}
        result = run(service, "revenue_by_product_line", ctx)
        assert expected, who
        assert {r.groups[0]: (r.values["revenue"], r.values["lines"]) for r in result.rows} == expected, who
        assert [r.values["revenue"] for r in result.rows] == sorted(v for v, _n in expected.values())[::-1]


TRADE = ROOT / "examples" / "trade"


def test_trade_revenue_by_market_and_incoterm_and_its_dashboard(db_url):
    from engine.demo import load_demo
    from engine.migrate import apply_plan, plan_migration
    from engine.model import load_model
    from engine.records import Context, RecordService
    from engine.storage import make_engine

    model = load_model(TRADE)
    engine = make_engine(db_url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    load_demo(model, engine, TRADE)
    service = RecordService(model, engine)
    try:
        shipped = "o.currency = 'USD' AND o.status IN ('approved', 'shipped', 'paid')"
        market = run(service, "revenue_by_market", Context())
        expected = {country: (money(total), n) for country, total, n in sql(
            service, "SELECT c.country, SUM(o.total), COUNT(o.id) FROM {customer} c JOIN {sales_order} o "
            f"ON o.customer = c.id WHERE {shipped} GROUP BY c.country")}
        assert expected and {r.groups[0]: (r.values["revenue"], r.values["orders"]) for r in market.rows} == expected
        incoterm = run(service, "revenue_by_incoterm", Context())
        expected = {term: (money(total), n) for term, total, n in sql(
            service, f"SELECT o.incoterm, SUM(o.total), COUNT(*) FROM {{sales_order}} o WHERE {shipped} "
            "GROUP BY o.incoterm")}
        assert expected and {r.groups[0]: (r.values["revenue"], r.values["orders"]) for r in incoterm.rows} == expected
        # the base's region report, layered: by the buyer's country, in US dollars
        region = run(service, "revenue_by_region", Context())
        expected = {country: money(total or 0) for country, total in sql(
            service, "SELECT c.country, SUM(CASE WHEN o.amount_currency = 'USD' THEN o.amount END) FROM {customer} c "
            "JOIN {opportunity} o ON o.customer = c.id WHERE o.stage = 'won' GROUP BY c.country")}
        assert expected and {r.groups[0]: r.values["revenue"] for r in region.rows} == expected
        # its sales dashboard, layered over the base's: markets and Incoterms in, no widget
        # counting renminbi only (empty or beside the point for a USD company), none empty
        dashboard = model.dashboards["sales"]
        names = [w.name for w in dashboard.widgets]
        assert {"revenue_by_market", "revenue_by_incoterm", "pipeline_funnel", "revenue_by_region"} <= set(names)
        assert not {"revenue_by_product_line", "sales_trend", "top_customers"} & set(names)
        for widget in dashboard.widgets:
            report = model.reports[widget.report]
            assert all(m.currency in (None, "USD") for m in report.measures), widget.name
            assert run(service, report, Context()).rows, f"{widget.name} is empty on the trade demo"
    finally:
        engine.dispose()
