"""Segregation of duties in approval flows: who may decide a request.

Two rules, checked on every path that puts a person on an approval or lets them decide:

* the submitter never decides their own request (approve, reject, send back, pass on, add an
  approver), unless the flow or the node says `allow_self_approval: true`;
* an approver must be able to read what they approve: one of their roles must let them read
  the entity (the flow then shares the record itself with them). Someone who could not
  open the record would approve it blind.

Where they apply:

* resolving approvers (a role, a manager chain, a department head that reaches the
  submitter or a non-reader): those people are *skipped*, and when nobody is left the node
  falls to its `when_nobody` policy (the administrators by default, the submitter never);
* transferring a task or adding an approver before or after: refused with a clear message,
  nothing changes;
* deciding (defence in depth): a task held by the submitter or by a non-reader cannot be
  decided, and an administrator acting for someone else is held to the same rules (an
  administrator who submitted the request cannot approve it for its approver);
* escalation on timeout skips a manager who is the submitter or cannot read.

The messages are marked for translation (`N_`): the pages translate them when they show them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..messages import N_, message
from ..permissions.org import load_actor
from ..records.context import Actor, Context
from ..records.errors import PermissionDenied, ValidationError
from ..storage import users

SELF_DECISION = message(N_("The submitter may not decide their own request."))
SELF_TARGET = message(N_("The submitter may not approve their own request: choose someone else."))
NOT_A_READER = message(N_("This person may not read this record, so they cannot approve it: choose someone else."))
NOBODY_ELSE = message(N_("Nobody but the submitter could approve this step: an administrator must name another "
                         "approver."))
NOT_A_READER_TASK = message(N_("The approver of this task may not read this record, so it cannot be decided: "
                               "pass it on to someone who can."))


def self_approval_allowed(flow_definition: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """`allow_self_approval` of the node, else of the flow (default false)."""
    if "allow_self_approval" in node:
        return bool(node["allow_self_approval"])
    return bool(flow_definition.get("allow_self_approval", False))


def actor_of(conn: Connection, user_id: int) -> Actor | None:
    """The active user as the permission checks see them, or None."""
    row = conn.execute(sa.select(users).where(users.c.id == user_id, users.c.is_active.is_(True))).mappings().first()
    return load_actor(conn, row) if row is not None else None


def may_read(service: Any, conn: Connection, entity: Any, user_id: int) -> bool:
    """Whether the user's roles let them read records of the entity at all (the flow shares
    the record itself with its approvers, so the entity right is what is missing otherwise)."""
    actor = actor_of(conn, user_id)
    if actor is None:
        return False
    access = service.access(entity, Context(actor=actor))
    return access.bypass or access.can("read")


def eligible(service: Any, conn: Connection, entity: Any, flow_definition: Mapping[str, Any],
             node: Mapping[str, Any], submitter: int | None, people: Iterable[int]) -> tuple[list[int], list[int]]:
    """(who may decide, who was skipped) among resolved approvers, in order."""
    allowed_self = self_approval_allowed(flow_definition, node)
    kept: list[int] = []
    skipped: list[int] = []
    for user_id in people:
        if (user_id == submitter and not allowed_self) or not may_read(service, conn, entity, user_id):
            skipped.append(user_id)
        else:
            kept.append(user_id)
    return kept, skipped


def check_target(service: Any, conn: Connection, entity: Any, flow_definition: Mapping[str, Any],
                 node: Mapping[str, Any], submitter: int | None, user_id: int, key: str) -> None:
    """A task is passed on or an approver added: refused when the person may not decide it."""
    if user_id == submitter and not self_approval_allowed(flow_definition, node):
        raise ValidationError({key: [SELF_TARGET]})
    if not may_read(service, conn, entity, user_id):
        raise ValidationError({key: [NOT_A_READER]})


def check_decider(service: Any, conn: Connection, entity: Any, flow_definition: Mapping[str, Any],
                  node: Mapping[str, Any], submitter: int | None, task_user: int, actor: Actor,
                  operation: str) -> None:
    """Someone decides a task (defence in depth: resolving and passing on already keep the
    submitter and non-readers off tasks). The engine itself (timeouts) is not a person."""
    if actor.system:
        return
    allowed_self = self_approval_allowed(flow_definition, node)
    if not allowed_self and actor.id == submitter:
        raise PermissionDenied(entity.name, operation, SELF_DECISION)
    # an administrator may pass on a task stuck with the submitter or a non-reader (to repair
    # it), never decide it for them
    repairing = operation == "transfer" and actor.id != task_user
    if repairing:
        return
    if not allowed_self and task_user == submitter:
        raise PermissionDenied(entity.name, operation, SELF_DECISION)
    if not may_read(service, conn, entity, task_user):
        raise PermissionDenied(entity.name, operation, NOT_A_READER_TASK)
