"""Dashboards (dashboards/*.yaml): compiled onto the model in home-page order, layered with
`extends:` (widgets merged by name, removed with `remove: true`), and chosen per role."""

from __future__ import annotations

import pytest
from reportutil import files

from engine.errors import ProjectError
from engine.model import load_model
from engine.records import Actor
from engine.reports.dashboards import dashboard_for

SALES = """
dashboard: sales
label: {en: Sales, zh: 销售}
roles: [rep, manager]
order: 5
period: this_quarter
widgets:
  - {report: by_stage, width: 8}
  - {report: total, width: 4}
  - {name: funnel_as_pie, report: funnel, chart: pie}
"""

EVERYONE = """
dashboard: everyone
label: {en: Overview, zh: 概览}
widgets: [{report: by_owner}]
"""

LAYER = """
dashboard: sales
label: {en: Sales desk, zh: 销售台}
roles: [rep, manager, director]
widgets:
  - {report: by_stage, width: 12, chart: pie}
  - {report: total, remove: true}
  - {report: monthly, width: 6}
"""


def test_dashboards_compile_in_home_page_order_and_are_chosen_by_role(build_model):
    model = build_model({**files(), "dashboards/sales.yaml": SALES, "dashboards/everyone.yaml": EVERYONE})
    assert list(model.dashboards) == ["sales", "everyone"]  # order 5, then the default 100
    sales = model.dashboards["sales"]
    assert [(w.name, w.report, w.width, w.chart) for w in sales.widgets] == [
        ("by_stage", "by_stage", 8, None), ("total", "total", 4, None), ("funnel_as_pie", "funnel", 6, "pie")]
    assert sales.period == "this_quarter" and sales.label["zh"] == "销售"
    assert dashboard_for(model, Actor(id=1, roles=("rep",))).name == "sales"
    assert dashboard_for(model, Actor(id=2, roles=("director",))).name == "everyone"
    assert dashboard_for(model, Actor(id=3, roles=())).name == "everyone"
    assert dashboard_for(model, Actor(id=4, is_admin=True)).name == "sales"
    only_sales = build_model({**files(), "dashboards/sales.yaml": SALES})
    assert dashboard_for(only_sales, Actor(id=3, roles=())) is None  # a home page without a dashboard


def test_a_layer_changes_removes_and_adds_widgets(make_project):
    make_project({**files(), "dashboards/sales.yaml": SALES}, name="base")
    root = make_project({"tailor.yaml": "name: client\nlanguages: [en, zh]\nextends: ../base\n",
                         "dashboards/sales.yaml": LAYER}, name="client")
    model = load_model(root, entry_points=False)
    sales = model.dashboards["sales"]
    assert sales.label["en"] == "Sales desk" and sales.roles == {"rep", "manager", "director"}
    assert [(w.name, w.width, w.chart) for w in sales.widgets] == [
        ("by_stage", 12, "pie"), ("funnel_as_pie", 6, "pie"), ("monthly", 6, None)]
    assert sales.order == 5  # kept from the base


def test_a_layer_removing_every_widget_is_refused(make_project):
    make_project({**files(), "dashboards/everyone.yaml": EVERYONE}, name="base")
    root = make_project({"tailor.yaml": "name: client\nlanguages: [en, zh]\nextends: ../base\n",
                         "dashboards/everyone.yaml": "dashboard: everyone\nwidgets: [{report: by_owner, remove: true}]\n"},
                        name="client")
    with pytest.raises(ProjectError) as info:
        load_model(root, entry_points=False)
    assert [p.code for p in info.value.problems] == ["E023"]
