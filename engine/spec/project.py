"""Reading a project folder and merging its layers.

A project is a folder with `tailor.yaml`, `entities/*.yaml`, `roles.yaml`,
`workflows/*.yaml` and `reports/*.yaml`. `extends: ../base` makes it a *layer* over a base project: it states
only what differs. The merge is deterministic (base first, then each layer in order; within
a layer, files in name order) and every entity and field remembers which layer defined it
and which layers changed which of its keys, so `tailor explain` can answer "where does
this come from?" — the question forked CRMs can never answer.

Merge rules (documented in docs/layers.md):
* a new entity or field is added;
* for an existing entity or field, each key a layer states replaces the base's value;
* `options` merge by value (relabel, recolour, add, or `hidden: true` to hide one), and so do
  the sets of `option_sets` in tailor.yaml (by set name, then by value); a field takes its
  options from `options` or `option_set`, whichever a layer stated last;
* `fields` of a lines field and `payload` of a links field merge like entity fields;
* `list` merges key by key; `form` is replaced whole; `rules` merge by name; `indexes` add up;
* `hidden: true` hides an entity or a field without deleting its data;
* reports merge by report name, their `measures` by measure name (docs/reports.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Position, Problems
from .option_sets import resolve_option_sets
from .schema import validate_document
from .yamlload import PosDict, PosList, load_yaml_file


@dataclass
class Layer:
    """One project folder in an `extends` chain."""

    name: str
    path: Path
    settings: PosDict
    documents: list[tuple[str, PosDict]] = field(default_factory=list)  # (kind, document)
    roles: PosDict | None = None  # roles.yaml, validated when read
    workflows: list[PosDict] = field(default_factory=list)  # workflows/*.yaml, validated when read
    reports: list[PosDict] = field(default_factory=list)  # reports/*.yaml, validated when read
    dashboards: list[PosDict] = field(default_factory=list)  # dashboards/*.yaml, validated when read
    designer: Any = None  # engine.spec.designer.DesignerLayer for the layer folded from change sets


@dataclass
class Change:
    layer: str
    position: Position
    keys: tuple[str, ...]


@dataclass
class Provenance:
    """Which layer defined an element and which layers changed it (and what)."""

    defined_in: str
    position: Position
    changes: list[Change] = field(default_factory=list)


@dataclass
class ProjectSpec:
    """The validated, merged spec: plain data with positions, ready for the compiler."""

    name: str
    path: Path
    settings: PosDict
    layers: list[Layer]
    entities: dict[str, PosDict]
    provenance: dict[tuple[str, str | None], Provenance]
    entity_files: dict[str, Position]
    roles: dict[str, PosDict] = field(default_factory=dict)  # merged roles.yaml, by role name
    workflows: dict[str, PosDict] = field(default_factory=dict)  # merged workflows/*.yaml, by name
    # (entity, field, option value) and (entity, rule name; unnamed: rule_N) -> where from
    option_provenance: dict[tuple[str, str, str], Provenance] = field(default_factory=dict)
    rule_provenance: dict[tuple[str, str], Provenance] = field(default_factory=dict)
    reports: dict[str, PosDict] = field(default_factory=dict)  # merged reports/*.yaml, by name
    report_provenance: dict[str, Provenance] = field(default_factory=dict)
    dashboards: dict[str, PosDict] = field(default_factory=dict)  # merged dashboards/*.yaml, by name


def display_path(path: Path) -> str:
    """Paths in messages: relative to the working directory when that is shorter."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("../../..") else str(path)


def validate_layers(layers: list[Layer], problems: Problems, extra_field_options=()) -> None:
    """JSON Schema validation of every document (after plugins are known: a plugin field
    type may accept options of its own)."""
    for layer in layers:
        for kind, document in layer.documents:
            validate_document(kind, document, problems, extra_field_options)


def plugin_requests(layers: list[Layer]) -> list[tuple[str, Path, Position]]:
    """The `plugins:` of every layer, base first, with where each was asked for."""
    requests = []
    for layer in layers:
        names = layer.settings.get("plugins")
        if isinstance(names, PosList):
            for i, name in enumerate(names):
                if isinstance(name, str):
                    requests.append((name, layer.path, names.position_of(i)))
    return requests


def read_layers(path: Path, problems: Problems, _stack=None) -> list[Layer]:
    """The chain of layers, base first. Problems are collected, never raised."""
    path = Path(path).resolve()
    stack = list(_stack or [])
    manifest = path / "tailor.yaml"
    if not manifest.is_file():
        code = "E602" if stack else "E103"
        where = stack[-1][1] if stack else Position(display_path(path))
        problems.add(code, f"{display_path(path)} is not a Tailor project (no tailor.yaml)", where,
                     "a project folder holds tailor.yaml and entities/*.yaml")
        return []
    settings = load_yaml_file(manifest, problems, display_path(manifest))
    if settings is None:
        return []
    if not isinstance(settings, PosDict):
        problems.add("E105", "tailor.yaml must be a mapping (name: ..., languages: ...)",
                     Position(display_path(manifest), 1, 1))
        return []
    validate_document("project", settings, problems)
    layers: list[Layer] = []
    base = settings.get("extends")
    if isinstance(base, str):
        base_path = (path / base).resolve()
        where = settings.position_of("extends")
        if base_path in [p for p, _ in stack] or base_path == path:
            chain = " -> ".join(display_path(p) for p, _ in [*stack, (path, where)]) + f" -> {display_path(base_path)}"
            problems.add("E601", f"extends forms a cycle: {chain}", where,
                         "a base project must not extend, directly or not, the project built on it")
        else:
            layers = read_layers(base_path, problems, [*stack, (path, where)])
    name = settings.get("name") if isinstance(settings.get("name"), str) else path.name
    layer = Layer(name=name, path=path, settings=settings)
    entity_dir = path / "entities"
    for file in sorted(entity_dir.glob("*.yaml")) + sorted(entity_dir.glob("*.yml")):
        before = len(problems)
        document = load_yaml_file(file, problems, display_path(file))
        if document is None:
            if len(problems) == before:  # not already explained by a syntax or read error
                problems.add("E105", "entity file is empty", Position(display_path(file), 1, 1),
                             "start it with 'entity: NAME' and 'fields:'")
            continue
        if not isinstance(document, PosDict):
            problems.add("E105", "an entity file must be a mapping with 'entity:' and 'fields:'",
                         getattr(document, "pos", Position(display_path(file), 1, 1)))
            continue
        layer.documents.append(("entity", document))
    roles_file = path / "roles.yaml"
    if roles_file.is_file():
        before = len(problems)
        document = load_yaml_file(roles_file, problems, display_path(roles_file))
        if isinstance(document, PosDict):
            validate_document("roles", document, problems)
            layer.roles = document
        elif len(problems) == before:
            problems.add("E105", "roles.yaml must be a mapping with 'roles:'", Position(display_path(roles_file), 1, 1),
                         "start it with 'roles:' and one entry per role")
    layer.workflows = _documents(path / "workflows", "workflow", problems,
                                 "a workflow file must be a mapping with 'workflow:', 'entity:' and 'field:'",
                                 "see docs/workflows.md")
    layer.reports = _documents(path / "reports", "report", problems,
                               "a report file must be a mapping with 'report:', 'entity:' and 'measures:'",
                               "see docs/reports.md")
    layer.dashboards = _documents(path / "dashboards", "dashboard", problems,
                                  "a dashboard file must be a mapping with 'dashboard:' and 'widgets:'",
                                  "see docs/reports.md")
    layers.append(layer)
    return layers


def _documents(folder: Path, kind: str, problems: Problems, not_a_mapping: str, hint: str) -> list[PosDict]:
    """The `kind` documents of a folder (workflows/, reports/), in name order, each checked
    against its schema; a file that is no mapping is E105 (unless already explained)."""
    found = []
    for file in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
        before = len(problems)
        document = load_yaml_file(file, problems, display_path(file))
        if isinstance(document, PosDict):
            validate_document(kind, document, problems)
            found.append(document)
        elif len(problems) == before:
            problems.add("E105", not_a_mapping, Position(display_path(file), 1, 1), hint)
    return found


def merge_layers(layers: list[Layer], problems: Problems) -> ProjectSpec | None:
    if not layers:
        return None
    top = [layer for layer in layers if layer.designer is None][-1] if layers[0].designer is None else layers[-1]
    settings = PosDict(pos=top.settings.pos)
    entities: dict[str, PosDict] = {}
    provenance: dict[tuple[str, str | None], Provenance] = {}
    origins = Origins()
    entity_files: dict[str, Position] = {}
    shape_problems = any(p.code[:2] in ("E1", "E2") for p in problems.items)
    for layer in layers:
        _merge_into(settings, layer.settings, skip=("extends", "option_sets"))
        merge_option_sets(settings, layer.settings)
        seen_here: dict[str, Position] = {}
        if layer.designer is not None:
            from .designer import check_conflicts

            check_conflicts(entities, layer, problems)
        for kind, document in layer.documents:
            if kind != "entity":
                continue
            name = document.get("entity")
            if not isinstance(name, str):
                continue
            where = document.position_of("entity")
            if not _first_in_layer(seen_here, "entity", name, where, layer, problems):
                continue
            if name not in entities:
                entities[name] = _fresh_entity(document)
                entity_files[name] = where
                provenance[(name, None)] = Provenance(layer.name, where)
                fields = document.get("fields")
                for fname in fields if isinstance(fields, PosDict) else ():
                    provenance[(name, fname)] = Provenance(layer.name, fields.position_of(fname, of_key=True))
                    origins.new_options(layer.name, name, fname, fields[fname])
                origins.new_rules(layer.name, name, document.get("rules"))
            else:
                try:
                    _merge_entity(entities[name], document, layer.name, provenance, name, origins)
                except (TypeError, AttributeError, ValueError, KeyError):
                    if not shape_problems:  # values of the wrong type: already reported
                        raise
    try:
        resolve_option_sets(entities, settings, problems)
    except (TypeError, AttributeError, ValueError, KeyError):
        if not shape_problems:  # values of the wrong type: already reported
            raise
    reports, report_provenance = merge_reports(layers, problems)
    return ProjectSpec(
        name=top.name,
        path=top.path,
        settings=settings,
        layers=layers,
        entities=entities,
        provenance=provenance,
        entity_files=entity_files,
        roles=merge_roles(layers),
        workflows=merge_workflows(layers, problems),
        reports=reports,
        report_provenance=report_provenance,
        dashboards=merge_dashboards(layers, problems),
        option_provenance=origins.options,
        rule_provenance=origins.rules,
    )


class Origins:
    """Where each option and each rule comes from, layer by layer (for `tailor explain`):
    options merge by value and rules by name, so each has a story of its own."""

    def __init__(self) -> None:
        self.options: dict[tuple[str, str, str], Provenance] = {}
        self.rules: dict[tuple[str, str], Provenance] = {}

    def new_options(self, layer: str, entity: str, fname: str, fspec: Any) -> None:
        options = fspec.get("options") if isinstance(fspec, PosDict) else None
        for i, option in enumerate(options if isinstance(options, PosList) else ()):
            self.options[(entity, fname, str(option_value(option)))] = Provenance(layer, options.position_of(i))

    def option(self, layer: str, entity: str | None, fname: str | None, option: Any, where: Position,
               added: bool) -> None:
        if entity is None or fname is None:
            return
        key = (entity, fname, str(option_value(option)))
        if added or key not in self.options:
            self.options[key] = Provenance(layer, where)
        else:
            keys = tuple(k for k in option if k != "value") if isinstance(option, PosDict) else ()
            self.options[key].changes.append(Change(layer, where, keys or ("value",)))

    def new_rules(self, layer: str, entity: str, rules: Any, start: int = 0) -> None:
        for i, rule in enumerate(rules if isinstance(rules, PosList) else ()):
            self.rule(layer, entity, rule, rules.position_of(i), start + i, replaced=False)

    def rule(self, layer: str, entity: str, rule: Any, where: Position, index: int, replaced: bool) -> None:
        name = rule.get("name") if isinstance(rule, dict) and isinstance(rule.get("name"), str) else None
        key = (entity, name or f"rule_{index + 1}")
        if replaced and key in self.rules:
            keys = tuple(rule) if isinstance(rule, dict) else ()
            self.rules[key].changes.append(Change(layer, where, keys))
        else:
            self.rules[key] = Provenance(layer, where)


def _first_in_layer(seen: dict[str, Position], what: str, name: str, where: Position, layer: Layer,
                    problems: Problems) -> bool:
    """A layer defines an entity or a workflow once (two files of one layer may not)."""
    if name in seen:
        problems.add("E305", f"{what} '{name}' is defined twice in project '{layer.name}'", where,
                     f"first defined at {seen[name]}; merge the two files")
        return False
    seen[name] = where
    return True


def merge_roles(layers: list[Layer]) -> dict[str, PosDict]:
    """Roles merge by name: a layer adds roles, or for an existing role replaces its label
    and, entity by entity, the rules it states (an entity rule is replaced whole)."""
    roles: dict[str, PosDict] = {}
    for layer in layers:
        if layer.designer is not None:
            from .designer import merge_designer_roles

            merge_designer_roles(roles, layer)
            continue
        document = layer.roles
        found = document.get("roles") if document is not None else None
        if not isinstance(found, PosDict):
            continue
        for name, role in found.items():
            if not isinstance(role, PosDict):
                continue
            if name not in roles:
                roles[name] = role
                continue
            target = roles[name]
            for key in ("label", "description"):
                if key in role:
                    _set(target, role, key, role[key])
            rules = role.get("entities")
            if isinstance(rules, PosDict):
                if not isinstance(target.get("entities"), PosDict):
                    _set(target, role, "entities", PosDict(pos=rules.pos))
                for entity, rule in rules.items():
                    _set(target["entities"], rules, entity, rule)
    return roles


def merge_workflows(layers: list[Layer], problems: Problems) -> dict[str, PosDict]:
    """Workflows merge by name: a layer restating one replaces the keys it states, except
    that `states`, `transitions` and `approvals` merge entry by entry (each entry key by
    key), and so do an approval flow's `nodes`: a layer changes a threshold or adds a node
    (and points the node before it to the new one) without copying the flow."""
    workflows: dict[str, PosDict] = {}
    for layer in layers:
        seen_here: dict[str, Position] = {}
        for document in layer.workflows:
            name = document.get("workflow")
            if not isinstance(name, str):
                continue
            where = document.position_of("workflow")
            if not _first_in_layer(seen_here, "workflow", name, where, layer, problems):
                continue
            _explicit_next(document, workflows.get(name))
            if name not in workflows:
                workflows[name] = document
                continue
            target = workflows[name]
            for key, value in document.items():
                if key in ("states", "transitions", "approvals") and isinstance(value, PosDict) \
                        and isinstance(target.get(key), PosDict):
                    _merge_entries(target[key], value, nested="nodes" if key == "approvals" else None)
                else:
                    _set(target, document, key, _copy(value))
    return workflows


def merge_reports(layers: list[Layer], problems: Problems) -> tuple[dict[str, PosDict], dict[str, Provenance]]:
    """Reports merge by name: a layer restating one replaces the keys it states, except
    that `measures` merge by measure name (a measure of the same name gets the keys stated,
    a new one is added after the others). Returns the reports and where each comes from."""
    reports: dict[str, PosDict] = {}
    provenance: dict[str, Provenance] = {}
    for layer in layers:
        seen_here: dict[str, Position] = {}
        for document in layer.reports:
            name = document.get("report")
            if not isinstance(name, str):
                continue
            where = document.position_of("report")
            if not _first_in_layer(seen_here, "report", name, where, layer, problems):
                continue
            if name not in reports:
                reports[name] = document
                provenance[name] = Provenance(layer.name, where)
                continue
            target = reports[name]
            for key, value in document.items():
                if key == "measures" and isinstance(value, PosList) and isinstance(target.get(key), PosList):
                    _merge_measures(target[key], value)
                elif key != "report":
                    _set(target, document, key, _copy(value))
            provenance[name].changes.append(Change(layer.name, where, tuple(k for k in document if k != "report")))
    return reports, provenance


def merge_dashboards(layers: list[Layer], problems: Problems) -> dict[str, PosDict]:
    """Dashboards merge by name like reports: a layer restating one replaces the keys it
    states, except that `widgets` merge by widget name (its `name`, else its report): a
    widget of the same name gets the keys stated (`remove: true` drops it), a new one is
    added after the others."""
    dashboards: dict[str, PosDict] = {}
    for layer in layers:
        seen_here: dict[str, Position] = {}
        for document in layer.dashboards:
            name = document.get("dashboard")
            if not isinstance(name, str):
                continue
            where = document.position_of("dashboard")
            if not _first_in_layer(seen_here, "dashboard", name, where, layer, problems):
                continue
            if name not in dashboards:
                dashboards[name] = _copy(document)
                _drop_removed(dashboards[name].get("widgets"))
                continue
            target = dashboards[name]
            for key, value in document.items():
                if key == "widgets" and isinstance(value, PosList) and isinstance(target.get(key), PosList):
                    _merge_widgets(target[key], value)
                elif key != "dashboard":
                    _set(target, document, key, _copy(value))
    return dashboards


def widget_name(widget: Any) -> str | None:
    """A dashboard widget's name: its `name`, else the report it shows."""
    if not isinstance(widget, PosDict):
        return None
    name = widget.get("name", widget.get("report"))
    return name if isinstance(name, str) else None


def _drop_removed(widgets: Any) -> None:
    if not isinstance(widgets, PosList):
        return
    kept = [(w, widgets.position_of(i)) for i, w in enumerate(widgets)
            if not (isinstance(w, PosDict) and w.get("remove") is True)]
    widgets[:] = [w for w, _ in kept]
    widgets.item_pos[:] = [p for _, p in kept]


def _merge_widgets(widgets: PosList, override: PosList) -> None:
    index = {widget_name(w): i for i, w in enumerate(widgets) if widget_name(w)}
    for i, item in enumerate(override):
        name = widget_name(item)
        if name in index:
            current = widgets[index[name]]
            for key, value in item.items():
                _set(current, item, key, _copy(value))
        else:
            widgets.append(_copy(item))
            widgets.item_pos.append(override.position_of(i))
            if name:
                index[name] = len(widgets) - 1
    _drop_removed(widgets)


def _merge_measures(measures: PosList, override: PosList) -> None:
    """Measures by name, key by key: a measure changing its kind (sum to avg) drops the old one."""
    kinds = ("count", "sum", "avg", "min", "max", "count_distinct", "ratio")
    index = {m.get("name"): i for i, m in enumerate(measures) if isinstance(m, PosDict) and m.get("name")}
    for i, item in enumerate(override):
        name = item.get("name") if isinstance(item, PosDict) else None
        if name in index and isinstance(measures[index[name]], PosDict):
            current = measures[index[name]]
            if any(k in item for k in kinds):
                for kind in kinds:
                    current.pop(kind, None)
            for key, value in item.items():
                _set(current, item, key, _copy(value))
        else:
            measures.append(_copy(item))
            measures.item_pos.append(override.position_of(i))


def _explicit_next(document: PosDict, base: PosDict | None) -> None:
    """A node without `next` goes to the node listed after it in its own file (the last
    to `end`). Written down before merging, so a node a later layer appends does not
    become the `next` of a base node that ended the flow."""
    flows = document.get("approvals")
    base_flows = base.get("approvals") if isinstance(base, PosDict) else None
    for flow_name, flow in flows.items() if isinstance(flows, PosDict) else ():
        nodes = flow.get("nodes") if isinstance(flow, PosDict) else None
        if not isinstance(nodes, PosDict):
            continue
        base_flow = base_flows.get(flow_name) if isinstance(base_flows, PosDict) else None
        base_nodes = base_flow.get("nodes") if isinstance(base_flow, PosDict) else None
        names = list(nodes)
        for i, node_name in enumerate(names):
            node = nodes[node_name]
            if not isinstance(node, PosDict) or "next" in node or node.get("type") == "condition":
                continue
            if isinstance(base_nodes, PosDict) and node_name in base_nodes:
                continue  # a change to a base node: its `next` stays the base's unless stated
            node["next"] = names[i + 1] if i + 1 < len(names) else "end"
            node.key_pos["next"] = node.value_pos["next"] = nodes.position_of(node_name, of_key=True)


def _merge_entries(target: PosDict, source: PosDict, nested: str | None = None) -> None:
    """Entries by name: a new one is added, an existing one gets the keys stated (and its
    `nested` mapping merges entry by entry in turn)."""
    for name, entry in source.items():
        current = target.get(name)
        if not isinstance(current, PosDict) or not isinstance(entry, PosDict):
            _set(target, source, name, _copy(entry))
            continue
        for key, value in entry.items():
            if key == nested and isinstance(value, PosDict) and isinstance(current.get(key), PosDict):
                _merge_entries(current[key], value)
            else:
                _set(current, entry, key, _copy(value))


def _fresh_entity(document: PosDict) -> PosDict:
    """The first definition is used as it is: later layers merge into it (documents are
    read afresh on every load, so nothing else holds them)."""
    return document


def _merge_into(target: PosDict, source: PosDict, skip: tuple[str, ...] = ()) -> None:
    for key, value in source.items():
        if key in skip:
            continue
        target[key] = _copy(value)
        target.key_pos[key] = source.key_pos.get(key, source.pos)
        target.value_pos[key] = source.value_pos.get(key, source.pos)
        target.value_style[key] = source.value_style.get(key)
        if key in source.value_span:
            target.value_span[key] = source.value_span[key]


def _copy(value: Any) -> Any:
    if isinstance(value, PosDict):
        result = PosDict(pos=value.pos)
        _merge_into(result, value)
        return result
    if isinstance(value, PosList):
        result = PosList([_copy(v) for v in value], pos=value.pos)
        result.item_pos = list(value.item_pos)
        return result
    return value


def _set(target: PosDict, source: PosDict, key: str, value: Any) -> None:
    target[key] = value
    target.key_pos[key] = source.key_pos.get(key, source.pos)
    target.value_pos[key] = source.value_pos.get(key, source.pos)
    target.value_style[key] = source.value_style.get(key)
    if key in source.value_span:
        target.value_span[key] = source.value_span[key]


def _merge_entity(entity: PosDict, override: PosDict, layer: str,
                  provenance: dict[tuple[str, str | None], Provenance], name: str,
                  origins: Origins | None = None) -> None:
    origins = origins or Origins()
    changed: list[str] = []
    for key, value in override.items():
        if key == "entity":
            continue
        changed.append(key)
        if key == "fields" and isinstance(value, PosDict) and isinstance(entity.get("fields"), PosDict):
            _merge_fields(entity["fields"], value, layer, provenance, name, origins)
        elif key == "list" and isinstance(value, PosDict) and isinstance(entity.get("list"), PosDict):
            for lkey in value:
                _set(entity["list"], value, lkey, _copy(value[lkey]))
        elif key == "rules" and isinstance(value, PosList) and isinstance(entity.get("rules"), PosList):
            _merge_named_list(entity["rules"], value, lambda rule, where, index, replaced:
                              origins.rule(layer, name, rule, where, index, replaced))
        elif key == "rules":
            _set(entity, override, key, _copy(value))
            origins.new_rules(layer, name, value)
        elif key == "indexes" and isinstance(value, PosList) and isinstance(entity.get("indexes"), PosList):
            for i, item in enumerate(value):
                entity["indexes"].append(_copy(item))
                entity["indexes"].item_pos.append(value.position_of(i))
        else:
            _set(entity, override, key, _copy(value))
    provenance[(name, None)].changes.append(Change(layer, override.position_of("entity"), tuple(changed)))


def _merge_fields(fields: PosDict, override: PosDict, layer: str,
                  provenance: dict[tuple[str, str | None], Provenance] | None, entity: str,
                  origins: Origins | None = None) -> None:
    origins = origins or Origins()
    for fname, fspec in override.items():
        fpos = override.position_of(fname, of_key=True)
        if fname not in fields or not isinstance(fields[fname], PosDict) or not isinstance(fspec, PosDict):
            _set(fields, override, fname, _copy(fspec))
            if provenance is not None:
                provenance[(entity, fname)] = Provenance(layer, fpos)
                origins.new_options(layer, entity, fname, fspec)
            continue
        base = fields[fname]
        top = provenance is not None  # options of sub-fields (lines, payload) are not traced
        for key, other in (("options", "option_set"), ("option_set", "options")):
            if key in fspec and other not in fspec:  # one source of options: the one stated last
                base.pop(other, None)
        for key, value in fspec.items():
            if key == "options" and isinstance(value, PosList) and isinstance(base.get("options"), PosList):
                _merge_options(base["options"], value, lambda option, where, added, fname=fname, top=top:
                               origins.option(layer, entity if top else None, fname, option, where, added))
            elif key in ("fields", "payload") and isinstance(value, PosDict) and isinstance(base.get(key), PosDict):
                _merge_fields(base[key], value, layer, None, entity)
            else:
                _set(base, fspec, key, _copy(value))
                if key == "options" and top:
                    origins.new_options(layer, entity, fname, fspec)
        fields.key_pos.setdefault(fname, fpos)
        if provenance is not None and (entity, fname) in provenance:
            provenance[(entity, fname)].changes.append(Change(layer, fpos, tuple(fspec.keys())))


def merge_option_sets(target: PosDict, source: PosDict) -> None:
    """A layer's `option_sets` into the merged settings: a new set is added, the options of
    an existing set merge by value like a field's options (see engine/spec/option_sets.py)."""
    sets = source.get("option_sets")
    if "option_sets" not in source:
        return
    if not isinstance(sets, PosDict) or not isinstance(target.get("option_sets"), PosDict):
        _set(target, source, "option_sets", _copy(sets))
        return
    merged = target["option_sets"]
    for name, options in sets.items():
        if isinstance(options, PosList) and isinstance(merged.get(name), PosList):
            _merge_options(merged[name], options)
        else:
            _set(merged, sets, name, _copy(options))


def option_value(option: Any) -> Any:
    return option.get("value") if isinstance(option, dict) else option


def _merge_options(options: PosList, override: PosList, noted=None) -> None:
    """Options merge by value: a layer relabels, recolours or hides one, or adds one.
    `noted(option, position, added)` hears of each (see Origins)."""
    index = {option_value(o): i for i, o in enumerate(options)}
    for i, option in enumerate(override):
        value = option_value(option)
        if noted is not None:
            noted(option, override.position_of(i), value not in index)
        if value in index:
            current = options[index[value]]
            if isinstance(option, PosDict):
                merged = _copy(current) if isinstance(current, PosDict) else PosDict({"value": current}, pos=option.pos)
                for key in option:
                    _set(merged, option, key, _copy(option[key]))
                options[index[value]] = merged
            options.item_pos[index[value]] = override.position_of(i)
        else:
            options.append(_copy(option))
            options.item_pos.append(override.position_of(i))
            index[value] = len(options) - 1


def _merge_named_list(items: PosList, override: PosList, noted=None) -> None:
    """Items merge by name: a layer replaces an item of the same name whole, or adds one.
    `noted(item, position, index, replaced)` hears of each (see Origins)."""
    index = {item.get("name"): i for i, item in enumerate(items) if isinstance(item, dict) and item.get("name")}
    for i, item in enumerate(override):
        name = item.get("name") if isinstance(item, dict) else None
        if name and name in index:
            items[index[name]] = _copy(item)
            items.item_pos[index[name]] = override.position_of(i)
            if noted is not None:
                noted(item, override.position_of(i), index[name], True)
        else:
            items.append(_copy(item))
            items.item_pos.append(override.position_of(i))
            if noted is not None:
                noted(item, override.position_of(i), len(items) - 1, False)
