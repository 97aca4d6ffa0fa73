"""Reports defined outside the YAML (a report builder, an API), checked exactly as the YAML
checker checks reports/*.yaml, against the compiled model:

    problems = check_report(model, {"report": "mine", "entity": "opportunity", ...})
    report = build_report(model, document)      # ProjectError with the problems, else a Report
    run(service, report, context)               # run() takes a Report as well as a name

The same JSON Schema, the same codes (E0xx, E2xx, E306/E307, E5xx) and the same refusal of
hidden fields: a report saved from a page is refused for what a YAML report would be. A
document without YAML positions reports its problems at `<report NAME>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType, SimpleNamespace
from typing import Any

from ..errors import Position, Problem, Problems, ProjectError
from ..spec.expressions import ExpressionChecks
from ..spec.schema import validate_document
from ..spec.yamlload import PosDict, PosList
from .checks import ReportChecker
from .definition import Report, compile_reports


def positioned(value: Any, where: Position) -> Any:
    """Plain data as the positioned data the checks read (every position `where`)."""
    if isinstance(value, Mapping):
        result = PosDict(pos=where)
        for key, item in value.items():
            result[key] = positioned(item, where)
        return result
    if isinstance(value, (list, tuple)):
        result = PosList([positioned(v, where) for v in value], pos=where)
        result.item_pos = [where] * len(result)
        return result
    return value


class _ModelChecker(ExpressionChecks):
    """What ReportChecker needs of the project checker, from a compiled model."""

    def __init__(self, model: Any, problems: Problems):
        where = Position("<model>")
        self.problems = problems
        self.expressions: dict[tuple, Any] = {}
        self.envs = {name: entity.env for name, entity in model.entities.items()}
        self.types = {f.type.name: f.type for e in model.entities.values() for f in e.fields.values()}
        roles = {}
        for name, role in model.roles.items():
            rules = {entity: {"actions": sorted(rule.actions), "fields": dict(rule.fields)}
                     for entity, rule in role.rules.items()}
            roles[name] = positioned({"entities": rules}, where)
        self.spec = SimpleNamespace(entities={n: positioned(e, where) for n, e in model.spec["entities"].items()},
                                    roles=roles)

    def add(self, code: str, message: str, where: Position, hint: str | None = None) -> None:
        self.problems.add(code, message, where, hint)


def _check(model: Any, document: Mapping) -> tuple[list[Problem], _ModelChecker, PosDict]:
    problems = Problems()
    name = document.get("report") if isinstance(document, Mapping) else None
    where = Position(f"<report {name}>" if isinstance(name, str) else "<report>")
    doc = document if isinstance(document, PosDict) else positioned(document, where)
    checker = _ModelChecker(model, problems)
    if not isinstance(doc, PosDict):
        problems.add("E105", "a report is a mapping with 'report:', 'entity:' and 'measures:'", where)
        return problems.items, checker, PosDict(pos=where)
    shaped = validate_document("report", doc, problems)
    try:  # as for YAML: the semantic checks too, skipping what a shape problem makes unreadable
        ReportChecker(checker).report(doc.get("report"), doc)
    except (TypeError, AttributeError, ValueError, KeyError):
        if shaped:
            raise
    return problems.items, checker, doc


def check_report(model: Any, document: Mapping) -> list[Problem]:
    """Every problem of a report defined outside the YAML (empty: it may be saved)."""
    return _check(model, document)[0]


def build_report(model: Any, document: Mapping) -> Report:
    """The checked report, compiled; ProjectError with every problem otherwise."""
    problems, checker, doc = _check(model, document)
    if problems:
        raise ProjectError(problems)
    from ..spec.yamlload import plain

    language = model.default_language

    def label_of(value: Any) -> Mapping[str, str]:
        if isinstance(value, str):
            return MappingProxyType({language: value})
        return MappingProxyType({str(k): str(v) for k, v in (value or {}).items()})

    name = doc["report"]
    return compile_reports({name: plain(doc)}, checker.expressions, label_of)[name]


__all__ = ["build_report", "check_report"]
