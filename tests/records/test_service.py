"""Records service behaviour: validation, defaults, locking, audit, hooks, queries."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from engine.records import ConflictError, NotFound, Query, ValidationError

PROJECT = {
    "entities/customer.yaml": """
        entity: customer
        title: name
        fields:
          name:   {type: string, required: true, unique: true}
          level:  {type: choice, options: [high, medium, low], default: medium}
          kind:   {type: choice, options: [company, person]}
          tax_id: {type: string, visible_when: "kind == 'company'", required_when: "kind == 'company'"}
          amount: {type: decimal}
          since:  {type: date, default: {expression: "today() - days(1)"}}
          tags:   {type: tags}
        list:
          columns: [name, level, amount]
          filters: [level, amount]
          search: [name, tax_id]
        rules:
          - name: big_is_high
            when: "amount > 100000"
            check: "level == 'high'"
            field: level
            message: {en: Big customers must be high level, zh: 大客户必须是高等级}
        """,
    "entities/deal.yaml": """
        entity: deal
        fields:
          title: {type: string, required: true}
          customer: {type: link, to: customer, required: true, on_delete: restrict}
        """,
}


@pytest.fixture
def service(service_for):
    return service_for(PROJECT)


def test_defaults_static_and_expression(service):
    record = service.create("customer", {"name": "A"})
    assert record["level"] == "medium"
    assert record["since"] == date.today() - timedelta(days=1)


def test_required_and_conditional_required(service):
    with pytest.raises(ValidationError) as info:
        service.create("customer", {"kind": "company"})
    assert info.value.errors["name"] == ["is required"]
    assert info.value.errors["tax_id"] == ["is required"]
    # not required (and so not demanded) when the field is not visible
    record = service.create("customer", {"name": "P", "kind": "person"})
    assert record["tax_id"] is None


def test_validation_rule_with_condition(service):
    with pytest.raises(ValidationError) as info:
        service.create("customer", {"name": "Big", "amount": 200000, "level": "low"})
    assert info.value.errors["level"] == ["Big customers must be high level"]
    assert service.create("customer", {"name": "Big", "amount": 200000, "level": "high"})["id"]
    assert service.create("customer", {"name": "Small", "amount": 5, "level": "low"})["id"]


def test_unique_is_checked_with_a_clear_message(service):
    service.create("customer", {"name": "Same"})
    with pytest.raises(ValidationError) as info:
        service.create("customer", {"name": "Same"})
    assert "already used" in info.value.errors["name"][0]
    assert service.count("customer") == 1


def test_optimistic_locking_conflict_loses_nothing(service):
    record = service.create("customer", {"name": "Lock"})
    first = service.update("customer", record["id"], {"amount": 10}, version=record["version"])
    assert first["version"] == 2
    with pytest.raises(ConflictError) as info:
        service.update("customer", record["id"], {"amount": 99}, version=record["version"])
    assert info.value.current["amount"] == Decimal("10.0000")
    assert info.value.current["version"] == 2
    assert service.get("customer", record["id"])["amount"] == Decimal("10.0000")


def test_update_requires_a_version(service):
    record = service.create("customer", {"name": "V"})
    with pytest.raises(ValidationError):
        service.update("customer", record["id"], {"amount": 1}, version=None)


def test_audit_log_records_insert_update_delete(service):
    record = service.create("customer", {"name": "Audited", "amount": 1})
    service.update("customer", record["id"], {"amount": 2, "level": "high"}, version=1)
    service.update("customer", record["id"], {"amount": 2}, version=2)  # no change: no entry
    service.delete("customer", record["id"])
    history = service.history("customer", record["id"])
    assert [h["action"] for h in history] == ["create", "update", "delete"]
    assert history[0]["changes"]["name"] == [None, "Audited"]
    assert history[1]["changes"] == {"amount": ["1.0000", "2.0000"], "level": ["medium", "high"]}
    assert history[2]["changes"]["name"] == ["Audited", None]


def test_not_found_and_bad_ids(service):
    with pytest.raises(NotFound):
        service.get("customer", 12345)
    with pytest.raises(NotFound):
        service.get("customer", "abc")
    with pytest.raises(NotFound):
        service.update("customer", 999, {"amount": 1}, version=1)


def test_delete_restricted_by_links(service):
    customer = service.create("customer", {"name": "Linked"})
    service.create("deal", {"title": "D", "customer": customer["id"]})
    with pytest.raises(ValidationError) as info:
        service.delete("customer", customer["id"])
    assert "still used by 1 deal" in str(info.value)
    assert service.get("customer", customer["id"])


def test_stale_delete_is_a_conflict(service):
    record = service.create("customer", {"name": "X"})
    service.update("customer", record["id"], {"amount": 3}, version=1)
    with pytest.raises(ConflictError):
        service.delete("customer", record["id"], version=1)


def test_list_filters_sort_search_where(service):
    for name, level, amount in [("Acme", "high", 300000), ("Beta", "low", 10), ("Gamma", "medium", 500),
                                ("Delta", "low", None)]:
        service.create("customer", {"name": name, "level": level, "amount": amount})
    names = lambda rows: [r["name"] for r in rows]  # noqa: E731
    assert names(service.list("customer", sort=("name",))) == ["Acme", "Beta", "Delta", "Gamma"]
    assert names(service.list("customer", filters=[("level", "eq", "low")], sort=("-name",))) == ["Delta", "Beta"]
    assert names(service.list("customer", filters=[("amount", "gte", "500")], sort=("name",))) == ["Acme", "Gamma"]
    assert names(service.list("customer", filters=[("amount", "empty", None)])) == ["Delta"]
    assert names(service.list("customer", search="ET", sort=("name",))) == ["Beta"]
    assert names(service.list("customer", where="amount > 100 and level != 'high'")) == ["Gamma"]
    assert names(service.list("customer", sort=("name",), limit=2, offset=1)) == ["Beta", "Delta"]
    assert service.count("customer", filters=[("level", "in", ["low", "high"])]) == 3
    assert service.count("customer", limit=2) == 2
    only = service.list("customer", columns=("name",), sort=("name",), limit=1)[0]
    assert set(only) == {"id", "version", "name"}


@pytest.mark.parametrize("kwargs, key", [
    ({"sort": ("nonexistent",)}, "sort"),
    ({"sort": (5,)}, "sort"),
    ({"search": 5}, "search"),
    ({"filters": [("amount", "contains", "1")]}, "amount"),
    ({"sort": ("tags",)}, "sort"),
    ({"filters": [("nope", "eq", 1)]}, "nope"),
    ({"filters": [("level", "drop table", 1)]}, "level"),
    ({"filters": [("amount", "gt", "lots")]}, "amount"),
    ({"where": "name ==="}, "where"),
    ({"where": "__import__('os')"}, "where"),
    ({"limit": 100000}, "limit"),
    ({"columns": ("nope",)}, "nope"),
])
def test_query_inputs_are_whitelisted(service, kwargs, key):
    with pytest.raises(ValidationError) as info:
        service.list("customer", Query(**kwargs))
    assert key in info.value.errors


def test_tags_contains_filter(service):
    service.create("customer", {"name": "T1", "tags": ["vip", "new"]})
    service.create("customer", {"name": "T2", "tags": ["new"]})
    service.create("customer", {"name": "T3", "tags": ["o'brien \\ co"]})
    rows = service.list("customer", filters=[("tags", "contains", "vip")])
    assert [r["name"] for r in rows] == ["T1"]
    rows = service.list("customer", filters=[("tags", "contains", "o'brien \\ co")])
    assert [r["name"] for r in rows] == ["T3"]
