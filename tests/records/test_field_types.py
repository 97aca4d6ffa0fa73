"""Every field type end to end through the records service, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from engine.records import Actor, Context, ValidationError
from engine.users import create_user

PROJECT = {
    "entities/company.yaml": """
        entity: company
        fields:
          name: {type: string, required: true}
        """,
    "entities/tag_target.yaml": """
        entity: project_item
        fields:
          title: {type: string}
        """,
    "entities/everything.yaml": """
        entity: everything
        title: name
        fields:
          name:       {type: string, required: true, max_length: 20, min_length: 2, pattern: "[A-Za-z ]+"}
          notes:      {type: text}
          count:      {type: integer, min: 0, max: 1000}
          ratio:      {type: decimal, scale: 3}
          price:      {type: money, currency: USD, currencies: [USD, CNY]}
          share:      {type: percent, min: 0, max: 100}
          active:     {type: boolean}
          start:      {type: date, min: "2000-01-01"}
          moment:     {type: datetime}
          level:      {type: choice, options: [{value: high, color: red}, low, {value: old, hidden: true}]}
          regions:    {type: multichoice, options: [north, south, east, west]}
          labels:     {type: tags}
          mail:       {type: email}
          phone:      {type: phone}
          site:       {type: url}
          company:    {type: link, to: company}
          items:
            type: links
            to: project_item
            payload:
              role: {type: choice, options: [lead, member]}
          lines:
            type: lines
            fields:
              qty:    {type: decimal, required: true}
              price:  {type: decimal, required: true}
              amount: {type: computed, expression: "qty * price"}
          manager:    {type: user}
          doubled:    {type: computed, expression: "count * 2", returns: integer}
          shout:      {type: computed, expression: "upper(name)", returns: string, stored: false}
          total:      {type: computed, expression: "sum(lines.amount)"}
          ref:        {type: autonumber, format: "EV-{YYYY}-{###}"}
        """,
}


@pytest.fixture
def service(service_for):
    return service_for(PROJECT)


def test_every_type_round_trips(service):
    uid = create_user(service.engine, "manager1", "password123")
    company = service.create("company", {"name": "ACME"})
    items = [service.create("project_item", {"title": f"item {i}"}) for i in range(2)]
    record = service.create("everything", {
        "name": "Alpha One",
        "notes": "line 1\r\nline 2",
        "count": "12",
        "ratio": Decimal("1.23456"),  # from code: rounded to the scale (typed text is refused)
        "price": {"amount": "99.5", "currency": "CNY"},
        "share": 12.5,
        "active": "yes",
        "start": "2024-02-29",
        "moment": "2024-03-01T10:00:00+08:00",
        "level": "high",
        "regions": ["north", "south", "north"],
        "labels": "vip, new ,vip",
        "mail": "Boss@Example.COM",
        "phone": "+86 138 0013 8000",
        "site": "https://example.com/x",
        "company": company["id"],
        "items": [{"id": items[0]["id"], "role": "lead"}, items[1]["id"]],
        "lines": [{"qty": "2", "price": "10.5"}, {"qty": 1, "price": 3}],
        "manager": uid,
    })
    got = service.get("everything", record["id"])
    assert got["name"] == "Alpha One"
    assert got["notes"] == "line 1\nline 2"
    assert got["count"] == 12
    assert got["ratio"] == Decimal("1.235")
    assert got["price"] == Decimal("99.50") and got["price_currency"] == "CNY"
    assert got["share"] == Decimal("12.50")
    assert got["active"] is True
    assert got["start"] == date(2024, 2, 29)
    assert got["moment"] == datetime(2024, 3, 1, 2, 0, tzinfo=UTC)
    assert got["level"] == "high"
    assert got["regions"] == ["north", "south"]
    assert got["labels"] == ["vip", "new"]
    assert got["mail"] == "boss@example.com"
    assert got["phone"] == "+86 138 0013 8000"
    assert got["site"] == "https://example.com/x"
    assert got["company"] == company["id"]
    assert got["items"] == [{"id": items[0]["id"], "role": "lead"}, {"id": items[1]["id"], "role": None}]
    assert [(line["qty"], line["price"], line["amount"]) for line in got["lines"]] == [
        (Decimal("2.0000"), Decimal("10.5000"), Decimal("21.0000")),
        (Decimal("1.0000"), Decimal("3.0000"), Decimal("3.0000")),
    ]
    assert got["manager"] == uid
    assert got["doubled"] == 24
    assert got["shout"] == "ALPHA ONE"
    assert got["total"] == Decimal("24.0000")
    assert got["ref"] == f"EV-{datetime.now(UTC).year}-001"
    assert got["version"] == 1


def test_money_defaults_to_field_currency(service):
    record = service.create("everything", {"name": "Beta", "price": 5})
    assert record["price_currency"] == "USD"


@pytest.mark.parametrize("field, value, message", [
    ("name", "x" * 21, "at most 20"),
    ("name", "A", "at least 2"),
    ("name", "abc1", "format"),
    ("count", "1.5", "whole number"),
    ("count", 1001, "at most 1000"),
    ("count", -1, "at least 0"),
    ("ratio", "abc", "not a number"),
    ("price", {"amount": 1, "currency": "EUR"}, "currency must be one of"),
    ("share", 101, "at most 100"),
    ("active", "maybe", "yes or no"),
    ("start", "1999-12-31", "at least"),
    ("start", "31/12/2020", "not a date"),
    ("moment", "yesterday", "not a date and time"),
    ("level", "medium", "not one of the options"),
    ("level", "old", "no longer offered"),
    ("regions", ["north", "up"], "not among the options"),
    ("mail", "not-an-email", "not an e-mail"),
    ("phone", "call me", "not a phone number"),
    ("site", "ftp://x", "not a web address"),
    ("company", 999999, "does not exist"),
    ("company", "abc", "not a record id"),
    ("items", [999999], "does not exist"),
    ("manager", 999999, "does not exist"),
    ("doubled", 5, "is computed"),
    ("ref", "EV-1", "assigned by the engine"),
    ("nonsense", 1, "unknown field"),
    ("id", 999, None),
    ("created_at", "2020-01-01", "set by the engine"),
])
def test_bad_values_are_refused_and_nothing_saved(service, field, value, message):
    data = {"name": "Valid Name", field: value}
    if field == "id":  # ids are the database's: a given id is ignored, not used
        record = service.create("everything", data)
        assert record["id"] != 999
        return
    with pytest.raises(ValidationError) as info:
        service.create("everything", data)
    key = "lines" if field == "lines" else field
    assert key in info.value.errors, info.value.errors
    assert message in " ".join(info.value.errors[key])
    assert service.count("everything") == 0


def test_lines_rows_validated_with_position(service):
    with pytest.raises(ValidationError) as info:
        service.create("everything", {"name": "Lines", "lines": [{"qty": 1, "price": 2}, {"qty": "x"}]})
    assert "lines.2.qty" in info.value.errors
    assert "lines.2.price" in info.value.errors
    assert service.count("everything") == 0


def test_lines_update_keeps_ids_and_deletes_removed_rows(service):
    record = service.create("everything", {"name": "Lines", "lines": [{"qty": 1, "price": 2}, {"qty": 3, "price": 4}]})
    first, second = record["lines"]
    updated = service.update("everything", record["id"], {
        "lines": [{"id": second["id"], "qty": 5, "price": 4}, {"qty": 1, "price": 1}]}, version=record["version"])
    assert [line["id"] for line in updated["lines"]][0] == second["id"]
    assert first["id"] not in [line["id"] for line in updated["lines"]]
    assert updated["total"] == Decimal("21.0000")


def test_autonumbers_increase_and_stay_unique(service):
    refs = [service.create("everything", {"name": f"Rec {chr(65 + i)}"})["ref"] for i in range(3)]
    assert [r[-3:] for r in refs] == ["001", "002", "003"]


def test_owner_and_creator_are_recorded(service):
    uid = create_user(service.engine, "rep", "password123")
    record = service.create("everything", {"name": "Owned"}, Context(actor=Actor(id=uid, username="rep")))
    assert record["owner"] == uid and record["created_by"] == uid
