"""The engine's own tables (`tailor_*`), migrated by the Alembic revisions in `migrations/`.

These tables are the same for every project, so they follow ordinary, reviewed Alembic
revisions rather than the project planner. The Alembic `Config` is built in code (there is no
alembic.ini to find or to keep in step) and the connection is handed to `migrations/env.py`,
which lets `apply_plan` create the engine tables inside its own migration transaction.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from engine.paths import MIGRATIONS
from engine.storage import write_engine
from engine.storage.system import ALEMBIC_VERSION_TABLE

# One PostgreSQL advisory lock serialises every schema change made by Tailor (engine tables
# and project migrations), so two processes started together cannot both create a table.
MIGRATION_LOCK_KEY = zlib.crc32(b"tailor.migrate")


def system_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic Config for `migrations/`; pass a connection (preferred) or a URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("version_table", ALEMBIC_VERSION_TABLE)
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def take_migration_lock(connection: Connection) -> None:
    """Serialise schema changes. SQLite already does so with BEGIN IMMEDIATE (write_engine)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


def upgrade_system_tables(bind: Engine | Connection) -> None:
    """Bring the engine tables to the newest revision; running it again changes nothing.

    Given an Engine, it runs in its own transaction (on SQLite with foreign keys off, checked
    before the commit). Given a Connection, it runs inside the caller's transaction, so a
    caller that rolls back also undoes the engine tables.
    """
    if isinstance(bind, Connection):
        take_migration_lock(bind)
        command.upgrade(system_config(connection=bind), "head")
        return
    with write_engine(bind).connect() as connection:
        # SQLite: a revision may rebuild a table, and dropping the old copy with foreign keys
        # enforced would run the ON DELETE actions of every row referring to it
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            from .sqlite import set_foreign_keys

            set_foreign_keys(connection, False)
        try:
            with connection.begin():
                take_migration_lock(connection)
                command.upgrade(system_config(connection=connection), "head")
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("upgrading the engine tables would break references; rolled back")
        finally:
            if sqlite:
                try:
                    set_foreign_keys(connection, True)
                except Exception:
                    connection.invalidate()


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest revision in migrations/ (read once per process)."""
    return ScriptDirectory.from_config(system_config()).get_current_head()


def system_tables_current(connection: Connection) -> bool:
    """Whether the engine tables are at the newest revision: one small query, so that
    `apply_plan` can skip Alembic (which reads every revision file) when nothing is due."""
    if not sa.inspect(connection).has_table(ALEMBIC_VERSION_TABLE):
        return False
    versions = [v for (v,) in connection.execute(sa.text(f"SELECT version_num FROM {ALEMBIC_VERSION_TABLE}"))]
    return versions == [head_revision()]

