"""Behaviour a review found missing: currencies on update, readonly_when, partial line
updates, on_delete through the service, payloads, hidden options, nested transactions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.records import ValidationError

PROJECT = {
    "entities/customer.yaml": """
        entity: customer
        fields:
          name: {type: string, required: true}
        """,
    "entities/contact.yaml": """
        entity: contact
        fields:
          name: {type: string}
          customer: {type: link, to: customer, on_delete: cascade}
        """,
    "entities/visit.yaml": """
        entity: visit
        fields:
          subject: {type: string}
          customer: {type: link, to: customer}
        """,
    "entities/deal.yaml": """
        entity: deal
        fields:
          title: {type: string, max_length: 10}
          stage: {type: choice, options: [open, won]}
          price: {type: money, currency: CNY, currencies: [CNY, USD]}
          amount: {type: decimal, readonly_when: "stage == 'won'"}
          tags: {type: multichoice, options: [a, b, {value: old, hidden: true}]}
          unit: {type: choice, options: [piece, {value: dozen, hidden: true}]}
          lines:
            type: lines
            fields:
              qty: {type: integer}
              price: {type: decimal}
              note: {type: string, readonly: true}
              total: {type: computed, expression: "qty * price"}
              double: {type: computed, expression: "qty * 2", stored: false}
          sum_lines: {type: computed, expression: "sum(lines.total)"}
          contacts:
            type: links
            to: contact
            payload:
              role: {type: string, max_length: 3, required: true}
              share: {type: integer, min: 0, max: 100}
          third: {type: computed, expression: "coalesce(amount, 0) / 3", returns: integer}
          huge: {type: computed, expression: "amount * amount * amount * amount * amount", returns: integer}
        """,
}


@pytest.fixture
def service(service_for):
    return service_for(PROJECT)


def test_money_update_keeps_its_currency(service):
    deal = service.create("deal", {"price": {"amount": 100, "currency": "USD"}})
    updated = service.update("deal", deal["id"], {"price": 200}, version=deal["version"])
    assert (updated["price"], updated["price_currency"]) == (Decimal("200.00"), "USD")
    fresh = service.create("deal", {"price": 5})
    assert fresh["price_currency"] == "CNY"


def test_readonly_when_is_enforced_for_users(service):
    deal = service.create("deal", {"stage": "won", "amount": 10})
    with pytest.raises(ValidationError) as info:
        service.update("deal", deal["id"], {"amount": 999}, version=deal["version"])
    assert "read-only now" in info.value.errors["amount"][0]
    assert service.update("deal", deal["id"], {"amount": 999}, version=1, trusted=True)["amount"] == 999


def test_partial_line_update_keeps_the_rest_of_the_row(service):
    deal = service.create("deal", {"lines": [{"qty": 2, "price": 10}]})
    row = deal["lines"][0]
    updated = service.update("deal", deal["id"], {"lines": [{"id": row["id"], "qty": 3}]}, version=1)
    assert updated["lines"][0]["price"] == Decimal("10.0000")
    assert updated["lines"][0]["total"] == Decimal("30.0000")
    assert updated["lines"][0]["double"] == Decimal("6")
    assert updated["sum_lines"] == Decimal("30.0000")
    with pytest.raises(ValidationError) as info:
        service.update("deal", deal["id"], {"lines": [{"id": 987654, "qty": 1}]}, version=2)
    assert "lines.1.id" in info.value.errors


def test_readonly_row_fields_refused_for_users(service):
    with pytest.raises(ValidationError) as info:
        service.create("deal", {"lines": [{"qty": 1, "price": 1, "note": "hacked"}]})
    assert info.value.errors == {"lines.1.note": ["is read-only"]}


def test_hidden_options_not_accepted_as_new_values(service):
    with pytest.raises(ValidationError) as info:
        service.create("deal", {"tags": ["a", "old"], "unit": "dozen"})
    assert "old" in info.value.errors["tags"][0] and "dozen" in info.value.errors["unit"][0]
    deal = service.create("deal", {"tags": ["a", "old"], "unit": "dozen"}, trusted=True)  # e.g. imported
    kept = service.update("deal", deal["id"], {"title": "x"}, version=1)  # unchanged: still allowed
    assert kept["tags"] == ["a", "old"]


def test_link_payload_is_validated(service):
    contact = service.create("contact", {"name": "c"})
    with pytest.raises(ValidationError) as info:
        service.create("deal", {"contacts": [{"id": contact["id"], "role": "very long", "share": 500}]})
    assert set(info.value.errors) == {"contacts.1.role", "contacts.1.share"}
    with pytest.raises(ValidationError) as info:
        service.create("deal", {"contacts": [{"id": contact["id"], "role": "ab", "bogus": 1}]})
    assert "bogus" in info.value.errors["contacts"][0]
    assert service.count("deal") == 0


def test_computed_values_fit_their_type(service):
    deal = service.create("deal", {"amount": 10})
    assert deal["third"] == 3  # 10 / 3 rounded to a whole number, not left empty
    assert deal["huge"] == 100000
    with pytest.raises(ValidationError) as info:
        service.create("deal", {"amount": "10000000000000"})
    assert info.value.errors["huge"][0].startswith("computed value: number too large")
    assert service.count("deal") == 1


def test_on_delete_cascade_and_set_null_go_through_the_service(service):
    customer = service.create("customer", {"name": "C"})
    contact = service.create("contact", {"name": "c", "customer": customer["id"]})
    visit = service.create("visit", {"subject": "v", "customer": customer["id"]})
    service.delete("customer", customer["id"])
    assert service.count("contact") == 0
    assert [h["action"] for h in service.history("contact", contact["id"])] == ["create", "delete"]
    after = service.get("visit", visit["id"])
    assert after["customer"] is None and after["version"] == 2
    assert service.history("visit", visit["id"])[-1]["changes"] == {"customer": [customer["id"], None]}


def test_deleting_a_linked_record_updates_links_with_audit(service):
    contact = service.create("contact", {"name": "c"})
    other = service.create("contact", {"name": "d"})
    deal = service.create("deal", {"contacts": [{"id": contact["id"], "role": "a"}, {"id": other["id"], "role": "b"}]})
    service.delete("contact", contact["id"])
    after = service.get("deal", deal["id"])
    assert [link["id"] for link in after["contacts"]] == [other["id"]] and after["version"] == 2
    changes = service.history("deal", deal["id"])[-1]["changes"]
    assert [link["id"] for link in changes["contacts"][0]] == [contact["id"], other["id"]]


def test_refused_write_inside_a_transaction_leaves_it_usable(service):
    with service.transaction():
        service.create("customer", {"name": "first"})
        with pytest.raises(ValidationError):
            service.create("deal", {"title": "x" * 11})
        service.create("customer", {"name": "second"})
    assert service.count("customer") == 2


def test_unknown_entity_and_bad_versions(service):
    from engine.records import NotFound

    with pytest.raises(NotFound):
        service.get("nope", 1)
    customer = service.create("customer", {"name": "C"})
    with pytest.raises(ValidationError):
        service.delete("customer", customer["id"], version="x")
    with pytest.raises(ValidationError):
        service.list("customer", limit=None)


def test_big_numbers_are_field_errors(service):
    with pytest.raises(ValidationError) as info:
        service.create("deal", {"amount": "1e30", "lines": [{"qty": "1e999999999", "price": 1}]})
    assert "amount" in info.value.errors and "lines.1.qty" in info.value.errors
    with pytest.raises(ValidationError):
        service.list("deal", filters=[("amount", "gt", "1e30")])


def test_comments_go_through_the_service(service):
    from engine.records import NotFound

    customer = service.create("customer", {"name": "C"})
    service.add_comment("customer", customer["id"], "  <b>first</b>  ")
    assert [c["body"] for c in service.comments("customer", customer["id"])] == ["<b>first</b>"]
    with pytest.raises(ValidationError):
        service.add_comment("customer", customer["id"], "   ")
    with pytest.raises(NotFound):
        service.add_comment("customer", 987654, "on nothing")
    assert len(service.comments("customer", customer["id"])) == 1
