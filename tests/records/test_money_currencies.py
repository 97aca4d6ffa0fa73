"""Money through the records service (SQLite and PostgreSQL): one set of currencies per
field (its own, else the project's, else its currency), and amounts whose currency is
another field's value (`currency_field`)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from engine.records import Query, ValidationError

PROJECT = {
    "tailor.yaml": "name: test\nlanguages: [en, zh]\ncurrency: USD\ncurrencies: [USD, EUR, CNY]\n",
    "entities/deal.yaml": """
        entity: deal
        fields:
          title:     {type: string}
          budget:    {type: money}
          price:     {type: money, currency: CNY, currencies: [CNY, JPY]}
          currency:  {type: choice, options: [CNY, USD, EUR], default: CNY}
          amount:    {type: money, currency_field: currency, min: 0}
          code:      {type: string, max_length: 8}
          fee:       {type: money, currency_field: code}
          big:       {type: boolean, visible_when: "amount > 1000"}
          doubled:   {type: computed, expression: "amount * 2", scale: 2}
          lines:
            type: lines
            fields:
              currency:   {type: choice, options: [CNY, USD]}
              unit_price: {type: money, currency_field: currency}
              cost:       {type: money}
        """,
}

ALONE = {
    "entities/deal.yaml": """
        entity: deal
        fields:
          price: {type: money, currency: EUR}
        """,
}


@pytest.fixture
def service(service_for):
    return service_for(PROJECT)


def insert_raw(service, **values) -> int:
    """A row written behind the service's back, as an older version of the rules left it."""
    table = service.model.entity("deal").table
    now = datetime.now(UTC)
    with service.engine.begin() as conn:
        return conn.execute(table.insert().values(version=1, created_at=now, updated_at=now, **values)
                            .returning(table.c.id)).scalar_one()


def errors_of(call) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as info:
        call()
    return info.value.errors


# -- one set of currencies ------------------------------------------------------------------------
def test_a_field_accepts_the_project_currencies_and_no_other(service):
    deal = service.create("deal", {"budget": {"amount": 5, "currency": "EUR"}})
    assert deal["budget_currency"] == "EUR"
    assert service.create("deal", {"budget": 5})["budget_currency"] == "USD"  # the project's currency
    errors = errors_of(lambda: service.create("deal", {"budget": {"amount": 5, "currency": "GBP"}}))
    assert errors["budget"] == ["currency must be one of USD, EUR, CNY (got GBP)"]
    errors = errors_of(lambda: service.create("deal", {"budget": 5, "budget_currency": "XXX"}))
    assert "currency must be one of" in errors["budget"][0]
    assert service.count("deal") == 2


def test_a_field_with_currencies_of_its_own_uses_those(service):
    assert service.create("deal", {"price": {"amount": 1, "currency": "JPY"}})["price_currency"] == "JPY"
    errors = errors_of(lambda: service.create("deal", {"price": {"amount": 1, "currency": "USD"}}))
    assert errors["price"] == ["currency must be one of CNY, JPY (got USD)"]
    # a currency without an amount is checked too
    assert "currency must be one of" in errors_of(lambda: service.create("deal", {"price_currency": "EUR"}))["price"][0]


def test_without_any_currencies_the_field_currency_is_the_only_one(service_for):
    service = service_for(ALONE)
    assert service.model.entity("deal").fields["price"].currencies == ("EUR",)
    assert service.create("deal", {"price": 3})["price_currency"] == "EUR"
    assert "currency must be one of EUR" in errors_of(
        lambda: service.create("deal", {"price": {"amount": 3, "currency": "CNY"}}))["price"][0]


def test_an_update_may_keep_a_code_no_longer_offered(service):
    record_id = insert_raw(service, title="old", budget=Decimal("10"), budget_currency="GBP")  # before the set narrowed
    updated = service.update("deal", record_id, {"budget": 20}, version=1)
    assert (updated["budget"], updated["budget_currency"]) == (Decimal("20.00"), "GBP")
    updated = service.update("deal", record_id, {"budget": {"amount": 30, "currency": "GBP"}}, version=2)
    assert updated["budget_currency"] == "GBP"
    updated = service.update("deal", record_id, {"budget_currency": "EUR"}, version=3)
    errors = errors_of(lambda: service.update("deal", record_id, {"budget_currency": "GBP"}, version=4))
    assert "currency must be one of" in errors["budget"][0]
    assert service.get("deal", record_id)["budget_currency"] == "EUR"


# -- currency_field -------------------------------------------------------------------------------
def test_an_amount_takes_its_currency_from_another_field(service):
    deal = service.create("deal", {"amount": "1,200.5", "currency": "EUR", "code": "usd"})
    assert deal["amount"] == Decimal("1200.50") and deal["currency"] == "EUR"
    assert "amount_currency" not in deal
    columns = {c.name for c in service.model.entity("deal").table.c}
    assert "amount" in columns and "amount_currency" not in columns and "fee_currency" not in columns
    assert deal["doubled"] == Decimal("2401.00") and deal["big"] is None  # expressions see the amount
    rows = service.list("deal", Query(where="amount > 1000 and currency == 'EUR'", columns=("amount",)))
    assert [r["amount"] for r in rows] == [Decimal("1200.50")]
    updated = service.update("deal", deal["id"], {"currency": "USD"}, version=deal["version"])
    assert (updated["amount"], updated["currency"]) == (Decimal("1200.50"), "USD")


def test_an_amount_needs_a_currency_code_in_its_currency_field(service):
    errors = errors_of(lambda: service.create("deal", {"fee": 5}))
    assert errors["code"] == ["is needed: it is the currency of 'fee'"]
    errors = errors_of(lambda: service.create("deal", {"fee": 5, "code": "euro"}))
    assert "'euro' is not a currency code" in errors["code"][0]
    assert service.create("deal", {"fee": 5, "code": "EUR"})["fee"] == Decimal("5.00")
    assert service.create("deal", {"code": "anything"})["code"] == "anything"  # no amount: no currency needed
    errors = errors_of(lambda: service.create("deal", {"amount": {"amount": 5, "currency": "USD"}}))
    assert "the currency of this amount is the value of 'currency'" in errors["amount"][0]
    errors = errors_of(lambda: service.create("deal", {"amount": 5, "amount_currency": "USD"}))
    assert errors["amount_currency"] == ["unknown field of deal"]


def test_an_unchanged_amount_keeps_an_old_missing_currency(service):
    record_id = insert_raw(service, fee=Decimal("7"), code=None)  # stored before its currency was required
    assert service.update("deal", record_id, {"title": "renamed"}, version=1)["title"] == "renamed"
    errors = errors_of(lambda: service.update("deal", record_id, {"fee": 8}, version=2))
    assert "is needed" in errors["code"][0]


def test_rows_take_their_currency_from_their_own_field(service):
    deal = service.create("deal", {"lines": [{"currency": "USD", "unit_price": "2.5", "cost": 1},
                                             {"currency": "CNY", "unit_price": 3}]})
    assert [(r["currency"], r["unit_price"]) for r in deal["lines"]] == [("USD", Decimal("2.50")),
                                                                         ("CNY", Decimal("3.00"))]
    assert deal["lines"][0]["cost_currency"] == "USD" and "unit_price_currency" not in deal["lines"][0]
    errors = errors_of(lambda: service.create("deal", {"lines": [{"unit_price": 3}]}))
    assert errors["lines.1.currency"] == ["is needed: it is the currency of 'unit_price'"]
    errors = errors_of(lambda: service.create("deal", {"lines": [{"cost": {"amount": 1, "currency": "GBP"}}]}))
    assert "currency must be one of" in errors["lines.1.cost"][0]
    with service.engine.connect() as conn:
        child = service.model.entity("deal").child_tables["lines"]
        assert "unit_price_currency" not in child.c and "cost_currency" in child.c
        assert conn.execute(sa.select(sa.func.count()).select_from(child)).scalar_one() == 2
