"""The reports of examples/crm on its demo data, each figure against plain SQL written here,
for an administrator, a sales manager and a sales rep (SQLite and PostgreSQL)."""

from __future__ import annotations

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
                                      "tickets_by_status"}
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

        funnel = run(service, "pipeline_funnel", ctx)
        counts = dict(rows("SELECT stage, COUNT(*) FROM {opportunity} WHERE {scope} GROUP BY stage"))
        stages = [o.value for o in service.model.entity("opportunity").fields["stage"].options]
        assert [r.groups[0] for r in funnel.rows] == stages
        assert [r.values["deals"] for r in funnel.rows] == [counts.get(s, 0) for s in stages], who

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
