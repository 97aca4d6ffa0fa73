"""Alembic environment for the engine's own tables (`tailor_*`, see engine/storage/system.py).

Project tables are not Alembic's business here: they are planned from the compiled YAML model
by `engine.migrate`. This environment therefore only ever looks at tables whose name starts
with `SYSTEM_PREFIX`, so that `alembic revision --autogenerate` run against a database that
also holds project tables proposes changes to the engine's tables only.

It is driven programmatically (`engine.migrate.system.system_config`): the caller passes an
open connection in `config.attributes["connection"]` and owns the transaction, so the engine
tables can be created in the same transaction as a project migration. Without a connection
it falls back to `sqlalchemy.url` (online) or renders SQL (offline, `--sql`).
"""

from __future__ import annotations

from alembic import context

from engine.storage import make_engine, write_engine
from engine.storage.system import ALEMBIC_VERSION_TABLE, SYSTEM_METADATA, SYSTEM_PREFIX

config = context.config


def include_name(name, type_, parent_names) -> bool:
    """Only the engine's tables; everything else in the database belongs to projects."""
    if type_ == "table":
        return bool(name) and name.startswith(SYSTEM_PREFIX)
    return True


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=SYSTEM_METADATA,
        version_table=ALEMBIC_VERSION_TABLE,
        include_name=include_name,
        compare_type=True,
        # SQLite cannot ALTER most things: future revisions are rendered as batch operations.
        render_as_batch=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        # The caller owns the transaction (begin_transaction() is a no-op inside it).
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with write_engine(engine).begin() as connection:
            _configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
