"""JSON Schema validation of each document, with errors at their YAML position.

The schemas in `schemas/` are the contract for editors (yaml-language-server modelines)
and for the engine. jsonschema reports a *path* into the document; `PosDict`/`PosList`
turn that path back into a file, line and column.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from ..errors import Position, Problems, did_you_mean
from ..paths import SCHEMAS
from .yamlload import PosDict, PosList

NAME_PATTERN = "^[a-z][a-z0-9]*(_[a-z0-9]+)*$"
NAME_HINT = "use lower_snake_case: a lowercase letter, then letters and digits with single '_' between words"

_CODE_BY_VALIDATOR = {
    "additionalProperties": "E201",
    "type": "E202",
    "required": "E203",
    "enum": "E204",
    "const": "E204",
    "pattern": "E204",
    "minimum": "E204",
    "maximum": "E204",
    "minLength": "E204",
    "maxLength": "E204",
    "minItems": "E204",
    "minProperties": "E204",
    "propertyNames": "E204",
}


@cache
def load_schema(kind: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{kind}.schema.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=32)
def _validator(kind: str, extra_field_options: tuple[str, ...]) -> Draft202012Validator:
    schema = copy.deepcopy(load_schema(kind))
    if extra_field_options and "field" in schema.get("$defs", {}):
        props = schema["$defs"]["field"]["properties"]
        for option in extra_field_options:
            props.setdefault(option, {"description": "option added by a plugin field type"})
    return Draft202012Validator(_inline_refs(schema, schema.get("$defs", {}), depth=2))


def _inline_refs(node: Any, defs: dict[str, Any], depth: int) -> Any:
    """Replace local `$ref`s by their target (recursive ones to `depth` levels): resolving a
    reference per field is most of jsonschema's time on a large project."""
    if isinstance(node, list):
        return [_inline_refs(n, defs, depth) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref", "")
    if ref.startswith("#/$defs/") and len(node) <= 2:
        name = ref.rsplit("/", 1)[1]
        recursive = name == "field"
        if not recursive or depth > 0:
            target = {k: v for k, v in defs[name].items()}
            target.update({k: v for k, v in node.items() if k != "$ref"})
            return _inline_refs(target, defs, depth - 1 if recursive else depth)
    return {k: (_inline_refs(v, defs, depth) if k != "$defs" else v) for k, v in node.items()}


def position_at(document: Any, path: Iterable[Any], *, of_key: bool = False) -> Position:
    """Walk `path` down the positioned document and return the deepest known position."""
    node = document
    pos = getattr(document, "pos", Position("<unknown>"))
    steps = list(path)
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if isinstance(node, PosDict) and step in node:
            pos = node.position_of(step, of_key=of_key and last)
            node = node[step]
        elif isinstance(node, PosList) and isinstance(step, int) and step < len(node):
            pos = node.position_of(step)
            node = node[step]
        else:
            break
    return pos


def validate_document(kind: str, document: Any, problems: Problems,
                      extra_field_options: Iterable[str] = ()) -> bool:
    """Validate against `schemas/KIND.schema.json`; returns True when it conforms."""
    validator = _validator(kind, tuple(sorted(extra_field_options)))
    ok = True
    for error in validator.iter_errors(document):
        ok = False
        _report(error, document, problems)
    return ok


def _report(error: ValidationError, document: Any, problems: Problems) -> None:
    if error.validator in ("oneOf", "anyOf") and error.context:
        deepest = best_match(error.context)
        if deepest is not None and len(deepest.absolute_path) > len(error.absolute_path):
            _report(deepest, document, problems)
            return
        code = "E202"
        message = f"{_where(error)} has the wrong shape: {_short(error.instance)} is not allowed here"
        hint = _one_of_hint(error)
        problems.add(code, message, position_at(document, error.absolute_path), hint)
        return
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extras = [k for k in error.instance if k not in allowed] if isinstance(error.instance, dict) else []
        for key in extras:
            problems.add("E201", f"unknown key {key!r} in {_where(error)}",
                         position_at(document, [*path, key], of_key=True),
                         did_you_mean(key, allowed) or f"allowed keys: {', '.join(sorted(allowed))}")
        return
    if error.validator == "required":
        missing = [k for k in error.validator_value if isinstance(error.instance, dict) and k not in error.instance]
        for key in missing:
            problems.add("E203", f"{_where(error)} needs the key {key!r}", position_at(document, path))
        return
    if error.validator == "propertyNames" or (error.validator == "pattern" and error.validator_value == NAME_PATTERN):
        name = error.instance
        keyed = error.validator == "propertyNames" or _holds_key(document, path, name)  # a mapping's key
        where = position_at(document, [*path, name], of_key=True) if keyed else position_at(document, path)
        problems.add("E304", f"invalid name {name!r} in {_where(error)}", where, NAME_HINT)
        return
    code = _CODE_BY_VALIDATOR.get(str(error.validator), "E204")
    hint = None
    if error.validator == "enum":
        hint = did_you_mean(str(error.instance), [str(v) for v in error.validator_value]) or (
            "one of: " + ", ".join(str(v) for v in error.validator_value))
    problems.add(code, f"{_where(error)}: {error.message}", position_at(document, path), hint)


def _holds_key(document: Any, path: list[Any], name: Any) -> bool:
    """Whether the node at `path` is a mapping with the key `name` (a name pattern checked
    through `propertyNames` reports the mapping's path, not the key's)."""
    node = document
    for step in path:
        if not isinstance(node, (PosDict, PosList)) or (isinstance(node, PosDict) and step not in node):
            return False
        node = node[step] if isinstance(node, PosDict) or (isinstance(step, int) and step < len(node)) else None
    return isinstance(node, PosDict) and isinstance(name, str) and name in node


def _where(error: ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    return "'" + ".".join(path) + "'" if path else "the document"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _one_of_hint(error: ValidationError) -> str | None:
    if any(isinstance(s, dict) and s.get("additionalProperties") == {"type": "string"}
           for s in error.validator_value):
        return "write a text, or one text per language: {en: ..., zh: ...}"
    kinds = []
    for sub in error.validator_value:
        if isinstance(sub, dict) and "type" in sub:
            kinds.append(sub["type"] if isinstance(sub["type"], str) else "/".join(sub["type"]))
    return f"expected {' or '.join(kinds)}" if kinds else None
