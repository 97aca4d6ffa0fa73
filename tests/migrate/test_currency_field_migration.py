"""Adding a money field whose currency is another field's value: one column, the amount,
on a table that holds records (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from engine.migrate import apply_plan, plan_migration
from engine.records import RecordService

V1 = """
entity: deal
fields:
  title:    {type: string}
  currency: {type: choice, options: [CNY, USD, EUR], default: CNY}
  lines:
    type: lines
    fields:
      currency: {type: choice, options: [CNY, USD]}
"""

V2 = V1.replace("  lines:\n", "  amount:   {type: money, currency_field: currency, min: 0}\n  lines:\n") + \
    "      price:    {type: money, currency_field: currency}\n"


def migrate(engine, model):
    plan = plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version)
    apply_plan(engine, plan)
    return plan


def test_adding_a_money_field_with_a_currency_field_adds_the_amount_alone(build_model, db_engine):
    v1 = build_model({"entities/deal.yaml": V1}, name="v1")
    migrate(db_engine, v1)
    old = RecordService(v1, db_engine).create("deal", {"title": "Old deal", "currency": "USD",
                                                       "lines": [{"currency": "CNY"}]})

    v2 = build_model({"entities/deal.yaml": V2}, name="v2")
    plan = migrate(db_engine, v2)
    assert sorted((op.kind, op.target, op.destructive) for op in plan.operations) == [
        ("add_column", "deal.amount", False), ("add_column", "deal__lines.price", False)]
    columns = {c["name"] for c in sa.inspect(db_engine).get_columns("deal")}
    assert "amount" in columns and "amount_currency" not in columns
    assert "price_currency" not in {c["name"] for c in sa.inspect(db_engine).get_columns("deal__lines")}

    service = RecordService(v2, db_engine)
    kept = service.get("deal", old["id"])
    assert (kept["title"], kept["currency"], kept["amount"]) == ("Old deal", "USD", None)
    updated = service.update("deal", old["id"], {"amount": "2,500.5", "lines": [
        {"id": kept["lines"][0]["id"], "price": 3}]}, version=kept["version"])
    assert (updated["amount"], updated["currency"]) == (Decimal("2500.50"), "USD")
    assert (updated["lines"][0]["price"], updated["lines"][0]["currency"]) == (Decimal("3.00"), "CNY")
    assert plan_migration(db_engine, v2.metadata, project=v2.project, metadata_version=v2.version).operations == []
