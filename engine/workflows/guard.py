"""What the records service asks before a write to an entity with a workflow.

* The state field changes only through a transition or a flow (the flow engine marks its
  own changes with `Context.workflow`): never by a form, the API or an import.
* A new record starts in the state field's default state.
* While an approval flow runs, the record is locked: only the people the flow's
  `lock.editable_by` names may edit it (approvers only the fields their node lets them
  edit). Admins may, and the audit log marks it as a bypass.
* In each state, fields may be read-only (`editable: false`, or field rules per state
  and role).
* A record under approval cannot be deleted: withdraw the flow first. (The engine itself may
  delete one: its flows then end, `end_with_record`.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..messages import N_, message
from ..records.context import Context
from ..records.errors import PermissionDenied, ValidationError
from ..records.values import input_keys
from ..storage import flow_history, flow_steps, flow_tasks, flows, jobs

STARTS_AS = N_("a new record starts as '%(state)s': the state then changes through its actions")
ONLY_BY_ACTIONS = N_("the state changes only through the record's actions (transitions), not by editing it")


def _same(a: Any, b: Any) -> bool:
    from ..records.service import jsonable

    return jsonable(a) == jsonable(b)


def check_create(model: Any, entity: Any, record: Mapping[str, Any], context: Context,
                 errors: dict[str, list[str]]) -> None:
    workflow = model.workflow_of(entity.name)
    if workflow is None or context.workflow or context.actor.system:  # trusted imports too: only the engine
        return
    start = entity.fields[workflow.field].default
    if start is not None and record.get(workflow.field) not in (None, start):
        errors.setdefault(workflow.field, []).append(message(STARTS_AS, state=start))


def running_flow(conn: Connection, entity: str, record_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(flows).where(flows.c.entity == entity, flows.c.record_id == record_id,
                                              flows.c.status.in_(("running", "returned")))
                       .order_by(flows.c.id.desc()).limit(1)).mappings().first()
    return dict(row) if row else None


def check_update(service: Any, conn: Connection, entity: Any, old: Mapping[str, Any], changes: Mapping[str, Any],
                 context: Context, errors: dict[str, list[str]]) -> bool:
    """Refuse what the workflow does not allow; returns True when an admin bypasses a lock
    or a read-only state (the audit log marks it)."""
    workflow = service.model.workflow_of(entity.name)
    actor = context.actor
    if workflow is None or context.workflow or actor.system:
        return False
    owners = input_keys(entity)  # a part (a person's last name) changes its field
    changed = list(dict.fromkeys(owners[k].name for k in changes
                                 if k in owners and not _same(changes[k], old.get(k))))
    if not changed:
        return False
    if workflow.field in changed:
        errors.setdefault(workflow.field, []).append(message(ONLY_BY_ACTIONS))
    bypass = False
    running = running_flow(conn, entity.name, old["id"])
    if running is not None and running["status"] == "running":
        flow = service.flows.pinned(conn, running["definition_id"])
        editable = _lock_allows(conn, flow, running, old, actor)
        if editable is False:
            if not actor.is_admin:
                raise PermissionDenied(entity.name, "update", message(N_("the record is under approval and locked")))
            bypass = True
        elif editable is not True:
            for key in changed:
                if key not in editable and key != workflow.field:
                    errors.setdefault(key, []).append(message(N_("locked during approval: your approval step does "
                                                                 "not let you change this field")))
        return bypass
    rule = workflow.state_rule(old.get(workflow.field))
    for key in changed:
        if key != workflow.field and rule.field_rule(key, actor.roles) == "read":
            if actor.is_admin:
                bypass = True
            else:
                errors.setdefault(key, []).append(message(N_("cannot be changed while the record is '%(state)s'"),
                                                          state=old.get(workflow.field)))
    return bypass


def _lock_allows(conn: Connection, flow: Any, running: Mapping[str, Any], record: Mapping[str, Any],
                 actor: Any) -> bool | set[str]:
    """True: may edit (within the usual rules); a set: only these fields; False: locked."""
    editors = set(flow.editable_by)
    if "submitter" in editors and running["submitter_id"] == actor.id:
        return True
    if "owner" in editors and record.get("owner") == actor.id:
        return True
    roles = editors - {"submitter", "owner", "approvers"}
    if roles and set(actor.roles) & roles:
        return True
    if "approvers" in editors:
        nodes = set(conn.execute(sa.select(flow_steps.c.node).join(flow_tasks, flow_tasks.c.step_id == flow_steps.c.id)
                                 .where(flow_tasks.c.flow_id == running["id"], flow_tasks.c.user_id == actor.id,
                                        flow_tasks.c.status == "open")).scalars())
        if nodes:
            return {f for n in nodes for f, rule in (flow.nodes[n].get("fields") or {}).items() if rule == "edit"}
    return False


def readonly_fields(service: Any, conn: Connection, entity: Any, old: Mapping[str, Any] | None,
                    context: Context) -> frozenset[str] | None:
    """For forms: the fields the workflow makes read-only now (always the state field), or
    None when the whole record is locked for this user. Admins are only kept off the
    state field (their edits of locked records are audited bypasses)."""
    workflow = service.model.workflow_of(entity.name)
    if workflow is None:
        return frozenset()
    state_only = frozenset({workflow.field})
    actor = context.actor
    if old is None or actor.is_admin or actor.system:
        return state_only
    running = running_flow(conn, entity.name, old["id"])
    if running is not None and running["status"] == "running":
        editable = _lock_allows(conn, service.flows.pinned(conn, running["definition_id"]), running, old, actor)
        if editable is False:
            return None
        if editable is True:
            return state_only
        return frozenset(n for n in entity.fields if n not in editable) | state_only
    rule = workflow.state_rule(old.get(workflow.field))
    return frozenset(n for n in entity.fields if rule.field_rule(n, actor.roles) == "read") | state_only


def check_delete(conn: Connection, entity: Any, record_id: int, context: Context) -> None:
    if context.actor.system or context.workflow:
        return
    if running_flow(conn, entity.name, record_id) is not None:
        raise ValidationError({"": [message(N_("the record is under approval: withdraw the approval before "
                                                 "deleting it"))]})


def end_with_record(conn: Connection, entity: Any, record_id: int, context: Context) -> None:
    """A record the engine deletes while its flow runs (users may not, `check_delete`): the
    flow ends as withdrawn, its open tasks and timeouts are cancelled, and its history says
    why, so no inbox keeps a task about a record that is gone."""
    running = list(conn.execute(sa.select(flows.c.id).where(
        flows.c.entity == entity.name, flows.c.record_id == record_id,
        flows.c.status.in_(("running", "returned")))).scalars())
    for flow_id in running:
        steps = list(conn.execute(sa.select(flow_steps.c.id).where(flow_steps.c.flow_id == flow_id,
                                                                   flow_steps.c.status == "active")).scalars())
        conn.execute(flow_tasks.update().where(flow_tasks.c.flow_id == flow_id,
                                               flow_tasks.c.status.in_(("open", "pending", "waiting")))
                     .values(status="cancelled", decided_at=context.now))
        conn.execute(flow_steps.update().where(flow_steps.c.flow_id == flow_id, flow_steps.c.status == "active")
                     .values(status="cancelled", finished_at=context.now))
        for step_id in steps:
            conn.execute(jobs.update().where(jobs.c.key.like(f"flow-timeout:{step_id}:%"), jobs.c.status == "pending")
                         .values(status="cancelled", finished_at=context.now))
        conn.execute(flows.update().where(flows.c.id == flow_id)
                     .values(status="withdrawn", finished_at=context.now, revision=flows.c.revision + 1))
        conn.execute(flow_history.insert().values(flow_id=flow_id, user_id=context.actor.id, action="record_deleted",
                                                  details={}, at=context.now))


def hidden_for_approver(service: Any, conn: Connection, entity: Any, record_id: int, actor: Any) -> frozenset[str]:
    """Fields an approval node hides from its approvers while they decide (`fields:
    {cost: hidden}`): they do not see them on the record while their task is open."""
    workflow = service.model.workflow_of(entity.name)
    if workflow is None or actor.id is None or not any(
            rule == "hidden" for flow in workflow.flows.values() for node in flow.nodes.values()
            for rule in (node.get("fields") or {}).values()):
        return frozenset()
    running = running_flow(conn, entity.name, record_id)
    if running is None:
        return frozenset()
    nodes = set(conn.execute(sa.select(flow_steps.c.node).join(flow_tasks, flow_tasks.c.step_id == flow_steps.c.id)
                             .where(flow_tasks.c.flow_id == running["id"], flow_tasks.c.user_id == actor.id,
                                    flow_tasks.c.status == "open")).scalars())
    flow = service.flows.pinned(conn, running["definition_id"])
    return frozenset(f for n in nodes for f, rule in (flow.nodes[n].get("fields") or {}).items() if rule == "hidden")
