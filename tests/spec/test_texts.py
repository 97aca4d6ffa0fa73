"""W304 finds texts through the schemas: every label of an entity, a workflow and a role,
wherever the schema declares one, and nothing that only looks like one."""

from __future__ import annotations

from pathlib import Path

from engine.errors import Problems
from engine.spec.texts import labels_in
from engine.spec.yamlload import load_yaml_text

ENTITY = """
entity: thing
label: {en: Thing, zh: 东西}
fields:
  name: {type: string, label: {en: Name, zh: 名称}, help: {en: The name}}
  level:
    type: choice
    options:
      - plain
      - {value: a, label: {en: A, zh: 甲}}
  lines:
    type: lines
    fields:
      qty: {type: integer, label: {en: Qty}, help: Count}
form:
  tabs:
    - tab: {en: One}
      sections:
        - section: {en: Main}
          fields: [name, level]
rules:
  - name: r1
    check: "name != 'x'"
    message: {en: Not x}
"""


def _load(text: str):
    problems = Problems()
    document = load_yaml_text(text, "x.yaml", problems)
    assert not problems.items
    return document


def test_every_label_of_an_entity_is_found_and_only_labels():
    found = labels_in("entity", _load(ENTITY))
    assert set(found) == {
        ("label",), ("fields", "name", "label"), ("fields", "name", "help"),
        ("fields", "level", "options", 1, "label"),
        ("fields", "lines", "fields", "qty", "label"), ("fields", "lines", "fields", "qty", "help"),
        ("form", "tabs", 0, "tab"), ("form", "tabs", 0, "sections", 0, "section"),
        ("rules", 0, "message"),
    }, found
    assert found[("fields", "lines", "fields", "qty", "help")] == "Count"


def test_workflow_texts_are_found(tmp_path: Path):
    workflow = _load("""
workflow: deal
entity: deal
field: stage
label: {en: Deal flow}
transitions:
  win: {from: open, to: won, label: {en: Win, zh: 赢单}, message: {en: Won!}}
approvals:
  big:
    label: {en: Big deals}
    nodes:
      boss: {type: approval, label: {en: How far}, approvers: [{role: boss}]}
""")
    found = labels_in("workflow", workflow)
    assert {("label",), ("transitions", "win", "label"), ("transitions", "win", "message"),
            ("approvals", "big", "label"), ("approvals", "big", "nodes", "boss", "label")} <= set(found), found
