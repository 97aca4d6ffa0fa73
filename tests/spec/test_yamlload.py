"""The positioned YAML loader."""

from __future__ import annotations

import pytest

from engine.errors import Problems
from engine.spec.yamlload import PosDict, PosList, load_yaml_text


def load(text):
    problems = Problems()
    return load_yaml_text(text, "f.yaml", problems), problems


def test_positions_of_keys_values_and_items():
    doc, problems = load("a: 1\nb:\n  c: [x, y]\n  d: 'q'\n")
    assert not problems
    assert isinstance(doc, PosDict) and isinstance(doc["b"]["c"], PosList)
    assert (doc.key_pos["b"].line, doc.key_pos["b"].column) == (2, 1)
    assert (doc["b"].value_pos["d"].line, doc["b"].value_pos["d"].column) == (4, 6)
    assert (doc["b"]["c"].item_pos[1].line, doc["b"]["c"].item_pos[1].column) == (3, 10)
    assert doc["b"].position_in_value("d", 0).column == 7  # inside the quotes


def test_duplicate_keys_are_errors_and_first_wins_nowhere():
    doc, problems = load("a: 1\na: 2\n")
    assert [p.code for p in problems.items] == ["E102"]
    assert problems.items[0].position.line == 2
    assert "line 1" in problems.items[0].message


def test_duplicate_keys_nested():
    _doc, problems = load("x:\n  f: {type: string, type: text}\n")
    assert [p.code for p in problems.items] == ["E102"]


def test_aliases_merge_keys_and_tags_refused():
    _doc, problems = load("a: &x {b: 1}\nc: *x\n")
    assert [p.code for p in problems.items] == ["E104"]
    _doc, problems = load("a: &x {b: 1}\nc:\n  <<: *x\n")
    assert "E104" in [p.code for p in problems.items]
    _doc, problems = load("a: !!python/object:os.system echo\n")
    assert [p.code for p in problems.items] == ["E104"]


def test_syntax_error_has_position():
    _doc, problems = load("a: [1, 2\nb: 3\n")
    assert problems.items[0].code == "E101"
    assert problems.items[0].position.line >= 2


def test_multiple_documents_refused():
    _doc, problems = load("a: 1\n---\nb: 2\n")
    assert [p.code for p in problems.items] == ["E101"]


def test_scalars_keep_their_types():
    doc, problems = load("i: 3\nf: 1.5\nb: true\nn: null\nd: 2024-01-02\ns: '007'\n")
    assert not problems
    assert doc["i"] == 3 and doc["f"] == 1.5 and doc["b"] is True and doc["n"] is None
    assert str(doc["d"]) == "2024-01-02" and doc["s"] == "007"


def test_yaml_12_reading_keys_bools_dates():
    doc, problems = load("no: 1\nyes: {a: on}\nd: 2024-01-31\nb: true\nc: False\n")
    assert not problems
    assert set(doc) == {"no", "yes", "d", "b", "c"}
    assert doc["yes"]["a"] == "on" and doc["d"] == "2024-01-31"
    assert doc["b"] is True and doc["c"] is False


@pytest.mark.parametrize("text, line, column", [
    ("e: nope > 1\n", 1, 4),                                   # plain
    ("e: 'x > nope'\n", 1, 9),                                 # single-quoted
    ("e: |\n        a and\n        nope\n", 3, 9),            # literal block, 8-space indent
    ("e: >\n  a and\n  nope\n", 3, 3),                        # folded block
    ("e: a and\n   nope\n", 2, 4),                             # plain over two lines
])
def test_offsets_inside_values(text, line, column):
    doc, problems = load(text)
    assert not problems
    offset = doc["e"].index("nope")
    pos = doc.position_in_value("e", offset)
    assert (pos.line, pos.column) == (line, column)
