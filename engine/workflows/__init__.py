"""Workflows and approval flows (审批流) from workflows/*.yaml.

The pipeline, as for the rest of the engine:
* `checks.py` checks the merged YAML at start-up (E9xx codes);
* `definition.py` compiles it: states and transitions, and approval flows kept as plain
  definitions that running flows are pinned to;
* `guard.py` is what the records service asks before a write: no state change except by a
  transition, no edit of a locked record or a read-only state;
* `runtime.py` (`Flows`) runs transitions and flows: tasks, decisions, history, timeouts;
* `resolvers.py` and `actions.py` hold the built-in approver resolvers and actions,
  registered through the same hooks as a plugin's;
* `diagram.py` draws a flow as SVG; `jobs.py` holds the background jobs flows schedule.

docs/workflows.md is the guide.
"""

from .actions import ActionCheck, ActionRun, WorkflowAction
from .definition import Flow, StateRule, Transition, Workflow, parse_duration
from .resolvers import Argument, Resolution, Resolver

__all__ = ["ActionCheck", "ActionRun", "Argument", "Flow", "Resolution", "Resolver", "StateRule", "Transition",
           "Workflow", "WorkflowAction", "parse_duration"]
