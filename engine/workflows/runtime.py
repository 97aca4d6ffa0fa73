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

This module holds transitions and the start of flows; walk.py how a flow goes from node to
node; decisions.py the operations people (and timeouts) perform.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .. import notify as notifications
from ..expr import compile_expression
from ..messages import N_, Localized, message
from ..model.model import Entity, text
from ..records.context import SYSTEM, Context
from ..records.errors import NotFound, PermissionDenied, ValidationError
from ..records.masking import mask_record, masked_fields
from ..records.titles import numbered, title_of
from ..storage import flow_definitions, flow_tasks, flows, users
from . import duties
from .actions import ActionRun
from .decisions import Decisions
from .definition import Flow, Transition, Workflow
from .resolvers import Resolution, split_approver
from .walk import FlowConflict, FlowWalk, Run

__all__ = ["FlowConflict", "Flows", "Run"]


class Flows(Decisions, FlowWalk):
    """The flow engine of one records service (`service.flows`): transitions and starting
    flows here; how flows walk their graph in walk.py, what people do in decisions.py."""

    def __init__(self, service: Any):
        self.service = service
        self.model = service.model
        self._pinned: dict[str, Flow] = {}  # by hash
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
        """The record as each language names it, for notifications: "Order SO-2026-0001",
        or "Order #3" when nothing names it (engine/records/titles.py)."""
        result = {}
        record = mask_record(entity, dict(record), masked_fields(entity))  # stored, read by anyone notified
        for lang in dict.fromkeys(("en", "zh", *self.model.languages)):
            title = title_of(entity, record, lang)
            numbered_only = title == numbered(entity, record["id"], lang)
            result[lang] = title if numbered_only else f"{entity.label_text(lang)} {title}"
        return result

    def _name(self, conn: Connection, user_id: int | None) -> str:
        if user_id is None:
            return "Tailor"
        row = conn.execute(sa.select(users.c.display_name, users.c.username).where(users.c.id == user_id)).first()
        return (row.display_name or row.username) if row else f"#{user_id}"

    def notify(self, user_ids: Iterable[int], kind: str, entity: str, record: Mapping[str, Any], *,
               who: int | None = None, message: Any = None, flow_id: int | None = None,
               conn: Connection | None = None, now: datetime | None = None) -> None:
        if conn is None:  # an action's notify: in the transaction of the change that runs it
            with self.service._write() as write:
                self.notify(user_ids, kind, entity, record, who=who, message=message, flow_id=flow_id, conn=write,
                            now=now)
            return
        notifications.notify(conn, user_ids, kind, now=now or Context().now,
                             what=self._what(self.model.entity(entity), record), who=self._name(conn, who),
                             link=f"/e/{entity}/{record['id']}", entity=entity, record_id=record["id"],
                             flow_id=flow_id, message=message)

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
                    raise ValidationError({"": [message(N_("workflow action '%(name)s' is not available"), name=name)]})
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
            if access.denies(transition.name):
                return False
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
            if version is not None and version != "":
                try:
                    version = int(version)
                except (TypeError, ValueError):
                    raise ValidationError({"version": [message(N_("the version you saw is required"))]}) from None
                if version != full["version"]:
                    from ..records.errors import ConflictError

                    raise ConflictError(entity.name, full["id"], version, record)
            if self._running_row(conn, entity.name, full["id"]) is not None:
                raise FlowConflict(message(N_("%(entity)s %(id)s is under approval: wait for it to finish"),
                                           entity=self._label(entity), id=full["id"]))
            if not transition.starts_from(full.get(workflow.field)):
                raise FlowConflict(message(N_("'%(transition)s' is not possible from state '%(state)s'"),
                                           transition=self._label(transition), state=full.get(workflow.field)))
            if not self._may_run(transition, entity.name, full, context):
                raise PermissionDenied(entity.name, name, message(N_("you may not %(transition)s this %(entity)s"),
                                                                  transition=self._label(transition, lower=True),
                                                                  entity=self._label(entity, lower=True)))
            errors: dict[str, list[str]] = {}
            if transition.comment == "required" and not comment:
                errors["comment"] = [message(N_("a comment is required"))]
            if len(comment) > 5000:
                errors["comment"] = [message(N_("a comment is at most 5,000 characters"))]
            changes = {k: v for k, v in (data or {}).items() if k in transition.requires}
            if changes:  # the fields the transition asks for, within the user's field rights
                access = self.service.access(entity, context)
                for key in changes:
                    if not access.editable(key, "update") and not context.actor.is_admin:
                        errors.setdefault(key, []).append(message(N_("you may not change this field")))
                if not errors:
                    full = self.service.update(entity.name, full["id"], changes, version=full["version"],
                                               context=self._system(context))
            self.check_rules(transition, full, context, errors)
            before = full.get(workflow.field)
            full = self.service.update(entity.name, full["id"], {workflow.field: transition.target},
                                       version=full["version"], context=self._system(context))
            self._run_actions(transition.actions, entity, full, context, context.actor.id)
            if transition.approval:
                flow = workflow.flows[transition.approval]
                self._start(conn, flow, entity, full, context, before, transition.target, picked or {}, comment)
        return self.service.get(entity.name, full["id"], context)

    def _label(self, item: Any, lower: bool = False) -> Localized:
        """A transition's or an entity's label inside a message, in each project language
        (English lower case in a sentence: "you may not submit this sales order")."""
        english = item.label_text("en")
        return Localized({lang: item.label_text(lang) for lang in self.model.languages},
                         english.lower() if lower else english)

    def check_rules(self, transition: Transition, record: Mapping[str, Any], context: Context,
                    errors: dict[str, list[str]] | None = None) -> None:
        """The fields a transition requires and its condition (also checked again when a
        flow sent back to the submitter is resubmitted): raises with every problem."""
        errors = errors if errors is not None else {}
        for key in transition.requires:
            if record.get(key) in (None, "", []) and key not in errors:
                errors.setdefault(key, []).append(message(N_("required to %(transition)s"),
                                                          transition=self._label(transition, lower=True)))
        if transition.condition is not None and not transition.condition.evaluate(record, context.variables,
                                                                                context.now):
            errors.setdefault("", []).append(text(transition.message, context.actor.language, "")
                                             or message(N_("the condition of '%(name)s' is not met"),
                                                        name=transition.name))
        if errors:
            raise ValidationError(errors)

    def starting(self, flow_row: Mapping[str, Any]) -> Transition | None:
        """The transition that starts a flow (the one leading to its running state)."""
        workflow = self.model.workflows.get(flow_row["workflow"])
        for transition in workflow.transitions.values() if workflow else ():
            if transition.approval == flow_row["flow"] and transition.target == flow_row["running_state"]:
                return transition
        return None

    # -- starting ------------------------------------------------------------------------------
    def _definition_id(self, conn: Connection, flow: Flow) -> int:
        found = conn.execute(sa.select(flow_definitions.c.id).where(flow_definitions.c.hash == flow.hash)).scalar()
        if found is None:
            found = conn.execute(flow_definitions.insert().values(
                hash=flow.hash, workflow=flow.workflow, flow=flow.name, definition=flow.definition,
                created_at=Context().now).returning(flow_definitions.c.id)).scalar_one()
        return found

    def pinned(self, conn: Connection, definition_id: int) -> Flow:
        """The definition a flow is pinned to. Cached by its hash (its content), never by
        its id alone: an id read in a transaction that rolled back may name another one."""
        digest = conn.execute(sa.select(flow_definitions.c.hash).where(flow_definitions.c.id == definition_id)
                              ).scalar_one()
        found = self._pinned.get(digest)
        if found is None:
            definition = conn.execute(sa.select(flow_definitions.c.definition)
                                      .where(flow_definitions.c.id == definition_id)).scalar_one()
            found = self._pinned[digest] = Flow(definition)
        return found

    def _start(self, conn: Connection, flow: Flow, entity: Entity, record: dict[str, Any], context: Context,
               before: str | None, during: str | None, picked: Mapping[str, Sequence[int]], comment: str = "") -> int:
        picks = self._check_picks(conn, flow, picked, context.actor.id)
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

    def _check_picks(self, conn: Connection, flow: Flow, picked: Mapping[str, Sequence[int]],
                     submitter: int | None = None) -> dict[str, list[int]]:
        """Approvers the submitter picked, node by node, within each node's allowed range
        (never themselves, unless the node allows self-approval: duties.py)."""
        from .resolvers import picking_range

        found: dict[str, list[int]] = {}
        for name, node in flow.nodes.items():
            for item in node.get("approvers") or []:
                if "picked" not in item:
                    continue
                chosen = [int(u) for u in picked.get(name) or [] if str(u).isascii() and str(u).isdecimal()]
                allowed = set(picking_range(conn, item))
                wrong = [u for u in chosen if u not in allowed]
                limit = item.get("max")
                if wrong or not chosen or (limit and len(chosen) > int(limit)):
                    raise ValidationError({f"picked.{name}": [
                        message(N_("pick at most %(limit)s approvers from those offered"), limit=limit) if limit
                        else message(N_("pick approvers from those offered"))]})
                if submitter in chosen and not duties.self_approval_allowed(flow.definition, node):
                    raise ValidationError({f"picked.{name}": [duties.SELF_TARGET]})
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
