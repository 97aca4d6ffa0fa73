"""The flow engine: runs transitions and approval flows through the records service.

Every operation (a transition, approve, reject, send back, transfer, add an approver,
withdraw, urge, resubmit, a timeout) is one transaction that first bumps the flow's
`revision` (a row lock on PostgreSQL; SQLite writers queue at BEGIN IMMEDIATE). Whoever
comes second therefore sees the first one's outcome: two approvers deciding at the same
moment on a first-decision node give one decision, and a double-clicked approve is
refused the second time ("already decided"), not recorded twice.

State changes go through `RecordService.update` with `Context.workflow` set, which the
guard (guard.py) lets through: audited like any change, seen by hooks, in the same
transaction as the flow's own rows. The history (`tailor_flow_history`) is append-only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .. import jobs as job_queue
from .. import notify as notifications
from ..expr import compile_expression
from ..model.model import Entity, text
from ..permissions import org
from ..records.context import SYSTEM, Actor, Context
from ..records.errors import NotFound, PermissionDenied, RecordError, ValidationError
from ..storage import flow_definitions, flow_history, flow_steps, flow_tasks, flows, users
from .actions import ActionRun
from .definition import END, Flow, Transition, Workflow, parse_duration
from .resolvers import Resolution, split_approver

DECISIONS = ("approve", "reject", "send_back", "transfer", "add_before", "add_after")  # a person acted
ACTIVE = ("open", "pending", "waiting")
URGE_EVERY = timedelta(hours=1)


class FlowConflict(RecordError):
    """The flow or task is no longer where the user saw it (someone acted first)."""

    status = 409


@dataclass
class Run:
    """One operation on one flow: its row (locked), its pinned definition, the user."""

    conn: Connection
    row: dict[str, Any]
    flow: Flow
    entity: Entity
    context: Context

    @property
    def id(self) -> int:
        return self.row["id"]


class Flows:
    def __init__(self, service: Any):
        self.service = service
        self.model = service.model
        self._pinned: dict[int, Flow] = {}
        self._expressions: dict[tuple, Any] = {}

    # -- helpers ----------------------------------------------------------------------------
    def expression(self, entity: Entity, source: str, expected: str | None = None) -> Any:
        """A pinned flow's condition compiled against the entity as it is now (cached)."""
        key = (entity.name, source, expected)
        found = self._expressions.get(key)
        if found is None:
            found = self._expressions[key] = compile_expression(source, entity.env, expected=expected)
        return found

    def workflow_of(self, entity: str) -> Workflow | None:
        return self.model.workflow_of(entity)

    def _record(self, entity: Entity, record_id: int) -> dict[str, Any]:
        return self.service.get(entity.name, record_id, Context(actor=SYSTEM))

    def _system(self, context: Context) -> Context:
        """The user's context, marked as the flow engine's own change (the guard lets it through)."""
        return replace(context, workflow=True)

    def _what(self, entity: Entity, record: Mapping[str, Any]) -> dict[str, str]:
        """The record as each language names it, for notifications."""
        title = record.get(entity.title_field) if entity.title_field else None
        title = title or f"#{record['id']}"
        return {lang: f"{entity.label_text(lang)} {title}" for lang in ("en", "zh", *self.model.languages)}

    def _name(self, conn: Connection, user_id: int | None) -> str:
        if user_id is None:
            return "Tailor"
        row = conn.execute(sa.select(users.c.display_name, users.c.username).where(users.c.id == user_id)).first()
        return (row.display_name or row.username) if row else f"#{user_id}"

    def notify(self, user_ids: Iterable[int], kind: str, entity: str, record: Mapping[str, Any], *,
               who: int | None = None, message: Any = None, flow_id: int | None = None,
               conn: Connection | None = None, now: datetime | None = None) -> None:
        entity_ = self.model.entity(entity)
        with self.service._write() as write:
            conn = conn or write
            notifications.notify(conn, user_ids, kind, now=now or Context().now, what=self._what(entity_, record),
                                 who=self._name(conn, who), link=f"/e/{entity}/{record['id']}", entity=entity,
                                 record_id=record["id"], flow_id=flow_id, message=message)

    def resolve(self, approvers: Sequence[Mapping[str, Any]], record: Mapping[str, Any], submitter: int | None,
                picked: Sequence[int] = (), conn: Connection | None = None) -> list[int]:
        """Active users the approvers name, in order, each once."""
        found: list[int] = []
        with self.service._read() as read:
            conn = conn or read
            resolution = Resolution(conn, record, submitter, picked)
            for item in approvers:
                resolver, _ = split_approver(item, self.model.resolvers)
                if resolver is not None:
                    found += resolver.resolve(resolution, dict(item))
            ids = list(dict.fromkeys(u for u in found if u is not None))
            if not ids:
                return []
            active = set(conn.execute(sa.select(users.c.id).where(users.c.id.in_(ids),
                                                                   users.c.is_active.is_(True))).scalars())
        return [u for u in ids if u in active]

    def set_fields(self, entity: str, record: dict[str, Any], changes: Mapping[str, Any], context: Context) -> None:
        """The `set` action: through the records service, as the flow engine."""
        current = self.service.get(entity, record["id"], Context(actor=SYSTEM))
        saved = self.service.update(entity, record["id"], dict(changes), version=current["version"],
                                    context=self._system(context), trusted=True)
        record.update(saved)

    def create_record(self, entity: str, values: Mapping[str, Any], context: Context) -> dict[str, Any]:
        return self.service.create(entity, dict(values), self._system(context), trusted=True)

    def _run_actions(self, actions: Iterable[Mapping[str, Any]], entity: Entity, record: dict[str, Any],
                     context: Context, submitter: int | None, flow_id: int | None = None) -> None:
        for item in actions:
            for name, args in item.items():
                action = self.model.workflow_actions.get(name)
                if action is None:  # a pinned flow naming an action a plugin no longer provides
                    raise ValidationError({"": [f"workflow action '{name}' is not available"]})
                action.run(ActionRun(self, entity, record, context, submitter, flow_id), args)

    # -- transitions --------------------------------------------------------------------------
    def transitions(self, entity_name: str, record: Mapping[str, Any], context: Context) -> list[Transition]:
        """The transitions the user may run on the record now (pages show only these)."""
        workflow = self.workflow_of(entity_name)
        if workflow is None or self.running(entity_name, record["id"]) is not None:
            return []
        state = record.get(workflow.field)
        full = None
        found = []
        for transition in workflow.transitions_from(state):
            if full is None:
                full = self._record(self.model.entity(entity_name), record["id"])
            if self._may_run(transition, entity_name, full, context):
                found.append(transition)
        return found

    def _may_run(self, transition: Transition, entity: str, record: Mapping[str, Any], context: Context) -> bool:
        actor = context.actor
        access = self.service.access(entity, context)
        if not actor.system and not actor.is_admin:
            granted = access.can(transition.name)
            by_role = bool(transition.roles & set(actor.roles))
            by_update = not transition.roles and access.can("update")
            if not (granted or by_role or by_update):
                return False
            action = transition.name if granted else "update" if by_update else "read"
            with self.service._read() as conn:
                if not self.service._reaches(conn, access, record, action, context):
                    return False
        if transition.who is not None and not (actor.system or actor.is_admin):  # admins bypass who-rules
            return bool(transition.who.evaluate(record, context.variables, context.now))
        return True

    def run_transition(self, entity_name: str, record_id: Any, name: str, context: Context, *,
                       version: int | None = None, data: Mapping[str, Any] | None = None, comment: str = "",
                       picked: Mapping[str, Sequence[int]] | None = None) -> dict[str, Any]:
        """Run a transition: check who and the condition, save `data` (the fields it asks
        for), move the state, run its actions, start its approval flow. All or nothing."""
        entity = self.service._entity(entity_name)
        workflow = self.workflow_of(entity.name)
        if workflow is None or name not in workflow.transitions:
            raise NotFound(f"{entity_name} transition", name)
        transition = workflow.transitions[name]
        record = self.service.get(entity.name, record_id, context)  # 404 for a record the user cannot see
        comment = (comment or "").strip()
        with self.service.transaction() as conn:
            full = self._record(entity, record["id"])
            if version is not None and int(version) != full["version"]:
                from ..records.errors import ConflictError

                raise ConflictError(entity.name, full["id"], int(version), record)
            if self._running_row(conn, entity.name, full["id"]) is not None:
                raise FlowConflict(f"{entity.label_text()} {full['id']} is under approval: wait for it to finish")
            if not transition.starts_from(full.get(workflow.field)):
                raise FlowConflict(f"'{transition.label_text('en')}' is not possible from state "
                                   f"'{full.get(workflow.field)}'")
            if not self._may_run(transition, entity.name, full, context):
                raise PermissionDenied(entity.name, name, f"you may not {transition.label_text('en').lower()} this "
                                                          f"{entity.label_text().lower()}")
            errors: dict[str, list[str]] = {}
            if transition.comment == "required" and not comment:
                errors["comment"] = ["a comment is required"]
            if len(comment) > 5000:
                errors["comment"] = ["a comment is at most 5,000 characters"]
            changes = {k: v for k, v in (data or {}).items() if k in transition.requires}
            if changes:  # the fields the transition asks for, within the user's field rights
                access = self.service.access(entity, context)
                for key in changes:
                    if not access.editable(key, "update") and not context.actor.is_admin:
                        errors.setdefault(key, []).append("you may not change this field")
                if not errors:
                    full = self.service.update(entity.name, full["id"], changes, version=full["version"],
                                               context=self._system(context))
            for key in transition.requires:
                if full.get(key) in (None, "", []) and key not in errors:
                    errors.setdefault(key, []).append("required to " + transition.label_text("en").lower())
            if transition.condition is not None and not transition.condition.evaluate(full, context.variables,
                                                                                    context.now):
                errors.setdefault("", []).append(text(transition.message, context.actor.language, "")
                                                 or f"the condition of '{name}' is not met")
            if errors:
                raise ValidationError(errors)
            before = full.get(workflow.field)
            full = self.service.update(entity.name, full["id"], {workflow.field: transition.target},
                                       version=full["version"], context=self._system(context))
            self._run_actions(transition.actions, entity, full, context, context.actor.id)
            if transition.approval:
                flow = workflow.flows[transition.approval]
                self._start(conn, flow, entity, full, context, before, transition.target, picked or {}, comment)
        return self.service.get(entity.name, full["id"], context)

    # -- starting ------------------------------------------------------------------------------
    def _definition_id(self, conn: Connection, flow: Flow) -> int:
        found = conn.execute(sa.select(flow_definitions.c.id).where(flow_definitions.c.hash == flow.hash)).scalar()
        if found is None:
            found = conn.execute(flow_definitions.insert().values(
                hash=flow.hash, workflow=flow.workflow, flow=flow.name, definition=flow.definition,
                created_at=Context().now).returning(flow_definitions.c.id)).scalar_one()
            self._pinned[found] = flow
        return found

    def pinned(self, conn: Connection, definition_id: int) -> Flow:
        found = self._pinned.get(definition_id)
        if found is None:
            definition = conn.execute(sa.select(flow_definitions.c.definition)
                                      .where(flow_definitions.c.id == definition_id)).scalar_one()
            found = self._pinned[definition_id] = Flow(definition)
        return found

    def _start(self, conn: Connection, flow: Flow, entity: Entity, record: dict[str, Any], context: Context,
               before: str | None, during: str | None, picked: Mapping[str, Sequence[int]], comment: str = "") -> int:
        picks = self._check_picks(conn, flow, picked)
        flow_id = conn.execute(flows.insert().values(
            definition_id=self._definition_id(conn, flow), workflow=flow.workflow, flow=flow.name, entity=entity.name,
            record_id=record["id"], status="running", submitter_id=context.actor.id, state_before=before,
            running_state=during, picked=picks, revision=0, started_at=context.now).returning(flows.c.id)).scalar_one()
        run = Run(conn, dict(conn.execute(sa.select(flows).where(flows.c.id == flow_id)).mappings().one()), flow,
                  entity, context)
        self._history(run, "submit", context.actor.id, comment or None)
        self._run_actions(flow.actions("submit"), entity, record, context, context.actor.id, flow_id)
        self._enter(run, flow.start, "")
        return flow_id

    def _check_picks(self, conn: Connection, flow: Flow, picked: Mapping[str, Sequence[int]]) -> dict[str, list[int]]:
        """Approvers the submitter picked, node by node, within each node's allowed range."""
        from .resolvers import picking_range

        found: dict[str, list[int]] = {}
        for name, node in flow.nodes.items():
            for item in node.get("approvers") or []:
                if "picked" not in item:
                    continue
                chosen = [int(u) for u in picked.get(name) or [] if str(u).isdigit()]
                allowed = set(picking_range(conn, item))
                wrong = [u for u in chosen if u not in allowed]
                limit = item.get("max")
                if wrong or (limit and len(chosen) > int(limit)):
                    raise ValidationError({f"picked.{name}": [
                        f"pick {'at most ' + str(limit) + ' ' if limit else ''}approvers from those offered"]})
                found[name] = chosen
        return found

    def start_when(self, entity: Entity, record: dict[str, Any], old: Mapping[str, Any] | None,
                   context: Context) -> None:
        """Flows with `start_when` start by themselves when a saved record comes to meet the
        condition (called by the records service after a save, in its transaction)."""
        workflow = self.workflow_of(entity.name)
        if workflow is None or context.workflow:
            return
        for flow in workflow.flows.values():
            if not flow.start_when:
                continue
            condition = self.expression(entity, flow.start_when, "boolean")
            if not condition.evaluate(record, context.variables, context.now):
                continue
            if old is not None and condition.evaluate(old, context.variables, context.now):
                continue  # it met the condition already: the flow started then (or was decided)
            with self.service._write() as conn:
                if self._running_row(conn, entity.name, record["id"]) is None:
                    state = record.get(workflow.field)
                    self._start(conn, flow, entity, record, context, state, state, {})

    # -- nodes -----------------------------------------------------------------------------------
    def _history(self, run: Run, action: str, user_id: int | None, comment: str | None = None, *,
                 step: Mapping[str, Any] | None = None, task_id: int | None = None, **details: Any) -> None:
        run.conn.execute(flow_history.insert().values(
            flow_id=run.id, step_id=step["id"] if step else None, node=step["node"] if step else None, task_id=task_id,
            user_id=user_id, action=action, comment=comment, details=_jsonable(details), at=run.context.now))

    def _new_step(self, run: Run, node: str, branch: str) -> dict[str, Any]:
        step_id = run.conn.execute(flow_steps.insert().values(
            flow_id=run.id, node=node, branch=branch, status="active", started_at=run.context.now)
            .returning(flow_steps.c.id)).scalar_one()
        return {"id": step_id, "node": node, "branch": branch, "status": "active", "started_at": run.context.now}

    def _close_step(self, run: Run, step: Mapping[str, Any], outcome: str, status: str = "done") -> None:
        """The step is over: its undecided tasks are no longer needed, its timeouts neither."""
        run.conn.execute(flow_tasks.update().where(flow_tasks.c.step_id == step["id"],
                                                   flow_tasks.c.status.in_(ACTIVE))
                         .values(status="cancelled", decided_at=run.context.now))
        run.conn.execute(flow_steps.update().where(flow_steps.c.id == step["id"]).values(
            status=status, outcome=outcome, finished_at=run.context.now))
        job_queue.cancel(run.conn, f"flow-timeout:{step['id']}:")

    def _enter(self, run: Run, name: str, branch: str) -> None:
        """Reach a node: conditions and cc nodes pass through at once, parallel nodes fork,
        approval nodes open tasks and wait."""
        for _ in range(1000):  # a checked flow cannot loop without a decision; a guard all the same
            if run.row["status"] != "running":
                return
            if branch and name == self._join_of(run, branch):
                self._branch_done(run, branch)
                return
            if name == END:
                if branch:
                    self._branch_done(run, branch)
                else:
                    self._finish(run, "approved")
                return
            node = run.flow.nodes[name]
            step = self._new_step(run, name, branch)
            kind = node["type"]
            if kind == "condition":
                name = self._choose(run, step, node)
                continue
            if kind == "cc":
                self._copy(run, step, node)
                name = node.get("next", END)
                continue
            if kind == "parallel":
                self._history(run, "fork", None, step=step, branches=list(node["branches"]))
                for i, first in enumerate(node["branches"]):
                    if self._step_status(run, step["id"]) != "active":
                        break  # a branch ended the join (join: any) or the flow
                    self._enter(run, first, f"{branch}/{step['id']}.{i}")
                return
            self._open_approval(run, step, node)
            return
        raise RuntimeError("the flow did not settle")  # pragma: no cover

    def _step_status(self, run: Run, step_id: int) -> str:
        return run.conn.execute(sa.select(flow_steps.c.status).where(flow_steps.c.id == step_id)).scalar_one()

    def _join_of(self, run: Run, branch: str) -> str | None:
        step_id = int(branch.rsplit("/", 1)[1].split(".")[0])
        node = run.conn.execute(sa.select(flow_steps.c.node).where(flow_steps.c.id == step_id)).scalar_one()
        return run.flow.nodes[node].get("next", END)

    def _branch_done(self, run: Run, branch: str) -> None:
        parent, segment = branch.rsplit("/", 1)
        step_id, index = (int(x) for x in segment.split("."))
        step = dict(run.conn.execute(sa.select(flow_steps).where(flow_steps.c.id == step_id)).mappings().one())
        if step["status"] != "active":
            return
        node = run.flow.nodes[step["node"]]
        self._history(run, "branch_done", None, step=step, branch=index)
        finished = run.conn.execute(sa.select(sa.func.count()).where(
            flow_history.c.flow_id == run.id, flow_history.c.step_id == step_id,
            flow_history.c.action == "branch_done")).scalar_one()
        if node.get("join") != "any" and finished < len(node["branches"]):
            return
        self._cancel_within(run, f"{parent}/{step_id}.")  # join: any leaves the other branches
        self._close_step(run, step, "passed")
        self._enter(run, node.get("next", END), parent)

    def _cancel_within(self, run: Run, prefix: str) -> None:
        """Close the open steps and tasks of branches under `prefix` (or every one: '')."""
        steps = run.conn.execute(sa.select(flow_steps.c.id).where(
            flow_steps.c.flow_id == run.id, flow_steps.c.status == "active",
            flow_steps.c.branch.startswith(prefix, autoescape=True) if prefix else sa.true())).scalars().all()
        if not steps:
            return
        run.conn.execute(flow_tasks.update().where(flow_tasks.c.step_id.in_(steps), flow_tasks.c.status.in_(ACTIVE))
                         .values(status="cancelled", decided_at=run.context.now))
        for step_id in steps:
            run.conn.execute(flow_steps.update().where(flow_steps.c.id == step_id).values(
                status="cancelled", finished_at=run.context.now))
            job_queue.cancel(run.conn, f"flow-timeout:{step_id}:")

    def _choose(self, run: Run, step: Mapping[str, Any], node: Mapping[str, Any]) -> str:
        record = self._record(run.entity, run.row["record_id"])
        for i, case in enumerate(node.get("cases") or []):
            try:
                holds = self.expression(run.entity, case["when"], "boolean").evaluate(
                    record, run.context.variables, run.context.now)
            except Exception as exc:  # a pinned condition the entity no longer fits: noted, not taken
                self._history(run, "condition_error", None, step=step, case=i + 1, error=str(exc)[:300])
                holds = False
            if holds:
                self._history(run, "condition", None, step=step, case=i + 1, when=case["when"], next=case["next"])
                self._close_step(run, step, "passed")
                return case["next"]
        self._history(run, "condition", None, step=step, case="default", next=node["default"])
        self._close_step(run, step, "passed")
        return node["default"]

    def _copy(self, run: Run, step: Mapping[str, Any], node: Mapping[str, Any]) -> None:
        record = self._record(run.entity, run.row["record_id"])
        people = self.resolve(node["to"], record, run.row["submitter_id"], conn=run.conn)
        for user_id in people:
            self._task(run, step, user_id, "cc", "unread")
            self._grant(run, user_id)
        self.notify(people, "cc", run.entity.name, record, who=run.row["submitter_id"], flow_id=run.id,
                    conn=run.conn, now=run.context.now)
        self._history(run, "cc", None, step=step, users=people)
        self._close_step(run, step, "passed")
        self._run_actions(node.get("actions") or [], run.entity, record, run.context, run.row["submitter_id"], run.id)

    def _task(self, run: Run, step: Mapping[str, Any], user_id: int, kind: str, status: str, seq: int = 0,
              required: bool = False, added_by: int | None = None) -> int:
        return run.conn.execute(flow_tasks.insert().values(
            flow_id=run.id, step_id=step["id"], user_id=user_id, kind=kind, status=status, seq=seq,
            required=required, added_by=added_by, created_at=run.context.now).returning(flow_tasks.c.id)).scalar_one()

    def _grant(self, run: Run, user_id: int) -> None:
        """Approvers and people copied may read the record (a share; it stays afterwards)."""
        if org.share_of(run.conn, run.entity.name, run.row["record_id"], Actor(id=user_id)) is None:
            org.share(run.conn, run.entity.name, run.row["record_id"], access="read", by=None, user_id=user_id)

    def _approved_by(self, run: Run) -> set[int]:
        """Who approved in this round: a send-back starts a new round, where earlier
        approvals do not count."""
        since = run.conn.execute(sa.select(sa.func.max(flow_history.c.id)).where(
            flow_history.c.flow_id == run.id, flow_history.c.action.in_(("send_back", "resubmit")))).scalar() or 0
        return set(run.conn.execute(sa.select(flow_history.c.user_id).where(
            flow_history.c.flow_id == run.id, flow_history.c.action == "approve",
            flow_history.c.id > since)).scalars())

    def _admins(self, conn: Connection) -> list[int]:
        return list(conn.execute(sa.select(users.c.id).where(users.c.is_admin.is_(True), users.c.is_active.is_(True))
                                 .order_by(users.c.id)).scalars())

    def _open_approval(self, run: Run, step: dict[str, Any], node: Mapping[str, Any]) -> None:
        record = self._record(run.entity, run.row["record_id"])
        picked = (run.row.get("picked") or {}).get(step["node"]) or ()
        people = self.resolve(node["approvers"], record, run.row["submitter_id"], picked, conn=run.conn)
        if people and node.get("skip_approved", True):
            earlier = self._approved_by(run)
            kept = [u for u in people if u not in earlier]
            if not kept:
                self._history(run, "skip", None, step=step, reason="already approved", users=people)
                self._node_done(run, step)
                return
            people = kept
        if not people:
            policy = node.get("when_nobody", "admin")
            if policy == "approve":
                self._history(run, "auto_approve", None, step=step, reason="no approver")
                self._node_done(run, step)
                return
            if policy != "admin":
                named = run.conn.execute(sa.select(users.c.id).where(users.c.username == policy,
                                                                     users.c.is_active.is_(True))).scalar()
                people = [named] if named is not None else []
            people = people or self._admins(run.conn)
            if not people:
                self._history(run, "auto_approve", None, step=step, reason="no approver and no administrator")
                self._node_done(run, step)
                return
            self._history(run, "no_approver", None, step=step, policy=policy, users=people)
        mode = node.get("mode", "any")
        for i, user_id in enumerate(people):
            self._task(run, step, user_id, "approval", "pending" if mode == "sequential" and i else "open", seq=i)
            self._grant(run, user_id)
        first = people[:1] if mode == "sequential" else people
        self._history(run, "assign", None, step=step, users=people, mode=mode)
        self.notify(first, "task", run.entity.name, record, who=run.row["submitter_id"], flow_id=run.id,
                    conn=run.conn, now=run.context.now)
        self._schedule_timeouts(run, step, node, record)

    def _schedule_timeouts(self, run: Run, step: Mapping[str, Any], node: Mapping[str, Any],
                           record: Mapping[str, Any]) -> None:
        for i, timeout in enumerate(node.get("timeouts") or []):
            if "after" in timeout:
                due = step["started_at"] + parse_duration(timeout["after"])
            else:
                value = record.get(timeout["field"])
                if value is None:
                    continue
                if not isinstance(value, datetime):
                    value = datetime(value.year, value.month, value.day, tzinfo=run.context.now.tzinfo)
                due = value + parse_duration(timeout.get("offset") or "0m")
            job_queue.schedule(run.conn, "flow.timeout", f"flow-timeout:{step['id']}:{i}", due,
                               {"flow": run.id, "step": step["id"], "index": i})

    def _node_done(self, run: Run, step: Mapping[str, Any]) -> None:
        """The node is approved: close what is left of it, run its actions, go on."""
        self._close_step(run, step, "approved")
        node = run.flow.nodes[step["node"]]
        if node.get("actions"):
            record = self._record(run.entity, run.row["record_id"])
            self._run_actions(node["actions"], run.entity, record, run.context, run.row["submitter_id"], run.id)
        self._enter(run, node.get("next", END), step["branch"])

    def _move_state(self, run: Run, state: str | None) -> None:
        if not state:
            return
        workflow = self.workflow_of(run.entity.name)
        field = workflow.field if workflow else run.flow.field
        record = self._record(run.entity, run.row["record_id"])
        if record.get(field) != state:
            self.service.update(run.entity.name, record["id"], {field: state}, version=record["version"],
                                context=self._system(run.context), trusted=True)

    def _set_status(self, run: Run, status: str, **values: Any) -> None:
        run.conn.execute(flows.update().where(flows.c.id == run.id).values(status=status, **values))
        run.row.update(status=status, **values)

    def _finish(self, run: Run, outcome: str, by: int | None = None) -> None:
        """The flow ends: approved, rejected or withdrawn. The record moves to the outcome's
        state, the outcome's actions run, the submitter hears of it."""
        self._cancel_within(run, "")
        self._set_status(run, outcome, finished_at=run.context.now)
        self._history(run, outcome, by)
        target = run.flow.outcomes.get(outcome) or (run.row["state_before"] if outcome == "withdrawn" else None)
        self._move_state(run, target)
        record = self._record(run.entity, run.row["record_id"])
        event = {"approved": "approve", "rejected": "reject", "withdrawn": "withdraw"}[outcome]
        self._run_actions(run.flow.actions(event), run.entity, record, run.context, run.row["submitter_id"], run.id)
        if outcome != "withdrawn":
            self.notify([run.row["submitter_id"]], outcome, run.entity.name, record, who=by, flow_id=run.id,
                        conn=run.conn, now=run.context.now)

    # -- operations ----------------------------------------------------------------------------
    def _lock(self, conn: Connection, flow_id: int, context: Context) -> Run:
        """Bump the flow's revision (a row lock) and read it: whoever comes second sees what
        the first did."""
        bumped = conn.execute(flows.update().where(flows.c.id == flow_id)
                              .values(revision=flows.c.revision + 1)).rowcount
        if bumped != 1:
            raise NotFound("approval", flow_id)
        row = dict(conn.execute(sa.select(flows).where(flows.c.id == flow_id)).mappings().one())
        return Run(conn, row, self.pinned(conn, row["definition_id"]), self.model.entity(row["entity"]), context)

    def _open_task(self, conn: Connection, task_id: Any, context: Context) -> tuple[Run, dict, dict]:
        """The task, locked with its flow; only its assignee (or an admin) may act on it."""
        try:
            task_id = int(task_id)
        except (TypeError, ValueError):
            raise NotFound("task", task_id) from None
        flow_id = conn.execute(sa.select(flow_tasks.c.flow_id).where(flow_tasks.c.id == task_id)).scalar()
        if flow_id is None:
            raise NotFound("task", task_id)
        run = self._lock(conn, flow_id, context)
        task = dict(conn.execute(sa.select(flow_tasks).where(flow_tasks.c.id == task_id)).mappings().one())
        actor = context.actor
        if task["user_id"] != actor.id and not (actor.is_admin or actor.system):
            raise NotFound("task", task_id)  # someone else's task: as if it did not exist
        if task["kind"] != "approval" or run.row["status"] != "running" or task["status"] != "open":
            raise FlowConflict("this approval was already decided (or is not yours to decide now)")
        step = dict(conn.execute(sa.select(flow_steps).where(flow_steps.c.id == task["step_id"])).mappings().one())
        return run, task, step

    def _comment(self, node: Mapping[str, Any], comment: str, deciding: str) -> str | None:
        comment = (comment or "").strip()
        rule = node.get("comment", "on_reject")
        if not comment and (rule == "required" or (rule == "on_reject" and deciding != "approve")):
            raise ValidationError({"comment": ["a comment is required"]})
        if len(comment) > 5000:
            raise ValidationError({"comment": ["a comment is at most 5,000 characters"]})
        return comment or None

    def _decide(self, run: Run, task: Mapping[str, Any], status: str, comment: str | None) -> None:
        changed = run.conn.execute(flow_tasks.update().where(flow_tasks.c.id == task["id"],
                                                             flow_tasks.c.status == "open")
                                   .values(status=status, decided_at=run.context.now, comment=comment)).rowcount
        if changed != 1:
            raise FlowConflict("this approval was already decided")

    def _acting(self, run: Run, task: Mapping[str, Any]) -> dict[str, Any]:
        """History details when an admin acts on someone else's task (audited)."""
        actor = run.context.actor
        return {"on_behalf_of": task["user_id"]} if actor.id != task["user_id"] else {}

    def approve(self, task_id: Any, context: Context, comment: str = "", data: Mapping[str, Any] | None = None) -> None:
        """Approve; `data` holds the fields the node lets the approver edit."""
        with self.service.transaction() as conn:
            run, task, step = self._open_task(conn, task_id, context)
            node = run.flow.nodes[step["node"]]
            comment = self._comment(node, comment, "approve")
            if data:
                self._edit_as_approver(run, node, data)
            self._decide(run, task, "approved", comment)
            self._history(run, "approve", context.actor.id, comment, step=step, task_id=task["id"],
                          **self._acting(run, task))
            self._after_approval(run, step, node, task)

    def _edit_as_approver(self, run: Run, node: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        rules = node.get("fields") or {}
        refused = {k: ["this approval step does not let you change this field"]
                   for k in data if rules.get(k) != "edit"}
        if refused:
            raise ValidationError(refused)
        record = self._record(run.entity, run.row["record_id"])
        self.service.update(run.entity.name, record["id"], dict(data), version=record["version"],
                            context=self._system(run.context))

    def _after_approval(self, run: Run, step: Mapping[str, Any], node: Mapping[str, Any],
                        task: Mapping[str, Any]) -> None:
        conn = run.conn
        waiting = conn.execute(sa.select(flow_tasks.c.id, flow_tasks.c.user_id).where(
            flow_tasks.c.waiting_for == task["id"], flow_tasks.c.status == "waiting")).first()
        if waiting is not None:  # an approver added before someone: that someone's turn again
            conn.execute(flow_tasks.update().where(flow_tasks.c.id == waiting.id).values(status="open"))
            self._notify_task(run, [waiting.user_id], "task")
            return
        tasks = conn.execute(sa.select(flow_tasks).where(flow_tasks.c.step_id == step["id"])
                             .order_by(flow_tasks.c.seq, flow_tasks.c.id)).mappings().all()
        left = [t for t in tasks if t["status"] in ACTIVE]
        mode = node.get("mode", "any")
        if mode == "any":
            done = not any(t["required"] for t in left)
        elif mode == "all":
            done = not left
        else:  # sequential: the next in line, if any
            if any(t["status"] == "open" for t in left):
                return
            pending = [t for t in left if t["status"] == "pending"]
            if pending:
                conn.execute(flow_tasks.update().where(flow_tasks.c.id == pending[0]["id"]).values(status="open"))
                self._notify_task(run, [pending[0]["user_id"]], "task")
                return
            done = not left
        if done:
            self._node_done(run, step)

    def _notify_task(self, run: Run, people: Sequence[int], kind: str, who: int | None = None) -> None:
        record = self._record(run.entity, run.row["record_id"])
        self.notify(people, kind, run.entity.name, record, who=who if who is not None else run.row["submitter_id"],
                    flow_id=run.id, conn=run.conn, now=run.context.now)

    def reject(self, task_id: Any, context: Context, comment: str = "") -> None:
        with self.service.transaction() as conn:
            run, task, step = self._open_task(conn, task_id, context)
            comment = self._comment(run.flow.nodes[step["node"]], comment, "reject")
            self._decide(run, task, "rejected", comment)
            self._history(run, "reject", context.actor.id, comment, step=step, task_id=task["id"],
                          **self._acting(run, task))
            self._close_step(run, step, "rejected")
            self._finish(run, "rejected", context.actor.id)

    def send_back(self, task_id: Any, context: Context, comment: str = "", to: str = "submitter") -> None:
        """Send back to the submitter (who may edit and resubmit) or to an earlier node."""
        with self.service.transaction() as conn:
            run, task, step = self._open_task(conn, task_id, context)
            comment = self._comment(run.flow.nodes[step["node"]], comment, "send_back")
            targets = self.send_back_targets(conn, run.id, step)
            if to != "submitter" and to not in targets:
                raise ValidationError({"to": ["send it back to the submitter or to a step it has passed"]})
            self._decide(run, task, "returned", comment)
            self._history(run, "send_back", context.actor.id, comment, step=step, task_id=task["id"], to=to,
                          **self._acting(run, task))
            if to == "submitter":
                self._cancel_within(run, "")
                self._set_status(run, "returned", returned_from=step["node"] if not step["branch"] else None)
                self._move_state(run, run.flow.outcomes.get("returned") or run.row["state_before"])
                self._notify_task(run, [run.row["submitter_id"]], "returned", who=context.actor.id)
                return
            self._close_step(run, step, "returned", status="cancelled")
            self._enter(run, to, step["branch"])

    def send_back_targets(self, conn: Connection, flow_id: int, step: Mapping[str, Any]) -> list[str]:
        """Approval nodes this step may send back to: those the flow passed, on the same branch."""
        flow = self.pinned(conn, conn.execute(sa.select(flows.c.definition_id)
                                              .where(flows.c.id == flow_id)).scalar_one())
        passed = conn.execute(sa.select(flow_steps.c.node).where(
            flow_steps.c.flow_id == flow_id, flow_steps.c.status == "done", flow_steps.c.outcome == "approved",
            flow_steps.c.branch == step["branch"], flow_steps.c.id < step["id"]).order_by(flow_steps.c.id)).scalars()
        return [n for n in dict.fromkeys(passed) if flow.nodes.get(n, {}).get("type") == "approval"
                and n != step["node"]]

    def transfer(self, task_id: Any, context: Context, to_user: Any, comment: str = "") -> None:
        """Hand the task to someone else (转交)."""
        with self.service.transaction() as conn:
            run, task, step = self._open_task(conn, task_id, context)
            target = self._user(conn, to_user)
            if target == task["user_id"] or self._has_task(conn, step["id"], target):
                raise ValidationError({"to": ["this person already has this approval"]})
            comment = (comment or "").strip() or None
            self._decide(run, task, "transferred", comment)
            new_id = self._task(run, step, target, "approval", "open", seq=task["seq"], required=task["required"],
                                added_by=context.actor.id)
            conn.execute(flow_tasks.update().where(flow_tasks.c.waiting_for == task["id"])
                         .values(waiting_for=new_id))
            self._grant(run, target)
            self._history(run, "transfer", context.actor.id, comment, step=step, task_id=task["id"], to=target,
                          **self._acting(run, task))
            self._notify_task(run, [target], "transferred", who=context.actor.id)

    def add_approver(self, task_id: Any, context: Context, user: Any, position: str = "after",
                     comment: str = "") -> None:
        """Add an approver before oneself (they decide first, then it is one's turn again)
        or after (one approves now; the node also waits for them) (加签)."""
        if position not in ("before", "after"):
            raise ValidationError({"position": ["before or after"]})
        with self.service.transaction() as conn:
            run, task, step = self._open_task(conn, task_id, context)
            target = self._user(conn, user)
            if target == task["user_id"] or self._has_task(conn, step["id"], target):
                raise ValidationError({"user": ["this person already has this approval"]})
            comment = (comment or "").strip() or None
            if position == "before":
                new_id = self._task(run, step, target, "approval", "open", seq=task["seq"], required=True,
                                    added_by=context.actor.id)
                conn.execute(flow_tasks.update().where(flow_tasks.c.id == task["id"])
                             .values(status="waiting", waiting_for=new_id))
            else:
                node = run.flow.nodes[step["node"]]
                comment = self._comment(node, comment or "", "approve")
                self._decide(run, task, "approved", comment)
                conn.execute(flow_tasks.update().where(flow_tasks.c.step_id == step["id"],
                                                       flow_tasks.c.seq > task["seq"])
                             .values(seq=flow_tasks.c.seq + 1))
                self._task(run, step, target, "approval", "open", seq=task["seq"] + 1, required=True,
                           added_by=context.actor.id)
                self._history(run, "approve", context.actor.id, comment, step=step, task_id=task["id"],
                              **self._acting(run, task))
            self._grant(run, target)
            self._history(run, f"add_{position}", context.actor.id, comment, step=step, task_id=task["id"],
                          user=target, **self._acting(run, task))
            self._notify_task(run, [target], "added", who=context.actor.id)

    def _user(self, conn: Connection, value: Any) -> int:
        try:
            user_id = int(value)
        except (TypeError, ValueError):
            user_id = conn.execute(sa.select(users.c.id).where(users.c.username == str(value))).scalar()
        found = conn.execute(sa.select(users.c.id).where(users.c.id == user_id,
                                                         users.c.is_active.is_(True))).scalar() if user_id else None
        if found is None:
            raise ValidationError({"to": ["no such active user"]})
        return found

    def _has_task(self, conn: Connection, step_id: int, user_id: int) -> bool:
        return conn.execute(sa.select(flow_tasks.c.id).where(
            flow_tasks.c.step_id == step_id, flow_tasks.c.user_id == user_id,
            flow_tasks.c.status.in_(ACTIVE))).first() is not None

    def _flow_for_submitter(self, conn: Connection, flow_id: Any, context: Context) -> Run:
        try:
            flow_id = int(flow_id)
        except (TypeError, ValueError):
            raise NotFound("approval", flow_id) from None
        run = self._lock(conn, flow_id, context)
        actor = context.actor
        if run.row["submitter_id"] != actor.id and not (actor.is_admin or actor.system):
            raise PermissionDenied("approval", "withdraw", "only the submitter may do this")
        return run

    def withdraw(self, flow_id: Any, context: Context, comment: str = "") -> None:
        """The submitter takes the flow back (撤回), while nobody has acted on it yet."""
        with self.service.transaction() as conn:
            run = self._flow_for_submitter(conn, flow_id, context)
            if run.row["status"] not in ("running", "returned"):
                raise FlowConflict("this approval has already ended")
            acted = conn.execute(sa.select(sa.func.count()).where(
                flow_history.c.flow_id == run.id, flow_history.c.action.in_(DECISIONS))).scalar_one()
            if acted and run.row["status"] == "running" and not context.actor.is_admin:
                raise FlowConflict("an approver has already acted: ask them to send it back")
            people = list(conn.execute(sa.select(flow_tasks.c.user_id).where(
                flow_tasks.c.flow_id == run.id, flow_tasks.c.status == "open")).scalars())
            self._history(run, "withdraw", context.actor.id, (comment or "").strip() or None)
            self._finish(run, "withdrawn", context.actor.id)
            self._notify_task(run, people, "withdrawn", who=context.actor.id)

    def urge(self, flow_id: Any, context: Context, comment: str = "") -> int:
        """Remind the current approvers (催办); at most once an hour. Returns how many."""
        with self.service.transaction() as conn:
            run = self._flow_for_submitter(conn, flow_id, context)
            if run.row["status"] != "running":
                raise FlowConflict("this approval is not waiting for anyone")
            last = job_queue.aware(run.row.get("urged_at"))
            if last is not None and context.now - last < URGE_EVERY:
                raise FlowConflict("the approvers were reminded less than an hour ago")
            people = list(conn.execute(sa.select(flow_tasks.c.user_id).where(
                flow_tasks.c.flow_id == run.id, flow_tasks.c.status == "open")).scalars())
            conn.execute(flows.update().where(flows.c.id == run.id).values(urged_at=context.now))
            self._history(run, "urge", context.actor.id, (comment or "").strip() or None, users=people)
            self._notify_task(run, people, "urge", who=context.actor.id)
            return len(people)

    def resubmit(self, flow_id: Any, context: Context, comment: str = "") -> None:
        """After a send-back to the submitter: on again, from the node that sent it back
        (or from the start, with `resubmit: from_start`)."""
        with self.service.transaction() as conn:
            run = self._flow_for_submitter(conn, flow_id, context)
            if run.row["status"] != "returned":
                raise FlowConflict("only an approval sent back to you can be resubmitted")
            self._set_status(run, "running")
            self._move_state(run, run.row["running_state"])
            self._history(run, "resubmit", context.actor.id, (comment or "").strip() or None)
            start = run.row["returned_from"] if run.flow.resubmit == "to_returner" else None
            self._enter(run, start or run.flow.start, "")

    def timeout(self, flow_id: int, step_id: int, index: int, now: datetime) -> None:
        """A node waited too long (the `flow.timeout` job): remind, approve, reject, send
        back or escalate. Does nothing if the node was decided meanwhile."""
        context = Context(actor=SYSTEM, now=now)
        with self.service.transaction() as conn:
            run = self._lock(conn, flow_id, context)
            step = conn.execute(sa.select(flow_steps).where(flow_steps.c.id == step_id)).mappings().first()
            if run.row["status"] != "running" or step is None or step["status"] != "active":
                return
            step = dict(step)
            action = run.flow.nodes[step["node"]]["timeouts"][index]["action"]
            open_tasks = conn.execute(sa.select(flow_tasks).where(flow_tasks.c.step_id == step_id,
                                                                  flow_tasks.c.status == "open")).mappings().all()
            people = [t["user_id"] for t in open_tasks]
            self._history(run, "timeout", None, step=step, then=action, users=people)
            if action == "remind":
                self._notify_task(run, people, "remind")
            elif action == "approve":
                for task in open_tasks:
                    self._decide(run, task, "approved", None)
                    self._history(run, "auto_approve", None, step=step, task_id=task["id"], reason="timeout")
                self._node_done(run, step)
            elif action == "reject":
                self._close_step(run, step, "rejected")
                self._finish(run, "rejected")
            elif action == "send_back":
                self._cancel_within(run, "")
                self._set_status(run, "returned", returned_from=step["node"] if not step["branch"] else None)
                self._move_state(run, run.flow.outcomes.get("returned") or run.row["state_before"])
                self._notify_task(run, [run.row["submitter_id"]], "returned")
            elif action == "escalate":
                for task in open_tasks:
                    chain = org.manager_chain(conn, task["user_id"], 1)
                    target = chain[0] if chain else None
                    if target is None or self._has_task(conn, step_id, target):
                        self._notify_task(run, [task["user_id"]], "remind")  # nobody above: remind instead
                        continue
                    self._decide(run, task, "escalated", None)
                    self._task(run, step, target, "approval", "open", seq=task["seq"], required=task["required"])
                    self._grant(run, target)
                    self._history(run, "escalate", None, step=step, task_id=task["id"], to=target,
                                  **{"from": task["user_id"]})
                    self._notify_task(run, [target], "escalated")

    # -- reading -------------------------------------------------------------------------------
    def open_task_of(self, entity: str, record_id: int, user_id: int) -> int | None:
        """The user's open approval task on the record's running flow, if any."""
        with self.service._read() as conn:
            running = self._running_row(conn, entity, record_id)
            if running is None:
                return None
            return conn.execute(sa.select(flow_tasks.c.id).where(
                flow_tasks.c.flow_id == running["id"], flow_tasks.c.user_id == user_id,
                flow_tasks.c.status == "open", flow_tasks.c.kind == "approval")).scalar()

    def running(self, entity: str, record_id: int) -> dict[str, Any] | None:
        with self.service._read() as conn:
            return self._running_row(conn, entity, record_id)

    def _running_row(self, conn: Connection, entity: str, record_id: int) -> dict[str, Any] | None:
        row = conn.execute(sa.select(flows).where(flows.c.entity == entity, flows.c.record_id == record_id,
                                                  flows.c.status.in_(("running", "returned")))
                           .order_by(flows.c.id.desc()).limit(1)).mappings().first()
        return dict(row) if row else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
