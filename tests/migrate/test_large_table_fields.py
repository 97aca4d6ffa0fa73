"""Adding a field costs the same on a table of any size (issue 12: the designer adds
fields to million-row tables).

No timings here (those are `make bench`, bench/design.py): these tests look at what is
sent to the database instead. A required field with a default is one `ADD COLUMN ... NOT
NULL DEFAULT`, never an UPDATE of every row; a unique field on SQLite is a unique index,
never a copy of the table; the plan's "rows affected" of a huge table is the database's
estimate, never a COUNT(*) over it.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from engine.migrate import apply_plan, plan_migration, rowcount
from engine.migrate.rowcount import RowCount, count_rows

from .helpers import columns, crm, field, insert, select

ROWS = [{"id": i, "name": f"customer {i}", "email": f"c{i}@example.com"} for i in range(1, 41)]


def migrate(engine, model, version="v"):
    return apply_plan(engine, plan_migration(engine, model, "crm", version))


@pytest.fixture
def crm_db(db_engine):
    migrate(db_engine, crm(), "v1")
    insert(db_engine, "customer", *ROWS)
    return db_engine


class Statements:
    """The SQL an engine sends while the block runs."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.sent: list[str] = []

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.sent.append(" ".join(statement.split()).lower())

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def about(self, table: str, *words: str) -> list[str]:
        return [s for s in self.sent if table in s and all(w in s for w in words)]


def _status(**kwargs):
    return field("status", sa.String(20), nullable=False, backfill="new", **kwargs)


def test_required_field_with_default_is_one_add_column(crm_db):
    plan = plan_migration(crm_db, crm(_status()), "crm", "v2")
    [op] = plan.operations
    assert (op.kind, op.destructive, op.affected, op.estimated) == ("add_column", False, 40, False)
    assert "40 existing rows get the default 'new'" in op.detail
    sql = plan.sql(crm_db)
    assert "ADD COLUMN status VARCHAR(20) DEFAULT 'new' NOT NULL" in sql
    assert "UPDATE" not in sql and "rebuild" not in sql

    with Statements(crm_db) as seen:
        apply_plan(crm_db, plan)
    assert seen.about("customer", "update") == []  # no row rewritten
    assert seen.about("_alembic_tmp") == []  # SQLite: the table is not copied
    assert select(crm_db, "SELECT DISTINCT status FROM customer") == [("new",)]
    assert columns(crm_db, "customer")["status"]["nullable"] is False
    assert plan_migration(crm_db, crm(_status()), "crm", "v2").is_empty


def test_the_default_the_column_was_added_with(crm_db):
    """PostgreSQL: the column ends as the model declares it (no DEFAULT); rows added before
    keep the value (PostgreSQL 11+ keeps it in the catalogue). SQLite cannot drop a DEFAULT
    without copying the table, so it stays until a copy is made anyway."""
    plan = plan_migration(crm_db, crm(_status()), "crm", "v2")
    pg = crm_db.dialect.name == "postgresql"
    assert ("ALTER COLUMN status DROP DEFAULT" in plan.sql(crm_db)) is pg
    apply_plan(crm_db, plan)
    if pg:
        assert columns(crm_db, "customer")["status"]["default"] is None
        with pytest.raises(sa.exc.IntegrityError):  # NOT NULL, and nothing fills it silently
            insert(crm_db, "customer", {"id": 99, "name": "no status"})
    else:
        insert(crm_db, "customer", {"id": 99, "name": "no status"})
        assert select(crm_db, "SELECT status FROM customer WHERE id = 99") == [("new",)]
    assert select(crm_db, "SELECT count(*) FROM customer WHERE status = 'new'") == [(40 if pg else 41,)]


def test_sqlite_default_goes_when_the_field_becomes_optional_or_is_removed(crm_db):
    """SQLite keeps the DEFAULT the column was added with; when the field is made optional
    (or removed, its column kept), the table copy that makes it optional drops the DEFAULT:
    new records leave it empty instead of getting a stale value."""
    migrate(crm_db, crm(_status()), "v2")
    optional = crm(field("status", sa.String(20), backfill="new"))
    migrate(crm_db, optional, "v3")
    insert(crm_db, "customer", {"id": 41, "name": "optional"})
    assert select(crm_db, "SELECT status FROM customer WHERE id IN (40, 41) ORDER BY id") == [("new",), (None,)]
    assert plan_migration(crm_db, optional, "crm", "v3").is_empty


def test_required_field_with_a_type_without_exact_literal_keeps_the_fill(crm_db):
    """A datetime default is not written as a literal (time zones differ by database): the
    column is added empty, filled, then made NOT NULL, as before."""
    from datetime import UTC, datetime

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    plan = plan_migration(
        crm_db, crm(field("seen_at", sa.DateTime(timezone=True), nullable=False, backfill=when)), "crm", "v2"
    )
    assert [op.kind for op in plan.operations] == ["add_column", "set_not_null"]
    apply_plan(crm_db, plan)
    assert select(crm_db, "SELECT count(*) FROM customer WHERE seen_at IS NULL") == [(0,)]


def test_unique_field_on_sqlite_is_an_index_not_a_table_copy(crm_db):
    model = crm(field("code", sa.String(20), unique=True))
    plan = plan_migration(crm_db, model, "crm", "v2")
    assert [(op.kind, op.target, op.rebuild) for op in plan.operations] == [
        ("add_column", "customer.code", False),
        ("add_unique", "customer.code", False),
    ]
    with Statements(crm_db) as seen:
        apply_plan(crm_db, plan)
    assert seen.about("_alembic_tmp") == []
    assert plan_migration(crm_db, model, "crm", "v2").is_empty  # index and constraint are one thing
    with crm_db.begin() as conn:
        conn.exec_driver_sql("UPDATE customer SET code = 'A' WHERE id = 1")
    with pytest.raises(sa.exc.IntegrityError):
        with crm_db.begin() as conn:
            conn.exec_driver_sql("UPDATE customer SET code = 'A' WHERE id = 2")
    # dropping the uniqueness later finds it (as an index on SQLite) and removes it
    migrate(crm_db, crm(field("code", sa.String(20))), "v3")
    with crm_db.begin() as conn:
        conn.exec_driver_sql("UPDATE customer SET code = 'A' WHERE id = 2")
    assert plan_migration(crm_db, crm(field("code", sa.String(20))), "crm", "v3").is_empty


def test_unique_goes_into_a_table_copy_the_plan_makes_anyway(crm_db):
    """SQLite: when another change copies the table (a type narrowed), the new UNIQUE is a
    constraint of that copy; the table is copied once."""
    sqlite = crm_db.dialect.name == "sqlite"
    model = crm(field("code", sa.String(20), unique=True),
                base=[field("name", sa.String(150)), field("email", sa.String(254))])
    plan = plan_migration(crm_db, model, "crm", "v2")
    unique = next(op for op in plan.operations if op.kind == "add_unique")
    assert unique.rebuild is sqlite  # PostgreSQL copies nothing: ADD CONSTRAINT either way
    assert plan.sql(crm_db).count("rebuild of table customer") == (1 if sqlite else 0)
    apply_plan(crm_db, plan)
    assert plan_migration(crm_db, model, "crm", "v2").is_empty
    with crm_db.connect() as conn:
        assert [u["name"] for u in sa.inspect(conn).get_unique_constraints("customer")] == ["uq_customer_code"]


def test_indexed_and_nullable_fields_are_added_without_reading_rows(crm_db, monkeypatch):
    monkeypatch.setattr(rowcount, "EXACT_UP_TO", 5)
    model = crm(field("phone", sa.String(40), index=True), field("note", sa.Text))
    with Statements(crm_db) as seen:
        plan = plan_migration(crm_db, model, "crm", "v2")
        apply_plan(crm_db, plan)
    assert [op.kind for op in plan.operations] == ["add_column", "add_column", "add_index"]
    assert seen.about("customer", "count(") == []
    assert seen.about("customer", "update") == []


def _analyse(engine: sa.Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE customer")


def test_rows_affected_of_a_huge_table_is_an_estimate_not_a_count(crm_db, monkeypatch):
    _analyse(crm_db)
    monkeypatch.setattr(rowcount, "EXACT_UP_TO", 10)  # 40 rows stand for a few million
    with Statements(crm_db) as seen:
        plan = plan_migration(crm_db, crm(_status()), "crm", "v2")
    assert seen.about("customer", "count(") == []
    [op] = plan.operations
    assert (op.affected, op.estimated) == (40, True)
    assert op.affected_label("en") == "about 40 (estimated)"
    assert op.affected_label("zh") == "约 40（估计）"
    assert "about 40 (estimated) existing rows get the default 'new'" in op.detail


def test_count_rows_counts_small_tables_exactly(crm_db):
    with crm_db.begin() as conn:
        conn.exec_driver_sql("DELETE FROM customer WHERE id > 30")
    with crm_db.connect() as conn:
        found = count_rows(conn, "customer")
        assert (found, found.estimated, found.label("zh")) == (30, False, "30")


def test_count_rows_estimates_beyond_the_threshold(crm_db):
    _analyse(crm_db)
    with crm_db.connect() as conn:
        found = count_rows(conn, "customer", exact_up_to=10)
        assert (found, found.estimated, found.label()) == (40, True, "about 40 (estimated)")
        exact = count_rows(conn, "customer", exact_up_to=40)
        assert (exact, exact.estimated) == (40, False)


def test_count_rows_without_statistics_uses_the_highest_id(crm_db):
    """PostgreSQL before the first ANALYZE has no reltuples: the highest id stands in."""
    with crm_db.connect() as conn:
        found = count_rows(conn, "customer", exact_up_to=10)
        assert (found, found.estimated) == (40, True)
    assert RowCount(1_234_567, estimated=True).label("zh") == "约 1,234,567（估计）"


# -- the search key of a new required text field ------------------------------------------
CUSTOMER = "entity: customer\nfields:\n  name: {type: string}\n  note: {type: string}\n"


def _project(make_project, extra: str = ""):
    from engine.model import load_model

    root = make_project({"tailor.yaml": "name: shop\n", "entities/customer.yaml": CUSTOMER + extra})
    return load_model(root, entry_points=False)


def _keys_as_a_save_makes_them(engine, model) -> tuple[list, list]:
    from engine.model.derived import record_of
    from engine.model.search import search_key

    entity = model.entities["customer"]
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(entity.table).order_by(entity.table.c.id)).mappings()]
    stored = [r["tailor_search"] for r in rows]
    return stored, [search_key(entity, record_of(entity.fields, r)) for r in rows]


@pytest.mark.parametrize("default", ["Gold", "Árbol", "ada"])
def test_new_required_text_field_appends_its_default_to_every_search_key(db_engine, make_project, default):
    """Every key gains the same folded text: one UPDATE in SQL, not every key worked out in
    Python; the keys are exactly those a save would write (accents folded, a text the key
    already holds not repeated, an empty key becoming the default alone)."""
    from engine.records import RecordService

    before = _project(make_project)
    apply_plan(db_engine, plan_migration(db_engine, before.metadata, "shop", before.version))
    service = RecordService(before, db_engine)
    for values in ({"name": "Ada", "note": "árbol"}, {"name": "Zoë"}, {}, {"note": "gold"}, {"name": "x\ny"}):
        service.create("customer", values)
    after = _project(make_project, f"  tier: {{type: string, required: true, default: {default}}}\n")
    plan = plan_migration(db_engine, after.metadata, "shop", after.version)
    [recompute] = [op for op in plan.operations if op.kind == "recompute"]
    assert "one UPDATE" in recompute.detail
    assert not [s for op in plan.operations for s in op.steps if type(s).__name__ == "PythonStepOp"]
    apply_plan(db_engine, plan)
    stored, expected = _keys_as_a_save_makes_them(db_engine, after)
    assert stored == expected
    assert plan_migration(db_engine, after.metadata, "shop", after.version).is_empty


def test_search_key_is_worked_out_in_python_when_more_than_the_default_changes(db_engine, make_project):
    """Another searchable field added with a value too (two defaults), or the new field not
    last in the search: every key is worked out again by the code a save runs."""
    from engine.records import RecordService

    before = _project(make_project)
    apply_plan(db_engine, plan_migration(db_engine, before.metadata, "shop", before.version))
    RecordService(before, db_engine).create("customer", {"name": "Ada"})
    after = _project(make_project, "  tier: {type: string, required: true, default: gold}\n"
                                   "  code: {type: string, required: true, default: c1}\n"
                                   "list:\n  search: [tier, name, note, code]\n")
    plan = plan_migration(db_engine, after.metadata, "shop", after.version)
    [recompute] = [op for op in plan.operations if op.kind == "recompute"]
    assert "one UPDATE" not in recompute.detail
    apply_plan(db_engine, plan)
    stored, expected = _keys_as_a_save_makes_them(db_engine, after)
    assert stored == expected == ["gold\nada\nc1"]


@pytest.mark.parametrize(("type_", "default", "literal"), [
    (sa.Boolean(), True, None),
    (sa.Numeric(12, 2), __import__("decimal").Decimal("12.50"), "12.50"),
    (sa.Date(), __import__("datetime").date(2026, 1, 2), "'2026-01-02'"),
    (sa.BigInteger(), 7, "7"),
    (sa.String(20), "it's", "'it''s'"),
])
def test_plain_defaults_are_written_as_exact_literals(crm_db, type_, default, literal):
    model = crm(field("extra", type_, nullable=False, backfill=default))
    plan = plan_migration(crm_db, model, "crm", "v2")
    [op] = plan.operations
    assert op.kind == "add_column"
    sql = plan.sql(crm_db)
    assert "NOT NULL" in sql and "UPDATE" not in sql
    if literal is not None:  # SQLite's DDL may put a number in parentheses: still a constant
        assert f"DEFAULT {literal}" in sql or f"DEFAULT ({literal})" in sql
    apply_plan(crm_db, plan)
    with crm_db.connect() as conn:
        values = conn.execute(sa.select(sa.table("customer", sa.column("extra", type_)).c.extra).distinct()).scalars().all()
    assert values == [default]
    assert plan_migration(crm_db, model, "crm", "v2").is_empty


def test_first_text_field_adds_an_empty_search_key_without_working_out_keys(db_engine, make_project):
    """An entity without text fields has no search key; the first text field adds the key
    column, and with the field empty in every record every key is empty too."""
    from engine.model import load_model
    from engine.records import RecordService

    files = {"tailor.yaml": "name: shop\n", "entities/visit.yaml": "entity: visit\nfields:\n  minutes: {type: integer}\n"}
    before = load_model(make_project(files), entry_points=False)
    apply_plan(db_engine, plan_migration(db_engine, before.metadata, "shop", before.version))
    RecordService(before, db_engine).create("visit", {"minutes": 5})
    files["entities/visit.yaml"] += "  topic: {type: string}\n"
    after = load_model(make_project(files), entry_points=False)
    plan = plan_migration(db_engine, after.metadata, "shop", after.version)
    kinds = [(op.kind, op.target) for op in plan.operations]
    assert ("add_column", "visit.tailor_search") in kinds and ("add_column", "visit.topic") in kinds
    assert [k for k in kinds if k[0] == "recompute"] == []
    apply_plan(db_engine, plan)
    service = RecordService(after, db_engine)
    service.create("visit", {"minutes": 7, "topic": "Pricing"})
    assert select(db_engine, "SELECT minutes, tailor_search FROM visit ORDER BY id") == [(5, None), (7, "pricing")]
    assert plan_migration(db_engine, after.metadata, "shop", after.version).is_empty
