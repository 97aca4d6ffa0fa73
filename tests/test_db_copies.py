"""The migrated copies tests start from (dbcopies.py) are what a migration leaves."""

from __future__ import annotations

import datetime as dt

import dbcopies
import pytest
import sqlalchemy as sa

from engine.storage import make_engine

FILES = {
    "entities/customer.yaml": """
        entity: customer
        fields:
          name: {type: string, required: true}
          level: {type: choice, options: [a, b]}
          score: {type: integer}
        """,
    "entities/deal.yaml": """
        entity: deal
        fields:
          customer: {type: link, to: customer}
          total: {type: decimal}
        """,
}


def _picture(engine) -> dict:
    """The schema (tables, columns, keys, indexes) and every row, times left out."""
    inspector = sa.inspect(engine)
    picture = {}
    with engine.connect() as conn:
        for table in sorted(inspector.get_table_names()):
            columns = [(c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in
                       inspector.get_columns(table)]
            keys = (inspector.get_pk_constraint(table)["constrained_columns"],
                    sorted((f["constrained_columns"], f["referred_table"], f["referred_columns"])
                           for f in inspector.get_foreign_keys(table)),
                    sorted((i["name"], i["column_names"], bool(i["unique"])) for i in inspector.get_indexes(table)))
            rows = sorted(tuple("<time>" if isinstance(v, dt.datetime | dt.date) else v for v in row)
                          for row in conn.execute(sa.table(table, *[sa.column(c[0]) for c in columns]).select()))
            picture[table] = (columns, keys, rows)
    return picture


@pytest.fixture
def second_url(db_url, tmp_path):
    """Another empty database of the test's kind."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'second.sqlite'}"
        return
    name = dbcopies.pg_databases.fresh()
    yield dbcopies.database_url(name)
    dbcopies.pg_databases.drop(name)


def test_a_copy_is_what_a_migration_leaves(build_model, db_url, second_url):
    model = build_model(FILES)
    dbcopies.migrated_engine(model, second_url).dispose()  # the model's template exists now
    copy = dbcopies.migrated_engine(model, db_url)
    migrated = make_engine(second_url)
    try:
        key = dbcopies.migration_key(model, copy.dialect.name)
        assert key in (dbcopies.sqlite_copies.files if copy.dialect.name == "sqlite" else dbcopies.pg_databases.templates)
        picture = _picture(migrated)
        assert {"customer", "deal", "tailor_schema_history", "tailor_user"} <= set(picture)
        assert _picture(copy) == picture
    finally:
        copy.dispose()
        migrated.dispose()


def test_a_database_the_test_touched_is_migrated_not_replaced(build_model, db_url, second_url):
    model = build_model(FILES)
    dbcopies.migrated_engine(model, second_url).dispose()  # the model's template exists now
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE kept (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO kept VALUES (7)")
    engine.dispose()
    engine = dbcopies.migrated_engine(model, db_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT id FROM kept").scalar() == 7
        assert {"customer", "deal"} <= set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_second_model_on_the_same_database_migrates_it(service_for):
    first = service_for(FILES)
    kept = first.create("customer", {"name": "Kept"})
    second = service_for({**FILES, "entities/note.yaml": "entity: note\nfields:\n  title: {type: string}\n"})
    assert second.get("customer", kept["id"])["name"] == "Kept"
    assert "note" in sa.inspect(second.engine).get_table_names()
