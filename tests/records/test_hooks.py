"""Lifecycle hooks from a project plugin run inside the service's transaction."""

from __future__ import annotations

import pytest

from engine.records import ValidationError

PLUGIN = '''
from engine.records import ValidationError

CALLS = []

def tailor_before_save(entity, record, old, context):
    if entity.name == "note" and record.get("text"):
        record["text"] = record["text"].strip().capitalize()
    if record.get("text") == "Forbidden":
        raise ValidationError({"text": ["forbidden word"]})

def tailor_after_save(entity, record, old, context):
    CALLS.append(("saved", record["id"], old is None))
    if record.get("text") == "Explode after":
        raise RuntimeError("after_save failed")

def tailor_before_delete(entity, record, context):
    if record.get("text") == "Keep me":
        raise ValidationError("this note cannot be deleted")

def tailor_after_delete(entity, record, context):
    CALLS.append(("deleted", record["id"]))
'''

PROJECT = {
    "tailor.yaml": "name: hooks\nplugins: [./note_hooks.py]\n",
    "note_hooks.py": PLUGIN,
    "entities/note.yaml": "entity: note\nfields:\n  text: {type: string}\n",
}


@pytest.fixture
def service(service_for):
    return service_for(PROJECT)


def plugin_calls(service):
    module = next(p for name, p in service.model.plugins.list_name_plugin() if name.endswith("note_hooks.py"))
    return module.CALLS


def test_before_save_can_change_and_refuse(service):
    record = service.create("note", {"text": "  hello  "})
    assert record["text"] == "Hello"
    with pytest.raises(ValidationError) as info:
        service.create("note", {"text": "forbidden"})
    assert info.value.errors == {"text": ["forbidden word"]}
    assert service.count("note") == 1
    assert ("saved", record["id"], True) in plugin_calls(service)


def test_after_save_failure_rolls_back(service):
    with pytest.raises(RuntimeError):
        service.create("note", {"text": "explode after"})
    assert service.count("note") == 0
    assert service.history("note", 1) == []


def test_delete_hooks(service):
    keep = service.create("note", {"text": "keep me"})
    with pytest.raises(ValidationError):
        service.delete("note", keep["id"])
    other = service.create("note", {"text": "bye"})
    service.delete("note", other["id"])
    assert ("deleted", other["id"]) in plugin_calls(service)
    assert service.count("note") == 1
