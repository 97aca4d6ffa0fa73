"""W304: every other text a project language lacks, found through the schemas.

W301-W303 (labels.py) check entities, fields and options. Everything else users read is a
`$defs/label` somewhere in `schemas/`: form sections and tabs, rule messages, help texts,
workflow, transition, flow and node labels and messages, role labels, menu groups, the
project's own label. Rather than list those places here (and forget the next one a schema
gains), the merged documents are walked beside their schema, and every value the schema calls
a `$defs/label` is checked: whatever the schemas call a label is checked.

Only texts that are written are checked (a missing section heading is no text at all);
hidden entities and fields are not shown, so not checked; option sets are checked where
fields use them (W301).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..errors import Position
from ..labels import label_languages
from .schema import load_schema, position_at
from .yamlload import PosDict

Report = Callable[[str, str, Position, str | None], None]
LABEL = "#/$defs/label"
_LANGUAGE = re.compile(r"^[a-z]{2}(-[A-Za-z]{2,4})?$")
_TYPES = {"object": dict, "array": list, "string": str}


def labels_in(kind: str, document: Any, definition: str | None = None) -> dict[tuple, Any]:
    """{path: label} of every label in `document` (a `kind` document, or one of its
    `$defs/definition`): the schema walked beside the data, `$ref`s followed as met, every
    branch of a oneOf/anyOf/allOf whose type fits the data tried."""
    schema = load_schema(kind)
    defs = schema.get("$defs", {})
    found: dict[tuple, Any] = {}
    _walk(defs[definition] if definition else schema, document, (), defs, found)
    return found


def _walk(node: Any, data: Any, path: tuple, defs: dict[str, Any], found: dict[tuple, Any]) -> None:
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if ref == LABEL:
        if _is_label(data):
            found.setdefault(path, data)
        return
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        _walk(defs.get(ref.rsplit("/", 1)[1]), data, path, defs, found)
    kinds = node.get("type")
    if isinstance(kinds, str) and kinds in _TYPES and not isinstance(data, _TYPES[kinds]):
        return
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in node.get(key) or ():
            _walk(branch, data, path, defs, found)
    if isinstance(data, dict):
        properties = node.get("properties") or {}
        patterns = [(re.compile(p), sub) for p, sub in (node.get("patternProperties") or {}).items()]
        extra = node.get("additionalProperties")
        for key, value in data.items():
            if key in properties:
                _walk(properties[key], value, (*path, key), defs, found)
                continue
            matched = [sub for pattern, sub in patterns if pattern.search(str(key))]
            for sub in matched:
                _walk(sub, value, (*path, key), defs, found)
            if not matched and isinstance(extra, dict):
                _walk(extra, value, (*path, key), defs, found)
    elif isinstance(data, list) and isinstance(node.get("items"), dict):
        for i, value in enumerate(data):
            _walk(node["items"], value, (*path, i), defs, found)


def _is_label(data: Any) -> bool:
    """A text, or texts by language (so a oneOf's other branch is never read as a label)."""
    if isinstance(data, str):
        return True
    return isinstance(data, dict) and bool(data) and all(
        isinstance(k, str) and _LANGUAGE.match(k) and isinstance(v, str) for k, v in data.items())


def check_texts(spec: Any, languages: list[str], report: Report) -> None:
    wanted = [str(lang) for lang in languages if isinstance(lang, str)]
    if len(wanted) < 2:
        return  # one language: every text is written in it

    def check(document: Any, label: Any, path: tuple, owner: str) -> None:
        lacking = [lang for lang in wanted if lang not in label_languages(label, wanted)]
        if lacking:
            where = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path).replace(".[", "[")
            report("W304", f"{owner}: {where} has no {'/'.join(lacking)} text", position_at(document, path),
                   "give a text per language, e.g. {" + ", ".join(f"{lang}: ..." for lang in wanted) + "}")

    for name, entity in spec.entities.items():
        if not isinstance(entity, PosDict) or entity.get("hidden"):
            continue
        for path, label in labels_in("entity", entity).items():
            if _checked_by_labels(path) or _hidden_on_the_way(entity, path):
                continue
            check(entity, label, path, f"entity '{name}'")
    if isinstance(spec.settings, PosDict):
        for path, label in labels_in("project", spec.settings).items():
            if path and path[0] != "option_sets":
                check(spec.settings, label, path, "tailor.yaml")
    for name, workflow in spec.workflows.items():
        for path, label in labels_in("workflow", workflow).items():
            check(workflow, label, path, f"workflow '{name}'")
    for name, role in spec.roles.items():
        if isinstance(role, PosDict):
            for path, label in labels_in("roles", role, "role").items():
                check(role, label, path, f"role '{name}'")
    for name, report_spec in getattr(spec, "reports", {}).items():
        for path, label in labels_in("report", report_spec).items():
            check(report_spec, label, path, f"report '{name}'")
    for name, dashboard in getattr(spec, "dashboards", {}).items():
        for path, label in labels_in("dashboard", dashboard).items():
            check(dashboard, label, path, f"dashboard '{name}'")


def _checked_by_labels(path: tuple) -> bool:
    """Entity and field labels, plurals and options: W301-W303 say those."""
    if path in (("label",), ("plural",)):
        return True
    return len(path) >= 3 and path[0] == "fields" and path[-1] == "label" and (
        path[-3] in ("fields", "payload") or "options" in path or "kinds" in path)


def _hidden_on_the_way(document: Any, path: tuple) -> bool:
    node = document
    for step in path:
        if isinstance(node, dict) and node.get("hidden") is True:
            return True
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return False
    return False


__all__ = ["check_texts", "labels_in"]
