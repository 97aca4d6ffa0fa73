"""Faults: the database drops its connections, between requests and in the middle of one.

The request that was running fails with a 503 page that renders without the database (no
traceback escapes Flask, no menu or counts queried on the dead connection), the next
requests succeed on fresh connections, and no acknowledged write is lost or doubled.

On PostgreSQL every backend of the app's database is terminated (pg_terminate_backend,
from a connection to another database); on SQLite the statement's own connection is
closed under SQLAlchemy, which it takes for a disconnect just the same. Bounded: a few
dozen requests.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import NullPool
from test_forms import form_values, setting
from webutil import PG_URL, csrf_of, sign_in

WRITES = 30


class Faults:
    """Drops the app's database connections on demand: `kill_all()` now (PostgreSQL
    only), or `arm(fragment)`: the next statement whose SQL contains it dies under way."""

    def __init__(self, app):
        self.engine = app.extensions["tailor"].engine
        self.pg = self.engine.dialect.name == "postgresql"
        self.armed: str | None = None
        self.fired = 0
        self.admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool) if self.pg else None
        event.listen(self.engine, "before_cursor_execute", self._before)

    def kill_all(self) -> int:
        with self.admin.connect() as conn:
            return len(conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                " WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": self.engine.url.database}).all())

    def arm(self, fragment: str) -> None:
        self.armed = fragment

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if self.armed is None or self.armed not in statement:
            return
        self.armed = None
        self.fired += 1
        if self.pg:
            self.kill_all()  # this connection's backend too: the statement is sent to a dead one
        else:
            conn.connection.dbapi_connection.close()

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        if self.admin is not None:
            self.admin.dispose()


@pytest.fixture
def faults(crm_app):
    crm_app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: what escapes is a bare 500
    found = Faults(crm_app)
    yield found
    found.close()


def assert_fault_page(response) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == 503, html[:500]
    assert "Temporarily unavailable" in html and "Traceback" not in html
    assert 'class="sidebar"' not in html  # nothing queried for the menu on a dead connection
    assert "no-store" in response.headers["Cache-Control"]  # the error page has the headers too


def test_a_connection_dying_during_a_page_gives_an_error_page_then_the_next_succeeds(client, faults):
    assert client.get("/e/customer").status_code == 200
    for url in ("/e/customer", "/e/customer/1", "/approvals", "/home"):
        faults.arm("FROM customer" if "customer" in url else "FROM tailor_")
        failed = client.get(url)
        assert faults.fired, url
        faults.fired = 0
        assert_fault_page(failed)
        again = client.get(url)
        assert again.status_code == 200, url
        assert 'class="sidebar"' in again.get_data(as_text=True)


def test_an_error_page_with_navigation_counts_renders_without_the_database(client, faults):
    """The defect: the 500 page queried the top bar's counts on the request's dead
    connection, and that PendingRollbackError escaped from the error handler."""
    faults.arm("FROM customer")
    failed = client.get("/e/customer")
    assert_fault_page(failed)
    assert "nav-approvals" not in failed.get_data(as_text=True)  # no counts without a database
    assert "nav-approvals" in client.get("/e/customer").get_data(as_text=True)


def test_an_unexpected_error_gives_a_500_page_that_queries_nothing(client, crm_app, faults):
    def broken(*args, **kwargs):
        faults.arm("tailor_")  # any query made while the error page renders would now fail
        raise RuntimeError("a bug")

    crm_app.view_functions["pages.home"] = broken
    response = client.get("/home")
    html = response.get_data(as_text=True)
    assert response.status_code == 500 and faults.fired == 0
    assert "Something went wrong" in html and "a bug" not in html and 'class="sidebar"' not in html


@pytest.mark.skipif(not PG_URL, reason="terminating idle connections needs PostgreSQL (pg_terminate_backend)")
def test_connections_killed_between_requests_are_replaced(client, faults, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    for _ in range(5):
        assert client.get("/e/customer").status_code == 200
        assert faults.kill_all() >= 1  # the pooled connections, idle between requests
        assert client.get("/e/customer/1").status_code == 200  # pre-ping: a fresh connection


def test_no_acknowledged_write_is_lost_or_doubled(client, crm_app, faults, db_url):
    """A few dozen creates; every third one dies at its INSERT (its connection killed under
    it), and on PostgreSQL every connection is also killed between some of them."""
    acknowledged, failed = [], []
    for i in range(WRITES):
        name = f"Fault test customer {i:02d}"
        # a fresh form each time: its one-time token makes a second post of one form a 409
        values = form_values(client.get("/e/customer/new").get_data(as_text=True))
        if i % 3 == 1:
            faults.arm("INSERT INTO customer")
        if faults.pg and i % 4 == 2:
            faults.kill_all()
        response = client.post("/e/customer/new", data=setting(values, name=name))
        if response.status_code in (302, 303):
            assert re.search(r"/e/customer/\d+$", response.headers["Location"]), name
            acknowledged.append(name)
        else:
            assert_fault_page(response)
            failed.append(name)
        faults.armed = None
    assert len(failed) == WRITES // 3 and len(acknowledged) == WRITES - len(failed)
    with crm_app.extensions["tailor"].engine.connect() as conn:
        table = sa.table("customer", sa.column("name"))
        rows = conn.execute(sa.select(table.c.name, sa.func.count()).where(table.c.name.like("Fault test customer %"))
                            .group_by(table.c.name)).all()
    stored = dict(rows)
    assert all(stored.get(name) == 1 for name in acknowledged), stored  # none lost, none doubled
    assert not any(name in stored for name in failed)  # the failed ones wrote nothing
    # and the app still works afterwards, signed in
    assert client.get("/e/customer").status_code == 200
    assert sign_in(crm_app.test_client()).status_code == 302
    assert csrf_of(client.get("/e/customer/1").get_data(as_text=True))
