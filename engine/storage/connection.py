"""One place that turns a URL into an SQLAlchemy Engine with Tailor's connection rules.

SQLite needs two adjustments to behave like a real transactional database:
* `foreign_keys=ON`, or declared foreign keys are not enforced;
* the driver must not auto-commit DDL: we take transaction control from pysqlite and emit
  BEGIN ourselves, so a migration that fails half-way leaves the schema unchanged.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .jsontext import dumps


def make_engine(url: str, **kwargs) -> Engine:
    kwargs.setdefault("json_serializer", dumps)  # engine/storage/jsontext.py
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {}).setdefault("timeout", 30)
        engine = sa.create_engine(url, **kwargs)
        _make_sqlite_transactional(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def _make_sqlite_transactional(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every test
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        # searches fold case and accents in SQL the way Python does (engine/model/search.py)
        dbapi_connection.create_function("tailor_fold", 1, _fold, deterministic=True)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # deleted and overwritten content is zeroed, not left in free pages: a value encrypted
        # by a migration leaves no clear text behind in the file (engine/fields/encryption.py)
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # Writers ask for IMMEDIATE (`write_engine()`): the write lock is taken up front, so
        # two writers queue instead of failing on a lock upgrade. Readers stay DEFERRED.
        if connection.get_execution_options().get("tailor_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def _fold(value):
    if value is None:
        return None
    from ..model.search import fold

    return fold(str(value))


def write_engine(engine: Engine) -> Engine:
    """The same engine, marked so that SQLite transactions take the write lock at BEGIN."""
    return engine.execution_options(tailor_write=True)
