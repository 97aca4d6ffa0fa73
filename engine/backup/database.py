"""Copying a database out of and into the CRM, by the database's own means.

SQLite: the online backup API copies every page of a consistent snapshot while others
read and write. PostgreSQL: `pg_dump --format=custom` run on a snapshot this module
exports and keeps open, so the row counts it reads for the manifest are those of the dump.
The client programs (`pg_dump`, `pg_restore`) must be on the PATH, of the server's major
version or newer; the password goes to them in the environment, never on a command line.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .errors import BackupError


def kind_of(engine: Engine) -> str:
    name = engine.dialect.name
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"backups of {name} databases are not supported (SQLite and PostgreSQL are)")
    return name


def dump(engine: Engine, target: Path) -> dict[str, int]:
    """Copy the database into the file `target`; the row count of every table copied."""
    if kind_of(engine) == "sqlite":
        return _dump_sqlite(engine, target)
    return _dump_postgresql(engine, target)


def load(engine: Engine, source: Path) -> None:
    """Fill the (empty) database from a file written by `dump`."""
    if kind_of(engine) == "sqlite":
        _load_sqlite(engine, source)
    else:
        _load_postgresql(engine, source)


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return _counts(conn)


def is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return not sa.inspect(conn).get_table_names()


def _counts(conn) -> dict[str, int]:
    preparer = conn.dialect.identifier_preparer
    names = sorted(sa.inspect(conn).get_table_names())
    return {n: int(conn.exec_driver_sql(f"SELECT count(*) FROM {preparer.quote(n)}").scalar()) for n in names}


# -- SQLite -------------------------------------------------------------------------------------
def _dump_sqlite(engine: Engine, target: Path) -> dict[str, int]:
    raw = engine.raw_connection()
    try:
        copy = sqlite3.connect(target)
        try:
            raw.driver_connection.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            copy.close()
    finally:
        raw.close()
    copied = sa.create_engine(f"sqlite:///{target}")
    try:
        return table_counts(copied)
    finally:
        copied.dispose()


def _load_sqlite(engine: Engine, source: Path) -> None:
    if not engine.url.database or engine.url.database == ":memory:":
        raise BackupError("restore into an SQLite file, not an in-memory database")
    copy = sqlite3.connect(source)
    raw = engine.raw_connection()
    try:
        copy.backup(raw.driver_connection)
    finally:
        raw.close()
        copy.close()
    engine.dispose()  # connections opened before the restore saw the empty file


# -- PostgreSQL ---------------------------------------------------------------------------------
def _client(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise BackupError(f"{program} is not installed: PostgreSQL backups need the PostgreSQL client programs "
                          f"(Debian: apt-get install postgresql-client)")
    return path


def _libpq(engine: Engine) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for the client programs, and their environment (the password)."""
    url = engine.url
    env = dict(os.environ)
    args = ["--dbname", url.database or "postgres"]
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    args.append("--no-password")
    return args, env


def _schema(conn) -> str:
    return conn.exec_driver_sql("SELECT current_schema()").scalar()


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(f"{what} failed: {message[-1] if message else f'exit code {done.returncode}'}")


def _dump_postgresql(engine: Engine, target: Path) -> dict[str, int]:
    program = _client("pg_dump")
    args, env = _libpq(engine)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
        schema = _schema(conn)
        counts = _counts(conn)
        # the snapshot lives while this transaction is open: pg_dump sees what was counted
        _run([program, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
              f"--schema={schema}", f"--file={target}", *args], env, "pg_dump")
        conn.rollback()
    return counts


def _load_postgresql(engine: Engine, source: Path) -> None:
    """The dump names its schema: its objects go back into a schema of that name, created
    unless the target database has it already (a new database's `public`): then the dump's
    own `CREATE SCHEMA` is left out of the restore list (the caller checked that the target
    has no tables)."""
    program = _client("pg_restore")
    args, env = _libpq(engine)
    with engine.connect() as conn:
        existing = set(conn.exec_driver_sql("SELECT nspname FROM pg_namespace").scalars())
    engine.dispose()
    listing = subprocess.run([program, "--list", str(source)], env=env, capture_output=True, text=True)
    if listing.returncode != 0:
        raise BackupError(f"pg_restore could not read the dump: {listing.stderr.strip()}")
    entries = [line for line in listing.stdout.splitlines()
               if not ((found := _SCHEMA_ENTRY.match(line)) and found.group(1) in existing)]
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as handle:
        handle.write("\n".join(entries) + "\n")
    try:
        _run([program, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
              f"--use-list={handle.name}", *args, str(source)], env, "pg_restore")
    finally:
        os.unlink(handle.name)


_SCHEMA_ENTRY = re.compile(r"^\d+; \d+ \d+ (?:SCHEMA - |COMMENT - SCHEMA )(\S+) ")
