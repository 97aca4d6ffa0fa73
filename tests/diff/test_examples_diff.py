"""tailor diff on real project versions: examples/crm and examples/trade, which extends it.

Every assertion is a difference read from examples/trade's YAML (or its absence)."""

from __future__ import annotations

import pytest

from engine.diff import diff_models, render
from engine.model import load_model
from engine.paths import EXAMPLES


@pytest.fixture(scope="module")
def models():
    return load_model(EXAMPLES / "crm", entry_points=False), load_model(EXAMPLES / "trade", entry_points=False)


@pytest.fixture(scope="module")
def diff(models):
    return diff_models(*models)


def test_project_settings(diff):
    currency = diff.find("project.changed", "trade", "currency")
    assert (currency.old, currency.new) == ("CNY", "USD")  # trade/tailor.yaml currency: USD
    menu = diff.find("project.menu", "trade")
    assert {"group": {"en": "Logistics", "zh": "物流"}, "entities": ["shipment"]} in menu.new


def test_entities(diff):
    assert diff.find("entity.added", "shipment").new == {"en": "Shipment", "zh": "出运"}
    label = diff.find("entity.label", "customer")
    assert (label.old["en"], label.new["en"], label.new["zh"]) == ("Customer", "Buyer", "买家")
    columns = diff.find("entity.changed", "customer", "list.columns")  # trade's customer list:
    assert columns.new == ["code", "name", "country", "markets", "classification", "account_manager"]
    form = diff.find("entity.changed", "customer", "form")
    assert {"en": "Trade", "zh": "贸易"} in [s["section"] for tab in form.new for s in tab["sections"]]
    # trade extends crm: it hides, never removes
    assert diff.of("entity") and not [c for c in diff.changes if c.kind == "entity.removed"]


def test_fields(diff):
    assert diff.find("field.hidden", "customer.province") is not None
    assert diff.find("field.hidden", "customer.credit_code") is not None
    required = diff.find("field.required", "customer.country")
    assert (required.old, required.new) == (False, True)
    assert diff.find("field.added", "customer.markets").new["type"] == "multichoice"
    assert diff.find("field.added", "sales_order.incoterm").new == {
        "type": "choice", "label": {"en": "Incoterm", "zh": "贸易术语"}, "required": True}
    assert diff.find("field.added", "product.hs_code").new["type"] == "string"
    assert diff.find("field.label", "customer.name").new == {"en": "Buyer name", "zh": "买家名称"}
    where = diff.find("field.property", "customer.open_pipeline", "where")
    assert "'CNY'" in where.old and "'USD'" in where.new
    assert not [c for c in diff.changes if c.kind == "field.removed"]


def test_option_set_changes_reach_every_field_using_it(diff):
    # tailor.yaml option_sets.industry: retail relabelled, import_export added, for every field
    for field in ("customer.industry", "lead.industry", "campaign.target_industries"):
        relabelled = diff.find("option.relabelled", f"{field}=retail")
        assert (relabelled.old["en"], relabelled.new["en"]) == ("Retail", "Retail chain"), field
        assert diff.find("option.added", f"{field}=import_export").new["zh"] == "进出口"
    assert diff.find("option.hidden", "sales_order.payment_terms=net_60") is not None
    assert diff.find("option.added", "sales_order.payment_terms=t_t_30_70") is not None


def test_roles_rules_and_approvals(diff):
    assert diff.find("role.added", "logistics").new == {"en": "Logistics clerk", "zh": "单证物流"}
    assert diff.find("role.added", "compliance") is not None
    assert diff.find("role.granted", "sales_rep:shipment").new == {"actions": ["read"], "deny": [], "scope": "all"}
    assert diff.find("field_permission.changed", "logistics:customer.credit_limit").new == "hidden"
    assert diff.find("rule.added", "sales_order.cif_needs_destination").new["field"] == "port_of_discharge"
    cases = diff.find("approval.node_changed", "order.order_approval.big_order", "cases")
    assert cases.old[0]["when"] == "total > 100000" and cases.new[0]["when"] == "total > 50000"
    added = diff.find("approval.node_added", "order.order_approval.compliance")
    assert added.new["approvers"] == [{"role": "compliance"}] and added.new["comment"] == "required"
    director = diff.find("approval.node_changed", "order.order_approval.director", "next")
    assert (director.old, director.new) == ("copy_head", "compliance")
    assert diff.find("index.added", "customer:ix_customer_country") is not None  # a new list filter


def test_migration(diff):
    steps = {(s.kind, s.target) for s in diff.migration.safe}
    assert {("create_table", "shipment"), ("add_column", "sales_order.incoterm"),
            ("add_column", "customer.markets"), ("set_not_null", "customer.country")} <= steps
    assert diff.migration.destructive == () and diff.migration.blocked == ()


def test_back_from_trade_to_crm_is_destructive(models):
    crm, trade = models
    back = diff_models(trade, crm)
    assert back.find("entity.removed", "shipment") is not None
    assert back.find("field.removed", "customer.markets") is not None
    destructive = {(s.kind, s.target) for s in back.migration.destructive}
    assert ("drop_table", "shipment") in destructive
    assert ("drop_column", "customer.markets") in destructive
    assert "! drop table shipment" in render(back)
