"""The suite's model memo (tests/modelmemo.py) gives what a fresh compile gives, and compiles
anew whenever an input changes."""

from __future__ import annotations

import modelmemo

import engine.design.service
import engine.model
from engine.paths import EXAMPLES

CUSTOMER = """
entity: customer
fields:
  name: {type: text, required: true}
"""


def _fresh(path, **kwargs):
    return modelmemo.real_load_model(path, **kwargs)


def test_engine_modules_compile_through_the_memo():
    assert engine.model.load_model is modelmemo.load_model
    assert engine.design.service.load_model is modelmemo.load_model


def test_a_remembered_model_is_what_a_fresh_compile_gives():
    remembered = engine.model.load_model(EXAMPLES / "crm", entry_points=False)
    assert engine.model.load_model(EXAMPLES / "crm", entry_points=False) is remembered
    fresh = _fresh(EXAMPLES / "crm", entry_points=False)
    assert fresh is not remembered
    assert remembered.version == fresh.version and remembered.spec == fresh.spec
    assert sorted(remembered.metadata.tables) == sorted(fresh.metadata.tables)
    trade = engine.model.load_model(EXAMPLES / "trade", entry_points=False)
    assert trade is not remembered and trade.version == _fresh(EXAMPLES / "trade", entry_points=False).version


def test_any_changed_input_compiles_anew(make_project, monkeypatch):
    root = make_project({"entities/customer.yaml": CUSTOMER})
    first = engine.model.load_model(root, entry_points=False)
    assert engine.model.load_model(root, entry_points=False) is first
    assert engine.model.load_model(root, entry_points=True) is not first

    (root / "entities" / "customer.yaml").write_text(CUSTOMER + "  city: {type: text}\n", encoding="utf-8")
    edited = engine.model.load_model(root, entry_points=False)
    assert edited is not first and "city" in edited.entities["customer"].fields

    ops = [{"path": "entities.customer.fields.wechat", "value": {"type": "text"}}]
    designed = engine.model.load_model(root, entry_points=False, designer=[(1, ops)])
    assert designed is not edited and "wechat" in designed.entities["customer"].fields
    assert engine.model.load_model(root, entry_points=False, designer=[(1, ops)]) is designed
    assert engine.model.load_model(root, entry_points=False, designer=[(2, ops)]) is not designed

    monkeypatch.setenv("TAILOR_SOMETHING", "else")
    assert engine.model.load_model(root, entry_points=False) is not edited


def test_a_base_project_change_reaches_the_projects_extending_it(make_project):
    base = make_project({"entities/customer.yaml": CUSTOMER}, name="base")
    child = make_project({"tailor.yaml": "name: child\nextends: ../base\nlanguages: [en, zh]\n"}, name="child")
    first = engine.model.load_model(child, entry_points=False)
    (base / "entities" / "customer.yaml").write_text(CUSTOMER + "  city: {type: text}\n", encoding="utf-8")
    again = engine.model.load_model(child, entry_points=False)
    assert again is not first and "city" in again.entities["customer"].fields
