"""`tailor explain`: what an entity, a field or a rule is, and where each part comes from.

    tailor explain PROJECT ENTITY              the entity: layers, labels, what names its
                                               records, its list defaults, its rules
    tailor explain PROJECT ENTITY.FIELD        a field: layers, merged spec, and for choices
                                               each option (labels per language, colour,
                                               hidden, the layer that defined or changed it)
    tailor explain PROJECT ENTITY.RULE         a rule (a name that is not a field): check,
    tailor explain PROJECT ENTITY.rules.RULE   when, field, message per language, layers

Layers merge options by value and rules by name (docs/layers.md), so each option and each
rule has its own story; a forked CRM can never tell it. The answer is plain text lines,
so a test can read it like a person does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import did_you_mean
from .labels import DEFAULT_LANGUAGE, readable
from .model.model import CompiledModel, Entity, Field, Origin, Rule


class ExplainError(ValueError):
    """TARGET names nothing in the project; the message says what is there instead."""


_AUTHORS: dict[str, str] = {}  # the designer's change sets of the model being explained: id -> author


def _where(position: str) -> str:
    """A position, and for the designer layer the change set and its author."""
    if position.startswith("designer:change-"):
        change = position.removeprefix("designer:change-").split(":", 1)[0]
        author = _AUTHORS.get(change)
        return f"{position} (designer change set {change}" + (f" by {author})" if author else ")")
    return position


def explain(model: CompiledModel, target: str) -> list[str]:
    _AUTHORS.clear()
    _AUTHORS.update(model.designer_changes)
    entity_name, _, rest = target.partition(".")
    entity = model.entities.get(entity_name)
    if entity is None:
        hint = did_you_mean(entity_name, model.entities)
        raise ExplainError(f"unknown entity '{entity_name}'" + (f" ({hint})" if hint else ""))
    if not rest:
        return [target, *_origin_lines(entity.origin), *_entity_lines(model, entity)]
    rules = {r.name: r for r in entity.rules}
    if rest not in entity.fields:  # field names have no dots: ENTITY.rules.NAME is a rule
        name = rest.removeprefix("rules.")
        if name in rules:
            return _rule_lines(model, entity, rules[name])
        hint = did_you_mean(name, [*entity.fields, *rules])
        raise ExplainError(f"entity '{entity_name}' has no field or rule '{name}'" + (f" ({hint})" if hint else ""))
    field = entity.fields[rest]
    lines = [target, *_origin_lines(field.origin), *_field_lines(model, field)]
    if rest in rules:
        lines.append(f"  (a rule is named '{rest}' too: tailor explain PROJECT {entity_name}.rules.{rest})")
    return lines


def _origin_lines(origin: Origin | None, indent: str = "  ") -> list[str]:
    if origin is None:
        return [f"{indent}defined by the engine"]
    lines = [f"{indent}defined in layer '{origin.defined_in}' at {_where(origin.position)}"]
    for layer, position, keys in origin.changes:
        lines.append(f"{indent}changed in layer '{layer}' at {_where(position)}: {', '.join(keys)}")
    if not origin.changes:
        lines.append(f"{indent}not changed by any other layer")
    return lines


def _languages(model: CompiledModel, *labels: Mapping[str, str]) -> list[str]:
    found = list(model.languages)
    for label in labels:
        found += [lang for lang in label if lang not in found]
    return found


def _label_text(model: CompiledModel, label: Mapping[str, str], defaulted: bool = False,
                made_from: str = "the name") -> str:
    """`en "High", zh "高"`; a language the label lacks shows what its readers get."""
    parts = []
    for lang in _languages(model, label):
        if lang in label:
            parts.append(f'{lang} "{label[lang]}"' + (f" (default, from {made_from})" if defaulted else ""))
        else:
            shown = label.get(DEFAULT_LANGUAGE) or next(iter(label.values()), "")
            parts.append(f'{lang} missing (shows "{shown}")')
    return ", ".join(parts)


def _entity_lines(model: CompiledModel, entity: Entity) -> list[str]:
    declared = entity.origin is not None and "label" in _spec_of(model, entity)
    lines = [f"  label: {_label_text(model, entity.label, not declared)}" + ("; hidden" if entity.hidden else ""),
             f"  plural: {_label_text(model, entity.plural)}"]
    naming = entity.title
    if naming is not None:
        how = "declared" if naming.declared else "default: the most name-like field"
        if naming.expression is not None:
            lines.append(f"  title: expression {naming.expression.source!r} ({how})")
        elif naming.parts:
            lines.append(f"  title: {' + '.join(naming.parts)} ({how})")
        else:
            lines.append("  title: none (records read as \"<label> #<id>\")")
        if naming.fallbacks:
            lines.append(f"  when the title is empty: {', then '.join(' + '.join(g) for g in naming.fallbacks)}, "
                         "else \"<label> #<id>\"")
    listing = _spec_of(model, entity).get("list") or {}
    for key in ("columns", "filters", "search"):
        values = getattr(entity.list, key)
        source = "declared" if key in listing else "default"
        lines.append(f"  list {key}: {', '.join(values) or '—'} ({source})")
    group = next((label for label, names in model.menu if entity.name in names), None)
    if group is not None:
        lines.append(f"  menu: {_label_text(model, group) if group else 'in no group (last)'}"
                     + (f", menu_order {entity.menu_order}" if entity.menu_order is not None else ""))
    lines.append(f"  fields: {', '.join(entity.fields)}")
    if entity.rules:
        lines.append(f"  rules: {', '.join(r.name for r in entity.rules)}")
    return lines


def _spec_of(model: CompiledModel, entity: Entity) -> Mapping[str, Any]:
    return (model.spec.get("entities") or {}).get(entity.name) or {}


def _field_lines(model: CompiledModel, field: Field) -> list[str]:
    lines = ["  merged result:"]
    for key, value in field.spec.items():
        if key == "options":
            value = ", ".join(o.value + (" (hidden)" if o.hidden else "") for o in field.options)
        lines.append(f"    {key}: {value}")
    if "label" not in field.spec:
        lines.append(f"    label (default): {_label_text(model, field.label, True)}")
    if field.options:
        lines += _option_lines(model, field)
    return lines


def _option_lines(model: CompiledModel, field: Field) -> list[str]:
    written = {}
    for item in field.spec.get("options") or []:
        value = item.get("value") if isinstance(item, Mapping) else item
        written[str(value)] = item
    source = "the field's own `options:` list" + (", merged by value across layers"
                                                   if any(o.origin and o.origin.changes for o in field.options)
                                                   or len({o.origin.defined_in for o in field.options if o.origin}) > 1
                                                   else "")
    if field.spec.get("option_set"):
        source = f"option set '{field.spec['option_set']}' (option_sets in tailor.yaml, merged by layers)"
    lines = [f"  options ({len(field.options)}, from {source}):"]
    for option in field.options:
        item = written.get(option.value)
        defaulted = not (isinstance(item, Mapping) and item.get("label"))
        lines.append(f"    {option.value}")
        if defaulted and readable(option.value) == option.value:
            lines.append(f'      label: "{option.value}" (the value itself, in every language)')
        else:
            lines.append(f"      label: {_label_text(model, option.label, defaulted, 'the value')}")
        if option.color:
            lines.append(f"      colour: {option.color}")
        if option.hidden:
            lines.append("      hidden: kept on records that hold it, no longer offered")
        lines += _origin_lines(option.origin, "      ")
    return lines


def _rule_lines(model: CompiledModel, entity: Entity, rule: Rule) -> list[str]:
    field = entity.fields.get(rule.field) if rule.field else None
    lines = [f"{entity.name}.{rule.name} (a rule of entity '{entity.name}')",
             *_origin_lines(rule.origin),
             f"  check: {rule.check.source}",
             f"  when: {rule.when.source if rule.when is not None else '— (always)'}",
             "  field: " + (f"{rule.field} ({field.label_text(model.default_language)})" if field is not None
                            else "— (the message is shown for the whole record)"),
             f"  message: {_label_text(model, rule.message)}"]
    return lines


__all__ = ["ExplainError", "explain"]
