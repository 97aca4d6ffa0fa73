"""Change impact: what differs between two compiled models, and what migrating costs.

    diff = diff_models(old, new)                  # a Diff: changes + migration plan
    diff = diff_models(old, new, engine=engine)   # ... with rows and values counted there
    print(render(diff, language="zh"))            # tailor diff OLD NEW --lang zh
    json.dumps(to_json(diff))                      # tailor diff OLD NEW --json

The rule: two models are compared element by element, matched by name (a `renamed_from`
matches a new element with the old one it renames, so a rename is never a removal and an
addition), in a fixed order of categories: project, entities, fields, options, indexes,
rules, roles, field permissions, workflows, approval flows. Hiding is reported as hiding,
never as removal. The migration part is the engine's own planner (engine/migrate) run from
the old model's schema to the new one, removals planned as drops so that every destructive
step shows; see migration.py for where it is planned and what is counted.

`diff_models(model, model)` is the one public entry: `tailor diff` compares two project
folders with it, and the designer's preview compares the model before and after a change
set with it (passing the plan it made against the live database as `plan=`).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from ..migrate import MigrationPlan
from ..model import CompiledModel
from .changes import CATEGORIES, Change, Diff, Migration, Side, Step, Touched
from .compare import compare
from .migration import migration as plan_between
from .render import from_json, render, to_json


def diff_models(old: CompiledModel, new: CompiledModel, *, plan: MigrationPlan | None = None,
                engine: Engine | None = None, migrate: bool = True, old_path: str | None = None,
                new_path: str | None = None) -> Diff:
    """Everything that differs from `old` to `new`.

    `plan`: the migration plan to show (e.g. made against a live database); otherwise one is
    made as engine/diff/migration.py says. `engine`: a database at the old model, in which
    the rows and values the migration touches are counted (it is only read). `migrate=False`
    leaves the migration out (Diff.migration is None)."""
    changes, labels = compare(old, new)
    migration = plan_between(old, new, plan=plan, engine=engine) if migrate else None
    return Diff(old=Side(old.project, old.version, old_path), new=Side(new.project, new.version, new_path),
                changes=tuple(changes), migration=migration, labels=labels)


__all__ = ["CATEGORIES", "Change", "Diff", "Migration", "Side", "Step", "Touched", "diff_models", "from_json",
           "render", "to_json"]
