"""Comparing two compiled models element by element (the migration plan is in migration.py).

The rule: elements are matched by name; a `renamed_from` in the new model matches the new
element with the old one of that name when the old model has it and no longer has the new
name, so a rename is one change ("renamed") followed by what else changed, never a removal
and an addition. Hiding is not removing: `hidden: true` is reported as hidden, and removal
only when the new model no longer has the element at all (only possible without layers, or
in the base itself). Labels compare in every language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..model import CompiledModel, Entity, Field
from .changes import Change, plain

# Field spec keys reported on their own (the rest are compared as "field.property" changes).
_FIELD_OWN_KEYS = {"type", "label", "required", "hidden", "options", "option_set", "renamed_from", "unique",
                   "index", "to"}
_ENTITY_KEYS = ("plural", "title", "stage", "menu", "menu_order", "icon")


class Comparison:
    """Collects the changes between `old` and `new` (call `run()`)."""

    def __init__(self, old: CompiledModel, new: CompiledModel):
        self.old, self.new = old, new
        self.changes: list[Change] = []
        self.labels: dict[str, Any] = {}  # "category:target" -> its label (plain), for rendering

    def add(self, kind: str, target: str, entity: str | None = None, key: str | None = None, old: Any = None,
            new: Any = None) -> None:
        self.changes.append(Change(kind, target, entity, key, plain(old), plain(new)))

    def run(self) -> list[Change]:
        self.project()
        pairs = self.entity_pairs()
        for old_entity, new_entity in pairs:
            if old_entity is not None and new_entity is not None:
                self.entity(old_entity, new_entity)
        self.indexes(pairs)
        self.roles()
        self.workflows()
        return self.changes

    # -- project -------------------------------------------------------------------------
    def project(self) -> None:
        old, new = self.old, self.new
        for key, before, after in (("label", old.label, new.label), ("currency", old.currency, new.currency),
                                   ("languages", old.languages, new.languages),
                                   ("default_language", old.default_language, new.default_language),
                                   ("currencies", old.spec.get("currencies"), new.spec.get("currencies"))):
            if plain(before) != plain(after):
                self.add("project.changed", new.project, key=key, old=before, new=after)
        if _menu(old) != _menu(new):
            self.add("project.menu", new.project, key="menu", old=_menu(old), new=_menu(new))

    # -- entities ------------------------------------------------------------------------
    def entity_pairs(self) -> list[tuple[Entity | None, Entity | None]]:
        old, new = self.old.entities, self.new.entities
        pairs: list[tuple[Entity | None, Entity | None]] = []
        matched: set[str] = set()
        for name, entity in new.items():
            self.labels[f"entity:{name}"] = plain(entity.label)
            before = old.get(name)
            if before is None and entity.renamed_from and entity.renamed_from in old \
                    and entity.renamed_from not in new:
                before = old[entity.renamed_from]
                self.add("entity.renamed", name, name, old=before.name, new=name)
            if before is None:
                self.add("entity.added", name, name, new=entity.label)
            else:
                matched.add(before.name)
            pairs.append((before, entity))
        for name, entity in old.items():
            if name not in matched:
                self.labels.setdefault(f"entity:{name}", plain(entity.label))
                self.add("entity.removed", name, name, old=entity.label)
                pairs.append((entity, None))
        return pairs

    def entity(self, old: Entity, new: Entity) -> None:
        name = new.name
        if old.hidden != new.hidden:
            self.add("entity.hidden" if new.hidden else "entity.shown", name, name)
        if plain(old.label) != plain(new.label):
            self.add("entity.label", name, name, key="label", old=old.label, new=new.label)
        for key in _ENTITY_KEYS:
            before, after = _entity_value(old, key), _entity_value(new, key)
            if plain(before) != plain(after):
                self.add("entity.changed", name, name, key=key, old=before, new=after)
        if _form(old) != _form(new):
            self.add("entity.changed", name, name, key="form", old=_form(old), new=_form(new))
        before, after = _list(old), _list(new)
        for key in before:
            if before[key] != after[key]:
                self.add("entity.changed", name, name, key=f"list.{key}", old=before[key], new=after[key])
        self.fields(old, new)
        self.rules(old, new)

    # -- fields --------------------------------------------------------------------------
    def fields(self, old_entity: Entity, new_entity: Entity) -> None:
        entity = new_entity.name
        old, new = old_entity.fields, new_entity.fields
        matched: set[str] = set()
        for name, field in new.items():
            target = f"{entity}.{name}"
            self.labels[f"field:{target}"] = plain(field.label)
            before = old.get(name)
            if before is None and field.renamed_from and field.renamed_from in old and field.renamed_from not in new:
                before = old[field.renamed_from]
                self.add("field.renamed", target, entity, old=before.name, new=name)
            if before is None:
                self.add("field.added", target, entity, old=None,
                         new={"type": field.type.name, "label": field.label, "required": field.required})
                continue
            matched.add(before.name)
            self.field(target, entity, before, field)
        for name, field in old.items():
            if name not in matched:
                target = f"{entity}.{name}"
                self.labels.setdefault(f"field:{target}", plain(field.label))
                self.add("field.removed", target, entity, old={"type": field.type.name, "label": field.label})

    def field(self, target: str, entity: str, old: Field, new: Field) -> None:
        if old.hidden != new.hidden:
            self.add("field.hidden" if new.hidden else "field.shown", target, entity)
        if old.type.name != new.type.name:
            self.add("field.type", target, entity, key="type", old=old.type.name, new=new.type.name)
        if old.required != new.required:
            self.add("field.required", target, entity, key="required", old=old.required, new=new.required)
        if old.unique != new.unique:
            self.add("field.unique", target, entity, key="unique", old=old.unique, new=new.unique)
        if plain(old.label) != plain(new.label):
            self.add("field.label", target, entity, key="label", old=old.label, new=new.label)
        if (old.to, old.targets) != (new.to, new.targets):
            self.add("field.link", target, entity, key="to", old=old.to or list(old.targets),
                     new=new.to or list(new.targets))
        for key in sorted(set(old.spec) | set(new.spec)):
            if key in _FIELD_OWN_KEYS:
                continue
            before, after = plain(old.spec.get(key)), plain(new.spec.get(key))
            if before != after:
                self.add("field.property", target, entity, key=key, old=before, new=after)
        self.options(target, entity, old, new)

    def options(self, target: str, entity: str, old: Field, new: Field) -> None:
        before = {o.value: o for o in old.options}
        for option in new.options:
            subject = f"{target}={option.value}"
            self.labels[f"option:{subject}"] = plain(option.label)
            was = before.get(option.value)
            if was is None:
                self.add("option.added", subject, entity, key=option.value, new=option.label)
                continue
            if plain(was.label) != plain(option.label):
                self.add("option.relabelled", subject, entity, key=option.value, old=was.label, new=option.label)
            if was.hidden != option.hidden:
                self.add("option.hidden" if option.hidden else "option.shown", subject, entity, key=option.value)
            if was.color != option.color:
                self.add("option.color", subject, entity, key=option.value, old=was.color, new=option.color)
        after = {o.value for o in new.options}
        for value, option in before.items():
            if value not in after:
                subject = f"{target}={value}"
                self.labels.setdefault(f"option:{subject}", plain(option.label))
                self.add("option.removed", subject, entity, key=value, old=option.label)
        kept = [o.value for o in new.options if o.value in before]
        if kept != [o.value for o in old.options if o.value in after]:
            self.add("option.order", target, entity, key="options", old=[o.value for o in old.options],
                     new=[o.value for o in new.options])

    # -- rules ---------------------------------------------------------------------------
    def rules(self, old_entity: Entity, new_entity: Entity) -> None:
        entity = new_entity.name
        old = {r.name: _rule(r) for r in old_entity.rules}
        new = {r.name: _rule(r) for r in new_entity.rules}
        for name, rule in new.items():
            target = f"{entity}.{name}"
            if name not in old:
                self.add("rule.added", target, entity, new=rule)
            elif old[name] != rule:
                self.add("rule.changed", target, entity, old=old[name], new=rule)
        for name, rule in old.items():
            if name not in new:
                self.add("rule.removed", f"{entity}.{name}", entity, old=rule)

    # -- indexes -------------------------------------------------------------------------
    def indexes(self, pairs: Iterable[tuple[Entity | None, Entity | None]]) -> None:
        for old_entity, new_entity in pairs:
            if old_entity is None or new_entity is None:
                continue  # a new or removed table: its indexes come and go with it
            entity = new_entity.name
            old, new = _indexes(old_entity), _indexes(new_entity)
            for name in sorted(set(new) - set(old)):
                self.add("index.added", f"{entity}:{name}", entity, key=name, new=new[name])
            for name in sorted(set(old) - set(new)):
                self.add("index.removed", f"{entity}:{name}", entity, key=name, old=old[name])
            for name in sorted(set(old) & set(new)):
                if old[name] != new[name]:
                    self.add("index.changed", f"{entity}:{name}", entity, key=name, old=old[name], new=new[name])

    # -- roles and field permissions -------------------------------------------------------
    def roles(self) -> None:
        old, new = self.old.roles, self.new.roles
        for name in new:
            self.labels[f"role:{name}"] = plain(new[name].label)
            if name not in old:
                self.add("role.added", name, new=new[name].label)
        for name in old:
            if name not in new:
                self.labels.setdefault(f"role:{name}", plain(old[name].label))
                self.add("role.removed", name, old=old[name].label)
        for name in sorted(set(old) & set(new)):
            before, after = old[name], new[name]
            if plain(before.label) != plain(after.label):
                self.add("role.label", name, key="label", old=before.label, new=after.label)
            if before.require_two_factor != after.require_two_factor:
                self.add("role.two_factor", name, key="require_two_factor", old=before.require_two_factor,
                         new=after.require_two_factor)
        for name, role in new.items():
            was = old.get(name)
            for entity, rule in role.rules.items():
                self.entity_rule(name, entity, was.rules.get(entity) if was is not None else None, rule)
            for entity, rule in (was.rules.items() if was is not None else ()):
                if entity not in role.rules:
                    self.entity_rule(name, entity, rule, None)

    def entity_rule(self, role: str, entity: str, old: Any, new: Any) -> None:
        target = f"{role}:{entity}"
        if old is None:
            self.add("role.granted", target, entity, key=role, new=_grant(new))
        elif new is None:
            self.add("role.revoked", target, entity, key=role, old=_grant(old))
        else:
            for key in ("actions", "deny"):
                before, after = getattr(old, key), getattr(new, key)
                if before != after:
                    self.add("role.actions" if key == "actions" else "role.deny", target, entity, key=role,
                             old=sorted(before), new=sorted(after))
            if _scope(old) != _scope(new):
                self.add("role.scope", target, entity, key=role, old=_scope(old), new=_scope(new))
        before = dict(old.fields) if old is not None else {}
        after = dict(new.fields) if new is not None else {}
        for field in sorted(set(before) | set(after)):
            if before.get(field) != after.get(field):
                # no rule for a field: the entity's rule decides ("edit" where it may update)
                self.add("field_permission.changed", f"{role}:{entity}.{field}", entity, key=role,
                         old=before.get(field), new=after.get(field))

    # -- workflows and approval flows --------------------------------------------------------
    def workflows(self) -> None:
        old, new = self.old.workflows, self.new.workflows
        for name, workflow in new.items():
            self.labels[f"workflow:{name}"] = plain(workflow.label)
            if name not in old:
                self.add("workflow.added", name, workflow.entity, new=workflow.label)
                for flow in workflow.flows.values():
                    self.add("approval.added", f"{name}.{flow.name}", workflow.entity, new=flow.definition.get("label"))
                continue
            self.workflow(old[name], workflow)
        for name, workflow in old.items():
            if name not in new:
                self.labels.setdefault(f"workflow:{name}", plain(workflow.label))
                self.add("workflow.removed", name, workflow.entity, old=workflow.label)
                for flow in workflow.flows.values():
                    self.add("approval.removed", f"{name}.{flow.name}", workflow.entity,
                             old=flow.definition.get("label"))

    def workflow(self, old: Any, new: Any) -> None:
        name, entity = new.name, new.entity
        for key in ("entity", "field", "label"):
            if plain(getattr(old, key)) != plain(getattr(new, key)):
                self.add("workflow.changed", name, entity, key=key, old=getattr(old, key), new=getattr(new, key))
        self.named(f"{name}", entity, "workflow.state", {k: _state(v) for k, v in old.states.items()},
                   {k: _state(v) for k, v in new.states.items()})
        self.named(f"{name}", entity, "workflow.transition", {k: _transition(v) for k, v in old.transitions.items()},
                   {k: _transition(v) for k, v in new.transitions.items()})
        for flow_name, flow in new.flows.items():
            target = f"{name}.{flow_name}"
            was = old.flows.get(flow_name)
            if was is None:
                self.add("approval.added", target, entity, new=flow.definition.get("label"))
                continue
            before, after = dict(was.definition), dict(flow.definition)
            self.named(target, entity, "approval.node", before.pop("nodes", {}), after.pop("nodes", {}))
            for key in sorted(set(before) | set(after)):
                if plain(before.get(key)) != plain(after.get(key)):
                    self.add("approval.changed", target, entity, key=key, old=before.get(key), new=after.get(key))
        for flow_name, flow in old.flows.items():
            if flow_name not in new.flows:
                self.add("approval.removed", f"{name}.{flow_name}", entity, old=flow.definition.get("label"))

    def named(self, owner: str, entity: str, kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        """Added, removed and changed members (states, transitions, nodes) of `owner`; a
        changed member is reported once per key that changed."""
        for name, value in new.items():
            target = f"{owner}.{name}"
            if name not in old:
                self.add(f"{kind}_added", target, entity, key=name, new=value)
                continue
            before, after = plain(old[name]), plain(value)
            if before == after:
                continue
            keys = sorted(set(before) | set(after)) if isinstance(before, dict) and isinstance(after, dict) else [None]
            for key in keys:
                was = before.get(key) if key is not None else before
                now = after.get(key) if key is not None else after
                if was != now:
                    self.add(f"{kind}_changed", target, entity, key=key, old=was, new=now)
        for name, value in old.items():
            if name not in new:
                self.add(f"{kind}_removed", f"{owner}.{name}", entity, key=name, old=value)


def compare(old: CompiledModel, new: CompiledModel) -> tuple[list[Change], dict[str, Any]]:
    """The changes from `old` to `new`, and the labels of their targets (for rendering)."""
    comparison = Comparison(old, new)
    return comparison.run(), comparison.labels


# -- small views of model elements, as comparable plain data ---------------------------------------
def _menu(model: CompiledModel) -> list[dict[str, Any]]:
    return [{"group": plain(label), "entities": list(names)} for label, names in model.menu]


def _entity_value(entity: Entity, key: str) -> Any:
    if key == "title":
        title = entity.title
        if not title.declared:
            return None
        return title.expression.source if title.expression is not None else list(title.parts)
    return getattr(entity, key, None)


def _form(entity: Entity) -> list[dict[str, Any]]:
    return [{"tab": plain(tab.label), "sections": [{"section": plain(s.label), "fields": list(s.fields)}
                                                   for s in tab.sections]} for tab in entity.tabs]


def _list(entity: Entity) -> dict[str, Any]:
    view = entity.list
    return {"columns": list(view.columns), "filters": list(view.filters), "sort": list(view.sort),
            "search": list(view.search), "page_size": view.page_size}


def _rule(rule: Any) -> dict[str, Any]:
    return plain({"check": rule.check, "when": rule.when, "field": rule.field, "message": rule.message})


def _indexes(entity: Entity) -> dict[str, dict[str, Any]]:
    """Indexes and unique constraints of the entity's table (and its child tables), by name."""
    found: dict[str, dict[str, Any]] = {}
    tables = [entity.table, *entity.child_tables.values()]
    for table in tables:
        for index in table.indexes:
            if index.name:
                found[index.name] = {"table": table.name, "columns": [c.name for c in index.columns],
                                     "unique": bool(index.unique)}
        for constraint in table.constraints:
            if type(constraint).__name__ == "UniqueConstraint" and constraint.name:
                found[str(constraint.name)] = {"table": table.name, "columns": [c.name for c in constraint.columns],
                                               "unique": True}
    return found


def _grant(rule: Any) -> dict[str, Any]:
    return {"actions": sorted(rule.actions), "deny": sorted(rule.deny), "scope": _scope(rule)}


def _scope(rule: Any) -> str:
    return rule.condition.source if rule.scope == "where" and rule.condition is not None else rule.scope


def _state(state: Any) -> dict[str, Any]:
    return plain({"editable": state.editable, "fields": state.fields, "roles": state.roles})


def _transition(transition: Any) -> dict[str, Any]:
    return plain({"label": transition.label, "from": transition.sources, "to": transition.target,
                  "roles": transition.roles, "when": transition.who, "condition": transition.condition,
                  "requires": transition.requires, "comment": transition.comment,
                  "actions": transition.actions, "approval": transition.approval})
