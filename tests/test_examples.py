"""The example projects check, migrate and load their demo data on both databases."""

from __future__ import annotations

import pytest

from engine.demo import DemoError, load_demo
from engine.migrate import apply_plan, plan_migration
from engine.model import load_model
from engine.paths import EXAMPLES
from engine.records import RecordService
from engine.storage import make_engine


@pytest.mark.parametrize("project", ["crm", "trade"])
def test_example_loads_demo_data(project, db_url):
    model = load_model(EXAMPLES / project, entry_points=False)
    engine = make_engine(db_url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    summary = load_demo(model, engine, EXAMPLES / project)
    assert summary.startswith("loaded demo data")
    service = RecordService(model, engine)
    assert service.count("customer") >= 8
    assert service.count("opportunity") >= 9
    orders = service.list("sales_order", limit=100)
    assert orders and all(o["total"] is not None and o["total"] > 0 for o in orders)
    assert len({o["number"] for o in orders}) == len(orders)
    # a second run refuses instead of duplicating
    assert "not loaded" in load_demo(model, engine, EXAMPLES / project)
    engine.dispose()


def test_failed_demo_load_leaves_nothing(tmp_path, make_project, db_url):
    root = make_project({
        "entities/customer.yaml": "entity: customer\nfields:\n  name: {type: string, required: true}\n",
        "demo/00.yaml": "users:\n  - {username: rep1, password: demo-pass-1}\ncustomer:\n  a: {name: Good}\n",
        "demo/10.yaml": "customer:\n  b: {owner: '@user:rep1'}\n",
    })
    model = load_model(root, entry_points=False)
    engine = make_engine(db_url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    with pytest.raises(DemoError) as info:
        load_demo(model, engine, root)
    assert "name: is required" in str(info.value)
    assert RecordService(model, engine).count("customer") == 0
    engine.dispose()


@pytest.mark.parametrize("project", ["crm", "trade"])
def test_examples_have_no_warnings(project):
    """Every option, field and entity of the examples is labelled in each of their languages."""
    assert load_model(EXAMPLES / project, entry_points=False).warnings == ()


@pytest.mark.parametrize("project", ["crm", "trade"])
def test_every_example_entity_has_a_menu_heading(project):
    """A layer's `menu:` replaces the base's: an entity it leaves out lands in the untitled
    group at the end, which the sidebar shows under the previous group's heading."""
    model = load_model(EXAMPLES / project, entry_points=False)
    untitled = [names for label, names in model.menu if not label]
    assert untitled == []
    placed = {name for _label, names in model.menu for name in names}
    assert placed == {name for name, entity in model.entities.items() if not entity.hidden}


def test_trade_keeps_the_base_service_and_marketing_groups():
    groups = {label["en"]: (label["zh"], names) for label, names in load_model(EXAMPLES / "trade", entry_points=False).menu}
    assert groups["Service"] == ("服务", ("ticket",))
    assert groups["Marketing"] == ("市场", ("campaign",))
    assert groups["Logistics"] == ("物流", ("shipment",))
