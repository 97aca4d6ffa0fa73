"""The designer layer: change sets made in the browser, folded into one more project layer.

An admin's change in the designer (/design) is stored in the database as a *change set*:
a list of ops over the project's YAML structure, each stating exactly what a YAML file
would state at that place:

    {"path": "entities.customer.fields.wechat_id", "value": {"type": "text", "label": {...}}}
    {"path": "entities.customer.fields.phone.label", "value": {"en": "Phone", "zh": "电话"}}
    {"path": "entities.customer.form", "value": [...]}
    {"path": "entities.visit", "value": {...a whole entity document...}}
    {"path": "roles.sales_rep.entities.customer.fields.wechat_id", "value": "read"}
    {"path": "project.menu", "value": [...]}           # a key of tailor.yaml
    {"path": "entities.customer.fields.wechat_id", "delete": true}  # undo a designer-created key

`fold(change_sets)` applies the ops of every active change set, oldest first, to one
overlay and returns it as a `Layer` named "designer". It is merged *last*, over the
project's YAML layers, by the same merge rules as any YAML layer (docs/layers.md), and its
documents are validated by the same JSON Schemas and checked by the same checker — the
designer can do nothing a YAML layer could not. The one difference: a role's entity rule
that the designer touches merges key by key (a YAML layer replaces it whole), so that
"sales reps see WeChat ID read-only" does not restate the role's actions; the export
writes the merged rule whole.

Every value carries a position `designer:change-12:entities.customer.fields.wechat_id`,
so every error names the change set it comes from. A change that no longer fits the base
(the base has since added the same field with another type, or no longer defines what
the change modifies) is E606 naming both positions; a malformed op is E607. Both are
reported like every other problem: nothing is silently dropped or applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Position, Problems, did_you_mean
from .schema import validate_document
from .yamlload import PosDict, PosList

LAYER_NAME = "designer"
POSITION_PREFIX = "designer:"
ROOTS = ("entities", "roles", "project")
# tailor.yaml keys the designer may state (never the project's identity or its code)
PROJECT_KEYS = ("label", "description", "menu", "option_sets", "languages", "default_language", "currency",
                "currencies", "timezone")
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class DesignerLayer:
    """What `fold` found, kept with the Layer for conflicts, explain and export."""

    change_sets: list[tuple[int | str, str | None]] = field(default_factory=list)  # (id, author)
    created_entities: set[str] = field(default_factory=set)  # entities made whole by an op
    roles: PosDict | None = None  # roles overlay {role: {...}} (merged key by key)
    project: PosDict | None = None  # tailor.yaml keys stated


def position(change_id: int | str, path: str) -> Position:
    """Where a designer value comes from: the change set and the path."""
    return Position(f"{POSITION_PREFIX}change-{change_id}:{path}")


def is_designer_position(pos: Position | str | None) -> bool:
    return str(pos or "").startswith(POSITION_PREFIX)


def change_sets_of(designer: Any) -> list[tuple[int | str, list[dict[str, Any]], str | None]]:
    """(id, ops, author) from a list of (id, ops), (id, ops, author) or DesignChange-like rows."""
    found = []
    for item in designer or ():
        if isinstance(item, tuple | list):
            found.append((item[0], list(item[1]), item[2] if len(item) > 2 else None))
        else:
            found.append((item.id, list(item.ops), getattr(item, "author", None)))
    return found


def _as_pos(value: Any, pos: Position, path: str, change_id: int | str) -> Any:
    """Plain JSON data -> PosDict / PosList whose every entry names its designer path."""
    if isinstance(value, Mapping):
        result = PosDict(pos=pos)
        for key, item in value.items():
            sub = f"{path}.{key}"
            where = position(change_id, sub)
            result[str(key)] = _as_pos(item, where, sub, change_id)
            result.key_pos[str(key)] = result.value_pos[str(key)] = where
        return result
    if isinstance(value, list | tuple):
        result = PosList(pos=pos)
        for i, item in enumerate(value):
            sub = f"{path}[{i}]"
            where = position(change_id, sub)
            result.append(_as_pos(item, where, sub, change_id))
            result.item_pos.append(where)
        return result
    return value


def _malformed(problems: Problems, where: Position, message: str, hint: str | None = None) -> None:
    problems.add("E607", message, where, hint or "an op is {\"path\": \"entities.ENTITY...\", \"value\": ...} "
                 "or {\"path\": ..., \"delete\": true}")


def parse_op(op: Any, where: Position, problems: Problems) -> tuple[list[str], Any, bool] | None:
    """(path segments, value, is_delete) of one op, or None after an E607."""
    if not isinstance(op, Mapping):
        _malformed(problems, where, "an op must be a mapping with 'path' and 'value' (or 'delete')")
        return None
    extra = sorted(set(op) - {"path", "value", "delete"})
    if extra:
        _malformed(problems, where, f"op has unknown key(s): {', '.join(map(str, extra))}")
        return None
    path = op.get("path")
    if not isinstance(path, str) or not path:
        _malformed(problems, where, "op has no 'path'")
        return None
    segments = path.split(".")
    if any(not _SEGMENT.match(s) for s in segments):
        _malformed(problems, where, f"path '{path}' is not dotted names (entities.customer.fields.phone)")
        return None
    deleting = op.get("delete")
    if deleting not in (None, True):
        _malformed(problems, where, "'delete' must be true")
        return None
    if deleting and "value" in op:
        _malformed(problems, where, "op has both 'value' and 'delete'")
        return None
    if not deleting and "value" not in op:
        _malformed(problems, where, f"op on '{path}' has no 'value'")
        return None
    root = segments[0]
    if root not in ROOTS:
        _malformed(problems, where, f"path '{path}' must start with {', '.join(ROOTS)}")
        return None
    if len(segments) < 2:
        _malformed(problems, where, f"path '{path}' names no {root[:-1] if root != 'project' else 'key'}")
        return None
    if root == "entities" and len(segments) >= 3 and segments[2] == "entity":
        _malformed(problems, where, "an entity's name is its path; rename with 'renamed_from'")
        return None
    if root == "entities" and len(segments) == 2 and not deleting and not isinstance(op["value"], Mapping):
        _malformed(problems, where, f"'{path}' takes a whole entity document (a mapping)")
        return None
    if root == "roles" and len(segments) == 2 and not deleting and not isinstance(op["value"], Mapping):
        _malformed(problems, where, f"'{path}' takes a whole role (a mapping)")
        return None
    if root == "project" and segments[1] not in PROJECT_KEYS:
        _malformed(problems, where, f"the designer cannot change '{segments[1]}' of tailor.yaml",
                   f"it may change {', '.join(PROJECT_KEYS)}")
        return None
    return segments, op.get("value"), bool(deleting)


def _apply_op(root: PosDict, segments: list[str], value: Any, deleting: bool, where: Position, path: str,
              change_id: int | str, problems: Problems) -> bool:
    node = root
    for i, segment in enumerate(segments[:-1]):
        child = node.get(segment)
        if child is None:
            if deleting:
                _malformed(problems, where, f"'{path}' deletes what no designer change created",
                           "a delete op only takes back a key a designer change set; hide a field with "
                           "'...fields.NAME.hidden: true'")
                return False
            child = PosDict(pos=position(change_id, ".".join(segments[: i + 1])))
            node[segment] = child
            node.key_pos[segment] = node.value_pos[segment] = child.pos
        elif not isinstance(child, PosDict):
            _malformed(problems, where, f"'{path}' sets inside '{'.'.join(segments[: i + 1])}', "
                       "which a designer change set to a value that is not a mapping")
            return False
        node = child
    last = segments[-1]
    if deleting:
        if last not in node:
            _malformed(problems, where, f"'{path}' deletes what no designer change created",
                       "a delete op only takes back a key a designer change set; hide a field with "
                       "'...fields.NAME.hidden: true'")
            return False
        del node[last]
        node.key_pos.pop(last, None)
        node.value_pos.pop(last, None)
        return True
    node[last] = _as_pos(value, where, path, change_id)
    node.key_pos[last] = node.value_pos[last] = where
    return True


def fold(designer: Iterable[Any] | None, problems: Problems | None = None, *, base_path: Path | None = None,
         base_name: str | None = None):
    """The active change sets (oldest first) -> one "designer" Layer (or None when there
    are none). Malformed ops are E607 and skipped; the rest is validated like YAML.
    Problems go to `problems`; without it, ProjectError is raised with them."""
    if problems is None:
        collected = Problems()
        layer = fold(designer, collected, base_path=base_path, base_name=base_name)
        collected.raise_if_any()
        return layer
    from .project import Layer

    sets = change_sets_of(designer)
    if not sets:
        return None
    info = DesignerLayer()
    overlay = PosDict(pos=Position(f"{POSITION_PREFIX}layer"))
    for change_id, ops, author in sets:
        info.change_sets.append((change_id, author))
        for index, op in enumerate(ops):
            raw_path = op.get("path") if isinstance(op, Mapping) else None
            where = position(change_id, raw_path if isinstance(raw_path, str) else f"op[{index}]")
            parsed = parse_op(op, where, problems)
            if parsed is None:
                continue
            segments, value, deleting = parsed
            if _apply_op(overlay, segments, value, deleting, where, ".".join(segments), change_id, problems) \
                    and segments[0] == "entities":
                if len(segments) == 2:
                    (info.created_entities.discard if deleting else info.created_entities.add)(segments[1])
    layer = Layer(name=LAYER_NAME, path=Path(base_path) if base_path else Path("."), settings=PosDict(pos=overlay.pos))
    layer.designer = info
    entities = overlay.get("entities")
    for name, document in sorted(entities.items() if isinstance(entities, PosDict) else ()):
        if not isinstance(document, PosDict):
            continue
        document["entity"] = name
        document.key_pos["entity"] = document.value_pos["entity"] = document.pos
        document.key_pos.setdefault("entity", document.pos)
        layer.documents.append(("entity", document))
    roles = overlay.get("roles")
    if isinstance(roles, PosDict) and roles:
        wrapped = PosDict({"roles": roles}, pos=roles.pos)
        wrapped.key_pos["roles"] = wrapped.value_pos["roles"] = roles.pos
        validate_document("roles", wrapped, problems)
        info.roles = roles
    project = overlay.get("project")
    if isinstance(project, PosDict) and project:
        checked = PosDict(project, pos=project.pos)
        checked.key_pos.update(project.key_pos)
        checked.value_pos.update(project.value_pos)
        checked["name"] = base_name or "project"
        validate_document("project", checked, problems)
        for key, value in project.items():
            layer.settings[key] = value
            layer.settings.key_pos[key] = project.key_pos.get(key, project.pos)
            layer.settings.value_pos[key] = project.value_pos.get(key, project.pos)
        info.project = project
    return layer


def designer_info(layer: Any) -> DesignerLayer | None:
    """The DesignerLayer of a Layer made by `fold`, else None."""
    return getattr(layer, "designer", None)


def check_conflicts(entities: Mapping[str, PosDict], layer: Any, problems: Problems) -> None:
    """Before the designer layer merges: what no longer fits the base (the merged YAML
    layers as they are now) is E606, naming both positions. The conflicting documents or
    fields are left out of the merge so one conflict is reported once."""
    info = designer_info(layer)
    if info is None:
        return
    kept: list[tuple[str, PosDict]] = []
    for kind, document in layer.documents:
        name = document.get("entity")
        base = entities.get(name) if isinstance(name, str) else None
        if base is None:
            if name in info.created_entities:
                kept.append((kind, document))
            elif _stored(document.pos):
                problems.add("E606", f"the designer changes entity '{name}', which the project no longer defines",
                             document.pos, "revert that designer change set, or add the entity back to the YAML")
            else:  # a change being made names an entity nobody defines
                problems.add("E306", f"unknown entity '{name}'", document.pos,
                             did_you_mean(str(name), entities) or "a new entity is one op: entities.NAME with the "
                             "whole entity document")
            continue
        fields = document.get("fields")
        base_fields = base.get("fields")
        if isinstance(fields, PosDict) and isinstance(base_fields, PosDict):
            for fname in list(fields):
                fspec = fields[fname]
                bspec = base_fields.get(fname)
                where = fields.position_of(fname, of_key=True)
                if not isinstance(fspec, PosDict):
                    continue
                if bspec is None and "type" not in fspec:
                    if _stored(where):  # the YAML dropped what a stored change set changes
                        problems.add("E606", f"the designer changes field '{name}.{fname}', which the project no "
                                     "longer defines", where,
                                     f"the entity is at {base.position_of('entity')}; revert that designer change set")
                    else:  # a change being made names a field nobody defines: as in any layer
                        problems.add("E604", f"field '{fname}' has no type and the project does not define it", where,
                                     "give it a 'type:' to add it as a new field")
                    del fields[fname]
                    continue
                if isinstance(bspec, PosDict) and "type" in fspec and bspec.get("type") is not None \
                        and fspec.get("type") != bspec.get("type"):
                    problems.add("E606", f"the designer made field '{name}.{fname}' a {fspec.get('type')}; the project "
                                 f"now defines it as a {bspec.get('type')} at "
                                 f"{base_fields.position_of(fname, of_key=True)}", where,
                                 "revert that designer change set, or rename one of the two fields")
                    del fields[fname]
        kept.append((kind, document))
    for _kind, document in kept:
        for fname, fspec in (document.get("fields") or {}).items():
            targets = fspec.get("to") if isinstance(fspec, PosDict) else None
            for target in [targets] if isinstance(targets, str) else targets if isinstance(targets, list) else ():
                if isinstance(target, str) and target not in entities and target not in info.created_entities \
                        and _stored(fspec.position_of("to")):  # a new change's link to nothing: E306
                    problems.add("E606", f"designer field '{document.get('entity')}.{fname}' links to entity "
                                 f"'{target}', which the project no longer defines", fspec.position_of("to"),
                                 "revert that designer change set, or add the entity back to the YAML")
    layer.documents[:] = kept


def _stored(pos: Position) -> bool:
    """Whether a designer position comes from a stored change set (not one being previewed)."""
    change = origin_of(str(pos)) or ""
    return change.removeprefix("change set ").isdigit()


def merge_designer_roles(roles: dict[str, PosDict], layer: Any) -> None:
    """The designer's role changes merge key by key: a role it states whole is added (or
    merges its keys); a role entity rule merges key by key and its `fields` by field."""
    info = designer_info(layer)
    if info is None or not isinstance(info.roles, PosDict):
        return
    for name, role in info.roles.items():
        if not isinstance(role, PosDict):
            continue
        target = roles.get(name)
        if not isinstance(target, PosDict):
            roles[name] = role
            continue
        _deep_merge(target, role)


def _deep_merge(target: PosDict, source: PosDict) -> None:
    for key, value in source.items():
        current = target.get(key)
        if isinstance(current, PosDict) and isinstance(value, PosDict):
            _deep_merge(current, value)
        else:
            target[key] = value
            target.key_pos[key] = source.key_pos.get(key, source.pos)
            target.value_pos[key] = source.value_pos.get(key, source.pos)


def origin_of(position_text: str) -> str | None:
    """'designer:change-12:entities...' -> 'change set 12', else None (for explain)."""
    if not is_designer_position(position_text):
        return None
    rest = position_text[len(POSITION_PREFIX):]
    change = rest.split(":", 1)[0]
    return change.replace("change-", "change set ")


def touched(ops: Sequence[Mapping[str, Any]]) -> set[tuple[str, str | None]]:
    """(entity, field or None) that a list of ops states something about."""
    found: set[tuple[str, str | None]] = set()
    for op in ops:
        path = op.get("path") if isinstance(op, Mapping) else None
        parts = path.split(".") if isinstance(path, str) else []
        if len(parts) >= 2 and parts[0] == "entities":
            found.add((parts[1], parts[3] if len(parts) >= 4 and parts[2] == "fields" else None))
    return found
