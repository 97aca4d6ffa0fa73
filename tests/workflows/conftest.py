"""`flow_world(approvals_yaml)` builds a project with a `deal` entity, roles, an organisation
and a workflow whose `submit` transition starts the flow given as YAML (its `nodes:` and
other keys), on SQLite and PostgreSQL (see flowutil.py)."""

from __future__ import annotations

import pytest
from flowutil import DEAL, NOTE, ROLES, World, workflow_yaml


@pytest.fixture
def flow_world(service_for):
    """`flow_world(approvals_yaml, transitions="", states="", files={})` -> World."""

    def make(approvals: str, transitions: str = "", states: str = "", files: dict | None = None) -> World:
        project = {"entities/deal.yaml": DEAL, "entities/memo.yaml": NOTE, "roles.yaml": ROLES,
                   "workflows/deal.yaml": workflow_yaml(approvals, transitions, states)}
        project.update(files or {})
        return World(service_for(project))

    return make
