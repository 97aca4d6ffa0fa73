"""Fresh databases for tests, and migrated copies instead of migrations.

Migrating an empty database to a model takes seconds on PostgreSQL (hundreds of DDL
statements) and a few tenths on SQLite, and most tests start from one: `service_for`, the
web fixtures' `migrated`. A first migration of an empty database depends only on the model
and the TAILOR_* environment (`migration_key`), so it is done once per test process and
model, and each later test gets a copy:

* SQLite: a copy of the migrated file (the test's own file must not exist yet);
* PostgreSQL: each test gets a database of its own (`PgDatabases.fresh`, dropped after the
  test). It is only named at first: the first connection to it (any engine of this
  process: `Engine` "do_connect") or the first process the test starts (subprocess,
  multiprocessing) creates it empty, unless the test first asks for a migrated one, which
  creates it as `CREATE DATABASE ... TEMPLATE <migrated>` - a file-level copy, a fraction
  of a migration's time. A database already created is replaced by such a copy only while
  untouched (no tables, no connection open to it); anything else (a second model on the
  same database, a test that already wrote to it) migrates for real, as before.

A copy's migration history rows carry the first migration's time; everything else is the
same as a migration would leave (tests/test_db_copies.py compares the two). Names carry
the xdist worker and a random part: two workers, or two test runs on one server, never
share a database.
"""

from __future__ import annotations

import atexit
import multiprocessing.process
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from engine.migrate import apply_plan, plan_migration
from engine.storage import make_engine

PG_URL = os.environ.get("TAILOR_TEST_DATABASE_URL")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def migration_key(model, dialect_name: str = "sqlite") -> tuple:
    """Everything a first migration of an empty database depends on: the model's tables (as
    DDL of that dialect), its version and project, and the TAILOR_* environment (the
    encryption key)."""
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    dialect = (postgresql if dialect_name == "postgresql" else sqlite).dialect()
    ddl = [str(CreateTable(t).compile(dialect=dialect)) for t in model.metadata.sorted_tables]
    ddl += sorted(str(CreateIndex(i).compile(dialect=dialect)) for t in model.metadata.sorted_tables
                  for i in t.indexes)
    environment = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("TAILOR_")))
    return (dialect_name, model.version, model.project, tuple(ddl), environment)


def migrate(model, engine) -> None:
    plan = plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version)
    apply_plan(engine, plan)


# -- SQLite -------------------------------------------------------------------------------------

class SqliteCopies:
    """{key: a SQLite file just migrated to that model}, in a folder of this process."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.files: dict[tuple, Path] = {}

    def _template_path(self) -> Path:
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="tailor-migrated-"))
            atexit.register(shutil.rmtree, self.folder, True)
        return self.folder / f"{len(self.files)}.sqlite"

    def migrated(self, model, url: str):
        """An engine on `url` migrated to `model`: a copy when the file does not exist yet
        and this model was migrated before, else a real migration (remembered when the
        file was new)."""
        path = Path(url.removeprefix("sqlite:///"))
        key = migration_key(model) if not path.exists() else None
        if key is not None and key in self.files:
            shutil.copyfile(self.files[key], path)
            return make_engine(url)
        engine = make_engine(url)
        migrate(model, engine)
        if key is not None:
            engine.dispose()  # the last connection out checkpoints the WAL into the file
            if not any(Path(f"{path}{end}").exists() for end in ("-wal", "-journal")):
                template = self._template_path()
                shutil.copyfile(path, template)
                self.files[key] = template
        return engine


sqlite_copies = SqliteCopies()


# -- PostgreSQL ---------------------------------------------------------------------------------

def database_url(name: str) -> str:
    return sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


class PgDatabases:
    """Per-test databases of this process, and the migrated templates they are copied from."""

    def __init__(self) -> None:
        self.prefix = f"tailor_{WORKER}_{uuid.uuid4().hex[:6]}"
        self.count = 0
        self.fresh_names: set[str] = set()  # per-test databases, until dropped
        self.pending: set[str] = set()  # ... of which not created yet
        self.templates: dict[tuple, str] = {}
        self._admin: sa.Engine | None = None
        self._to_drop: queue.Queue[str | None] = queue.Queue()
        self._dropper: threading.Thread | None = None
        atexit.register(self.finish)

    @property
    def admin(self) -> sa.Engine:
        if self._admin is None:
            self._admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        return self._admin

    def _name(self, kind: str) -> str:
        self.count += 1
        return f"{self.prefix}_{kind}{self.count}"

    def _execute(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(sql)

    def fresh(self) -> str:
        """A name for a new database of the test's own, created when first needed
        (`materialize`); returns its name."""
        name = self._name("t")
        self.pending.add(name)
        self.fresh_names.add(name)
        return name

    def materialize(self, name: str, template: str = "template0") -> None:
        """Create the pending database `name` (template0: nobody ever connects to it)."""
        if name in self.pending:
            self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            self.pending.discard(name)

    def materialize_all(self) -> None:
        for name in list(self.pending):
            self.materialize(name)

    def drop(self, name: str) -> None:
        """Drop the test's database; in the background (a DROP DATABASE takes tenths of a
        second on a busy server, and nobody waits for it: the name is never used again)."""
        self.fresh_names.discard(name)
        if name in self.pending:
            self.pending.discard(name)
            return
        if self._dropper is None:
            self._dropper = threading.Thread(target=self._drop_queued, name="drop-test-databases", daemon=True)
            self._dropper.start()
        self._to_drop.put(name)

    def _drop_queued(self) -> None:
        while (name := self._to_drop.get()) is not None:
            try:
                self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except sa.exc.DBAPIError:
                pass  # the server went away: the database went with it, or a rerun tidies nothing
            finally:
                self._to_drop.task_done()

    def finish(self) -> None:
        """Wait for the queued drops, then drop the templates (at the end of the process)."""
        if self._dropper is not None:
            self._to_drop.put(None)
            self._dropper.join(timeout=120)
            self._dropper = None
        self.drop_templates()

    def drop_templates(self) -> None:
        for name in list(self.templates.values()):
            try:
                self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except sa.exc.DBAPIError:  # the server went away: nothing left to tidy
                break
        self.templates.clear()

    def untouched(self, name: str) -> bool:
        """No connection open to the database and no table in it: replacing it by a copy
        cannot take anything from the test."""
        if name not in self.fresh_names:
            return False
        if name in self.pending:
            return True
        with self.admin.connect() as conn:
            if conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %(d)s", {"d": name}).scalar():
                return False
        probe = sa.create_engine(database_url(name), poolclass=sa.pool.NullPool)
        try:
            with probe.connect() as conn:
                return not conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
                    " AND n.nspname NOT LIKE 'pg_toast%%'").scalar()
        finally:
            probe.dispose()

    def template_for(self, key: tuple, prepare) -> str:
        """The template database for `key`, made once with `prepare(url)`."""
        if key not in self.templates:
            name = self._name("m")
            self._execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
            try:
                prepare(database_url(name))
            except BaseException:
                self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                raise
            self.templates[key] = name
        return self.templates[key]

    def replace(self, name: str, template: str) -> None:
        """`name` (untouched) becomes a copy of `template` (WITH FORCE: the untouched check
        just closed its own connection, whose backend may not have ended yet)."""
        if name in self.pending:
            self.materialize(name, template)
            return
        self._execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    def migrated(self, model, url: str):
        """An engine on `url` migrated to `model`: a copy when the database is one of ours
        and untouched, else a real migration."""
        name = sa.engine.make_url(url).database
        if name in self.fresh_names and self.untouched(name):

            def build(template_url: str) -> None:
                engine = make_engine(template_url)
                try:
                    migrate(model, engine)
                finally:
                    engine.dispose()

            self.replace(name, self.template_for(migration_key(model, "postgresql"), build))
            return make_engine(url)
        engine = make_engine(url)
        migrate(model, engine)
        return engine


pg_databases = PgDatabases()


@event.listens_for(sa.engine.Engine, "do_connect")
def _create_before_first_connection(dialect, _record, _cargs, cparams):
    if pg_databases.pending and dialect.name == "postgresql":
        name = cparams.get("dbname")
        if name in pg_databases.pending:
            pg_databases.materialize(name)


# a process the test starts may connect to the test's database: it must exist by then
_popen_init = subprocess.Popen.__init__
_process_start = multiprocessing.process.BaseProcess.start


def _popen_init_materializing(self, *args, **kwargs):
    pg_databases.materialize_all()
    _popen_init(self, *args, **kwargs)


def _process_start_materializing(self):
    pg_databases.materialize_all()
    _process_start(self)


subprocess.Popen.__init__ = _popen_init_materializing
multiprocessing.process.BaseProcess.start = _process_start_materializing


def migrated_engine(model, url: str):
    """An engine on `url` (a test's database) migrated to `model`, copied when it can be."""
    if url.startswith("sqlite:///"):
        return sqlite_copies.migrated(model, url)
    if PG_URL and url.startswith("postgresql"):
        return pg_databases.migrated(model, url)
    engine = make_engine(url)
    migrate(model, engine)
    return engine
