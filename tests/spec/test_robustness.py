"""Wrongly-typed values anywhere in a project give problems, never a traceback."""

from __future__ import annotations

import pytest

from engine.errors import ProjectError
from engine.model import load_model

GOOD = "entity: a\nfields:\n  x: {type: string}\n  n: {type: integer}\n"

BAD_ENTITIES = [
    "entity: a\ntitle: [x]\nfields:\n  x: {type: string}\n",
    "entity: a\nstage: [x]\nfields:\n  x: {type: choice, options: [a]}\n",
    "entity: a\nfields:\n  x: {type: [string]}\n",
    "entity: a\nfields:\n  x: {type: link, to: [b]}\n",
    "entity: a\nfields:\n  x: {type: string, renamed_from: [b]}\n",
    "entity: a\nfields:\n  x: {type: string}\nform:\n  sections: [[x]]\n",
    "entity: a\nfields:\n  x: {type: string}\nindexes: [[x]]\n",
    "entity: a\nfields:\n  x: {type: string, validators: x}\n",
    "entity: a\nfields:\n  x: {type: computed, expression: '1', returns: [x]}\n",
    "entity: a\nfields:\n  x: {type: string, max_length: x, min_length: 3}\n",
    "entity: a\nfields:\n  x: {type: string}\nrules:\n  - {check: 'x != None', message: m, field: [x]}\n",
    "entity: a\nfields:\n  x: {type: choice, options: [a, b], default: [a]}\n",
    "entity: a\nfields:\n  x: {type: decimal, max: 1e30}\n",
    "entity: a\nfields:\n  x: {type: choice, options: [[a]]}\n",
    "entity: a\nfields: [x]\n",
    "entity: a\nfields:\n  x: {type: string}\nlist: {columns: [[x]], sort: 5}\n",
]


@pytest.mark.parametrize("text", BAD_ENTITIES)
def test_wrong_types_are_problems(make_project, text):
    root = make_project({"entities/a.yaml": text})
    with pytest.raises(ProjectError) as info:
        load_model(root, entry_points=False)
    assert info.value.problems


@pytest.mark.parametrize("override", [
    "entity: a\nfields:\n  x: {type: choice, options: [{value: [1]}]}\n",
    "entity: a\nrules: [{name: [r], check: 'x', message: m}]\n",
    "entity: a\nfields: [1, 2]\n",
    "entity: a\nlist: [1]\n",
])
def test_wrong_types_in_a_layer_are_problems(make_project, override):
    make_project({"entities/a.yaml": GOOD + "rules: [{name: r, check: 'n > 0', message: m}]\n"}, name="base")
    child = make_project({"tailor.yaml": "name: child\nextends: ../base\n", "entities/a.yaml": override},
                         name="child")
    with pytest.raises(ProjectError) as info:
        load_model(child, entry_points=False)
    assert info.value.problems


def test_yaml_11_boolean_words_are_names(make_project):
    model = load_model(make_project({"entities/a.yaml": "entity: a\nfields:\n  no: {type: integer}\n"
                                                         "  yes: {type: choice, options: [yes, no]}\n"}),
                       entry_points=False)
    assert set(model.entities["a"].fields) == {"no", "yes"}
    assert model.entities["a"].fields["yes"].option_values == ("yes", "no")
