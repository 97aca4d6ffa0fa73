"""Layers: a client project `extends:` a base and states only what differs."""

from __future__ import annotations

from engine.model import load_model
from engine.paths import EXAMPLES

BASE = {
    "tailor.yaml": "name: base\nlanguages: [en, zh]\n",
    "entities/customer.yaml": """
        entity: customer
        label: {en: Customer, zh: 客户}
        fields:
          name:  {type: string, label: {en: Name, zh: 名称}, required: true}
          level: {type: choice, options: [{value: high, color: red}, low], default: low}
          region: {type: string}
        list:
          columns: [name, level]
          sort: name
        rules:
          - {name: named, check: "name != None", message: needs a name}
        """,
}

CHILD = {
    "tailor.yaml": "name: child\nextends: ../base\n",
    "entities/customer.yaml": """
        entity: customer
        fields:
          name:   {label: {en: Buyer, zh: 买家}}
          region: {hidden: true}
          level:
            options:
              - {value: high, label: {en: Top, zh: 顶级}}
              - {value: vip, color: gold}
          market: {type: choice, options: [eu, us]}
        list:
          columns: [name, market]
        rules:
          - {name: named, check: "name != 'x'", message: not x}
        """,
    "entities/order_note.yaml": "entity: order_note\nfields:\n  body: {type: text}\n",
}


def build(make_project):
    make_project(BASE, name="base")
    return load_model(make_project(CHILD, name="child"), entry_points=False)


def test_merge_adds_overrides_and_hides(make_project):
    model = build(make_project)
    customer = model.entities["customer"]
    assert model.project == "child"
    assert set(model.entities) == {"customer", "order_note"}
    assert dict(customer.fields["name"].label) == {"en": "Buyer", "zh": "买家"}
    assert customer.fields["name"].required is True  # kept from the base
    assert customer.fields["region"].hidden is True
    assert "region" in customer.table.c  # hidden, never dropped
    assert [(o.value, dict(o.label).get("en"), o.color) for o in customer.fields["level"].options] == [
        ("high", "Top", "red"), ("low", "Low", None), ("vip", "Vip", "gold")]  # readable defaults
    assert customer.list.columns == ("name", "market")
    assert customer.list.sort == ("name",)  # list merges key by key
    assert [r.check.source for r in customer.rules] == ["name != 'x'"]  # rules merge by name
    assert dict(customer.label)["zh"] == "客户"


def test_provenance_records_layers(make_project):
    model = build(make_project)
    customer = model.entities["customer"]
    assert customer.origin.defined_in == "base"
    assert customer.fields["market"].origin.defined_in == "child"
    name = customer.fields["name"].origin
    assert name.defined_in == "base"
    assert [(layer, keys) for layer, _pos, keys in name.changes] == [("child", ("label",))]
    assert name.changes[0][1].endswith("entities/customer.yaml:3:3")


def test_merge_is_deterministic(make_project):
    first = build(make_project)
    second = load_model(make_project(CHILD, name="child"), entry_points=False)
    assert first.version == second.version


def test_version_changes_with_the_spec(make_project):
    first = build(make_project)
    changed = dict(CHILD)
    changed["entities/order_note.yaml"] = "entity: order_note\nfields:\n  body: {type: string}\n"
    second = load_model(make_project(changed, name="child2"), entry_points=False)
    assert first.version != second.version


def test_examples_trade_extends_crm():
    crm = load_model(EXAMPLES / "crm", entry_points=False)
    trade = load_model(EXAMPLES / "trade", entry_points=False)
    customer = trade.entities["customer"]
    assert dict(customer.fields["name"].label)["en"] == "Buyer name"  # relabelled
    assert customer.fields["province"].hidden  # hidden
    assert {"markets", "required_certifications", "preferred_incoterm"} <= set(customer.fields)
    assert "shipment" in trade.entities and "shipment" not in crm.entities
    assert trade.entities["sales_order"].fields["incoterm"].required
    assert trade.currency == "USD" and crm.currency == "CNY"
    assert customer.fields["name"].origin.defined_in == "crm"
    assert [c[0] for c in customer.fields["name"].origin.changes] == ["trade"]
