"""`flow_world(approvals_yaml)` builds a project with a `deal` entity, roles, an organisation
and a workflow whose `submit` transition starts the flow given as YAML (its `nodes:` and
other keys), on SQLite and PostgreSQL (see flowutil.py)."""

from __future__ import annotations

import pytest
from flowutil import ACCOUNT, DEAL, NOTE, ROLES, World, workflow_yaml


@pytest.fixture
def flow_world(make_project, db_url):
    """`flow_world(approvals_yaml, transitions="", states="", files={})` -> World."""
    from engine.migrate import apply_plan, plan_migration
    from engine.model import load_model
    from engine.records import RecordService
    from engine.storage import make_engine

    engines = []

    def make(approvals: str, transitions: str = "", states: str = "", files: dict | None = None) -> World:
        project = {"entities/deal.yaml": DEAL, "entities/memo.yaml": NOTE, "entities/account.yaml": ACCOUNT,
                   "roles.yaml": ROLES,
                   "workflows/deal.yaml": workflow_yaml(approvals, transitions, states)}
        project.update(files or {})
        root = make_project(project)
        model = load_model(root, entry_points=False)
        engine = make_engine(db_url)
        engines.append(engine)
        apply_plan(engine, plan_migration(engine, model.metadata, project=model.project,
                                          metadata_version=model.version))
        world = World(RecordService(model, engine))
        world.root, world.url = root, db_url
        return world

    yield make
    for engine in engines:
        engine.dispose()
