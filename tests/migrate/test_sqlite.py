"""What SQLite needs: plain ADD COLUMN, rebuilds with foreign keys off, a final key check."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa
from alembic.operations import ops

import engine.migrate.apply as apply_module
from engine.migrate import MigrationError, apply_plan, plan_migration
from engine.storage import make_engine

from .helpers import crm, field, history, insert, select, snapshot


@pytest.fixture
def lite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}", poolclass=sa.pool.StaticPool)
    apply_plan(engine, plan_migration(engine, crm(lines=True), "crm", "v1"))
    insert(
        engine,
        "customer",
        {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"},
        {"id": 2, "name": "Charles Babbage", "email": None},
    )
    insert(
        engine,
        "customer_line",
        {"id": 10, "customer_id": 1, "amount": 3},
        {"id": 11, "customer_id": 2, "amount": 4},
    )
    yield engine
    engine.dispose()


def _foreign_keys_enabled(engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one()


def test_adding_optional_columns_is_a_plain_add_column(lite):
    model = crm(
        field("phone", sa.String(40)),
        field("referrer_id", sa.Integer, sa.ForeignKey("customer.id", ondelete="SET NULL")),
        lines=True,
    )
    applied = apply_plan(lite, plan_migration(lite, model, "crm", "v2"))
    assert [op.kind for op in applied] == ["add_column", "add_column"]
    assert [row[6] for row in history(lite)[-2:]] == [
        "ALTER TABLE customer ADD COLUMN phone VARCHAR(40);",
        "ALTER TABLE customer ADD COLUMN referrer_id INTEGER REFERENCES customer (id) ON DELETE SET NULL;",
    ]


def test_a_table_rebuild_does_not_fire_delete_cascades(lite):
    """Rebuilding customer drops the old table; with foreign keys on, SQLite would delete
    every customer_line (ON DELETE CASCADE) on the way."""
    model = crm(base=[field("name", sa.Text), field("email", sa.String(254))], lines=True)
    [op] = apply_plan(lite, plan_migration(lite, model, "crm", "v2"))
    assert "CREATE TABLE _alembic_tmp_customer" in history(lite)[-1][6]
    assert select(lite, "SELECT id, customer_id FROM customer_line ORDER BY id") == [(10, 1), (11, 2)]
    assert _foreign_keys_enabled(lite) == 1
    with pytest.raises(sa.exc.IntegrityError):  # and enforcement is back on afterwards
        insert(lite, "customer_line", {"id": 12, "customer_id": 99, "amount": 1})


def test_foreign_keys_are_back_on_after_a_failed_migration(lite):
    def hook(op):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        apply_plan(
            lite,
            plan_migration(lite, crm(field("phone", sa.String(40)), lines=True), "crm", "v2"),
            on_step=hook,
        )
    assert _foreign_keys_enabled(lite) == 1


def test_broken_references_are_caught_before_commit(lite, monkeypatch):
    before = snapshot(lite)
    real_build_plan = apply_module.build_plan

    def with_a_dangling_row(*args, **kwargs):
        plan = real_build_plan(*args, **kwargs)
        plan.applying_operations[0].steps.append(
            ops.ExecuteSQLOp("INSERT INTO customer_line (id, customer_id, version) VALUES (99, 12345, 1)")
        )
        return plan

    monkeypatch.setattr(apply_module, "build_plan", with_a_dangling_row)
    with pytest.raises(MigrationError, match="1 broken references .customer_line row 99 -> customer"):
        apply_plan(lite, plan_migration(lite, crm(field("phone", sa.String(40)), lines=True), "crm", "v2"))
    assert snapshot(lite) == before


def test_references_broken_before_the_migration_do_not_block_it(lite, tmp_path):
    raw = sqlite3.connect(tmp_path / "crm.sqlite")
    raw.execute(
        "INSERT INTO customer_line (id, customer_id, version) VALUES (50, 777, 1)"
    )  # foreign keys off
    raw.commit()
    raw.close()
    applied = apply_plan(
        lite, plan_migration(lite, crm(field("phone", sa.String(40)), lines=True), "crm", "v2")
    )
    assert len(applied) == 1


def test_adding_fields_touches_no_rows(lite):
    """ADD COLUMN stays metadata-only: no table copy, no UPDATE, no foreign key scan (each of
    which reads every row), so it takes the same time on a million rows as on ten."""
    statements: list[str] = []
    sa.event.listen(lite, "before_cursor_execute", lambda conn, cur, sql, *rest: statements.append(sql))
    model = crm(
        field("phone", sa.String(40)),
        field("referrer_id", sa.Integer, sa.ForeignKey("customer.id", ondelete="SET NULL")),
        lines=True,
    )
    apply_plan(lite, plan_migration(lite, model, "crm", "v2"))
    touching = [
        s
        for s in statements
        if "_alembic_tmp" in s
        or "foreign_key_check" in s
        or s.lstrip().upper().startswith(("UPDATE", "DELETE"))
    ]
    assert touching == []
    assert any(s.startswith("ALTER TABLE customer ADD COLUMN phone") for s in statements)

    statements.clear()  # whereas a rebuild is checked for broken references
    apply_plan(
        lite,
        plan_migration(
            lite,
            crm(
                field("phone", sa.Text),
                field("referrer_id", sa.Integer, sa.ForeignKey("customer.id", ondelete="SET NULL")),
                lines=True,
            ),
            "crm",
            "v3",
        ),
    )
    assert sum("foreign_key_check" in s for s in statements) == 2
