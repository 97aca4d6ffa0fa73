"""The records of an import batch are built from the values inserted instead of read back
(engine/records/echo.py): they must be exactly what a read gives, value and type, for
every kind of field, on SQLite and PostgreSQL; a value whose trip through the database is
not mirrored sends the batch back to reading."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from engine.migrate import apply_plan, plan_migration
from engine.model import load_model
from engine.records import Context, RecordService
from engine.records.echo import echo_plan, echo_rows

KINDS = {
    "tailor.yaml": "name: kinds\nlanguages: [en, zh]\n",
    "entities/company.yaml": """
        entity: company
        title: name
        fields:
          name: {type: string, required: true, unique: true}
          thing_count: {type: rollup, from: thing.company, aggregate: count}
        """,
    "entities/thing.yaml": """
        entity: thing
        title: name
        fields:
          number: {type: autonumber, format: "T-{####}"}
          name: {type: string, required: true, max_length: 80}
          notes: {type: text}
          count: {type: integer, min: 0}
          weight: {type: decimal, scale: 3}
          share: {type: percent}
          price: {type: money, currencies: [CNY, USD]}
          active: {type: boolean}
          since: {type: date}
          due_at: {type: datetime}
          happens: {type: date_or_datetime}
          level:
            type: choice
            options: [low, high]
            default: low
          colours: {type: multichoice, options: [red, green, blue]}
          labels: {type: tags, options: [a, b]}
          mails: {type: emails}
          phones: {type: phones}
          mobile: {type: phone}
          email: {type: email}
          site: {type: url}
          person: {type: person_name}
          company: {type: link, to: company}
          manager: {type: user}
          double: {type: computed, returns: number, expression: "count * 2", stored: true}
        """,
}

ROWS: list[dict[str, Any]] = [
    {"name": "Everything", "notes": "long\ntext", "count": "12", "weight": "1.5", "share": "12.5",
     "price": "1234.5", "price_currency": "USD", "active": "yes", "since": "2026-12-04",
     "due_at": "2026-12-04 10:30", "happens": "2026-12-05", "level": "high", "colours": ["red", "blue"],
     "labels": ["a"], "mails": ["x@example.com", "y@example.com"], "phones": ["021-12345678"],
     "mobile": "13812345678", "email": "z@example.com", "site": "https://example.com",
     "person": {"first": "San", "last": "Zhang"}},
    {"name": "Bare"},
    {"name": "Some", "count": "0", "price": "0", "active": "no", "happens": "2026-12-05 08:00",
     "weight": "123456.789", "share": "0.5"},
]


@pytest.fixture
def service(make_project, db_url):
    model = load_model(make_project(KINDS), entry_points=False)
    from engine.storage import make_engine

    engine = make_engine(db_url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    yield RecordService(model, engine)
    engine.dispose()


def typed(record: dict[str, Any]) -> dict[str, Any]:
    """A record's values with their types (Decimal('1.50') and Decimal('1.5') are equal, not the same)."""
    return {k: (type(v).__name__, repr(v) if not isinstance(v, datetime) else (v.isoformat(), v.utcoffset()))
            for k, v in record.items()}


def test_an_imported_batch_is_built_as_a_read_would_give_it(service):
    company = service.create("company", {"name": "ACME"})
    rows = [{**row, "company": company["id"]} if i != 1 else row for i, row in enumerate(ROWS)]
    compared = []
    original = service._saved_many

    def both(conn, entity, inserted, ids):
        built = original(conn, entity, inserted, ids)
        plan = echo_plan(conn, entity.table)
        assert echo_rows(conn, plan, inserted, ids) is not None  # built, not read back
        read = service._load_many(conn, entity, ids)
        compared.append(len(ids))
        assert [typed(r) for r in built] == [typed(r) for r in read]
        return built

    service._saved_many = both
    context = Context(now=datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=UTC))
    items = [SimpleNamespace(number=n, data=row, key=None, errors={}) for n, row in enumerate(rows, start=2)]
    results = service.import_rows("thing", items, context=context)
    assert [r["action"] for r in results] == ["created"] * len(rows), results
    assert compared == [len(rows)]
    saved = service.get("thing", results[0]["id"])
    assert saved["weight"] == Decimal("1.500") and saved["since"] == date(2026, 12, 4)
    assert service.get("company", company["id"])["thing_count"] == 2  # the rollup ran


def test_a_value_not_mirrored_sends_the_batch_back_to_reading(service):
    """A value whose trip through the database is not mirrored: the batch is read back."""
    table = service.model.entity("thing").table
    with service.engine.connect() as conn:
        plan = echo_plan(conn, table)

        def echo(**values):
            return echo_rows(conn, plan, [{"name": "x", "version": 1, **values}], [7])

        assert echo()[0]["id"] == 7 and echo()[0]["notes"] is None
        assert echo_rows(conn, plan, [{"name": "x"}], [7]) is None  # the database's default for version
        if conn.dialect.name == "sqlite":  # kept as a double, given back to the column's places
            assert echo(weight=Decimal("1.5"))[0]["weight"] == Decimal("1.500")
        else:  # PostgreSQL would round it: not mirrored
            assert echo(weight=Decimal("1.5")) is None
        assert echo(weight=Decimal("1.500"))[0]["weight"] == Decimal("1.500")
        assert echo(count=True) is None  # not an int column's int
        assert echo(colours=[("red",)]) is None  # a tuple in JSON
        assert echo(since=datetime(2026, 1, 1, tzinfo=UTC)) is None  # a date column's datetime
