"""All or nothing: a migration that fails or is killed leaves the database as it was."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.operations import ops

import engine.migrate.apply as apply_module
from engine.migrate import MigrationError, PlanOutdated, apply_plan, plan_migration

from .helpers import crm, crm_three_changes, field, history, insert, select, snapshot

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def v1(engine):
    apply_plan(engine, plan_migration(engine, crm(lines=True), "crm", "v1"))
    insert(
        engine,
        "customer",
        {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"},
        {"id": 2, "name": "Charles Babbage", "email": None},
    )
    insert(engine, "customer_line", {"id": 10, "customer_id": 1, "amount": 12.5})


v2 = crm_three_changes

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path[:0] = [{root!r}, {here!r}]
    from engine.storage import make_engine
    from engine.migrate import apply_plan, plan_migration
    from helpers import crm_three_changes

    url, marker, kill_at = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    engine = make_engine(url)
    seen = []

    def on_step(op):
        seen.append(op.kind + " " + op.target)
        if len(seen) == kill_at:
            partial = marker.with_name(marker.name + ".partial")
            partial.write_text("\\n".join(seen))
            partial.replace(marker)  # the test sees the marker whole, never created but still empty
            time.sleep(600)

    apply_plan(engine, plan_migration(engine, crm_three_changes(), "crm", "v2"), on_step=on_step)
    print("FINISHED")
    """
)


def _migration_in_flight(engine, url: sa.URL) -> bool:
    """The killed process really was inside its migration transaction (holding the lock)."""
    if engine.dialect.name == "sqlite":
        probe = sqlite3.connect(url.database, timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            return "locked" in str(error)
        finally:
            probe.close()
        return False
    with engine.connect() as conn:
        held = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
            "AND c.relname = 'customer' AND l.mode = 'AccessExclusiveLock' AND l.pid <> pg_backend_pid()"
        ).scalar_one()
    return held > 0


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [2, 3])
def test_killed_mid_migration_leaves_the_database_as_it_was(db_engine, db_url, tmp_path, kill_at):
    v1(db_engine)
    assert [op.kind for op in plan_migration(db_engine, v2(), "crm", "v2").operations] == [
        "add_column",
        "alter_type",
        "add_index",
    ]
    before = snapshot(db_engine)
    history_before = history(db_engine)
    script = tmp_path / "migrate.py"
    script.write_text(SCRIPT.format(root=str(ROOT), here=str(HERE)))
    marker = tmp_path / "marker"
    process = subprocess.Popen(
        [sys.executable, str(script), db_url, str(marker), str(kill_at)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            if process.poll() is not None:
                pytest.fail(f"migration process ended early: {process.communicate()}")
            assert time.monotonic() < deadline, "migration never reached the step"
            time.sleep(0.05)
        assert _migration_in_flight(db_engine, db_engine.url)
    finally:
        process.send_signal(signal.SIGKILL)
        out, _err = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert b"FINISHED" not in out
    assert marker.read_text().splitlines()[:2] == ["add_column customer.phone", "alter_type customer.name"]

    assert snapshot(db_engine) == before
    assert history(db_engine) == history_before

    # the database is perfectly usable afterwards: the same migration now goes through
    applied = apply_plan(db_engine, plan_migration(db_engine, v2(), "crm", "v2"))
    assert len(applied) == 3
    assert len(history(db_engine)) == len(history_before) + 3
    assert select(db_engine, "SELECT id, name FROM customer ORDER BY id") == [
        (1, "Ada Lovelace"),
        (2, "Charles Babbage"),
    ]


def test_a_failing_operation_rolls_everything_back(db_engine, monkeypatch):
    v1(db_engine)
    before = snapshot(db_engine)
    real_build_plan = apply_module.build_plan

    def with_a_broken_second_step(*args, **kwargs):
        plan = real_build_plan(*args, **kwargs)
        plan.applying_operations[1].steps.append(ops.ExecuteSQLOp("INSERT INTO no_such_table VALUES (1)"))
        return plan

    monkeypatch.setattr(apply_module, "build_plan", with_a_broken_second_step)
    steps = []
    with pytest.raises(
        MigrationError, match=r"alter_type customer.name: .* failed: .*no_such_table"
    ) as failure:
        apply_plan(db_engine, plan_migration(db_engine, v2(), "crm", "v2"), on_step=steps.append)
    assert "rolled back" in str(failure.value)
    assert [op.kind for op in steps] == ["add_column", "alter_type"]  # the first one had run
    assert snapshot(db_engine) == before


def test_a_failing_hook_rolls_everything_back(db_engine):
    v1(db_engine)
    before = snapshot(db_engine)

    def hook(op):
        if op.kind == "add_index":
            raise RuntimeError("plugin says no")

    with pytest.raises(RuntimeError, match="plugin says no"):
        apply_plan(db_engine, plan_migration(db_engine, v2(), "crm", "v2"), on_step=hook)
    assert snapshot(db_engine) == before


def test_first_migration_failing_leaves_no_engine_tables_either(db_engine):
    def hook(op):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        apply_plan(db_engine, plan_migration(db_engine, crm(), "crm", "v1"), on_step=hook)
    with db_engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == []


def test_every_applied_operation_is_recorded_in_the_same_transaction(db_engine):
    v1(db_engine)
    rows = history(db_engine)
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in rows] == [
        ("crm", "v1", "create_table", "customer", False),
        ("crm", "v1", "create_table", "customer_line", False),
    ]
    assert "CREATE TABLE customer (" in rows[0][6]
    apply_plan(db_engine, plan_migration(db_engine, v2(), "crm", "v2"))
    rows = history(db_engine)
    assert [(r[1], r[2], r[3]) for r in rows[2:]] == [
        ("v2", "add_column", "customer.phone"),
        ("v2", "alter_type", "customer.name"),
        ("v2", "add_index", "customer.email"),
    ]
    assert rows[2][6] == "ALTER TABLE customer ADD COLUMN phone VARCHAR(40);"
    assert "CREATE INDEX ix_customer_email ON customer (email);" in rows[4][6]
    with db_engine.connect() as conn:
        applied_at = conn.exec_driver_sql(
            "SELECT DISTINCT applied_at FROM tailor_schema_history WHERE metadata_version = 'v2'"
        ).all()
    assert len(applied_at) == 1


def test_plan_made_before_the_database_changed_is_refused(db_engine):
    v1(db_engine)
    model = crm(base=[field("name", sa.String(20)), field("email", sa.String(254))], lines=True)
    plan = plan_migration(db_engine, model, "crm", "v2")
    assert not plan.destructive_operations  # all names fit in 20 characters, for now
    insert(db_engine, "customer", {"id": 3, "name": "Augusta Ada King, Countess of Lovelace", "email": None})
    before = snapshot(db_engine)
    with pytest.raises(PlanOutdated, match="alter_type customer.name"):
        apply_plan(db_engine, plan, allow_destructive=True)
    assert snapshot(db_engine) == before


def test_concurrent_migrations_are_serialised(db_engine):
    v1(db_engine)
    plan = plan_migration(db_engine, v2(), "crm", "v2")
    results: list = []
    barrier = threading.Barrier(2)

    def run():
        barrier.wait()
        try:
            results.append(len(apply_plan(db_engine, plan)))
        except Exception as error:  # pragma: no cover - reported by the assertion below
            results.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results, key=str) == [0, 3]  # one did the work, the other found nothing left
    assert len(history(db_engine)) == 5
