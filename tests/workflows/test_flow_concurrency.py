"""Several processes acting on the same tasks at the same moment: on a first-decision node
(或签) only one decision is taken per flow, double clicks are refused, and every decision a
process was told succeeded is in the history: none doubled, none lost (SQLite and
PostgreSQL, real processes)."""

from __future__ import annotations

import multiprocessing

import sqlalchemy as sa
from flowutil import act_in_a_process

from engine.storage import flow_history, flow_tasks

ANY = """
    outcomes: {approved: approved}
    nodes:
      money: {type: approval, approvers: [{role: finance}, {user: legal}], mode: any}
    """
DEALS = 12


def test_processes_deciding_the_same_tasks(flow_world):
    w = flow_world(ANY)
    deals = [w.new(name=f"Deal {i}") for i in range(DEALS)]
    for deal in deals:
        w.submit(deal)
    with w.engine.connect() as conn:
        tasks = {name: list(conn.execute(sa.select(flow_tasks.c.id).where(
            flow_tasks.c.user_id == w.uid(name), flow_tasks.c.status == "open").order_by(flow_tasks.c.id)).scalars())
            for name in ("fin1", "fin2", "legal")}
    assert all(len(ids) == DEALS for ids in tasks.values())
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(4)
    results = spawn.Queue()
    # fin1 twice (two browser tabs), fin2 and legal: four processes on the same twelve flows
    workers = [spawn.Process(target=act_in_a_process, args=(str(w.root), w.url, name, tasks[name], start, results))
               for name in ("fin1", "fin1", "fin2", "legal")]
    for process in workers:
        process.start()
    reports = [results.get(timeout=240) for _ in workers]
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert [errors for *_, errors in reports if errors] == []
    told_ok = sorted(t for _, done, _, _ in reports for t in done)
    with w.engine.connect() as conn:
        recorded = sorted(conn.execute(sa.select(flow_history.c.task_id).where(
            flow_history.c.action == "approve")).scalars())
        per_flow = conn.execute(sa.select(flow_history.c.flow_id, sa.func.count()).where(
            flow_history.c.action == "approve").group_by(flow_history.c.flow_id)).all()
    assert told_ok == recorded  # no decision lost, none recorded twice
    assert len(per_flow) == DEALS and all(n == 1 for _, n in per_flow)  # exactly one decision per flow
    assert sum(conflicts for _, _, conflicts, _ in reports) == 4 * 2 * DEALS - DEALS
    assert all(w.state(deal) == "approved" for deal in deals)
