"""The engine's own tables come from the Alembic revisions in migrations/."""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from engine.migrate import upgrade_system_tables
from engine.migrate.system import system_config
from engine.storage.system import ALEMBIC_VERSION_TABLE, SYSTEM_METADATA

from .helpers import select


def _unquote(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    text = re.sub(r"::[a-z ]+$", "", text)  # PostgreSQL casts such as ''::character varying
    if len(text) >= 2 and text[0] == text[-1] == "'":
        text = text[1:-1]
    return {"1": "true", "0": "false", "current_timestamp": "now()"}.get(text.lower(), text.lower())


def _server_default_differs(
    context, inspected_column, metadata_column, inspected_default, metadata_default, rendered_metadata_default
):
    """Compare server defaults by meaning (Alembic's own SQLite comparison trips over '')."""
    return _unquote(inspected_default) != _unquote(rendered_metadata_default)


def _differences(engine, metadata: sa.MetaData = SYSTEM_METADATA) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": _server_default_differs,
                "include_name": lambda name, type_, parents: (
                    type_ != "table" or name != ALEMBIC_VERSION_TABLE
                ),
            },
        )
        return compare_metadata(context, metadata)


def test_revisions_produce_exactly_the_system_metadata(db_engine):
    upgrade_system_tables(db_engine)
    assert _differences(db_engine) == []


def test_the_check_notices_drift(db_engine):
    """The comparison used above does see a difference when there is one."""
    upgrade_system_tables(db_engine)
    with db_engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE tailor_sequence ADD COLUMN extra INTEGER")
        conn.exec_driver_sql("DROP INDEX ix_tailor_audit_entity_record")
    kinds = sorted(diff[0] for diff in _differences(db_engine))
    assert kinds == ["add_index", "remove_column"]


def test_the_check_notices_a_changed_server_default(db_engine):
    upgrade_system_tables(db_engine)
    changed = sa.MetaData(naming_convention=SYSTEM_METADATA.naming_convention)
    for table in SYSTEM_METADATA.tables.values():
        table.to_metadata(changed)
    changed.tables["tailor_user"].c.language.server_default = sa.DefaultClause("fr")
    diffs = [
        d
        for group in _differences(db_engine, changed)
        for d in (group if isinstance(group, list) else [group])
    ]
    assert [(d[0], d[2], d[3]) for d in diffs] == [("modify_default", "tailor_user", "language")]


def test_upgrade_is_idempotent_and_records_head(db_engine):
    upgrade_system_tables(db_engine)
    upgrade_system_tables(db_engine)
    head = ScriptDirectory.from_config(system_config()).get_current_head()
    assert select(db_engine, f"SELECT version_num FROM {ALEMBIC_VERSION_TABLE}") == [(head,)]
    with db_engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert set(SYSTEM_METADATA.tables) | {ALEMBIC_VERSION_TABLE} == tables


def test_upgrade_inside_a_callers_transaction_rolls_back_with_it(db_engine):
    with db_engine.connect() as conn:
        with conn.begin() as transaction:
            upgrade_system_tables(conn)
            assert sa.inspect(conn).has_table("tailor_schema_history")
            transaction.rollback()
    with db_engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == []


def test_upgrade_leaves_project_tables_alone(db_engine):
    with db_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE customer (id INTEGER PRIMARY KEY, name VARCHAR(20))")
        conn.exec_driver_sql("INSERT INTO customer VALUES (1, 'kept')")
    upgrade_system_tables(db_engine)
    assert select(db_engine, "SELECT id, name FROM customer") == [(1, "kept")]


def test_migrate_brings_an_older_databases_engine_tables_to_head(db_engine, build_model):
    """A database made by an older Tailor (engine tables at 0002) gains the organisation
    tables when the project is migrated, keeping its users."""
    from alembic import command

    from engine.migrate import apply_plan, plan_migration
    from engine.storage import users
    from engine.users import create_user

    upgrade_system_tables(db_engine)
    with db_engine.begin() as conn:
        command.downgrade(system_config(connection=conn), "0002")
    assert "tailor_user_role" not in sa.inspect(db_engine).get_table_names()
    create_user(db_engine, "old.user", None)
    model = build_model({"entities/c.yaml": "entity: c\nfields:\n  name: {type: string}\n"})
    apply_plan(db_engine, plan_migration(db_engine, model.metadata, project=model.project,
                                         metadata_version=model.version))
    head = ScriptDirectory.from_config(system_config()).get_current_head()
    with db_engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT version_num FROM {ALEMBIC_VERSION_TABLE}")).scalar() == head
        assert conn.execute(sa.select(users.c.username, users.c.department_id)).all() == [("old.user", None)]
    assert {"tailor_user_role", "tailor_department", "tailor_share"} <= set(sa.inspect(db_engine).get_table_names())


def test_revision_0007_adds_and_removes_the_session_tables(db_engine):
    """Sessions, one-time links and the sign-in history come with revision 0007, on a
    database whose users are kept, and go with its downgrade."""
    from alembic import command

    from engine.users import create_user

    added = {"tailor_session", "tailor_user_link", "tailor_sign_in_event"}
    upgrade_system_tables(db_engine)
    with db_engine.begin() as conn:
        command.downgrade(system_config(connection=conn), "0006")
    assert not added & set(sa.inspect(db_engine).get_table_names())
    create_user(db_engine, "old.user", None)
    upgrade_system_tables(db_engine)
    assert added <= set(sa.inspect(db_engine).get_table_names())
    assert _differences(db_engine) == []
    assert select(db_engine, "SELECT username FROM tailor_user") == [("old.user",)]


def test_revision_0017_moves_a_runs_file_into_a_table_of_its_own(db_engine):
    """An import run's file, kept in the run's row before 0017, is in tailor_import_file
    after it (byte for byte), and back in the row after its downgrade. Upgraded inside a
    transaction of the caller's (on SQLite: foreign keys on), the run's items and errors
    stay (a rebuild of the run's table would delete them) and its ids are never reused."""
    from alembic import command

    upgrade_system_tables(db_engine)
    with db_engine.begin() as conn:
        command.downgrade(system_config(connection=conn), "0016")
    data = b"name,city\n\xe5\xae\xa2\xe6\x88\xb7,Shanghai\n" + bytes(range(256))
    with db_engine.begin() as conn:
        first, second = (conn.execute(sa.text(
            "INSERT INTO tailor_import_run (entity, status, file_name, source, mapping, created_at) "
            "VALUES ('customer', 'done', 'a.csv', :source, '{}', CURRENT_TIMESTAMP) RETURNING id"),
            {"source": data + bytes([run])}).scalar_one() for run in (1, 2))
        conn.execute(sa.text("INSERT INTO tailor_import_item (run_id, row_number, record_id, action, version) "
                             "VALUES (:run, 2, 7, 'created', 1)"), {"run": first})
        conn.execute(sa.text("INSERT INTO tailor_import_error (run_id, row_number, column_name, message) "
                             "VALUES (:run, 3, 'city', '{}')"), {"run": first})
    with db_engine.begin() as conn:  # the caller's transaction
        upgrade_system_tables(conn)
    assert _differences(db_engine) == []
    assert select(db_engine, "SELECT r.id, f.source FROM tailor_import_run r JOIN tailor_import_file f "
                             "ON f.run_id = r.id ORDER BY r.id") == [(first, data + b"\x01"), (second, data + b"\x02")]
    assert select(db_engine, "SELECT run_id FROM tailor_import_item") == [(first,)]
    assert select(db_engine, "SELECT run_id FROM tailor_import_error") == [(first,)]
    with db_engine.begin() as conn:  # ids are not used again: a deleted last run's id stays taken
        conn.execute(sa.text("DELETE FROM tailor_import_run WHERE id = :run"), {"run": second})
        third = conn.execute(sa.text("INSERT INTO tailor_import_run (entity, status, file_name, mapping, created_at) "
                                     "VALUES ('customer', 'queued', 'b.csv', '{}', CURRENT_TIMESTAMP) "
                                     "RETURNING id")).scalar_one()
    assert third > second
    with db_engine.begin() as conn:
        command.downgrade(system_config(connection=conn), "0016")
    assert "tailor_import_file" not in sa.inspect(db_engine).get_table_names()
    assert select(db_engine, "SELECT id, source FROM tailor_import_run ORDER BY id") == \
        [(first, data + b"\x01"), (third, b"")]
    assert select(db_engine, "SELECT run_id FROM tailor_import_item") == [(first,)]
