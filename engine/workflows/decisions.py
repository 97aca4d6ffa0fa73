"""What people (and timeouts) do to a running flow: approve, reject, send back, transfer,
add an approver, withdraw, urge, resubmit. A mixin of `Flows` (runtime.py). Each operation
is one transaction that first locks the flow (`_lock`), so whoever comes second sees what
the first did."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .. import jobs as job_queue
from ..messages import N_, message
from ..permissions import org
from ..records.context import SYSTEM, Context
from ..records.errors import NotFound, PermissionDenied, ValidationError
from ..storage import flow_history, flow_steps, flow_tasks, flows, users
from . import duties
from .walk import ACTIVE, FlowConflict, Run

# The words users meet, translated where shown (engine/messages.py).
COMMENT_REQUIRED = N_("a comment is required")
COMMENT_TOO_LONG = N_("a comment is at most 5,000 characters")
ONLY_SUBMITTER = N_("only the submitter may do this")

DECISIONS = ("approve", "reject", "send_back", "transfer", "add_before", "add_after")  # a person acted
URGE_EVERY = timedelta(hours=1)


class Decisions:
    def _lock(self, conn: Connection, flow_id: int, context: Context) -> Run:
        """Bump the flow's revision (a row lock) and read it: whoever comes second sees what
        the first did."""
        bumped = conn.execute(flows.update().where(flows.c.id == flow_id)
                              .values(revision=flows.c.revision + 1)).rowcount
        if bumped != 1:
            raise NotFound("approval", flow_id)
        row = dict(conn.execute(sa.select(flows).where(flows.c.id == flow_id)).mappings().one())
        return Run(conn, row, self.pinned(conn, row["definition_id"]), self.model.entity(row["entity"]), context)

    def _open_task(self, conn: Connection, task_id: Any, context: Context,
                   operation: str = "approve") -> tuple[Run, dict, dict]:
        """The task, locked with its flow; only its assignee (or an admin) may act on it, and
        never the submitter of the request (duties.py)."""
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
            raise FlowConflict(message(N_("this approval was already decided (or is not yours to decide now)")))
        step = dict(conn.execute(sa.select(flow_steps).where(flow_steps.c.id == task["step_id"])).mappings().one())
        duties.check_decider(self.service, conn, run.entity, run.flow.definition, run.flow.nodes[step["node"]],
                             run.row["submitter_id"], task["user_id"], actor, operation)
        return run, task, step

    def _comment(self, node: Mapping[str, Any], comment: str, deciding: str) -> str | None:
        comment = (comment or "").strip()
        rule = node.get("comment", "on_reject")
        if not comment and (rule == "required" or (rule == "on_reject" and deciding != "approve")):
            raise ValidationError({"comment": [message(COMMENT_REQUIRED)]})
        if len(comment) > 5000:
            raise ValidationError({"comment": [message(COMMENT_TOO_LONG)]})
        return comment or None

    def _decide(self, run: Run, task: Mapping[str, Any], status: str, comment: str | None) -> None:
        changed = run.conn.execute(flow_tasks.update().where(flow_tasks.c.id == task["id"],
                                                             flow_tasks.c.status == "open")
                                   .values(status=status, decided_at=run.context.now, comment=comment)).rowcount
        if changed != 1:
            raise FlowConflict(message(N_("this approval was already decided")))

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
        refused = {k: [message(N_("this approval step does not let you change this field"))]
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
            flow_tasks.c.step_id == step["id"], flow_tasks.c.waiting_for == task["id"],  # by step: few rows
            flow_tasks.c.status == "waiting")).first()
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
            run, task, step = self._open_task(conn, task_id, context, "reject")
            comment = self._comment(run.flow.nodes[step["node"]], comment, "reject")
            self._decide(run, task, "rejected", comment)
            self._history(run, "reject", context.actor.id, comment, step=step, task_id=task["id"],
                          **self._acting(run, task))
            self._close_step(run, step, "rejected")
            self._finish(run, "rejected", context.actor.id)

    def send_back(self, task_id: Any, context: Context, comment: str = "", to: str = "submitter") -> None:
        """Send back to the submitter (who may edit and resubmit) or to an earlier node."""
        with self.service.transaction() as conn:
            run, task, step = self._open_task(conn, task_id, context, "send_back")
            comment = self._comment(run.flow.nodes[step["node"]], comment, "send_back")
            targets = self.send_back_targets(conn, run.id, step)
            if to != "submitter" and to not in targets:
                raise ValidationError({"to": [message(N_("send it back to the submitter or to a step it has passed"))]})
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
            run, task, step = self._open_task(conn, task_id, context, "transfer")
            target = self._someone_else(run, task, step, to_user, "to")
            comment = (comment or "").strip() or None
            self._decide(run, task, "transferred", comment)
            new_id = self._task(run, step, target, "approval", "open", seq=task["seq"], required=task["required"],
                                added_by=context.actor.id)
            self._pass_waiting(conn, step, task, new_id)
            self._grant(run, target)
            self._history(run, "transfer", context.actor.id, comment, step=step, task_id=task["id"], to=target,
                          **self._acting(run, task))
            self._notify_task(run, [target], "transferred", who=context.actor.id)

    def add_approver(self, task_id: Any, context: Context, user: Any, position: str = "after",
                     comment: str = "") -> None:
        """Add an approver before oneself (they decide first, then it is one's turn again)
        or after (one approves now; the node also waits for them) (加签)."""
        if position not in ("before", "after"):
            raise ValidationError({"position": [message(N_("before or after"))]})
        with self.service.transaction() as conn:
            run, task, step = self._open_task(conn, task_id, context, f"add_{position}")
            target = self._someone_else(run, task, step, user, "user")
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

    @staticmethod
    def _pass_waiting(conn: Connection, step: Mapping[str, Any], task: Mapping[str, Any], new_id: int) -> None:
        """Whoever waited for a task (an approver added before them) now waits for its successor."""
        conn.execute(flow_tasks.update().where(flow_tasks.c.step_id == step["id"],
                                               flow_tasks.c.waiting_for == task["id"]).values(waiting_for=new_id))

    def _someone_else(self, run: Run, task: Mapping[str, Any], step: Mapping[str, Any], value: Any,
                      key: str) -> int:
        """The active user a task is handed or added to: not one already on this step, not
        the submitter, someone who may read the record (duties.py)."""
        conn = run.conn
        target = self._user(conn, value, key)
        if target == task["user_id"] or self._has_task(conn, step["id"], target):
            raise ValidationError({key: [message(N_("this person already has this approval"))]})
        duties.check_target(self.service, conn, run.entity, run.flow.definition, run.flow.nodes[step["node"]],
                            run.row["submitter_id"], target, key)
        return target

    def _user(self, conn: Connection, value: Any, key: str = "to") -> int:
        try:
            user_id = int(value)
        except (TypeError, ValueError):
            user_id = conn.execute(sa.select(users.c.id).where(users.c.username == str(value))).scalar()
        found = conn.execute(sa.select(users.c.id).where(users.c.id == user_id,
                                                         users.c.is_active.is_(True))).scalar() if user_id else None
        if found is None:
            raise ValidationError({key: [message(N_("no such active user"))]})
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
            if not self._may_see(conn, run, context):  # as records do: its existence is not revealed
                raise NotFound("approval", flow_id)
            raise PermissionDenied("approval", "withdraw", message(ONLY_SUBMITTER))
        return run

    def _may_see(self, conn: Connection, run: Run, context: Context) -> bool:
        """Whether the user may read the record the flow is about."""
        record = self.service._load(conn, run.entity, run.row["record_id"])
        access = self.service.access(run.entity, context)
        return record is not None and self.service._reaches(conn, access, record, "read", context)

    def withdraw(self, flow_id: Any, context: Context, comment: str = "") -> None:
        """The submitter takes the flow back (撤回), while nobody has acted on it yet."""
        with self.service.transaction() as conn:
            run = self._flow_for_submitter(conn, flow_id, context)
            if run.row["status"] not in ("running", "returned"):
                raise FlowConflict(message(N_("this approval has already ended")))
            since = conn.execute(sa.select(sa.func.max(flow_history.c.id)).where(
                flow_history.c.flow_id == run.id, flow_history.c.action == "resubmit")).scalar() or 0
            acted = conn.execute(sa.select(sa.func.count()).where(  # in this round (since a resubmit)
                flow_history.c.flow_id == run.id, flow_history.c.action.in_(DECISIONS),
                flow_history.c.id > since)).scalar_one()
            if acted and run.row["status"] == "running" and not context.actor.is_admin:
                raise FlowConflict(message(N_("an approver has already acted: ask them to send it back")))
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
                raise FlowConflict(message(N_("this approval is not waiting for anyone")))
            last = job_queue.aware(run.row.get("urged_at"))
            if last is not None and context.now - last < URGE_EVERY:
                raise FlowConflict(message(N_("the approvers were reminded less than an hour ago")))
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
                raise FlowConflict(message(N_("only an approval sent back to you can be resubmitted")))
            transition = self.starting(run.row)
            if transition is not None:  # what the record must meet to be submitted, it meets again
                self.check_rules(transition, self._record(run.entity, run.row["record_id"]), context)
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
                    if target is not None and duties.eligible(
                            self.service, conn, run.entity, run.flow.definition, run.flow.nodes[step["node"]],
                            run.row["submitter_id"], [target])[1]:
                        target = None  # the submitter, or someone who may not read the record
                    if target is None or self._has_task(conn, step_id, target):
                        self._notify_task(run, [task["user_id"]], "remind")  # nobody above: remind instead
                        continue
                    self._decide(run, task, "escalated", None)
                    new_id = self._task(run, step, target, "approval", "open", seq=task["seq"],
                                        required=task["required"])
                    self._pass_waiting(conn, step, task, new_id)
                    self._grant(run, target)
                    self._history(run, "escalate", None, step=step, task_id=task["id"], to=target,
                                  **{"from": task["user_id"]})
                    self._notify_task(run, [target], "escalated")

