"""The compiled model and the one function that builds it from a project folder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import Problems, ProjectError, in_order
from ..fields.numbers import numbers_in
from ..gcpause import gc_paused
from ..plugins import make_plugin_manager
from ..spec.checks import SpecChecker
from ..spec.project import ProjectSpec, merge_layers, plugin_requests, read_layers, validate_layers
from .compiler import Compiler
from .model import CompiledModel, Entity, Field, Option, text


def load_spec(path: str | Path, problems: Problems | None = None, *, entry_points: bool = True,
              designer: Any = None):
    """YAML -> validated, merged spec. Returns (spec, plugin manager, checker); problems collected.
    `designer`: the active designer change sets ((id, ops) pairs or DesignChange rows),
    folded into one more layer merged last (engine/spec/designer.py); None: no such layer."""
    problems = problems if problems is not None else Problems()
    layers = read_layers(Path(path), problems)
    if designer and layers:
        from ..spec.designer import fold

        layer = fold(designer, problems, base_path=layers[-1].path, base_name=layers[-1].settings.get("name"))
        if layer is not None:
            layers.append(layer)
    pm = make_plugin_manager(plugin_requests(layers), problems, entry_points=entry_points)
    field_types = _registry(pm.hook.tailor_field_types(), "field type", problems, layers, path)
    from ..expr import FunctionRegistry

    functions = FunctionRegistry()
    for fns in reversed(pm.hook.tailor_expression_functions()):
        for fn in fns or []:
            try:
                functions.register(fn)
            except ValueError as exc:
                problems.add("E704", str(exc), layers[-1].settings.pos if layers else _nowhere(path))
    validators = {}
    for found in pm.hook.tailor_validators():
        validators.update(found or {})
    resolvers = _registry(pm.hook.tailor_approver_resolvers(), "approver resolver", problems, layers, path)
    workflow_actions = _registry(pm.hook.tailor_workflow_actions(), "workflow action", problems, layers, path)
    extra_options = sorted({o for t in field_types.values() for o in t.options})
    validate_layers(layers, problems, extra_options)
    spec = merge_layers(layers, problems) if layers else None
    checker = None
    if spec is not None:
        checker = SpecChecker(spec, field_types, functions, validators, problems)
        checker.actions = tuple(a for found in pm.hook.tailor_actions() for a in found or ())
        checker.resolvers = resolvers
        checker.workflow_actions = workflow_actions
        checker.run()
        pm.hook.tailor_check_project(spec=spec, problems=problems)
    return spec, pm, checker, field_types, functions, validators


def _registry(found, what: str, problems: Problems, layers, path) -> dict:
    """{name: object} from a hook's lists; a name registered twice is an E704."""
    registry: dict = {}
    for items in reversed(found):  # defaults first: a plugin of the same name is a clash
        for item in items or []:
            if item.name in registry and registry[item.name] is not item:
                problems.add("E704", f"{what} '{item.name}' is registered twice",
                             layers[-1].settings.pos if layers else _nowhere(path))
                continue
            registry[item.name] = item
    return registry


def _nowhere(path):
    from ..errors import Position

    return Position(str(path))


def load_model(path: str | Path, *, entry_points: bool = True, designer: Any = None) -> CompiledModel:
    """Load, validate, check and compile a project; raises ProjectError with every problem.
    `designer`: change sets of the designer layer (see load_spec), default none."""
    problems = Problems()
    with gc_paused(), numbers_in(None):  # numbers in YAML (bounds, defaults) read alike for everyone
        spec, pm, checker, field_types, functions, validators = load_spec(path, problems, entry_points=entry_points,
                                                                          designer=designer)
        problems.raise_if_any()
        assert spec is not None and checker is not None
        model = Compiler(spec, checker, field_types, pm, functions, validators).compile()
    if problems.warnings:
        model = replace(model, warnings=tuple(in_order(problems.warnings)))
    pm.hook.tailor_model_compiled(model=model)
    return model


__all__ = ["CompiledModel", "Entity", "Field", "Option", "ProjectError", "ProjectSpec", "load_model",
           "load_spec", "text"]
