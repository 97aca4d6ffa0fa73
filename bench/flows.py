"""Approval-flow figures for `make bench` (bench/flow_project: purchase requests, one
approval node whose approver is a user field):

1. Decisions per second through the records service (`service.flows.approve`, each one
   transaction: lock the flow, decide the task, close the step, move the record's state,
   write the history and notify), against plain record updates through the same service,
   measured in the same run.
2. The "My approvals" inbox page for a user with 1,000 open tasks, among 1,000,000 history
   rows (251,000 flows), under gunicorn and wrk: p50 and p99, with the entity's list page of
   the same app as the reference.

SQLite always; PostgreSQL too when TAILOR_BENCH_DATABASE_URL or TAILOR_TEST_DATABASE_URL is
set. Figures are medians of `RUNS` runs.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from web import PASSWORD, RUNS, databases, figures, gunicorn, median_runs, session_cookie, stop, wrk  # noqa: E402

from engine.migrate import apply_plan, plan_migration  # noqa: E402
from engine.model import load_model  # noqa: E402
from engine.permissions.org import load_actor  # noqa: E402
from engine.records import SYSTEM, Context, RecordService  # noqa: E402
from engine.storage import make_engine, users, write_engine  # noqa: E402
from engine.users import create_user  # noqa: E402

PROJECT = ROOT / "bench" / "flow_project"
FINISHED = int(os.environ.get("BENCH_FINISHED_FLOWS", 250_000))  # x 4 history rows, + the open ones
OPEN = 1_000
APPROVERS = 100
DECISIONS = int(os.environ.get("BENCH_DECISIONS", 200))


def context_of(engine, username: str) -> Context:
    with engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).mappings().one()
        return Context(actor=load_actor(conn, row))


def fill(service: RecordService, requester: int, approvers: list[int]) -> None:
    """Requests, flows, steps, tasks and four history rows per flow, inserted by the
    database itself; the first approver has the open tasks."""
    flow = service.model.workflows["request"].flows["review"]
    with service.transaction() as conn:
        definition = service.flows._definition_id(conn, flow)
    total = FINISHED + OPEN
    engine = write_engine(service.engine)
    pg = engine.dialect.name == "postgresql"
    series = ("generate_series(1, {n}) AS g(n)" if pg else
              "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {n}) SELECT n FROM s) AS g")
    now = "now()" if pg else "datetime('now')"
    first, spread = approvers[0], len(approvers)
    running = f"g.n > {FINISHED}"
    with engine.begin() as conn:
        conn.execute(sa.text(
            f"INSERT INTO request (created_at, updated_at, version, title, amount, status, reviewer, owner) "
            f"SELECT {now}, {now}, 1, 'Request ' || g.n, 100 + g.n % 5000, "
            f"CASE WHEN {running} THEN 'pending' ELSE 'approved' END, "
            f"CASE WHEN {running} THEN {first} ELSE {first} + g.n % {spread} END, {requester} "
            f"FROM {series.format(n=total)}"))
        conn.execute(sa.text(
            f"INSERT INTO tailor_flow (definition_id, workflow, flow, entity, record_id, status, submitter_id, "
            f"state_before, running_state, picked, revision, started_at, finished_at) "
            f"SELECT {definition}, 'request', 'review', 'request', r.id, "
            f"CASE WHEN r.status = 'pending' THEN 'running' ELSE 'approved' END, {requester}, 'draft', 'pending', "
            f"'{{}}', 0, {now}, CASE WHEN r.status = 'pending' THEN NULL ELSE {now} END FROM request r ORDER BY r.id"))
        conn.execute(sa.text(
            f"INSERT INTO tailor_flow_step (flow_id, node, branch, status, outcome, started_at, finished_at) "
            f"SELECT f.id, 'review', '', CASE WHEN f.status = 'running' THEN 'active' ELSE 'done' END, "
            f"CASE WHEN f.status = 'running' THEN NULL ELSE 'approved' END, {now}, f.finished_at "
            f"FROM tailor_flow f ORDER BY f.id"))
        conn.execute(sa.text(
            f"INSERT INTO tailor_flow_task (flow_id, step_id, user_id, kind, status, seq, required, created_at, "
            f"decided_at, comment) "
            f"SELECT s.flow_id, s.id, r.reviewer, 'approval', "
            f"CASE WHEN s.status = 'active' THEN 'open' ELSE 'approved' END, 0, {'false' if pg else '0'}, {now}, "
            f"s.finished_at, NULL FROM tailor_flow_step s JOIN tailor_flow f ON f.id = s.flow_id "
            f"JOIN request r ON r.id = f.record_id"))
        for action, finished_only, user in (("submit", False, str(requester)), ("assign", False, "NULL"),
                                            ("approve", True, "r.reviewer"), ("approved", True, "NULL")):
            conn.execute(sa.text(
                f"INSERT INTO tailor_flow_history (flow_id, step_id, node, user_id, action, details, at) "
                f"SELECT f.id, s.id, 'review', {user}, '{action}', '{json.dumps({})}', {now} "
                f"FROM tailor_flow f JOIN tailor_flow_step s ON s.flow_id = f.id JOIN request r ON r.id = f.record_id"
                + (" WHERE f.status = 'approved'" if finished_only else "")))
        if not pg:
            conn.exec_driver_sql("ANALYZE")
    if pg:
        with service.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def decisions(service: RecordService, requester: Context, approver: Context, reviewer: int) -> tuple[float, float]:
    """(decisions per second, plain updates per second) over DECISIONS fresh requests."""
    system = Context(actor=SYSTEM)
    made = [service.create("request", {"title": f"Fresh {i}", "amount": 10, "reviewer": reviewer,
                                       "owner": requester.actor.id}, system, trusted=True) for i in range(DECISIONS)]
    for record in made:
        service.flows.run_transition("request", record["id"], "submit", requester)
    tasks = [service.flows.open_task_of("request", record["id"], reviewer) for record in made]
    start = time.perf_counter()
    for task in tasks:
        service.flows.approve(task, approver, "ok")
    decided = DECISIONS / (time.perf_counter() - start)
    current = [service.get("request", r["id"], system) for r in made]
    start = time.perf_counter()
    for record in current:
        service.update("request", record["id"], {"notes": "checked"}, version=record["version"], context=system)
    updated = DECISIONS / (time.perf_counter() - start)
    return decided, updated


def bench(name: str, url: str) -> None:
    model = load_model(PROJECT, entry_points=False)
    engine = make_engine(url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    with write_engine(engine).begin() as conn:
        requester = create_user(conn, "bench", PASSWORD, display_name="Requester")
        approvers = [create_user(conn, "bench.approver", PASSWORD, display_name="Approver")]
        approvers += [create_user(conn, f"bench.approver{i}", None) for i in range(1, APPROVERS)]
    service = RecordService(model, engine)
    start = time.perf_counter()
    fill(service, requester, approvers)
    with engine.connect() as conn:
        history = conn.execute(sa.text("SELECT count(*) FROM tailor_flow_history")).scalar_one()
        open_tasks = conn.execute(sa.text(f"SELECT count(*) FROM tailor_flow_task WHERE user_id = {approvers[0]} "
                                          "AND status = 'open'")).scalar_one()
    print(f"[{name}] {history:,} history rows, {open_tasks:,} open tasks for the approver "
          f"(loaded in {time.perf_counter() - start:.0f} s)")
    runs = [decisions(service, context_of(engine, "bench"), context_of(engine, "bench.approver1"), approvers[1])
            for _ in range(RUNS)]
    decided = statistics.median(r[0] for r in runs)
    updated = statistics.median(r[1] for r in runs)
    print(f"[{name}] decisions through the records service: {decided:.0f}/s (one process); plain record updates "
          f"through the same service: {updated:.0f}/s; ratio {decided / updated:.2f}x")
    engine.dispose()
    env = {"TAILOR_PROJECT": str(PROJECT), "TAILOR_DATABASE_URL": url, "TAILOR_SECRET_KEY": "bench",
           "TAILOR_JOBS": "off"}
    app = gunicorn("engine.web:create_app()", 8803, env)
    try:
        cookie, _token = session_cookie(8803, "bench.approver")
        inbox = median_runs(lambda: wrk("http://127.0.0.1:8803/approvals?tab=todo", cookie))
        done = median_runs(lambda: wrk("http://127.0.0.1:8803/approvals?tab=done", cookie))
        listing = median_runs(lambda: wrk("http://127.0.0.1:8803/e/request", cookie))
        print(f"[{name}] inbox, to do (1,000 open tasks, 50 shown): {figures(inbox)}")
        print(f"[{name}] inbox, done ({FINISHED // APPROVERS:,} decided tasks): {figures(done)}")
        print(f"[{name}]   reference, the request list page of the same app: {figures(listing)}; "
              f"inbox/list {inbox['rps'] / listing['rps']:.2f}x")
    finally:
        stop(app)


def main() -> None:
    for name, url in databases():
        bench(name, url)


if __name__ == "__main__":
    main()
