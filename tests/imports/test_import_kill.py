"""`kill -9` of the worker in the middle of an import, then a restart: every row exactly
once (SQLite and PostgreSQL). The issue asks for 200,000 rows: TAILOR_IMPORT_KILL_ROWS=200000
runs it so (measured on the shared 2-core development machine at a load average of 11 to
14: 290 s on SQLite, 466 s on PostgreSQL). 20,000 rows by default keep the suite's time
modest (16 s on SQLite, 28 s on PostgreSQL, measured earlier) and still leave the worker
killed with most batches to go."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from importutil import FILES, count, csv_bytes, world

from engine.imports import start, summary_of
from engine.jobs import LEASE, JobRunner, job_handlers, now_utc
from engine.migrate import apply_plan, plan_migration
from engine.model import load_model
from engine.records import RecordService
from engine.storage import import_items, import_runs, make_engine

ROOT = Path(__file__).resolve().parents[2]
ROWS = int(os.environ.get("TAILOR_IMPORT_KILL_ROWS", 20_000))  # the 200,000 on demand


def test_kill_9_mid_import_then_resume_imports_every_row_once(make_project, db_url, tmp_path):
    project = make_project(FILES, name="shop")
    model = load_model(project, entry_points=False)
    engine = make_engine(db_url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    service = RecordService(model, engine)
    people = world(service)
    rows = [["name", "employees", "level"]] + [[f"Customer {i:06d}", str(i % 90), "low"] for i in range(ROWS)]
    run_id = start(service, "customer", csv_bytes(rows), "big.csv", context=people["root"])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(
        [sys.executable, "-c", "from engine.cli import main; main()", "worker", str(project), "--database", db_url,
         "--interval", "0.2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        done = 0
        while time.monotonic() < deadline and done < 1_500:
            time.sleep(0.05)
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
            with engine.connect() as conn:
                done = conn.execute(sa.select(import_runs.c.rows_done).where(import_runs.c.id == run_id)).scalar_one()
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)
        worker.stderr.close()
    killed = summary_of(service, run_id)
    with engine.connect() as conn:
        done = conn.execute(sa.select(import_runs.c.rows_done).where(import_runs.c.id == run_id)).scalar_one()
    assert killed.status == "running" and 0 < done < ROWS, (killed.status, done)
    assert count(service) == done == killed.created  # the rows of committed batches, no more
    # a restart: the job's claim runs out (LEASE), another runner takes it and resumes
    runner = JobRunner(lambda: service, job_handlers(model))
    assert runner.run_due(now=now_utc() + LEASE + timedelta(seconds=5)) >= 1
    finished = summary_of(service, run_id)
    assert (finished.status, finished.created, finished.failed) == ("done", ROWS, 0)
    table = model.entity("customer").table
    with engine.connect() as conn:
        names = conn.execute(sa.select(table.c.name)).scalars().all()
        items = conn.execute(sa.select(sa.func.count(sa.distinct(import_items.c.row_number)))
                             .where(import_items.c.run_id == run_id)).scalar_one()
    assert len(names) == ROWS and set(names) == {r[0] for r in rows[1:]}  # each row exactly once
    assert items == ROWS
    engine.dispose()
