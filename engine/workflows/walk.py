"""How a flow walks its graph: reaching a node (conditions and cc nodes pass through, parallel
nodes fork, approval nodes open tasks), closing steps, joining branches, ending the flow.
A mixin of `Flows` (runtime.py); every method runs inside the operation's transaction, on
its `Run`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .. import jobs as job_queue
from ..model.model import Entity
from ..permissions import org
from ..records.context import Actor, Context
from ..records.errors import RecordError, ValidationError
from ..storage import flow_history, flow_steps, flow_tasks, flows, users
from . import duties
from .definition import END, Flow, parse_duration

ACTIVE = ("open", "pending", "waiting")  # task states still waiting for someone


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


class FlowWalk:
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
        job_queue.cancel(run.conn, self._timeout_keys(run, step["id"], step["node"]))

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
        steps = run.conn.execute(sa.select(flow_steps.c.id, flow_steps.c.node).where(
            flow_steps.c.flow_id == run.id, flow_steps.c.status == "active",
            flow_steps.c.branch.startswith(prefix, autoescape=True) if prefix else sa.true())).all()
        if not steps:
            return
        ids = [s.id for s in steps]
        run.conn.execute(flow_tasks.update().where(flow_tasks.c.step_id.in_(ids), flow_tasks.c.status.in_(ACTIVE))
                         .values(status="cancelled", decided_at=run.context.now))
        run.conn.execute(flow_steps.update().where(flow_steps.c.id.in_(ids)).values(
            status="cancelled", finished_at=run.context.now))
        job_queue.cancel(run.conn, [k for s in steps for k in self._timeout_keys(run, s.id, s.node)])

    @staticmethod
    def _timeout_keys(run: Run, step_id: int, node: str) -> list[str]:
        """The keys of the timeout jobs a step scheduled (one per timeout of its node)."""
        return [f"flow-timeout:{step_id}:{i}" for i in range(len(run.flow.nodes[node].get("timeouts") or ()))]

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
        people = self._eligible(run, step, node, people)
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
            people = self._eligible(run, step, node, people or self._admins(run.conn), quiet=True) \
                or self._eligible(run, step, node, self._admins(run.conn), quiet=True)
            if not people and not duties.self_approval_allowed(run.flow.definition, node) \
                    and run.row["submitter_id"] in self._admins(run.conn):
                # the submitter is the only one who could decide: never let them, never pass it
                raise ValidationError({"": [duties.NOBODY_ELSE]})
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

    def _eligible(self, run: Run, step: Mapping[str, Any], node: Mapping[str, Any], people: list[int],
                  quiet: bool = False) -> list[int]:
        """The resolved approvers who may decide (duties.py): the submitter and people who
        may not read the record are skipped, and the history says so."""
        if not people:
            return people
        kept, skipped = duties.eligible(self.service, run.conn, run.entity, run.flow.definition, node,
                                        run.row["submitter_id"], people)
        if skipped and not quiet:
            self._history(run, "skip_duties", None, step=step, users=skipped)
        return kept

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

    def _move_state(self, run: Run, state: str | None) -> dict[str, Any]:
        """Move the record to a state (as the flow engine); returns the record as it is now."""
        record = self._record(run.entity, run.row["record_id"])
        workflow = self.workflow_of(run.entity.name)
        field = workflow.field if workflow else run.flow.field
        if state and record.get(field) != state:
            record = self.service.update(run.entity.name, record["id"], {field: state}, version=record["version"],
                                         context=self._system(run.context), trusted=True)
        return record

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
        record = self._move_state(run, target)
        event = {"approved": "approve", "rejected": "reject", "withdrawn": "withdraw"}[outcome]
        self._run_actions(run.flow.actions(event), run.entity, record, run.context, run.row["submitter_id"], run.id)
        if outcome != "withdrawn":
            self.notify([run.row["submitter_id"]], outcome, run.entity.name, record, who=by, flow_id=run.id,
                        conn=run.conn, now=run.context.now)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)

