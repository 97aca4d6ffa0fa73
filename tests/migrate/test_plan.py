"""Planning: what the plan says, on a fresh database and on an up-to-date one."""

from __future__ import annotations

import sqlalchemy as sa

from engine.migrate import MigrationPlan, Operation, apply_plan, plan_migration

from .helpers import crm, field, insert, snapshot


def _kinds(plan: MigrationPlan) -> list[tuple[str, str]]:
    return [(op.kind, op.target) for op in plan.operations]


def test_fresh_database_gets_every_entity_table(db_engine):
    model = crm(field("phone", sa.String(40), index=True), lines=True)
    plan = plan_migration(db_engine, model, "crm", "v1")
    assert _kinds(plan) == [
        ("create_table", "customer"),
        ("create_table", "customer_line"),  # after the table it references
        ("add_index", "customer.phone"),
    ]
    assert all(isinstance(op, Operation) and op.applies and not op.destructive for op in plan.operations)
    assert not plan.is_empty and plan.destructive_operations == []

    applied = apply_plan(db_engine, plan)

    assert [op.kind for op in applied] == ["create_table", "create_table", "add_index"]
    with db_engine.connect() as conn:
        inspector = sa.inspect(conn)
        assert {"customer", "customer_line", "tailor_schema_history", "tailor_user"} <= set(
            inspector.get_table_names()
        )
        assert [c["name"] for c in inspector.get_columns("customer")] == [
            "id",
            "created_at",
            "updated_at",
            "created_by",
            "owner",
            "version",
            "name",
            "email",
            "phone",
        ]
        assert [i["name"] for i in inspector.get_indexes("customer")] == ["ix_customer_phone"]
        fks = {
            (tuple(f["constrained_columns"]), f["referred_table"])
            for f in inspector.get_foreign_keys("customer_line")
        }
        assert ((("customer_id",), "customer")) in fks


def test_engine_tables_in_the_model_are_not_the_planners_business(db_engine):
    plan = plan_migration(db_engine, crm(), "crm", "v1")
    assert not [op for op in plan.operations if op.table.startswith("tailor_")]


def test_plan_on_an_up_to_date_database_is_empty(db_engine):
    model = crm(
        field("phone", sa.String(40), index=True),
        field("vip", sa.Boolean, nullable=False, server_default=sa.false()),
        field("born", sa.Date),
        field("seen", sa.DateTime(timezone=True)),
        field("score", sa.Numeric(10, 3)),
        field("visits", sa.BigInteger),
        field("ratio", sa.Float),
        field("notes", sa.Text),
        field("data", sa.JSON),
        field("code", sa.String(20), unique=True),
        field("referrer_id", sa.Integer, sa.ForeignKey("customer.id", ondelete="SET NULL")),
        lines=True,
    )
    apply_plan(db_engine, plan_migration(db_engine, model, "crm", "v1"))
    plan = plan_migration(db_engine, model, "crm", "v1")
    assert plan.operations == []
    assert plan.is_empty
    assert "nothing to do" in plan.render()


def test_planning_only_reads(db_engine):
    apply_plan(db_engine, plan_migration(db_engine, crm(), "crm", "v1"))
    insert(db_engine, "customer", {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"})
    before = snapshot(db_engine)
    plan = plan_migration(
        db_engine, crm(base=[field("name", sa.String(5))], lines=True), "crm", "v2", allow_destructive=True
    )
    plan.render()
    plan.sql(db_engine)
    assert not plan.is_empty
    assert snapshot(db_engine) == before


def test_render_groups_what_applies_what_needs_the_flag_and_what_is_kept(db_engine):
    apply_plan(db_engine, plan_migration(db_engine, crm(field("legacy", sa.String(20))), "crm", "v1"))
    insert(
        db_engine,
        "customer",
        {"id": 1, "name": "Ada Lovelace", "email": "a@x", "legacy": "x"},
        {"id": 2, "name": "Bob", "email": "a@x", "legacy": None},
    )
    model = crm(
        field("phone", sa.String(40)),
        base=[field("name", sa.String(5)), field("email", sa.String(254), unique=True)],
    )
    text = plan_migration(db_engine, model, "crm", "v2").render()
    assert "Will be applied (1):" in text and "+ add_column customer.phone" in text
    assert "applied only with --allow-destructive (1):" in text
    assert "! alter_type customer.name" in text
    assert "would destroy: 1 value longer than 5 characters would be cut to 5" in text
    assert "Cannot be applied, even with --allow-destructive" in text
    assert "x add_unique customer.email" in text and "1 duplicate groups, e.g. 'a@x' x2" in text
    assert "Kept, not in the model any more (1):" in text
    assert "= customer.legacy: removed from the model; kept with 1 non-empty values" in text


def test_sql_shows_the_ddl_without_running_it(db_engine):
    plan = plan_migration(db_engine, crm(field("phone", sa.String(40), index=True)), "crm", "v1")
    sql = plan.sql(db_engine)
    assert "BEGIN;" in sql and sql.rstrip().endswith("COMMIT;")
    assert "CREATE TABLE customer (" in sql
    assert "phone VARCHAR(40)" in sql
    assert "CREATE INDEX ix_customer_phone ON customer (phone);" in sql
    assert "-- create_table customer: new table with 9 columns" in sql
    with db_engine.connect() as conn:
        assert not sa.inspect(conn).has_table("customer")


def test_sql_of_a_change_to_existing_tables(db_engine):
    apply_plan(db_engine, plan_migration(db_engine, crm(), "crm", "v1"))
    plan = plan_migration(
        db_engine,
        crm(
            field("phone", sa.String(40)), base=[field("name", sa.String(80)), field("email", sa.String(254))]
        ),
        "crm",
        "v2",
    )
    sql = plan.sql(db_engine)
    assert "ALTER TABLE customer ADD COLUMN phone VARCHAR(40);" in sql
    assert "VARCHAR(80)" in sql
    if db_engine.dialect.name == "sqlite":
        assert "CREATE TABLE _alembic_tmp_customer" in sql  # the rebuild SQLite needs for a type change
    else:
        assert "ALTER TABLE customer ALTER COLUMN name TYPE VARCHAR(80)" in sql


def test_stale_or_conflicting_rename_hints_are_reported(db_engine):
    apply_plan(db_engine, plan_migration(db_engine, crm(field("nick", sa.String(20))), "crm", "v1"))
    # both 'nick' and 'name' exist: the hint cannot be a rename
    plan = plan_migration(
        db_engine,
        crm(base=[field("name", sa.String(200), renamed_from="nick"), field("email", sa.String(254))]),
        "crm",
        "v2",
    )
    assert not [op for op in plan.operations if op.kind == "rename_column"]
    assert any("renamed_from 'nick' ignored" in note for note in plan.notes)
    assert "Notes:" in plan.render()


def test_tables_not_created_by_the_project_are_never_dropped(db_engine):
    apply_plan(db_engine, plan_migration(db_engine, crm(), "crm", "v1"))
    with db_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE other_app (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO other_app VALUES (1)")
    plan = plan_migration(db_engine, crm(), "crm", "v2", allow_destructive=True)
    [op] = plan.operations
    assert (op.kind, op.target, op.applies) == ("keep_table", "other_app", False)
    assert "not created by project 'crm'" in op.detail
    apply_plan(db_engine, plan, allow_destructive=True)
    with db_engine.connect() as conn:
        assert sa.inspect(conn).has_table("other_app")
