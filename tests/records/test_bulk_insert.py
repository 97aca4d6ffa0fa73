"""engine/storage/bulk.py `insert_rows` stores exactly what `conn.execute(table.insert(),
rows)` stores: compared as the driver reads the rows back (a JSON null and an SQL NULL,
which SQLAlchemy reads alike, differ there), on SQLite and PostgreSQL, and it falls back to
`conn.execute` when the statement would hold more than the rows' values."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from engine.storage import bulk


def _table(metadata: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name, metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("text", sa.String(40)),
        sa.Column("number", sa.BigInteger()),
        sa.Column("amount", sa.Numeric(18, 2)),
        sa.Column("moment", sa.DateTime(timezone=True)),
        sa.Column("day", sa.Date()),
        sa.Column("flag", sa.Boolean()),
        sa.Column("data", sa.JSON()),
        sa.Column("items", sa.JSON()),
        sa.Column("counted", sa.Integer(), server_default="7"),
    )


def _rows(count: int) -> list[dict]:
    now = datetime(2026, 12, 6, 10, 30, 15, 123456, tzinfo=UTC)
    return [{"id": i + 1, "text": None if i % 3 == 0 else f"text {i}", "number": i, "amount": Decimal(f"{i}.50"),
             "moment": now, "day": date(2026, 1, 1 + i % 28), "flag": i % 2 == 0,
             "data": {"a": [i, "b"], "c": None} if i % 2 else None, "items": None}
            for i in range(count)]


def _stored(conn: sa.Connection, table: sa.Table) -> list[tuple]:
    return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY id")]


def test_insert_rows_stores_what_execute_stores(db_engine):
    metadata = sa.MetaData()
    by_execute, by_bulk = _table(metadata, "by_execute"), _table(metadata, "by_bulk")
    metadata.create_all(db_engine)
    rows = _rows(25)
    with db_engine.begin() as conn:
        conn.execute(by_execute.insert(), rows)
        bulk.insert_rows(conn, by_bulk, [dict(r) for r in rows])
        assert _stored(conn, by_bulk) == _stored(conn, by_execute)
        assert _stored(conn, by_bulk)[0][-1] == 7  # a column left out: the server's default


def test_insert_rows_falls_back_when_the_statement_holds_more(db_engine, monkeypatch):
    metadata = sa.MetaData()
    defaulted = _table(metadata, "defaulted")
    defaulted.append_column(sa.Column("python_default", sa.String(10), default="filled"))
    plain = _table(metadata, "plain")
    metadata.create_all(db_engine)
    sent = []
    driver_sql = sa.engine.Connection.exec_driver_sql

    def spy(self, statement, *args, **kwargs):
        sent.append(statement)
        return driver_sql(self, statement, *args, **kwargs)

    monkeypatch.setattr(sa.engine.Connection, "exec_driver_sql", spy)
    with db_engine.begin() as conn:
        bulk.insert_rows(conn, defaulted, _rows(3))  # a Python-side default the statement fills in
        rows = _rows(3)
        rows[1]["extra"] = None
        bulk.insert_rows(conn, plain, rows)  # rows naming other keys (execute leaves out what is no column)
        assert not [statement for statement in sent if statement.startswith("INSERT")]
        assert [r[-1] for r in conn.execute(sa.select(defaulted.c.python_default))] == ["filled"] * 3


def test_insert_rows_rounds_and_refuses_as_execute_does(db_engine):
    """A number with more places than its column is rounded alike; a text too long for its
    column is refused alike (PostgreSQL: the arrays are cast to base types, never to the
    column's length or scale, which would cut or round silently)."""
    metadata = sa.MetaData()
    by_execute, by_bulk = _table(metadata, "by_execute"), _table(metadata, "by_bulk")
    metadata.create_all(db_engine)
    rows = _rows(4)
    for i, row in enumerate(rows):
        row["amount"] = Decimal(f"{i}.005") if i % 2 else Decimal("12345.675")
    with db_engine.begin() as conn:
        conn.execute(by_execute.insert(), rows)
        bulk.insert_rows(conn, by_bulk, [dict(r) for r in rows])
        assert _stored(conn, by_bulk) == _stored(conn, by_execute)
    if db_engine.dialect.name == "sqlite":
        return  # SQLite keeps any length
    too_long = [dict(r, id=r["id"] + 10) for r in _rows(3)]
    too_long[2]["text"] = "x" * 41
    refused = []
    for table in (by_execute, by_bulk):
        with pytest.raises(sa.exc.DBAPIError) as caught, db_engine.begin() as conn:
            if table is by_bulk:
                bulk.insert_rows(conn, table, too_long)
            else:
                conn.execute(table.insert(), too_long)
        refused.append(type(caught.value))
    assert refused[0] is refused[1]


def test_insert_rows_with_times_with_and_without_zone_stores_what_execute_stores(db_engine):
    """Date-times with and without a zone in one column (the driver would type an array of
    them by one of them): by executemany, as execute stores them."""
    metadata = sa.MetaData()
    by_execute, by_bulk = _table(metadata, "by_execute"), _table(metadata, "by_bulk")
    metadata.create_all(db_engine)
    rows = _rows(4)
    rows[1]["moment"] = datetime(2026, 5, 1, 8, 0)
    with db_engine.begin() as conn:
        conn.execute(by_execute.insert(), rows)
        bulk.insert_rows(conn, by_bulk, [dict(r) for r in rows])
        assert _stored(conn, by_bulk) == _stored(conn, by_execute)
