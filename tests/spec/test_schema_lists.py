"""Empty lists: every list in schemas/ either must have an item (`minItems`) or says why
it may be empty (`$comment: "may be empty: …"`), so a new list cannot silently accept
`[]` where it means nothing (a choice field without options was accepted: issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.errors import ProjectError
from engine.model import load_model
from engine.paths import ROOT


def _lists(node, path=""):
    if isinstance(node, dict):
        if node.get("type") == "array":
            yield path, node
        for key, value in node.items():
            yield from _lists(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _lists(value, f"{path}/{i}")


@pytest.mark.parametrize("schema", sorted((ROOT / "schemas").glob("*.schema.json")), ids=lambda p: p.name)
def test_every_list_needs_an_item_or_says_why_not(schema: Path):
    found = list(_lists(json.loads(schema.read_text(encoding="utf-8"))))
    assert found, f"{schema.name} has no lists?"
    undecided = [path for path, node in found
                 if not node.get("minItems") and not str(node.get("$comment", "")).startswith("may be empty:")]
    assert not undecided, f"{schema.name}: lists that accept [] without saying why: {undecided}"


@pytest.mark.parametrize("text, where", [
    ("fields:\n  level:\n    type: choice\n    options: []\n", (5, 14)),
    ("fields:\n  name: {type: string}\nlist:\n  columns: []\n", (5, 12)),
    ("fields:\n  name: {type: string}\nform:\n  sections: []\n", (5, 13)),
    ("fields:\n  name: {type: string}\nform:\n  sections:\n    - {section: Main, fields: []}\n", (6, 31)),
])
def test_an_empty_list_that_means_nothing_is_refused_where_it_is(make_project, text, where):
    root = make_project({"tailor.yaml": "name: t\n", "entities/thing.yaml": "entity: thing\n" + text})
    with pytest.raises(ProjectError) as info:
        load_model(root, entry_points=False)
    found = [(p.code, p.position.line, p.position.column) for p in info.value.problems]
    assert ("E204", *where) in found, found
