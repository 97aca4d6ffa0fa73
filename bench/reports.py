"""`make bench`, reports: a sales dashboard's six widgets on BENCH_REPORT_ROWS (default
1,000,000) opportunities of the demo CRM, each run through `engine.reports.run` (the viewer's
scope, the report's filter, one GROUP BY, then the labels of owners and customers) versus the
same GROUP BY written by hand with SQLAlchemy Core, in the same run on the same table.

Printed: each widget's median (ms) both ways and the ratio Core / Tailor (the goal: at
least 0.8, i.e. the engine no more than 25 % slower than hand-written SQL); then the home
page of an administrator, which is the sales dashboard (every widget of
examples/crm/dashboards/sales.yaml over all the rows), requested BENCH_DASHBOARD_REQUESTS
times (default 20) in the process through Flask's test client: its p50 and p99 (with 20
requests the p99 is the slowest).

SQLite always; PostgreSQL too when TAILOR_BENCH_DATABASE_URL is set: its `public` schema
is dropped and recreated, as bench/imports.py does (so give it a database of its own). The rows are
made by the database itself (INSERT … SELECT over a counter), so a million take seconds.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.config import Settings  # noqa: E402
from engine.migrate import apply_plan, plan_migration, upgrade_system_tables  # noqa: E402
from engine.model import load_model  # noqa: E402
from engine.permissions.org import set_roles  # noqa: E402
from engine.records import Context, RecordService  # noqa: E402
from engine.reports import run  # noqa: E402
from engine.storage import make_engine, users, write_engine  # noqa: E402
from engine.users import create_user  # noqa: E402
from engine.web import create_app  # noqa: E402

ROWS = int(os.environ.get("BENCH_REPORT_ROWS", 1_000_000))
REPEAT = int(os.environ.get("BENCH_REPORT_REPEAT", 7))
REQUESTS = int(os.environ.get("BENCH_DASHBOARD_REQUESTS", 20))
PASSWORD = "bench-pass-1"
PROJECT = ROOT / "examples" / "crm"
CUSTOMERS, OWNERS = 1000, 20
STAGES = ("prospecting", "qualification", "proposal", "negotiation", "won", "lost")
WIDGETS = ("pipeline_funnel", "revenue_by_owner", "win_rate", "pipeline_by_month", "sales_trend", "top_customers")


def fresh(url: str):
    model = load_model(PROJECT)
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with write_engine(engine).begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    upgrade_system_tables(engine)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    return model, engine


def fill(model, engine) -> None:
    """Owners, customers, then ROWS opportunities made by one INSERT … SELECT."""
    now = datetime.now(UTC)
    customers = model.entity("customer").table
    opportunities = model.entity("opportunity").table
    pg = engine.dialect.name == "postgresql"
    with write_engine(engine).begin() as conn:
        conn.execute(users.insert(), [{"username": f"rep{i}", "display_name": f"Rep {i}", "language": "en",
                                       "is_active": True, "is_admin": False, "created_at": now}
                                      for i in range(OWNERS)])
        first_user = conn.execute(sa.select(sa.func.min(users.c.id))).scalar_one()
        conn.execute(customers.insert(), [{"name": f"Customer {i:04d}", "code": f"CUS-{i:05d}", "created_at": now,
                                           "updated_at": now, "version": 1} for i in range(CUSTOMERS)])
        first_customer = conn.execute(sa.select(sa.func.min(customers.c.id))).scalar_one()
        stage = "CASE i % 6 " + " ".join(f"WHEN {n} THEN '{s}'" for n, s in enumerate(STAGES)) + " END"
        amount = "((i % 1000) * 100 + 0.5)"
        close = ("(DATE '2024-01-01' + (i % 1095))" if pg else "date('2024-01-01', '+' || (i % 1095) || ' days')")
        stamp = "CAST(:now AS TIMESTAMPTZ)" if pg else ":now"
        values = (f"{stamp}, {stamp}, 1, 'Deal ' || i, {first_customer} + i % {CUSTOMERS}, {first_user} + i % {OWNERS}, "
                  f"{stage}, {amount}, CASE WHEN i % 10 = 0 THEN 'USD' ELSE 'CNY' END, i % 100, "
                  f"{amount} * (i % 100) / 100, {close}")
        columns = ("created_at, updated_at, version, title, customer, owner, stage, amount, amount_currency, "
                   "probability, expected_revenue, close_date")
        table = opportunities.name
        if pg:
            sql = f"INSERT INTO {table} ({columns}) SELECT {values} FROM generate_series(1, :rows) AS n(i)"
        else:
            sql = (f"INSERT INTO {table} ({columns}) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                   f"WHERE i < :rows) SELECT {values} FROM n")
        # the indexes are built once the rows are in: faster than keeping a dozen up to date
        indexes = sorted({index.name: index for index in opportunities.indexes}.values(), key=lambda i: i.name)
        for index in indexes:
            index.drop(conn, checkfirst=True)
        conn.execute(sa.text(sql), {"rows": ROWS, "now": now if pg else now.replace(tzinfo=None).isoformat(" ")})
        for index in indexes:
            index.create(conn, checkfirst=True)
    with write_engine(engine).begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def core_queries(model, dialect: str) -> dict:
    """The widgets' GROUP BY queries as one would write them by hand."""
    t = model.entity("opportunity").table
    this_year = datetime.now(UTC).year
    currency = sa.func.coalesce(t.c.amount_currency, "CNY")
    if dialect == "postgresql":
        month = sa.func.to_char(sa.func.date_trunc("month", t.c.close_date), "YYYY-MM-DD")
        month_of_year = sa.cast(sa.extract("month", t.c.close_date), sa.Integer)
        year = sa.cast(sa.extract("year", t.c.close_date), sa.Integer)
    else:
        month = sa.func.strftime("%Y-%m-01", t.c.close_date)
        month_of_year = sa.cast(sa.func.strftime("%m", t.c.close_date), sa.Integer)
        year = sa.cast(sa.func.strftime("%Y", t.c.close_date), sa.Integer)
    won = t.c.stage == "won"
    cny = currency == "CNY"
    return {
        # the funnel's steps (every stage but lost); a step's figure adds up the steps after it
        # (a handful of rows, in Python, as the engine does)
        "pipeline_funnel": sa.select(t.c.stage, sa.func.count())
        .where(t.c.stage.in_(["prospecting", "qualification", "proposal", "negotiation", "won"])).group_by(t.c.stage),
        "revenue_by_owner": sa.select(t.c.owner, currency, sa.func.sum(t.c.amount), sa.func.count())
        .where(won).group_by(t.c.owner, currency).order_by(sa.func.sum(t.c.amount).desc()),
        "win_rate": sa.select(sa.func.count(sa.case((won, 1))),
                              sa.func.count(sa.case((t.c.stage.in_(["won", "lost"]), 1)))),
        "pipeline_by_month": sa.select(month, sa.func.sum(t.c.expected_revenue), sa.func.count())
        .where(t.c.stage.not_in(["won", "lost"])).group_by(month).order_by(month),
        "sales_trend": sa.select(month_of_year, sa.func.sum(sa.case((sa.and_(year == this_year, cny), t.c.amount))),
                                 sa.func.sum(sa.case((sa.and_(year == this_year - 1, cny), t.c.amount))))
        .where(won, year >= this_year - 1).group_by(month_of_year).order_by(month_of_year),
        "top_customers": sa.select(t.c.customer, sa.func.sum(sa.case((cny, t.c.amount))), sa.func.count())
        .where(won).group_by(t.c.customer).order_by(sa.func.sum(sa.case((cny, t.c.amount))).desc()).limit(10),
    }


def medians_ms(*fns) -> list[float]:
    """Each function's median time; the runs alternate (a, b, a, b…) so that both meet the
    same cache and the same load of the machine."""
    for fn in fns:
        fn()  # warm: statement caches, the database's pages
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(REPEAT):
        for spent, fn in zip(times, fns, strict=True):
            began = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - began)
    return [statistics.median(spent) * 1000 for spent in times]


def bench(kind: str, url: str) -> None:
    model, engine = fresh(url)
    began = time.perf_counter()
    fill(model, engine)
    print(f"reports on {kind}: {ROWS:,} opportunities generated and indexed in {time.perf_counter() - began:.1f} s "
          f"(one INSERT … SELECT, then the indexes)")
    service = RecordService(model, engine)
    context = Context()
    queries = core_queries(model, engine.dialect.name)
    ratios = []
    for name in WIDGETS:
        assert run(service, name, context).rows, name  # the widget shows something

        def core(statement=queries[name]):
            with engine.connect() as conn:
                return conn.execute(statement).all()

        tailor_ms, core_ms = medians_ms(lambda name=name: run(service, name, context), core)
        ratios.append(core_ms / tailor_ms)
        print(f"  {name:<18} Tailor {tailor_ms:8.1f} ms   Core {core_ms:8.1f} ms   Core/Tailor {core_ms / tailor_ms:.2f}")
    print(f"  dashboard (six widgets): geometric mean Core/Tailor {statistics.geometric_mean(ratios):.2f}, "
          f"lowest {min(ratios):.2f} (goal: at least 0.8)")
    dashboard_page(model, engine, url)
    engine.dispose()


def dashboard_page(model, engine, url: str) -> None:
    """The home page (the sales dashboard) of an administrator, timed request by request."""
    with write_engine(engine).begin() as conn:
        set_roles(conn, create_user(conn, "bench.admin", PASSWORD), ["admin"], model.roles)
    app = create_app(Settings(project=PROJECT, database_url=url, secret_key="bench", extra={"jobs": "off"}))
    client = app.test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    token = page.split('name="csrf_token"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
    assert client.post("/sign-in", data={"username": "bench.admin", "password": PASSWORD,
                                         "csrf_token": token}).status_code == 302
    first = client.get("/home")
    assert first.status_code == 200 and "data-dashboard" in first.get_data(as_text=True), "no dashboard on the home page"
    spent = []
    for _ in range(REQUESTS):
        began = time.perf_counter()
        assert client.get("/home").status_code == 200
        spent.append((time.perf_counter() - began) * 1000)
    spent.sort()
    p99 = spent[min(len(spent) - 1, int(len(spent) * 0.99))]
    print(f"  dashboard page (/home: the sales dashboard, {len(model.dashboards['sales'].widgets)} widgets, "
          f"{REQUESTS} requests): p50 {statistics.median(spent):.0f} ms, p99 {p99:.0f} ms")


def main() -> None:
    print(f"reports: medians of {REPEAT} runs after a warm-up; today {date.today().isoformat()}")
    with tempfile.TemporaryDirectory() as folder:
        bench("SQLite", f"sqlite:///{Path(folder) / 'reports.sqlite'}")
    url = os.environ.get("TAILOR_BENCH_DATABASE_URL")  # never the tests' database: its public schema is dropped
    if url:
        bench("PostgreSQL", url)
    else:
        print("reports on PostgreSQL: skipped (set TAILOR_BENCH_DATABASE_URL)")


if __name__ == "__main__":
    main()
