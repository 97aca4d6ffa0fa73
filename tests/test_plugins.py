"""The plugin system: built-ins through the same hooks, project plugins, docs for every hook."""

from __future__ import annotations

import re

import pytest

from engine.errors import ProjectError
from engine.paths import ROOT
from engine.plugins import hook_names, make_plugin_manager


def test_every_hook_is_documented():
    doc = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `(tailor_\w+)", doc, flags=re.M))
    assert documented == set(hook_names())


def test_builtin_field_types_come_through_the_hook():
    pm = make_plugin_manager([], None, entry_points=False)
    names = {t.name for types in pm.hook.tailor_field_types() for t in types}
    assert {"string", "money", "lines", "links", "computed", "autonumber"} <= names


def test_plugin_field_type_and_function(build_model, service_for):
    plugin = '''
import sqlalchemy as sa
from engine.expr import Function
from engine.fields.base import FieldType, FieldValueError

class Rating(FieldType):
    name = "rating"
    value_type = "number"
    options = frozenset({"stars"})

    def sql_type(self, field):
        return sa.SmallInteger()

    def coerce(self, value, field):
        if value in (None, ""):
            return None
        stars = int(value)
        if not 1 <= stars <= int(field.spec.get("stars", 5)):
            raise FieldValueError("out of range")
        return stars

def tailor_field_types():
    return [Rating()]

def tailor_expression_functions():
    return [Function("double", ["number"], "number", python=lambda x: None if x is None else x * 2,
                     sql=lambda x: x * 2)]
'''
    service = service_for({
        "tailor.yaml": "name: p\nplugins: [./rating.py]\n",
        "rating.py": plugin,
        "entities/review.yaml": """
            entity: review
            fields:
              score: {type: rating, stars: 3}
              twice: {type: computed, expression: "double(score)", returns: integer}
            """,
    })
    record = service.create("review", {"score": 3})
    assert record["twice"] == 6
    assert [r["score"] for r in service.list("review", where="double(score) > 5")] == [3]
    with pytest.raises(Exception) as info:
        service.create("review", {"score": 4})
    assert "out of range" in str(info.value)


def test_bundled_cn_fields_plugin(service_for):
    from engine.records import ValidationError

    service = service_for({
        "tailor.yaml": "name: p\nplugins: [cn_fields]\n",
        "entities/company.yaml": """
            entity: company
            fields:
              credit_code: {type: string, validators: [uscc]}
              mobile: {type: phone, validators: [cn_mobile]}
            """,
    })
    assert service.create("company", {"credit_code": "91350100M000100Y43", "mobile": "13800138000"})
    with pytest.raises(ValidationError) as info:
        service.create("company", {"credit_code": "91350100M000100Y44", "mobile": "12345678901"})
    assert "check character" in info.value.errors["credit_code"][0]
    assert "mobile" in info.value.errors["mobile"][0]


def test_unknown_validator_is_reported(build_model):
    with pytest.raises(ProjectError) as info:
        build_model({"entities/c.yaml": "entity: c\nfields:\n  x: {type: string, validators: [uscc]}\n"})
    assert "unknown validator 'uscc'" in str(info.value)
