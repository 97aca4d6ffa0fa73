"""Migrations of the new kinds, YAML to database (SQLite and PostgreSQL): adding each to a
table that has rows (the plan names every column it adds), and changing a field to one
where that makes sense (date -> date_or_datetime, datetime -> date_or_datetime,
string -> person_name / address keep what was stored)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from click.testing import CliRunner

from engine.cli import cli
from engine.model import load_model
from engine.records import Query, RecordService
from engine.storage import make_engine

V1 = """
entity: customer
fields:
  name: {type: string, max_length: 200}
  met_on: {type: date}
  call_at: {type: datetime}
"""

V2_ADDED = V1 + """
  contact: {type: person_name}
  office: {type: address}
  talk_time: {type: duration, default: 30 min}
  follow_up: {type: date_or_datetime}
"""


def migrate(root, url, *flags):
    return CliRunner().invoke(cli, ["migrate", str(root), "--database", url, *flags], catch_exceptions=False)


def write_entity(root, text):
    (root / "entities" / "customer.yaml").write_text(text, encoding="utf-8")


def service_of(root, url):
    return RecordService(load_model(root, entry_points=False), make_engine(url))


def test_adding_the_new_kinds_to_a_table_with_rows(make_project, db_url):
    root = make_project({"entities/customer.yaml": V1})
    assert migrate(root, db_url).exit_code == 0
    service = service_of(root, db_url)
    old = service.create("customer", {"name": "ACME", "met_on": "2026-01-05"})
    service.engine.dispose()

    write_entity(root, V2_ADDED)
    plan = migrate(root, db_url, "--plan")
    assert plan.exit_code == 0, plan.output
    for column in ("contact", "contact_first", "contact_last", "contact_salutation", "office", "office_street",
                   "office_postal_code", "talk_time", "follow_up", "follow_up_time"):
        assert f"customer.{column}" in plan.output, (column, plan.output)
    result = migrate(root, db_url)
    assert result.exit_code == 0, result.output

    service = service_of(root, db_url)
    try:
        kept = service.get("customer", old["id"])
        assert kept["name"] == "ACME" and kept["met_on"] == date(2026, 1, 5)
        assert kept["contact"] is None and kept["talk_time"] is None and kept["follow_up"] is None
        updated = service.update("customer", old["id"], {"contact_first": "Wei", "contact_last": "Zhang",
                                                         "follow_up": "2026-02-01", "office_city": "Suzhou"},
                                 version=kept["version"])
        assert updated["contact"] == "Wei Zhang" and updated["office"] == "Suzhou"
        assert updated["follow_up"] == date(2026, 2, 1) and updated["follow_up_time"] is False
        created = service.create("customer", {"name": "New"})
        assert created["talk_time"] == timedelta(minutes=30)  # the default applies to new records
    finally:
        service.engine.dispose()
    assert "nothing to do" in migrate(root, db_url, "--plan").output.lower()


def test_changing_fields_to_the_new_kinds_keeps_their_values(make_project, db_url):
    root = make_project({"entities/customer.yaml": V1})
    assert migrate(root, db_url).exit_code == 0
    service = service_of(root, db_url)
    first = service.create("customer", {"name": "Jane Q. Smith", "met_on": "2026-01-05",
                                        "call_at": "2026-01-06T09:30:00Z"})
    second = service.create("customer", {"name": "欧阳娜娜", "call_at": "2026-01-07T00:00:00Z"})
    service.engine.dispose()

    write_entity(root, """
entity: customer
fields:
  name: {type: person_name}
  met_on: {type: date_or_datetime}
  call_at: {type: date_or_datetime}
""")
    plan = migrate(root, db_url, "--plan")
    assert plan.exit_code == 0, plan.output
    assert "midnight UTC" in plan.output and "customer.met_on_time" in plan.output
    result = migrate(root, db_url)
    assert result.exit_code == 0, result.output

    service = service_of(root, db_url)
    try:
        jane = service.get("customer", first["id"])
        assert jane["name"] == "Jane Q. Smith" and jane["name_last"] is None  # the text is kept as the name
        assert jane["met_on"] == date(2026, 1, 5)  # a day stays a day
        assert jane["call_at"] == datetime(2026, 1, 6, 9, 30, tzinfo=UTC)  # a moment stays a moment
        # a moment at midnight UTC reads as a day until it is written again
        assert service.get("customer", second["id"])["call_at"] == date(2026, 1, 7)
        rows = service.list("customer", Query(where="met_on == datetime('2026-01-05T00:00:00Z')", limit=5))
        assert [r["id"] for r in rows] == [first["id"]]
        # editing another field keeps the name; writing a part replaces it by the parts' full name
        jane = service.update("customer", first["id"], {"met_on": "2026-01-08 10:00"}, version=jane["version"])
        assert jane["name"] == "Jane Q. Smith" and jane["met_on_time"] is True
        jane = service.update("customer", first["id"], {"name_first": "Jane", "name_last": "Smith"},
                              version=jane["version"])
        assert jane["name"] == "Jane Smith"
    finally:
        service.engine.dispose()
