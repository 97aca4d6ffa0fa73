"""Each kind of model change, applied to a database that holds data."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.migrate import DestructiveChangeRefused, apply_plan, plan_migration
from engine.migrate.errors import MigrationBlocked

from .helpers import columns, crm, field, history, insert, select, snapshot

ROWS = [
    {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"},
    {"id": 2, "name": "Charles Babbage", "email": "charles@example.com"},
    {"id": 3, "name": None, "email": None},
]


def migrate(engine, model, version="v", **kwargs):
    return apply_plan(engine, plan_migration(engine, model, "crm", version), **kwargs)


@pytest.fixture
def crm_db(db_engine):
    """A database migrated to the base model, with three customers."""
    migrate(db_engine, crm(), "v1")
    insert(db_engine, "customer", *ROWS)
    return db_engine


def test_add_a_field_keeps_existing_rows(crm_db):
    plan = plan_migration(crm_db, crm(field("phone", sa.String(40))), "crm", "v2")
    [op] = plan.operations
    assert (op.kind, op.target, op.destructive) == ("add_column", "customer.phone", False)

    apply_plan(crm_db, plan)

    assert select(crm_db, "SELECT id, name, email, phone FROM customer ORDER BY id") == [
        (1, "Ada Lovelace", "ada@example.com", None),
        (2, "Charles Babbage", "charles@example.com", None),
        (3, None, None, None),
    ]


def test_add_a_required_field_with_a_default_fills_existing_rows(crm_db):
    status = field("status", sa.String(20), nullable=False, backfill="new")
    plan = plan_migration(crm_db, crm(status), "crm", "v2")
    # one ADD COLUMN ... NOT NULL DEFAULT: no UPDATE of every row, no SQLite table copy
    assert [(op.kind, op.destructive, op.affected) for op in plan.operations] == [("add_column", False, 3)]
    apply_plan(crm_db, plan)
    assert select(crm_db, "SELECT status FROM customer") == [("new",)] * 3
    assert columns(crm_db, "customer")["status"]["nullable"] is False


def test_add_a_required_field_without_default_needs_the_flag(crm_db):
    plan = plan_migration(crm_db, crm(field("code", sa.String(20), nullable=False)), "crm", "v2")
    [refused] = plan.destructive_operations
    assert refused.kind == "set_not_null"
    assert (
        refused.data_loss
        == "3 existing rows would get the empty value '' (new required field without a default)"
    )
    with pytest.raises(DestructiveChangeRefused):
        apply_plan(crm_db, plan)
    assert "code" not in columns(crm_db, "customer")
    apply_plan(crm_db, plan, allow_destructive=True)
    assert select(crm_db, "SELECT code FROM customer") == [("",)] * 3


def test_rename_a_column_keeps_its_values(crm_db):
    model = crm(
        base=[field("full_name", sa.String(200), renamed_from="name"), field("email", sa.String(254))]
    )
    plan = plan_migration(crm_db, model, "crm", "v2")
    [op] = plan.operations
    assert (op.kind, op.target, op.destructive) == ("rename_column", "customer.full_name", False)
    assert "renamed from name" in op.detail

    apply_plan(crm_db, plan)

    assert "name" not in columns(crm_db, "customer")
    assert select(crm_db, "SELECT id, full_name FROM customer ORDER BY id") == [
        (1, "Ada Lovelace"),
        (2, "Charles Babbage"),
        (3, None),
    ]
    assert plan_migration(crm_db, model, "crm", "v2").is_empty  # the hint is now stale and harmless


def test_rename_and_widen_a_column_in_one_go(crm_db):
    model = crm(base=[field("full_name", sa.Text, renamed_from="name"), field("email", sa.String(254))])
    plan = plan_migration(crm_db, model, "crm", "v2")
    assert [(op.kind, op.target, op.destructive) for op in plan.operations] == [
        ("rename_column", "customer.full_name", False),
        ("alter_type", "customer.full_name", False),
    ]
    apply_plan(crm_db, plan)
    assert select(crm_db, "SELECT full_name FROM customer WHERE id = 1") == [("Ada Lovelace",)]
    assert plan_migration(crm_db, model, "crm", "v2").is_empty


def test_rename_a_table_keeps_its_rows_and_references(db_engine):
    migrate(db_engine, crm(lines=True), "v1")
    insert(db_engine, "customer", *ROWS)
    insert(db_engine, "customer_line", {"id": 10, "customer_id": 1, "amount": 12.5})
    model = crm(table="client", renamed_from="customer", lines=True)
    plan = plan_migration(db_engine, model, "crm", "v2")
    assert [(op.kind, op.target) for op in plan.operations] == [("rename_table", "client")]

    apply_plan(db_engine, plan)

    with db_engine.connect() as conn:
        inspector = sa.inspect(conn)
        assert not inspector.has_table("customer")
        fks = {
            (tuple(f["constrained_columns"]), f["referred_table"])
            for f in inspector.get_foreign_keys("customer_line")
        }
        assert (("customer_id",), "client") in fks
    assert select(db_engine, "SELECT id, name FROM client ORDER BY id") == [
        (1, "Ada Lovelace"),
        (2, "Charles Babbage"),
        (3, None),
    ]
    assert plan_migration(db_engine, model, "crm", "v2").is_empty


def test_removed_field_is_kept_and_reported_then_dropped_with_the_flag(crm_db):
    model = crm(base=[field("name", sa.String(200))])  # email removed from the YAML
    plan = plan_migration(crm_db, model, "crm", "v2")
    [kept] = plan.operations
    assert (kept.kind, kept.target, kept.applies, kept.affected) == (
        "keep_column",
        "customer.email",
        False,
        2,
    )
    assert "kept with 2 non-empty values" in kept.detail
    assert plan.is_empty and "= customer.email" in plan.render()

    apply_plan(crm_db, plan)
    assert select(crm_db, "SELECT email FROM customer WHERE id = 1") == [("ada@example.com",)]

    dropping = plan_migration(crm_db, model, "crm", "v2", allow_destructive=True)
    [drop] = dropping.operations
    assert (drop.kind, drop.destructive, drop.data_loss) == ("drop_column", True, "2 non-empty values")
    with pytest.raises(DestructiveChangeRefused, match="drop_column customer.email"):
        apply_plan(crm_db, dropping)  # a plan that drops, applied without the flag
    assert "email" in columns(crm_db, "customer")

    apply_plan(crm_db, plan, allow_destructive=True)  # the reviewed plan said "kept"; the flag drops
    assert "email" not in columns(crm_db, "customer")
    assert select(crm_db, "SELECT id, name FROM customer WHERE id = 1") == [(1, "Ada Lovelace")]
    assert history(crm_db)[-1][2:6] == (
        "drop_column",
        "customer.email",
        "removed from the model; destroyed: 2 non-empty values",
        True,
    )


def test_kept_required_column_is_made_optional_so_records_can_still_be_saved(crm_db):
    migrate(crm_db, crm(field("code", sa.String(10), nullable=False, backfill="X")), "v2")
    plan = plan_migration(crm_db, crm(), "crm", "v3")
    assert [(op.kind, op.applies) for op in plan.operations] == [
        ("drop_not_null", True),
        ("keep_column", False),
    ]
    apply_plan(crm_db, plan)
    insert(crm_db, "customer", {"id": 4, "name": "Grace Hopper", "email": "grace@example.com"})
    assert select(crm_db, "SELECT code FROM customer ORDER BY id") == [("X",), ("X",), ("X",), (None,)]


def test_narrowing_a_string_is_refused_with_the_count_then_applied_with_the_flag(crm_db):
    model = crm(base=[field("name", sa.String(10)), field("email", sa.String(254))])
    plan = plan_migration(crm_db, model, "crm", "v2")
    [op] = plan.operations
    assert (op.kind, op.destructive, op.affected) == ("alter_type", True, 2)
    assert op.data_loss == "2 values longer than 10 characters would be cut to 10"
    before = snapshot(crm_db)

    with pytest.raises(DestructiveChangeRefused) as refused:
        apply_plan(crm_db, plan)
    assert "2 values longer than 10 characters" in str(refused.value)
    assert refused.value.operations[0].target == "customer.name"
    assert snapshot(crm_db) == before

    apply_plan(crm_db, plan, allow_destructive=True)
    assert select(crm_db, "SELECT name FROM customer ORDER BY id") == [
        ("Ada Lovela",),
        ("Charles Ba",),
        (None,),
    ]
    assert "10" in str(columns(crm_db, "customer")["name"]["type"])
    assert plan_migration(crm_db, model, "crm", "v2").is_empty


def test_narrowing_that_affects_no_value_is_not_destructive(crm_db):
    model = crm(base=[field("name", sa.String(50)), field("email", sa.String(254))])
    [op] = plan_migration(crm_db, model, "crm", "v2").operations
    assert (op.kind, op.destructive, op.data_loss) == ("alter_type", False, None)


def test_widening_applies_by_default(crm_db):
    model = crm(base=[field("name", sa.Text), field("email", sa.String(300))])
    plan = plan_migration(crm_db, model, "crm", "v2")
    assert [(op.kind, op.destructive) for op in plan.operations] == [("alter_type", False)] * 2
    apply_plan(crm_db, plan)
    assert select(crm_db, "SELECT name FROM customer WHERE id = 2") == [("Charles Babbage",)]


def test_not_null_over_nulls_is_refused_then_filled_with_the_backfill(crm_db):
    model = crm(
        base=[
            field("name", sa.String(200), nullable=False, backfill="(unknown)"),
            field("email", sa.String(254)),
        ]
    )
    plan = plan_migration(crm_db, model, "crm", "v2")
    [op] = plan.operations
    assert (op.kind, op.destructive, op.affected) == ("set_not_null", True, 1)
    assert op.data_loss == "1 rows are NULL and would be set to the default '(unknown)'"
    before = snapshot(crm_db)
    with pytest.raises(DestructiveChangeRefused):
        apply_plan(crm_db, plan)
    assert snapshot(crm_db) == before

    apply_plan(crm_db, plan, allow_destructive=True)
    assert select(crm_db, "SELECT name FROM customer ORDER BY id")[2] == ("(unknown)",)
    assert columns(crm_db, "customer")["name"]["nullable"] is False


def test_not_null_without_backfill_uses_the_types_empty_value(crm_db):
    model = crm(base=[field("name", sa.String(200)), field("email", sa.String(254), nullable=False)])
    [op] = plan_migration(crm_db, model, "crm", "v2").operations
    assert "set to the empty value ''" in op.data_loss
    migrate(crm_db, model, "v2", allow_destructive=True)
    assert select(crm_db, "SELECT email FROM customer WHERE id = 3") == [("",)]


def test_not_null_without_nulls_is_not_destructive(crm_db):
    insert(crm_db, "customer", {"id": 4, "name": "Grace", "email": "g@x"})
    with crm_db.begin() as conn:
        conn.exec_driver_sql("DELETE FROM customer WHERE id = 3")
    model = crm(base=[field("name", sa.String(200), nullable=False), field("email", sa.String(254))])
    [op] = plan_migration(crm_db, model, "crm", "v2").operations
    assert (op.kind, op.destructive) == ("set_not_null", False)
    migrate(crm_db, model, "v2")
    assert columns(crm_db, "customer")["name"]["nullable"] is False


def test_dropping_not_null_applies_by_default(crm_db):
    migrate(crm_db, crm(field("code", sa.String(10), nullable=False, backfill="X")), "v2")
    plan = plan_migration(crm_db, crm(field("code", sa.String(10))), "crm", "v3")
    assert [(op.kind, op.destructive) for op in plan.operations] == [("drop_not_null", False)]
    apply_plan(crm_db, plan)
    assert columns(crm_db, "customer")["code"]["nullable"] is True


def test_unique_over_duplicates_is_blocked_even_with_the_flag(crm_db):
    insert(
        crm_db,
        "customer",
        {"id": 4, "name": "Ada again", "email": "ada@example.com"},
        {"id": 5, "name": "Ada thrice", "email": "ada@example.com"},
    )
    model = crm(base=[field("name", sa.String(200)), field("email", sa.String(254), unique=True)])
    plan = plan_migration(crm_db, model, "crm", "v2")
    [op] = plan.operations
    assert (op.kind, op.target, op.affected) == ("add_unique", "customer.email", 1)
    assert op.data_loss == "1 duplicate groups, e.g. 'ada@example.com' x3"
    assert "fix the duplicates first" in op.blocked
    before = snapshot(crm_db)
    for flag in (False, True):
        with pytest.raises(MigrationBlocked, match="until the data is fixed"):
            apply_plan(crm_db, plan, allow_destructive=flag)
    assert snapshot(crm_db) == before

    with crm_db.begin() as conn:
        conn.exec_driver_sql("UPDATE customer SET email = NULL WHERE id IN (4, 5)")  # NULLs never clash
    plan = plan_migration(crm_db, model, "crm", "v2")
    assert [(op.kind, op.destructive) for op in plan.operations] == [("add_unique", False)]
    apply_plan(crm_db, plan)
    with pytest.raises(sa.exc.IntegrityError):
        insert(crm_db, "customer", {"id": 6, "name": "Copy", "email": "ada@example.com"})


def test_add_an_index(crm_db):
    model = crm(base=[field("name", sa.String(200), index=True), field("email", sa.String(254))])
    plan = plan_migration(crm_db, model, "crm", "v2")
    [op] = plan.operations
    assert (op.kind, op.target, op.destructive) == ("add_index", "customer.name", False)
    apply_plan(crm_db, plan)
    with crm_db.connect() as conn:
        assert [i["name"] for i in sa.inspect(conn).get_indexes("customer")] == ["ix_customer_name"]
    assert plan_migration(crm_db, model, "crm", "v2").is_empty


def test_unique_index_over_duplicates_is_blocked(crm_db):
    insert(crm_db, "customer", {"id": 4, "name": "Ada Lovelace", "email": "x@x"})
    model = crm(base=[field("name", sa.String(200), index=True, unique=True), field("email", sa.String(254))])
    [op] = plan_migration(crm_db, model, "crm", "v2").operations
    assert (op.kind, op.blocked is not None, op.affected) == ("add_index", True, 1)


def test_removed_index_is_dropped(crm_db):
    migrate(
        crm_db, crm(base=[field("name", sa.String(200), index=True), field("email", sa.String(254))]), "v2"
    )
    plan = plan_migration(crm_db, crm(), "crm", "v3")
    assert [(op.kind, op.destructive) for op in plan.operations] == [("drop_index", False)]
    apply_plan(crm_db, plan)
    with crm_db.connect() as conn:
        assert sa.inspect(conn).get_indexes("customer") == []


def test_removed_table_is_kept_then_dropped_with_the_flag(db_engine):
    migrate(db_engine, crm(lines=True), "v1")
    insert(db_engine, "customer", *ROWS)
    insert(db_engine, "customer_line", {"id": 10, "customer_id": 1, "amount": 3})
    plan = plan_migration(db_engine, crm(), "crm", "v2")
    [kept] = plan.operations
    assert (kept.kind, kept.target, kept.applies, kept.affected) == ("keep_table", "customer_line", False, 1)
    apply_plan(db_engine, plan)
    assert select(db_engine, "SELECT id FROM customer_line") == [(10,)]

    dropping = plan_migration(db_engine, crm(), "crm", "v2", allow_destructive=True)
    [drop] = dropping.destructive_operations
    assert (drop.kind, drop.data_loss) == ("drop_table", "1 rows")
    apply_plan(db_engine, dropping, allow_destructive=True)
    with db_engine.connect() as conn:
        assert not sa.inspect(conn).has_table("customer_line")
    assert select(db_engine, "SELECT count(*) FROM customer") == [(3,)]


def test_text_to_number_counts_values_that_do_not_convert(crm_db):
    migrate(crm_db, crm(field("age", sa.String(10))), "v2")
    with crm_db.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE customer SET age = CASE id WHEN 1 THEN ' 36 ' WHEN 2 THEN 'old' ELSE '' END"
        )
    plan = plan_migration(crm_db, crm(field("age", sa.Integer)), "crm", "v3")
    [op] = plan.operations
    assert (op.kind, op.destructive, op.affected) == ("alter_type", True, 2)
    assert op.data_loss.startswith(
        "1 value not a whole number would be emptied; 1 value would be stored as numbers"
    )
    with pytest.raises(DestructiveChangeRefused):
        apply_plan(crm_db, plan)
    apply_plan(crm_db, plan, allow_destructive=True)
    assert select(crm_db, "SELECT id, age FROM customer ORDER BY id") == [(1, 36), (2, None), (3, None)]
    assert plan_migration(crm_db, crm(field("age", sa.Integer)), "crm", "v3").is_empty


def test_decimal_to_integer_counts_fractions_and_rounds(crm_db):
    migrate(crm_db, crm(field("score", sa.Numeric(8, 2))), "v2")
    with crm_db.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE customer SET score = CASE id WHEN 1 THEN 2.5 WHEN 2 THEN 7 ELSE 3.75 END"
        )
    plan = plan_migration(crm_db, crm(field("score", sa.Integer)), "crm", "v3")
    [op] = plan.operations
    assert op.data_loss == "2 values with fractions would be rounded to whole numbers"
    apply_plan(crm_db, plan, allow_destructive=True)
    assert select(crm_db, "SELECT id, score FROM customer ORDER BY id") == [(1, 3), (2, 7), (3, 4)]


def test_integer_to_bigint_and_numeric_is_widening(crm_db):
    migrate(crm_db, crm(field("visits", sa.Integer), field("amount", sa.Integer)), "v2")
    with crm_db.begin() as conn:
        conn.exec_driver_sql("UPDATE customer SET visits = id * 1000, amount = id")
    plan = plan_migration(
        crm_db, crm(field("visits", sa.BigInteger), field("amount", sa.Numeric(14, 2))), "crm", "v3"
    )
    assert [(op.kind, op.destructive) for op in plan.operations] == [("alter_type", False)] * 2
    apply_plan(crm_db, plan)
    assert select(crm_db, "SELECT visits FROM customer ORDER BY id") == [(1000,), (2000,), (3000,)]


def test_foreign_key_over_dangling_references_is_blocked(db_engine):
    migrate(db_engine, crm(field("referrer_id", sa.Integer)), "v1")
    insert(
        db_engine,
        "customer",
        {"id": 1, "name": "Ada", "referrer_id": None},
        {"id": 2, "name": "Bob", "referrer_id": 1},
        {"id": 3, "name": "Eve", "referrer_id": 99},
    )
    model = crm(field("referrer_id", sa.Integer, sa.ForeignKey("customer.id", ondelete="SET NULL")))
    [op] = plan_migration(db_engine, model, "crm", "v2").operations
    assert (op.kind, op.affected) == ("add_foreign_key", 1)
    assert op.data_loss == "1 rows refer to records that do not exist"
    with pytest.raises(MigrationBlocked):
        migrate(db_engine, model, "v2", allow_destructive=True)
    with db_engine.begin() as conn:
        conn.exec_driver_sql("UPDATE customer SET referrer_id = NULL WHERE id = 3")
    migrate(db_engine, model, "v2")
    with db_engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM customer WHERE id = 1")  # ON DELETE SET NULL is enforced
    assert select(db_engine, "SELECT id, referrer_id FROM customer ORDER BY id") == [(2, None), (3, None)]
    assert plan_migration(db_engine, model, "crm", "v2").is_empty


def test_new_reference_field_works_and_keeps_its_delete_rule(crm_db):
    model = crm(field("referrer_id", sa.Integer, sa.ForeignKey("customer.id", ondelete="SET NULL")))
    migrate(crm_db, model, "v2")
    assert plan_migration(crm_db, model, "crm", "v2").is_empty
    with crm_db.begin() as conn:
        conn.exec_driver_sql("UPDATE customer SET referrer_id = 1 WHERE id = 2")
    with pytest.raises(sa.exc.IntegrityError):
        insert(crm_db, "customer", {"id": 9, "name": "dangling", "referrer_id": 42})
    # a later change that rebuilds the table on SQLite must not lose ON DELETE SET NULL
    model2 = crm(
        field("referrer_id", sa.Integer, sa.ForeignKey("customer.id", ondelete="SET NULL")),
        base=[field("name", sa.String(300)), field("email", sa.String(254))],
    )
    migrate(crm_db, model2, "v3")
    assert plan_migration(crm_db, model2, "crm", "v3").is_empty
    with crm_db.begin() as conn:
        conn.exec_driver_sql("DELETE FROM customer WHERE id = 1")
    assert select(crm_db, "SELECT id, referrer_id FROM customer ORDER BY id") == [(2, None), (3, None)]


def _indexed_fields():
    return [field("name", sa.String(200), index=True), field("email", sa.String(254), unique=True)]


def test_renamed_table_gets_its_indexes_and_constraints_renamed(db_engine):
    migrate(db_engine, crm(base=_indexed_fields()), "v1")
    insert(db_engine, "customer", *ROWS[:2])
    model = crm(base=_indexed_fields(), table="client", renamed_from="customer")
    plan = plan_migration(db_engine, model, "crm", "v2")
    assert [(op.kind, op.target) for op in plan.operations] == [
        ("rename_table", "client"),
        ("drop_index", "client.name"),
        ("drop_unique", "client.email"),
        ("add_unique", "client.email"),
        ("add_index", "client.name"),
    ]
    assert not plan.destructive_operations
    apply_plan(db_engine, plan)
    with db_engine.connect() as conn:
        inspector = sa.inspect(conn)
        assert [i["name"] for i in inspector.get_indexes("client") if not i.get("duplicates_constraint")] == [
            "ix_client_name"
        ]
        assert [u["name"] for u in inspector.get_unique_constraints("client")] == ["uq_client_email"]
    assert select(db_engine, "SELECT id, email FROM client ORDER BY id") == [
        (1, "ada@example.com"),
        (2, "charles@example.com"),
    ]
    assert plan_migration(db_engine, model, "crm", "v2").is_empty


def test_renamed_column_inside_a_unique_constraint(db_engine):
    migrate(db_engine, crm(base=_indexed_fields()), "v1")
    insert(db_engine, "customer", *ROWS)
    model = crm(
        base=[
            field("name", sa.String(200), index=True),
            field("mail", sa.String(254), unique=True, renamed_from="email"),
        ]
    )
    apply_plan(db_engine, plan_migration(db_engine, model, "crm", "v2"))
    assert select(db_engine, "SELECT mail FROM customer ORDER BY id") == [
        ("ada@example.com",),
        ("charles@example.com",),
        (None,),
    ]
    with pytest.raises(sa.exc.IntegrityError):
        insert(db_engine, "customer", {"id": 9, "mail": "ada@example.com"})
    assert plan_migration(db_engine, model, "crm", "v2").is_empty


def test_dropping_indexed_unique_and_reference_fields_with_the_flag(db_engine):
    fields = _indexed_fields() + [field("referrer_id", sa.Integer, sa.ForeignKey("customer.id"))]
    migrate(db_engine, crm(base=fields), "v1")
    insert(db_engine, "customer", *ROWS)
    plan = plan_migration(db_engine, crm(base=[]), "crm", "v2", allow_destructive=True)
    assert [(op.kind, op.target, op.data_loss) for op in plan.operations] == [
        ("drop_column", "customer.name", "2 non-empty values"),
        ("drop_column", "customer.email", "2 non-empty values"),
        ("drop_column", "customer.referrer_id", "0 non-empty values"),
    ]
    apply_plan(db_engine, plan, allow_destructive=True)
    assert list(columns(db_engine, "customer")) == [
        "id",
        "created_at",
        "updated_at",
        "created_by",
        "owner",
        "version",
    ]
    assert select(db_engine, "SELECT id FROM customer ORDER BY id") == [(1,), (2,), (3,)]
    assert plan_migration(db_engine, crm(base=[]), "crm", "v2").is_empty


def test_required_fields_with_server_defaults_are_filled_by_the_database(crm_db):
    model = crm(
        field("vip", sa.Boolean, nullable=False, server_default=sa.false()),
        field("rank", sa.Integer, nullable=False, server_default=sa.text("7")),
        field("joined", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()),
    )
    plan = plan_migration(crm_db, model, "crm", "v2")
    assert [(op.kind, op.destructive) for op in plan.operations] == [("add_column", False)] * 3
    apply_plan(crm_db, plan)
    rows = select(crm_db, "SELECT vip, rank, joined FROM customer")
    assert [(bool(vip), rank) for vip, rank, _ in rows] == [(False, 7)] * 3
    assert all(joined is not None for *_, joined in rows)
    assert plan_migration(crm_db, model, "crm", "v2").is_empty


def test_json_to_text_keeps_the_values_as_text(crm_db):
    migrate(crm_db, crm(field("data", sa.JSON)), "v2")
    with crm_db.begin() as conn:
        conn.execute(sa.text("UPDATE customer SET data = :d WHERE id = 1"), {"d": '{"a": 1}'})
    plan = plan_migration(crm_db, crm(field("data", sa.Text)), "crm", "v3")
    [op] = plan.operations
    assert (op.kind, op.destructive, op.data_loss) == ("alter_type", True, "1 value would be stored as text")
    apply_plan(crm_db, plan, allow_destructive=True)
    assert select(crm_db, "SELECT data FROM customer WHERE id = 1") == [('{"a": 1}',)]


def test_narrowing_a_unique_column_into_duplicates_is_blocked(db_engine):
    migrate(
        db_engine,
        crm(base=[field("name", sa.String(200), unique=True), field("email", sa.String(254))]),
        "v1",
    )
    insert(db_engine, "customer", *ROWS)
    insert(db_engine, "customer", {"id": 4, "name": "Ada Byron", "email": None})
    model = crm(base=[field("name", sa.String(3), unique=True), field("email", sa.String(254))])
    [op] = plan_migration(db_engine, model, "crm", "v2").operations
    assert (op.kind, op.destructive) == ("alter_type", True)
    assert op.blocked == (
        "the converted values would no longer be unique (name): 1 duplicate groups, e.g. 'Ada' x2; "
        "fix those values first"
    )
    with pytest.raises(MigrationBlocked):
        migrate(db_engine, model, "v2", allow_destructive=True)
    model = crm(base=[field("name", sa.String(5), unique=True), field("email", sa.String(254))])
    [op] = plan_migration(db_engine, model, "crm", "v2").operations
    assert (op.blocked, op.affected) == (None, 3)  # 'Ada L', 'Charl', 'Ada B' stay distinct
    migrate(db_engine, model, "v2", allow_destructive=True)
    assert select(db_engine, "SELECT name FROM customer ORDER BY id") == [
        ("Ada L",),
        ("Charl",),
        (None,),
        ("Ada B",),
    ]
