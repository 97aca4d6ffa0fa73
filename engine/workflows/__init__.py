"""Workflows and approval flows (审批流) from workflows/*.yaml.

The pipeline, as for the rest of the engine:
* `checks.py` checks the merged YAML at start-up (E9xx codes);
* `definition.py` compiles it: states and transitions, and approval flows kept as plain
  definitions that running flows are pinned to;
* `guard.py` is what the records service asks before a write: no state change except by a
  transition, no edit of a locked record or a read-only state;
* `runtime.py` (`Flows`, `service.flows`) runs transitions and starts flows; `walk.py`
  moves a flow from node to node; `decisions.py` holds what people and timeouts do
  (approve, reject, send back, transfer, add an approver, withdraw, urge, resubmit);
* `duties.py` holds segregation of duties (no self-approval, approvers read what they
  approve), asked by resolving, passing on, adding, escalating and deciding;
* `inbox.py` reads what pages show (the inbox, a record's flows);
* `resolvers.py` and `actions.py` hold the built-in approver resolvers and actions,
  registered through the same hooks as a plugin's;
* `diagram.py` draws a flow as SVG; `jobs.py` holds the background jobs flows schedule.

docs/workflows.md is the guide.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# what plugins use, by module: imported when first asked for (the model, records and
# workflow packages import one another's modules, so nothing is imported up front)
_EXPORTS = {
    "ActionCheck": "actions", "ActionRun": "actions", "WorkflowAction": "actions",
    "Flow": "definition", "StateRule": "definition", "Transition": "definition", "Workflow": "definition",
    "parse_duration": "definition",
    "Argument": "resolvers", "Resolution": "resolvers", "Resolver": "resolvers",
    "Flows": "runtime", "FlowConflict": "runtime",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
