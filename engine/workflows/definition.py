"""Compiled workflows: states, transitions and approval flow definitions.

States and transitions are immutable objects compiled with the model. An approval flow is
kept as its plain definition (a JSON-able dict, every node's `next` written down): a
running flow is pinned to the definition it started with, stored in the database by its
hash, so changing the YAML never changes the rules of a flow already under way.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

END = "end"
OUTCOMES = ("approved", "rejected", "withdrawn", "returned")
_DURATION = re.compile(r"(\d+)([dhm])")


def parse_duration(value: str) -> timedelta:
    """'48h', '2d', '1d12h', '30m', '-1d' -> timedelta."""
    sign = -1 if value.startswith("-") else 1
    parts = {"d": 0, "h": 0, "m": 0}
    for number, unit in _DURATION.findall(value):
        parts[unit] += int(number)
    return sign * timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"])


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


@dataclass(frozen=True)
class StateRule:
    """Whether records in a state may be edited, and field rules (edit/read) in it."""

    editable: bool = True
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    roles: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))

    def field_rule(self, name: str, roles: tuple[str, ...]) -> str:
        """edit or read for this field in this state, for a user holding `roles`."""
        by_role = [self.roles[r][name] for r in roles if r in self.roles and name in self.roles[r]]
        if by_role:  # grants of several roles combine: one that lets the user edit wins
            return "edit" if "edit" in by_role else "read"
        return self.fields.get(name, "edit" if self.editable else "read")


@dataclass(frozen=True)
class Transition:
    name: str
    label: Mapping[str, str]
    sources: frozenset[str]  # states it starts from ('*': any)
    target: str
    roles: frozenset[str] = frozenset()
    who: Any = None  # Expression on the record and `user`: who may run it
    condition: Any = None  # Expression the record must meet
    message: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    requires: tuple[str, ...] = ()
    comment: str = "optional"
    actions: tuple[Mapping[str, Any], ...] = ()
    approval: str | None = None

    def label_text(self, language: str) -> str:
        return text(self.label, language, self.name.replace("_", " ").capitalize())

    def starts_from(self, state: str | None) -> bool:
        return "*" in self.sources or state in self.sources


class Flow:
    """An approval flow definition (plain data) with the helpers the engine needs."""

    def __init__(self, definition: Mapping[str, Any]):
        self.definition = json.loads(json.dumps(definition))  # a private, plain copy
        d = self.definition
        self.name: str = d["name"]
        self.workflow: str = d["workflow"]
        self.entity: str = d["entity"]
        self.field: str = d["field"]
        self.nodes: dict[str, dict[str, Any]] = d["nodes"]
        self.start: str = d.get("start") or next(iter(self.nodes))
        self.outcomes: dict[str, str] = d.get("outcomes") or {}
        self.editable_by: tuple[str, ...] = tuple((d.get("lock") or {}).get("editable_by") or ("approvers",))
        self.resubmit: str = d.get("resubmit") or "to_returner"
        self.start_when: str | None = d.get("start_when")
        self.hash = definition_hash(d)
        self._expressions: dict[tuple[str, str | None], Any] = {}

    def label_text(self, language: str) -> str:
        return text(_label(self.definition.get("label")), language, self.name.replace("_", " ").capitalize())

    def node_label(self, name: str, language: str) -> str:
        node = self.nodes.get(name) or {}
        return text(_label(node.get("label")), language, name.replace("_", " ").capitalize())

    def successors(self, name: str) -> list[str]:
        """Where a node may lead: its next, its cases and default, its branches."""
        node = self.nodes.get(name) or {}
        found = [c["next"] for c in node.get("cases") or []]
        found += [n for n in (node.get("default"), *(node.get("branches") or ()), node.get("next")) if n]
        return list(dict.fromkeys(found))

    def actions(self, event: str) -> list[Mapping[str, Any]]:
        return list(self.definition.get(f"on_{event}") or [])


def text(label: Mapping[str, str] | None, language: str, fallback: str) -> str:
    """engine.model's `text` (imported when called: the model package imports this one)."""
    from ..model.model import text as model_text

    return model_text(label, language, fallback)


def _label(value: Any) -> Mapping[str, str] | None:
    if isinstance(value, str):
        return {"en": value}
    return value


def definition_hash(definition: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Workflow:
    name: str
    entity: str
    field: str
    label: Mapping[str, str]
    states: Mapping[str, StateRule]
    transitions: Mapping[str, Transition]
    flows: Mapping[str, Flow]

    def state_rule(self, state: str | None) -> StateRule:
        return self.states.get(state or "", StateRule())

    def transitions_from(self, state: str | None) -> list[Transition]:
        return [t for t in self.transitions.values() if t.starts_from(state)]


def compile_workflows(workflows: Mapping[str, Any], expressions: Mapping[tuple, Any],
                      label_of: Any) -> Mapping[str, Workflow]:
    """The checked workflows (`spec.workflows`, plain data) as Workflow objects."""
    compiled = {}
    for name, spec in workflows.items():
        states = {s: StateRule(bool(rule.get("editable", True)), _frozen(rule.get("fields") or {}),
                               _frozen(rule.get("roles") or {}))
                  for s, rule in (spec.get("states") or {}).items()}
        transitions = {}
        for tname, t in (spec.get("transitions") or {}).items():
            sources = t["from"] if isinstance(t["from"], list) else [t["from"]]
            transitions[tname] = Transition(
                name=tname, label=label_of(t.get("label") or tname.replace("_", " ").capitalize()),
                sources=frozenset(sources), target=t["to"], roles=frozenset(t.get("roles") or ()),
                who=expressions.get(("workflow", name, "transition", tname, "when")),
                condition=expressions.get(("workflow", name, "transition", tname, "condition")),
                message=label_of(t.get("message")) if t.get("message") else MappingProxyType({}),
                requires=tuple(t.get("requires") or ()), comment=t.get("comment") or "optional",
                actions=_frozen(list(t.get("actions") or [])), approval=t.get("approval"))
        flows = {}
        for fname, f in (spec.get("approvals") or {}).items():
            definition = dict(f)
            definition.update(name=fname, workflow=name, entity=spec["entity"], field=spec["field"])
            flows[fname] = Flow(definition)
        compiled[name] = Workflow(name, spec["entity"], spec["field"], label_of(spec.get("label") or name),
                                  MappingProxyType(states), MappingProxyType(transitions), MappingProxyType(flows))
    return MappingProxyType(compiled)
