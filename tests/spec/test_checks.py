"""Semantic checks that catch, at start-up, what would otherwise fail on every create."""

from __future__ import annotations

import pytest

from engine.errors import ProjectError
from engine.model import load_model


def problems(make_project, fields: str, extra: str = "") -> list[str]:
    root = make_project({"entities/a.yaml": "entity: a\nfields:\n" + fields + extra})
    with pytest.raises(ProjectError) as info:
        load_model(root, entry_points=False)
    return [f"{p.code} {p.message} {p.hint or ''}" for p in info.value.problems]


@pytest.mark.parametrize("fields, code, needle", [
    ("  n: {type: string}\n  k: {type: computed, expression: 'n', returns: integer}\n", "E504", ""),
    ("  n: {type: integer}\n  k: {type: computed, expression: 'n > 1'}\n", "E504", ""),
    ("  e: {type: integer, default: {expression: \"'abc'\"}}\n", "E504", ""),
    ("  d: {type: date, default: {expression: 'now()'}}\n", "E504", ""),
    ("  d: {type: string, default: {expression: 5}}\n", "E202", "text"),
    ("  b: {type: integer, min: 0, default: -5}\n", "E402", "at least 0"),
    ("  c: {type: choice, options: [{value: x, hidden: true}, y], default: x}\n", "E401", "hidden"),
    ("  c: {type: choice, options: [1, '1']}\n", "E406", "twice"),
    ("  m: {type: decimal, precision: 5, scale: 8}\n", "E403", "scale 8"),
    ("  p: {type: money, currencies: [USD, EUR]}\n", "E401", "CNY"),
    ("  x: {type: autonumber, format: 'A-{###}', default: A-001}\n", "E407", "assigned"),
    ("  l: {type: lines, index: true, fields: {q: {type: integer}}}\n", "E407", "index"),
    ("  class: {type: string}\n", "E302", "keyword"),
    ("  none_of: {type: string}\n  k: {type: link, to: a, required: true, on_delete: set_null}\n", "E407", "set_null"),
])
def test_check_catches(make_project, fields, code, needle):
    found = problems(make_project, fields)
    assert any(p.startswith(code) and needle in p for p in found), found


def test_search_needs_text_fields(make_project):
    found = problems(make_project, "  n: {type: integer}\n  s: {type: string}\n", "list: {search: [s, n]}\n")
    assert found == ["E407 search looks in text fields; 'n' is not one "]


def test_sort_on_a_standard_column_that_cannot_be_sorted(make_project):
    found = problems(make_project, "  s: {type: string}\n", "list: {sort: [-version]}\n")
    assert found and found[0].startswith("E407 cannot sort on 'version'")


def test_unknown_option_is_reported_once(make_project):
    found = problems(make_project, "  s: {type: string, requird: true}\n")
    assert [p[:4] for p in found] == ["E201"]


def test_override_without_type_suggests_the_field(make_project):
    found = problems(make_project, "  subject: {type: string}\n  subjct: {label: S}\n")
    assert any("E604" in p and "did you mean 'subject'?" in p for p in found), found
