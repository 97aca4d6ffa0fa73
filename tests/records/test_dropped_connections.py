"""A connection the database drops during a request (a restart, a failover,
`pg_terminate_backend`): the read on it fails, but the connection is rolled back and
replaced before it is used again, and ending the reads does not fail (defect 7; the load
test in tests/load drives the same faults through gunicorn)."""

from __future__ import annotations

import os
import time

import pytest
import sqlalchemy as sa

from engine.records import Context

PG_URL = os.environ.get("TAILOR_TEST_DATABASE_URL")

pytestmark = [
    pytest.mark.skipif(not PG_URL, reason="terminating one connection needs PostgreSQL (TAILOR_TEST_DATABASE_URL)"),
    pytest.mark.parametrize("db_url", ["postgresql"], indirect=True),
]

FILES = {"entities/note.yaml": "entity: note\nfields:\n  title: {type: string}\n"}


def terminate(pid: int) -> None:
    """End one backend, and wait until it is gone (not a timing assumption: a poll)."""
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
            for _ in range(500):
                if not conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                    {"pid": pid}).scalar():
                    return
                time.sleep(0.01)
        raise AssertionError(f"backend {pid} did not end")
    finally:
        admin.dispose()


def backend(conn) -> int:
    return conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()


def test_a_shared_read_connection_found_dead_is_replaced_before_reuse(service_for, db_url):
    service = service_for(FILES)
    service.create("note", {"title": "kept"}, Context())
    with service.reading() as conn:
        dead = backend(conn)
        terminate(dead)
        with pytest.raises(sa.exc.DBAPIError) as failed:
            service.list("note", None, Context())  # the request's read on the dropped connection fails
        assert failed.value.connection_invalidated
        # what the request does next (its error page) reads on a fresh connection
        assert [r["title"] for r in service.list("note", None, Context())] == ["kept"]
        with service.reading() as again:
            assert backend(again) != dead


def test_reads_end_without_error_when_their_connection_was_dropped_after_them(service_for, db_url):
    service = service_for(FILES)
    with service.reading() as conn:
        rows = service.list("note", None, Context())
        terminate(backend(conn))  # the page is rendered; the database goes away before it is sent
    assert rows == []
    assert service.create("note", {"title": "after"}, Context())["title"] == "after"
    assert [r["title"] for r in service.list("note", None, Context())] == ["after"]
