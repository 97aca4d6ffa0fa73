"""Designer forms -> change-set ops (docs/designer.md, engine/design).

The pages never change the model themselves: each form is turned into a list of ops, each
stating what the YAML would state at one place (`{"path": ..., "value": ...}` or
`{"path": ..., "delete": true}`), and the design service previews and applies them with the
same checks as `tailor check`. This module only reads posted text and the current model;
it decides nothing about validity (a bad name or option reaches the checker, whose error
code the page shows), except refusing input that is not even shaped like a form answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from werkzeug.datastructures import MultiDict

from ...errors import Problems
from ...model import CompiledModel, Entity, Field
from ...spec.yamlload import load_yaml_text, plain

Op = dict[str, Any]
LANGUAGES = ("en", "zh")
LABEL_KEYS = ("label", "help", "placeholder")
FLAGS = ("required", "unique", "index", "readonly")
CONDITIONS = ("visible_when", "required_when", "readonly_when")
TEXT_OPTIONS = ("pattern", "format", "expression", "currency", "option_set", "to", "on_delete", "returns", "unit",
                "filter", "copy_from")
NUMBER_OPTIONS = ("max_length", "min_length", "precision", "scale", "max_items")
BOUND_OPTIONS = ("min", "max")  # numbers, or dates / durations written as text
# the options the field form has an input of its own for; a type's other options (a
# plugin's) are typed as YAML in "more options"
FORM_OPTIONS = frozenset({"type", *LABEL_KEYS, *FLAGS, *CONDITIONS, *TEXT_OPTIONS, *NUMBER_OPTIONS,
                          *BOUND_OPTIONS, "default", "options", "stored", "hidden", "renamed_from"})
COLORS = ("", "red", "orange", "gold", "green", "teal", "blue", "purple", "gray")
ROLE_MODES = ("", "edit", "read", "hidden", "deny")
INT_RE = re.compile(r"^-?[0-9]{1,18}$")  # longer: not a number here (Python refuses int() of 4300+ digits)
DECIMAL_RE = re.compile(r"^-?[0-9]{1,18}\.[0-9]{1,18}$")


class FormError(ValueError):
    """Posted input that cannot become an op at all (not a checker problem)."""


def label_of(form: Mapping[str, str], prefix: str) -> dict[str, str] | None:
    """`{en, zh}` from the inputs PREFIX_en and PREFIX_zh; None when both are empty."""
    found = {lang: form.get(f"{prefix}_{lang}", "").strip() for lang in LANGUAGES}
    found = {lang: value for lang, value in found.items() if value}
    return found or None


def scalar(text: str) -> Any:
    """A typed value as YAML would read it: whole and decimal numbers, true/false, else text."""
    text = text.strip()
    if INT_RE.match(text):
        return int(text)
    if DECIMAL_RE.match(text):
        return float(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def default_of(text: str, type_name: str) -> Any:
    """A default as the YAML states it: numbers for number types, booleans for boolean."""
    text = text.strip()
    if not text:
        return None
    if type_name == "boolean":
        return text.lower() in ("true", "1", "yes")
    if type_name in ("integer", "decimal", "money", "percent"):
        return scalar(text)
    return text


def options_of(form: MultiDict) -> list[dict[str, Any]]:
    """Option rows (value, labels, colour, hidden), ordered by their order numbers (the
    drag and drop of design.js renumbers them; without scripts people type them)."""
    rows = []
    for key in form:
        match = re.fullmatch(r"opt_value_([0-9]{1,3})", key)
        if not match:
            continue
        n = match.group(1)
        value = form.get(key, "").strip()
        if not value:
            continue
        option: dict[str, Any] = {"value": value}
        label = label_of(form, f"opt_label_{n}")
        if label:
            option["label"] = label
        color = form.get(f"opt_color_{n}", "")
        if color:
            if color not in COLORS:
                raise FormError(f"unknown colour {color!r}")
            option["color"] = color
        if form.get(f"opt_hidden_{n}"):
            option["hidden"] = True
        rows.append((order_number(form.get(f"opt_order_{n}", ""), int(n)), int(n), option))
    return [option for _, _, option in sorted(rows, key=lambda r: (r[0], r[1]))]


def order_number(text: str, fallback: int) -> float:
    text = text.strip()
    try:
        return float(text) if text else float(fallback)
    except ValueError:
        raise FormError(f"{text!r} is not an order number") from None


def split_for_form(spec: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A field's YAML -> (what the form's own inputs show, what goes in "more options"):
    keys the form has no input for, and values its inputs cannot hold (a polymorphic
    link's list of targets, a default given as an expression)."""
    shown: dict[str, Any] = {}
    more: dict[str, Any] = {}
    simple = (*TEXT_OPTIONS, *NUMBER_OPTIONS, *BOUND_OPTIONS, *CONDITIONS, "default")
    for key, value in spec.items():
        if key not in FORM_OPTIONS or (key in simple and isinstance(value, (Mapping, list))):
            more[key] = value
        else:
            shown[key] = value
    return shown, more


def more_options(text: str) -> dict[str, Any]:
    """The "more options" box: YAML mapping of a type's other options."""
    if not text.strip():
        return {}
    problems = Problems()
    loaded = load_yaml_text(text, "more options", problems)
    if problems.items or not isinstance(loaded, dict):
        first = problems.items[0] if problems.items else None
        raise FormError(f"{first.code} {first.message}" if first else "more options must be a YAML mapping")
    return plain(loaded)


def field_spec(form: MultiDict, type_name: str, allowed: frozenset[str]) -> dict[str, Any]:
    """The whole field as YAML would state it, from the field form."""
    spec: dict[str, Any] = {"type": type_name}
    for key in LABEL_KEYS:
        label = label_of(form, key)
        if label and key in allowed:
            spec[key] = label
    for key in FLAGS:
        if form.get(key) and key in allowed:
            spec[key] = True
    for key in (*CONDITIONS, *TEXT_OPTIONS):
        value = form.get(key, "").strip()
        if value and key in allowed:
            spec[key] = value
    for key in NUMBER_OPTIONS:
        value = form.get(key, "").strip()
        if value and key in allowed:
            spec[key] = scalar(value)
    for key in BOUND_OPTIONS:
        value = form.get(key, "").strip()
        if value and key in allowed:
            spec[key] = scalar(value)
    if "stored" in allowed and form.get("stored_set") and not form.get("stored"):
        spec["stored"] = False
    default = default_of(form.get("default", ""), type_name)
    if default is not None and "default" in allowed:
        spec["default"] = default
    if "options" in allowed and "option_set" not in spec:
        options = options_of(form)
        if options:
            spec["options"] = options
    extra = more_options(form.get("more", ""))
    for key, value in extra.items():
        if key in FORM_OPTIONS and key in spec:
            raise FormError(f"'{key}' is set twice (in its input and in more options)")
        spec[key] = value
    return spec


def to_plain(value: Any) -> Any:
    """Read-only mappings and tuples of the compiled model -> dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def plain_spec(field: Field) -> dict[str, Any]:
    """A field's merged YAML as plain data (what the edit form starts from). A field with
    an `option_set` states no options of its own (the compiled spec holds the set's)."""
    spec = to_plain(field.spec) if field.spec else {"type": field.type.name}
    if spec.get("option_set"):
        spec.pop("options", None)
    return spec


def field_ops(entity: str, name: str, before: Mapping[str, Any] | None, after: dict[str, Any]) -> list[Op]:
    """A new field: one op with the whole definition. A changed one: one op per key that
    changed (keys it no longer states are taken back with a delete op; the service refuses
    that for a key a YAML layer defines)."""
    base = f"entities.{entity}.fields.{name}"
    if before is None:
        return [{"path": base, "value": after}]
    ops: list[Op] = []
    for key, value in after.items():
        if key == "type" and value == before.get("type"):
            continue
        if key == "options" and same_options(before.get(key), value):
            continue
        if before.get(key) != value:
            ops.append({"path": f"{base}.{key}", "value": value})
    for key in before:
        if key not in after and key not in ("type", "hidden", "renamed_from") and key in FORM_OPTIONS | set(after):
            ops.append({"path": f"{base}.{key}", "delete": True})
    return ops


def same_options(before: Any, after: Any) -> bool:
    """Options are the same whether the YAML wrote `CNY` or `{value: CNY}`."""
    def normal(options: Any) -> Any:
        if not isinstance(options, list):
            return options
        return [o if isinstance(o, Mapping) else {"value": o} for o in options]

    return normal(before) == normal(after)


def entity_spec(form: MultiDict) -> dict[str, Any]:
    """A new entity: name, labels, icon, menu group, title and its first field."""
    name = form.get("name", "").strip()
    spec: dict[str, Any] = {"entity": name}
    for key in ("label", "plural"):
        label = label_of(form, key)
        if label:
            spec[key] = label
    for key in ("icon", "menu"):
        value = form.get(key, "").strip()
        if value:
            spec[key] = value
    title = form.get("title", "").strip() or "name"
    title_label = label_of(form, "title_label") or {"en": "Name", "zh": "名称"}
    spec["fields"] = {title: {"type": "string", "label": title_label, "required": True, "max_length": 200}}
    spec["title"] = title
    if form.get("hidden"):
        spec["hidden"] = True
    return spec


def entity_ops(entity: Entity, form: MultiDict) -> list[Op]:
    """Settings of an existing entity: labels, icon, menu group, title, left out of the menu, hidden."""
    base = f"entities.{entity.name}"
    ops: list[Op] = []
    for key, current in (("label", dict(entity.label)), ("plural", dict(entity.plural))):
        label = label_of(form, key)
        if label and label != current:
            ops.append({"path": f"{base}.{key}", "value": label})
    for key, current in (("icon", entity.icon), ("menu", entity.menu)):
        value = form.get(key, "").strip() or None
        if value != current and value is not None:
            ops.append({"path": f"{base}.{key}", "value": value})
    title = form.get("title", "").strip()
    if title and title != (entity.title.field or ""):
        ops.append({"path": f"{base}.title", "value": title})
    hidden = bool(form.get("hidden"))
    if hidden != entity.hidden:
        ops.append({"path": f"{base}.hidden", "value": hidden})
    in_menu = not form.get("not_in_menu")
    if in_menu != entity.in_menu:
        ops.append({"path": f"{base}.in_menu", "value": in_menu})
    return ops


def rename_ops(model: CompiledModel, entity: Entity, old: str, new: str, spec: dict[str, Any]) -> list[Op]:
    """A field under a new name (`renamed_from`, the column is renamed, data kept); the
    form and list name it anew."""
    base = f"entities.{entity.name}"
    value = {**spec, "renamed_from": old}
    value.pop("hidden", None)
    ops: list[Op] = [{"path": f"{base}.fields.{new}", "value": value},
                     {"path": f"{base}.fields.{old}", "delete": True}]
    if any(old in s.fields for s in entity.sections):
        ops.append({"path": f"{base}.form", "value": form_value(entity, rename={old: new})})
    columns = list(entity.list.columns)
    if old in columns:
        ops.append({"path": f"{base}.list.columns", "value": [new if c == old else c for c in columns]})
    return ops


def form_value(entity: Entity, rename: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The entity's form layout as YAML states it (tabs when it has titled tabs)."""
    rename = rename or {}

    def section(s) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if s.label:
            out["section"] = dict(s.label)
        if s.columns != 2:
            out["columns"] = s.columns
        if s.collapsed:
            out["collapsed"] = True
        out["fields"] = [rename.get(f, f) for f in s.fields]
        return out

    if len(entity.tabs) > 1 or (entity.tabs and entity.tabs[0].label):
        return {"tabs": [{"tab": dict(t.label) or {"en": "Main"}, "sections": [section(s) for s in t.sections]}
                         for t in entity.tabs]}
    return {"sections": [section(s) for s in entity.sections]}


def layout_sections(form: MultiDict, field_names: list[str]) -> dict[str, Any]:
    """The form editor's answer -> the `form` value. Sections are numbered 0..N (plus one
    blank to add), with inputs section_N_en / _zh, section_order_N, section_columns_N,
    section_collapsed_N and tab_N_en / _zh; each field's `place_FIELD` names its section
    (empty: not on the form) and `order_FIELD` its place in it."""
    sections: list[dict[str, Any]] = []
    numbers: list[int] = []
    for key in form:
        match = re.fullmatch(r"section_([0-9]{1,3})_en", key)
        if match:
            numbers.append(int(match.group(1)))
    placed: dict[int, list[tuple[float, int, str]]] = {n: [] for n in numbers}
    for i, name in enumerate(field_names):
        where = form.get(f"place_{name}", "").strip()
        if not where:
            continue
        if not INT_RE.match(where) or int(where) not in placed:
            raise FormError(f"field {name!r} is placed in an unknown section")
        placed[int(where)].append((order_number(form.get(f"order_{name}", ""), i), i, name))
    tabs: dict[str, dict[str, Any]] = {}
    for n in sorted(numbers, key=lambda n: (order_number(form.get(f"section_order_{n}", ""), n), n)):
        fields = [name for _, _, name in sorted(placed[n])]
        label = label_of(form, f"section_{n}")
        if not fields:
            continue
        section: dict[str, Any] = {}
        if label:
            section["section"] = label
        columns = form.get(f"section_columns_{n}", "").strip()
        if columns and columns != "2":
            section["columns"] = scalar(columns)
        if form.get(f"section_collapsed_{n}"):
            section["collapsed"] = True
        section["fields"] = fields
        tab_label = label_of(form, f"tab_{n}")
        tab_key = repr(sorted((tab_label or {}).items()))
        tabs.setdefault(tab_key, {"tab": tab_label, "sections": []})["sections"].append(section)
        sections.append(section)
    if len(tabs) > 1 or any(t["tab"] for t in tabs.values()):
        return {"tabs": [{"tab": t["tab"] or {"en": "Main", "zh": "主要"}, "sections": t["sections"]}
                         for t in tabs.values()]}
    return {"sections": sections}


def list_ops(entity: Entity, form: MultiDict, names: list[str]) -> list[Op]:
    """List columns (ticked, in order), default sort, and the kanban's stage field."""
    base = f"entities.{entity.name}"
    chosen = []
    for i, name in enumerate(names):
        if form.get(f"col_{name}"):
            chosen.append((order_number(form.get(f"colorder_{name}", ""), i), i, name))
    columns = [name for _, _, name in sorted(chosen)]
    ops: list[Op] = []
    if columns != list(entity.list.columns):
        ops.append({"path": f"{base}.list.columns", "value": columns})
    sort = form.get("sort", "").strip()
    if sort:
        value = ("-" if form.get("descending") else "") + sort
        if [value] != list(entity.list.sort):
            ops.append({"path": f"{base}.list.sort", "value": value})
    stage = form.get("stage", "").strip()
    if stage != (entity.stage or ""):
        if stage:
            ops.append({"path": f"{base}.stage", "value": stage})
        else:
            ops.append({"path": f"{base}.stage", "delete": True})
    return ops


def role_ops(model: CompiledModel, entity: Entity, form: MultiDict) -> list[Op]:
    """Per-role field visibility: `edit`, `read` (read-only), `hidden` or `deny` (hidden
    whatever other roles say), as roles.yaml says it."""
    ops: list[Op] = []
    for role_name, role in model.roles.items():
        rule = role.rules.get(entity.name)
        if rule is None:
            continue
        for name in entity.fields:
            wanted = form.get(f"role_{role_name}_{name}", "")
            if wanted not in ROLE_MODES:
                raise FormError(f"unknown field rule {wanted!r}")
            current = rule.fields.get(name, "")
            if wanted == current:
                continue
            path = f"roles.{role_name}.entities.{entity.name}.fields.{name}"
            ops.append({"path": path, "value": wanted} if wanted else {"path": path, "delete": True})
    return ops
