"""docs/yaml-reference.md stays in step with schemas/ and the built-in field types.

* every property name defined anywhere in the JSON Schemas (every `properties` mapping,
  walked recursively, `$defs` included) appears in the reference as `name`;
* every built-in field type has a `### TYPE` heading.

The helpers are tested on a doctored copy of the reference too, so the checks cannot pass
vacuously (for example if the schema walk found nothing).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.fields import BUILTIN_FIELD_TYPES
from engine.paths import ROOT, SCHEMAS

REFERENCE = ROOT / "docs" / "yaml-reference.md"
SCHEMA_FILES = ("project.schema.json", "entity.schema.json", "roles.schema.json", "workflow.schema.json",
                "report.schema.json", "dashboard.schema.json")


def property_names(node) -> set[str]:
    """Keys of every `properties` mapping in a JSON Schema, at any depth."""
    names: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                names.update(value)
            names |= property_names(value)
    elif isinstance(node, list):
        for item in node:
            names |= property_names(item)
    return names


def schema_names(schema_file: str) -> set[str]:
    return property_names(json.loads((SCHEMAS / schema_file).read_text(encoding="utf-8")))


def missing_names(text: str, names: set[str]) -> list[str]:
    return sorted(n for n in names if f"`{n}`" not in text)


def missing_headings(text: str, type_names: list[str]) -> list[str]:
    return [n for n in type_names if not re.search(rf"^### {re.escape(n)}\s*$", text, re.MULTILINE)]


@pytest.fixture(scope="module")
def reference() -> str:
    return REFERENCE.read_text(encoding="utf-8")


@pytest.mark.parametrize("schema_file", SCHEMA_FILES)
def test_every_schema_key_is_documented(reference, schema_file):
    names = schema_names(schema_file)
    missing = missing_names(reference, names)
    assert not missing, f"{REFERENCE.name} does not mention these keys of {schema_file}: {missing}"


def test_every_builtin_field_type_has_a_heading(reference):
    types = [t.name for t in BUILTIN_FIELD_TYPES]
    missing = missing_headings(reference, types)
    assert not missing, f"{REFERENCE.name} has no '### TYPE' heading for: {missing}"


def test_the_checks_are_not_vacuous(reference):
    names = schema_names("entity.schema.json") | schema_names("project.schema.json")
    # nested keys ($defs/field, list, form, rules, indexes, menu items) are found too
    assert {"entity", "extends", "payload", "returns", "page_size", "collapsed", "group", "color"} <= names
    assert len(BUILTIN_FIELD_TYPES) >= 21
    doctored = reference.replace("`payload`", "payload").replace("### money", "### cash")
    assert missing_names(doctored, names) == ["payload"]
    assert missing_headings(doctored, [t.name for t in BUILTIN_FIELD_TYPES]) == ["money"]


def test_reference_paths_exist():
    assert REFERENCE.is_file()
    for schema_file in SCHEMA_FILES:
        assert Path(SCHEMAS / schema_file).is_file()
