"""Fixtures for the expression tests (helpers live in expr_helpers.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from expr_helpers import FIELDS, VARIABLES, make_table

from engine.expr import Env


@pytest.fixture
def env() -> Env:
    return Env(FIELDS, VARIABLES)


@pytest.fixture
def items(db_engine) -> sa.Table:
    """The test table. On PostgreSQL the session runs in UTC+14, so any SQL that silently
    depended on the session time zone (rather than UTC) would give wrong dates."""
    if db_engine.dialect.name == "postgresql":

        @sa.event.listens_for(db_engine, "connect")
        def _far_time_zone(dbapi_connection, _record):
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET TIME ZONE 'Pacific/Kiritimati'")
            dbapi_connection.commit()

    metadata = sa.MetaData()
    table = make_table(metadata)
    metadata.create_all(db_engine)
    return table
