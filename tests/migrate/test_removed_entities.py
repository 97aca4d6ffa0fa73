"""Removing an entity: its table is kept (or dropped with the flag), whatever it holds.

An entity table, as the model compiler makes it, has indexes (`ix_<entity>_owner`),
foreign keys (`created_by`/`owner` -> tailor_user.id) and often links to or from other
entities. Alembic reports the removed table *and* what is inside it (its indexes): all of it
is one keep/drop decision, never a crash.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.migrate import DestructiveChangeRefused, apply_plan, plan_migration, write_revision
from engine.migrate.errors import NothingToWrite
from engine.model import load_model

from .helpers import field, insert, new_metadata, select, standard_columns


def table(metadata: sa.MetaData, name: str, *fields) -> sa.Table:
    """An entity table as compiled: standard columns and an index on `owner`."""
    t = sa.Table(name, metadata, *standard_columns(), *fields, info={"entity": name, "renamed_from": None})
    sa.Index(f"ix_{name}_owner", t.c.owner)
    return t


def customer(metadata: sa.MetaData, *extra) -> sa.Table:
    return table(metadata, "customer", field("name", sa.String(200)), *extra)


def invoice(metadata: sa.MetaData, *, link: bool = True, link_fk: bool = True) -> sa.Table:
    fields = [field("number", sa.String(20)), field("total", sa.Numeric(12, 2))]
    if link:
        args = [sa.ForeignKey("customer.id", ondelete="CASCADE")] if link_fk else []
        fields.append(field("customer_id", sa.Integer, *args, nullable=False))
    t = table(metadata, "invoice", *fields)
    sa.Index("uq_invoice_number", t.c.number, unique=True)
    if link:
        sa.Index("ix_invoice_customer_id", t.c.customer_id)
    return t


def both(**kwargs) -> sa.MetaData:
    metadata = new_metadata()
    customer(metadata)
    invoice(metadata, **kwargs)
    return metadata


def only_customer(*extra) -> sa.MetaData:
    metadata = new_metadata()
    customer(metadata, *extra)
    return metadata


def only_invoice(**kwargs) -> sa.MetaData:
    metadata = new_metadata()
    invoice(metadata, **kwargs)
    return metadata


def migrate(engine, model, version="v", project="crm", **kwargs):
    return apply_plan(engine, plan_migration(engine, model, project, version, **kwargs), **kwargs)


def has_table(engine, name: str) -> bool:
    with engine.connect() as conn:
        return sa.inspect(conn).has_table(name)


def kinds(plan) -> list[tuple[str, str, bool]]:
    return [(op.kind, op.target, op.applies) for op in plan.operations]


@pytest.fixture
def shop(db_engine):
    """customer (2 rows) and invoice (3 rows, each linked to a customer), created by 'crm'."""
    migrate(db_engine, both(), "v1")
    insert(db_engine, "customer", {"id": 1, "name": "Ada"}, {"id": 2, "name": "Charles"})
    insert(
        db_engine,
        "invoice",
        {"id": 10, "number": "A-1", "total": 5, "customer_id": 1},
        {"id": 11, "number": "A-2", "total": 7, "customer_id": 1},
        {"id": 12, "number": "B-1", "total": 9, "customer_id": 2},
    )
    return db_engine


def test_removed_entity_with_indexes_and_references_is_kept_then_dropped_with_the_flag(shop):
    plan = plan_migration(shop, only_customer(), "crm", "v2")
    assert kinds(plan) == [("keep_table", "invoice", False)]
    [kept] = plan.kept
    assert kept.affected == 3 and "kept with 3 rows" in kept.detail
    assert plan.is_empty and "= invoice: removed from the model; kept with 3 rows" in plan.render()
    assert "nothing to do" in plan.sql(shop)

    assert apply_plan(shop, plan) == []
    assert select(shop, "SELECT id, customer_id FROM invoice ORDER BY id") == [(10, 1), (11, 1), (12, 2)]
    with shop.connect() as conn:
        names = {ix["name"] for ix in sa.inspect(conn).get_indexes("invoice")}
    assert {"ix_invoice_owner", "uq_invoice_number", "ix_invoice_customer_id"} <= names

    dropping = plan_migration(shop, only_customer(), "crm", "v2", allow_destructive=True)
    assert kinds(dropping) == [("drop_table", "invoice", True)]
    [drop] = dropping.destructive_operations
    assert drop.data_loss == "3 rows"
    with pytest.raises(DestructiveChangeRefused):
        apply_plan(shop, dropping)
    assert has_table(shop, "invoice")

    apply_plan(shop, dropping, allow_destructive=True)
    assert not has_table(shop, "invoice")
    assert select(shop, "SELECT id, name FROM customer ORDER BY id") == [(1, "Ada"), (2, "Charles")]
    assert plan_migration(shop, only_customer(), "crm", "v3").operations == []


def test_removed_entity_and_other_changes_in_one_plan(shop):
    """The kept table does not hide the rest of the plan (here a new field elsewhere), and a
    rebuild of the table it references (SQLite) leaves its references intact."""
    model = only_customer(field("phone", sa.String(40)))
    model.tables["customer"].c.name.type = sa.Text()
    plan = plan_migration(shop, model, "crm", "v2")
    assert kinds(plan) == [
        ("add_column", "customer.phone", True),
        ("alter_type", "customer.name", True),
        ("keep_table", "invoice", False),
    ]
    apply_plan(shop, plan)
    assert select(shop, "SELECT id, customer_id FROM invoice ORDER BY id") == [(10, 1), (11, 1), (12, 2)]
    with shop.connect() as conn:
        [fk] = [f for f in sa.inspect(conn).get_foreign_keys("invoice") if f["referred_table"] == "customer"]
    assert fk["constrained_columns"] == ["customer_id"]
    with pytest.raises(sa.exc.IntegrityError):  # the kept reference is still enforced
        insert(shop, "invoice", {"id": 13, "number": "X", "customer_id": 99})
    assert plan_migration(shop, model, "crm", "v2").is_empty


def test_removed_table_not_created_by_this_project_is_never_dropped(db_engine):
    migrate(db_engine, only_customer(), "v1")
    migrate(db_engine, both(), "v1", project="other")  # invoice is the other project's
    insert(db_engine, "customer", {"id": 1, "name": "Ada"})
    insert(db_engine, "invoice", {"id": 10, "number": "A-1", "customer_id": 1})
    plan = plan_migration(db_engine, only_customer(), "crm", "v2", allow_destructive=True)
    assert kinds(plan) == [("keep_table", "invoice", False)]
    assert "not created by project 'crm'" in plan.kept[0].detail
    assert apply_plan(db_engine, plan, allow_destructive=True) == []
    assert select(db_engine, "SELECT id FROM invoice") == [(10,)]


def test_removed_entity_that_a_remaining_entity_linked_to(shop):
    """customer is removed, and invoice's link to it (customer_id, required) goes too."""
    model = only_invoice(link=False)
    plan = plan_migration(shop, model, "crm", "v2")
    assert kinds(plan) == [
        ("drop_not_null", "invoice.customer_id", True),
        ("keep_column", "invoice.customer_id", False),
        ("keep_table", "customer", False),
    ]
    assert not plan.destructive_operations
    apply_plan(shop, plan)
    assert select(shop, "SELECT id, name FROM customer ORDER BY id") == [(1, "Ada"), (2, "Charles")]
    assert select(shop, "SELECT id, customer_id FROM invoice ORDER BY id") == [(10, 1), (11, 1), (12, 2)]
    insert(shop, "invoice", {"id": 13, "number": "C-1"})  # saved without the removed link

    dropping = plan_migration(shop, model, "crm", "v3", allow_destructive=True)
    assert [(op.kind, op.target, op.data_loss) for op in dropping.operations] == [
        ("drop_column", "invoice.customer_id", "3 non-empty values"),
        ("drop_table", "customer", "2 rows"),
    ]
    apply_plan(shop, dropping, allow_destructive=True)
    assert not has_table(shop, "customer")
    assert select(shop, "SELECT id, number FROM invoice ORDER BY id") == [
        (10, "A-1"),
        (11, "A-2"),
        (12, "B-1"),
        (13, "C-1"),
    ]
    assert plan_migration(shop, model, "crm", "v3").operations == []


def test_removed_entity_whose_link_field_stays_as_a_plain_number(shop):
    """The model keeps invoice.customer_id without its reference: the foreign key is dropped
    before the table it points at."""
    model = only_invoice(link_fk=False)
    plan = plan_migration(shop, model, "crm", "v2")
    assert kinds(plan) == [
        ("drop_foreign_key", "invoice.customer_id", True),
        ("keep_table", "customer", False),
    ]
    apply_plan(shop, plan)
    dropping = plan_migration(shop, model, "crm", "v3", allow_destructive=True)
    assert kinds(dropping) == [("drop_table", "customer", True)]
    apply_plan(shop, dropping, allow_destructive=True)
    assert not has_table(shop, "customer")
    assert select(shop, "SELECT id, customer_id FROM invoice ORDER BY id") == [(10, 1), (11, 1), (12, 2)]


def test_removed_table_still_referenced_by_a_table_that_stays_is_kept(shop):
    """invoice (removed, but another project's now) references customer (removed, created by
    'crm'): dropping customer would break invoice, so both are kept, with the reason."""
    with shop.begin() as conn:
        conn.exec_driver_sql("UPDATE tailor_schema_history SET project = 'other' WHERE target = 'invoice'")
    plan = plan_migration(shop, new_metadata(), "crm", "v2", allow_destructive=True)
    assert kinds(plan) == [("keep_table", "invoice", False), ("keep_table", "customer", False)]
    customer_kept = plan.kept[1]
    assert "still referenced by invoice.customer_id" in customer_kept.detail
    assert apply_plan(shop, plan, allow_destructive=True) == []
    assert select(shop, "SELECT count(*) FROM customer") == [(2,)]
    assert select(shop, "SELECT count(*) FROM invoice") == [(3,)]


def test_removing_both_entities_drops_the_referencing_table_first(shop):
    plan = plan_migration(shop, new_metadata(), "crm", "v2")
    assert sorted(kinds(plan)) == [("keep_table", "customer", False), ("keep_table", "invoice", False)]
    dropping = plan_migration(shop, new_metadata(), "crm", "v2", allow_destructive=True)
    assert kinds(dropping) == [("drop_table", "invoice", True), ("drop_table", "customer", True)]
    apply_plan(shop, dropping, allow_destructive=True)
    assert not has_table(shop, "invoice") and not has_table(shop, "customer")


def test_write_revision_of_a_plan_that_only_keeps_refuses(shop, tmp_path):
    plan = plan_migration(shop, only_customer(), "crm", "v2")
    with pytest.raises(NothingToWrite, match="nothing to write: the database is up to date"):
        write_revision(plan, tmp_path / "revisions", "remove invoice")
    assert not list(tmp_path.glob("revisions/*.py"))
    path = write_revision(
        plan_migration(shop, only_customer(), "crm", "v2", allow_destructive=True), tmp_path, "drop invoice"
    )
    assert "op.drop_table('invoice')" in path.read_text()


# -- the same through YAML and the model compiler ------------------------------------------------

CUSTOMER = """
entity: customer
fields:
  name: {type: string, max_length: 200, required: true}
  email: {type: email, unique: true}
"""

INVOICE = """
entity: invoice
fields:
  number: {type: string, unique: true}
  customer: {type: link, to: customer, on_delete: restrict}
  lines:
    type: lines
    fields:
      qty: {type: decimal}
"""


def test_removing_entities_of_a_compiled_project(make_project, db_engine):
    files = {"entities/customer.yaml": CUSTOMER, "entities/invoice.yaml": INVOICE}
    full = load_model(make_project(files, "full"), entry_points=False)
    apply_plan(db_engine, plan_migration(db_engine, full.metadata, full.project, full.version))
    insert(
        db_engine,
        "customer",
        {
            "id": 1,
            "name": "Ada",
            "email": "ada@example.com",
            "created_at": "2024-01-01 00:00:00",
            "updated_at": "2024-01-01 00:00:00",
        },
    )
    before = {t for t in full.metadata.tables if not t.startswith("tailor_")}
    assert {"customer", "invoice"} < before

    # invoice removed (with its lines table): kept, then dropped
    small = load_model(make_project({"entities/customer.yaml": CUSTOMER}, "small"), entry_points=False)
    plan = plan_migration(db_engine, small.metadata, small.project, small.version)
    assert {op.kind for op in plan.operations} == {"keep_table"}
    assert {op.table for op in plan.operations} == before - {"customer"}
    apply_plan(db_engine, plan)
    dropping = plan_migration(db_engine, small.metadata, small.project, small.version, allow_destructive=True)
    assert {op.kind for op in dropping.operations} == {"drop_table"}
    apply_plan(db_engine, dropping, allow_destructive=True)
    with db_engine.connect() as conn:
        assert not (before - {"customer"}) & set(sa.inspect(conn).get_table_names())
    assert select(db_engine, "SELECT id, name FROM customer") == [(1, "Ada")]
    assert plan_migration(db_engine, small.metadata, small.project, small.version).operations == []


def test_removing_a_linked_entity_of_a_compiled_project(make_project, db_engine):
    """customer removed, and invoice's link to it removed too."""
    files = {"entities/customer.yaml": CUSTOMER, "entities/invoice.yaml": INVOICE}
    full = load_model(make_project(files, "full"), entry_points=False)
    apply_plan(db_engine, plan_migration(db_engine, full.metadata, full.project, full.version))
    unlinked = INVOICE.replace("  customer: {type: link, to: customer, on_delete: restrict}\n", "")
    small = load_model(make_project({"entities/invoice.yaml": unlinked}, "small"), entry_points=False)
    plan = plan_migration(db_engine, small.metadata, small.project, small.version)
    assert ("keep_table", "customer", False) in kinds(plan)
    assert ("keep_column", "invoice.customer", False) in kinds(plan)
    apply_plan(db_engine, plan)
    dropping = plan_migration(db_engine, small.metadata, small.project, small.version, allow_destructive=True)
    assert [(op.kind, op.target) for op in dropping.operations] == [
        ("drop_column", "invoice.customer"),
        ("drop_table", "customer"),
    ]
    apply_plan(db_engine, dropping, allow_destructive=True)
    assert not has_table(db_engine, "customer")
    assert plan_migration(db_engine, small.metadata, small.project, small.version).operations == []
