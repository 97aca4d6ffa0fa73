"""`write_revision`: the plan as an Alembic revision file that does what apply_plan does."""

from __future__ import annotations

import importlib.util

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from engine.migrate import MigrationError, NothingToWrite, apply_plan, plan_migration, write_revision
from engine.migrate import sqlite as sqlite_support

from .helpers import crm, field, insert, select


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_upgrade(engine, module) -> None:
    """Run the revision the way an Alembic env.py would (SQLite: with foreign keys off)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            sqlite_support.set_foreign_keys(conn, False)
        with conn.begin():
            with Operations.context(MigrationContext.configure(conn)):
                module.upgrade()


def _target():
    return crm(
        field("phone", sa.String(40)),
        base=[
            field("full_name", sa.String(10), renamed_from="name"),
            field("email", sa.String(254), index=True),
        ],
        lines=True,
    )


def test_revision_compiles_contains_the_operations_and_migrates_the_database(db_engine, tmp_path):
    apply_plan(db_engine, plan_migration(db_engine, crm(lines=True), "crm", "v1"))
    insert(db_engine, "customer", {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"})
    insert(db_engine, "customer_line", {"id": 10, "customer_id": 1, "amount": 2})
    plan = plan_migration(db_engine, _target(), "crm", "v2", allow_destructive=True)
    assert [op.kind for op in plan.operations] == ["rename_column", "add_column", "alter_type", "add_index"]

    path = write_revision(plan, tmp_path / "revisions", "Rename name, add phone!")

    assert path.parent == tmp_path / "revisions" and path.name.endswith("_rename_name_add_phone.py")
    text = path.read_text()
    compile(text, str(path), "exec")
    assert "op.alter_column('customer', 'name'," in text and "new_column_name='full_name'" in text
    assert "op.add_column('customer', sa.Column('phone', sa.String(length=40), nullable=True))" in text
    assert "op.create_index(op.f('ix_customer_email'), 'customer', ['email'], unique=False)" in text
    assert "# alter_type customer.full_name: VARCHAR(200) -> VARCHAR(10)" in text
    assert "destroys: 1 value longer than 10 characters would be cut to 10" in text
    if db_engine.dialect.name == "sqlite":
        assert "op.execute('UPDATE customer SET full_name=substr(full_name, 1, 10)" in text
        assert "with op.batch_alter_table('customer', schema=None) as batch_op:" in text
    else:
        assert "postgresql_using='substr(full_name, 1, 10)'" in text

    module = _load(path)
    assert module.revision == path.name.split("_")[0] and module.down_revision is None
    _run_upgrade(db_engine, module)

    assert plan_migration(db_engine, _target(), "crm", "v2").is_empty
    assert select(db_engine, "SELECT id, full_name FROM customer") == [(1, "Ada Lovela")]
    assert select(db_engine, "SELECT id, customer_id FROM customer_line") == [(10, 1)]


def test_revisions_chain_onto_the_newest_one(db_engine, tmp_path):
    first = write_revision(plan_migration(db_engine, crm(), "crm", "v1"), tmp_path, "first")
    second = write_revision(plan_migration(db_engine, crm(lines=True), "crm", "v2"), tmp_path, "second")
    assert _load(second).down_revision == _load(first).revision
    assert "op.create_table('customer_line'" in second.read_text()


def test_revision_of_a_reference_column(db_engine, tmp_path):
    apply_plan(db_engine, plan_migration(db_engine, crm(), "crm", "v1"))
    model = crm(field("referrer_id", sa.Integer, sa.ForeignKey("customer.id", ondelete="SET NULL")))
    path = write_revision(plan_migration(db_engine, model, "crm", "v2"), tmp_path, "referrer")
    text = path.read_text()
    if db_engine.dialect.name == "sqlite":  # one plain ADD COLUMN, written as the exact statement
        assert (
            "ALTER TABLE customer ADD COLUMN referrer_id INTEGER REFERENCES customer (id) ON DELETE SET NULL"
            in text
        )
    else:
        assert (
            "op.create_foreign_key(op.f('fk_customer_referrer_id_customer'), 'customer', 'customer', ['referrer_id']"
            in text
        )
    _run_upgrade(db_engine, _load(path))
    assert plan_migration(db_engine, model, "crm", "v2").is_empty


def test_an_up_to_date_database_gets_no_revision(db_engine, tmp_path):
    apply_plan(db_engine, plan_migration(db_engine, crm(), "crm", "v1"))
    plan = plan_migration(db_engine, crm(), "crm", "v1")
    with pytest.raises(NothingToWrite, match="nothing to write: the database is up to date") as raised:
        write_revision(plan, tmp_path / "revisions", "again")
    assert isinstance(raised.value, MigrationError) and isinstance(raised.value, ValueError)
    assert not (tmp_path / "revisions").exists() or not list((tmp_path / "revisions").iterdir())
