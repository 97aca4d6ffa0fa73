"""W304: every other text a project language lacks, found through the schemas.

W301-W303 (labels.py) check entities, fields and options. Everything else users read is a
`$defs/label` somewhere in `schemas/`: form sections and tabs, rule messages, help texts,
workflow, transition, flow and node labels and messages, role labels, menu groups, the
project's own label. Rather than list those places here (and forget the next one a schema
gains), the merged documents are validated once more by a validator whose `label`
definition reports each label it meets: whatever the schemas call a label is checked.

Only texts that are written are checked (a missing section heading is no text at all);
hidden entities and fields are not shown, so not checked; option sets are checked where
fields use them (W301).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from ..errors import Position
from ..labels import label_languages
from .schema import _inline_refs, load_schema, position_at
from .yamlload import PosDict

Report = Callable[[str, str, Position, str | None], None]
KEYWORD = "tailorLabel"


def _met(_validator: Any, _value: Any, instance: Any, _schema: Any) -> Iterator[ValidationError]:
    yield ValidationError("a label", instance=instance)


_Finder = validators.extend(Draft202012Validator, {KEYWORD: _met})


@lru_cache(maxsize=8)
def _finder(kind: str, definition: str | None) -> Any:
    schema = copy.deepcopy(load_schema(kind))
    defs = schema.get("$defs", {})
    defs["label"] = {**defs["label"], KEYWORD: True}
    root = {**defs[definition], "$defs": defs} if definition else schema
    return _Finder(_inline_refs(root, defs, depth=2))


def labels_in(kind: str, document: Any, definition: str | None = None) -> dict[tuple, Any]:
    """{path: label} of every label in `document` (a `kind` document, or one of its
    `$defs/definition`). Labels inside oneOf branches are found in the branch that fits."""
    found: dict[tuple, Any] = {}

    def collect(errors: Any) -> None:
        for error in errors:
            if error.validator == KEYWORD:
                found.setdefault(tuple(error.absolute_path), error.instance)
            elif error.context:
                collect(error.context)

    collect(_finder(kind, definition).iter_errors(document))
    return found


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
