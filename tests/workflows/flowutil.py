"""Helpers for workflow tests: a `deal` entity, roles, an organisation, a workflow whose
`submit` transition starts the flow given as YAML, and `World` to drive flows."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import sqlalchemy as sa

from engine.jobs import JobRunner, job_handlers
from engine.permissions.org import import_org, load_actor
from engine.records import SYSTEM, Context
from engine.storage import flow_history, flow_steps, flow_tasks, flows, notifications, users, write_engine
from engine.users import create_user

DEAL = """
    entity: deal
    title: name
    fields:
      name: {type: string, required: true}
      amount: {type: decimal}
      discount: {type: percent}
      cost: {type: decimal}
      notes: {type: text}
      reviewer: {type: user}
      due: {type: date}
      parent: {type: link, to: account, on_delete: cascade}
      status:
        type: choice
        default: draft
        options: [draft, pending, approved, rejected, done]
    """
ACCOUNT = """
    entity: account
    fields:
      title: {type: string, required: true}
    """
NOTE = """
    entity: memo
    fields:
      subject: {type: string, required: true}
      deal: {type: link, to: deal}
    """
ROLES = """
    roles:
      rep:
        entities:
          deal: {actions: [read, create, update], scope: own}
          memo: {actions: [read], scope: own}
      manager:
        entities:
          deal: {actions: [read, create, update, delete], scope: department}
      finance:
        entities:
          deal: {actions: [read], scope: all, fields: {cost: read}}
      director:
        entities:
          deal: {actions: [read, update], scope: all}
      legal:
        entities:
          deal: {actions: [read], scope: all}
    """
ORG = ("username,display_name,department,manager,roles,teams,head\n"
       "ceo,CEO,HQ,,director,,yes\n"
       "boss,Boss,HQ/Sales,ceo,manager,,yes\n"
       "rep,Rep,HQ/Sales/East,boss,rep,,no\n"
       "rep2,Rep Two,HQ/Sales/East,boss,rep,,no\n"
       "fin1,Fin One,Finance,,finance,,no\n"
       "fin2,Fin Two,Finance,,finance,,no\n"
       "legal,Legal,Legal,,legal,,no\n")


def workflow_yaml(approvals: str, transitions: str = "", states: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(approvals).strip("\n"), "  ")
    extra = textwrap.indent(textwrap.dedent(transitions).strip("\n"), "  ") if transitions else ""
    return (
        "workflow: deal\nentity: deal\nfield: status\n"
        + ("states:\n" + textwrap.indent(textwrap.dedent(states).strip("\n"), "  ") + "\n" if states else "")
        + "transitions:\n"
        "  submit: {from: [draft, rejected], to: pending, approval: check}\n"
        "  finish: {from: approved, to: done, roles: [manager]}\n"
        + (extra + "\n" if extra else "")
        + "approvals:\n  check:\n" + textwrap.indent(body, "  ") + "\n")


class World:
    """A service with people and helpers to drive flows."""

    def __init__(self, service):
        self.service = service
        self.flows = service.flows
        self.engine = service.engine
        with write_engine(self.engine).begin() as conn:
            import_org(conn, ORG, service.model.roles)
            create_user(conn, "root", None, is_admin=True)
        self.people: dict[str, Context] = {}
        self.reload()

    def reload(self) -> None:
        with self.engine.connect() as conn:
            for row in conn.execute(sa.select(users)).mappings():
                self.people[row["username"]] = Context(actor=load_actor(conn, row))

    def __getitem__(self, name: str) -> Context:
        return self.people[name]

    def uid(self, name: str) -> int:
        return self.people[name].actor.id

    def name_of(self, user_id: int) -> str:
        return next(n for n, c in self.people.items() if c.actor.id == user_id)

    def new(self, owner: str = "rep", **values) -> dict:
        values.setdefault("name", "Deal")
        values.setdefault("amount", 1000)
        return self.service.create("deal", {**values, "owner": self.uid(owner)}, Context(actor=SYSTEM), trusted=True)

    def submit(self, record: dict, who: str = "rep", **kwargs) -> dict:
        return self.flows.run_transition("deal", record["id"], "submit", self[who], **kwargs)

    def get(self, record: dict) -> dict:
        return self.service.get("deal", record["id"], Context(actor=SYSTEM))

    def state(self, record: dict) -> str:
        return self.get(record)["status"]

    def flow(self, record: dict) -> dict:
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(flows).where(flows.c.record_id == record["id"])
                                     .order_by(flows.c.id.desc()).limit(1)).mappings().one())

    def open_tasks(self, record: dict) -> list[str]:
        """Who has an open approval task on the record's latest flow, in order."""
        flow_id = self.flow(record)["id"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(flow_tasks.c.user_id).where(
                flow_tasks.c.flow_id == flow_id, flow_tasks.c.status == "open", flow_tasks.c.kind == "approval")
                .order_by(flow_tasks.c.seq, flow_tasks.c.id)).scalars().all()
        return [self.name_of(u) for u in rows]

    def tasks(self, record: dict, kind: str = "approval") -> list[tuple[str, str]]:
        flow_id = self.flow(record)["id"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(flow_tasks.c.user_id, flow_tasks.c.status).where(
                flow_tasks.c.flow_id == flow_id, flow_tasks.c.kind == kind).order_by(flow_tasks.c.id)).all()
        return [(self.name_of(u), s) for u, s in rows]

    def task(self, record: dict, who: str) -> int:
        flow_id = self.flow(record)["id"]
        with self.engine.connect() as conn:
            return conn.execute(sa.select(flow_tasks.c.id).where(
                flow_tasks.c.flow_id == flow_id, flow_tasks.c.user_id == self.uid(who),
                flow_tasks.c.status == "open")).scalar_one()

    def approve(self, record: dict, who: str, comment: str = "ok", **kwargs) -> None:
        self.flows.approve(self.task(record, who), self[who], comment, **kwargs)

    def reject(self, record: dict, who: str, comment: str = "no") -> None:
        self.flows.reject(self.task(record, who), self[who], comment)

    def history(self, record: dict) -> list[str]:
        flow_id = self.flow(record)["id"]
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(flow_history.c.action).where(flow_history.c.flow_id == flow_id)
                                     .order_by(flow_history.c.id)).scalars())

    def steps(self, record: dict) -> list[tuple[str, str, str | None]]:
        flow_id = self.flow(record)["id"]
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.select(flow_steps.c.node, flow_steps.c.status,
                                                             flow_steps.c.outcome)
                                                   .where(flow_steps.c.flow_id == flow_id).order_by(flow_steps.c.id))]

    def notified(self, who: str, kind: str | None = None) -> list[str]:
        with self.engine.connect() as conn:
            statement = sa.select(notifications.c.kind).where(notifications.c.user_id == self.uid(who))
            if kind:
                statement = statement.where(notifications.c.kind == kind)
            return list(conn.execute(statement.order_by(notifications.c.id)).scalars())

    def run_jobs(self, after: timedelta) -> int:
        """Run the jobs due `after` from now (timeouts), as the job runner would then."""
        runner = JobRunner(lambda: self.service, job_handlers(self.service.model))
        return runner.run_due(Context().now + after)


def act_in_a_process(root: str, url: str, username: str, task_ids: list[int], start, results) -> None:
    """A separate process deciding tasks as `username` (each task twice, as a double click
    would), all processes starting together: reports (successes, conflicts, other errors)."""
    from engine.model import load_model
    from engine.records import RecordService
    from engine.storage import make_engine
    from engine.workflows.runtime import FlowConflict

    service = RecordService(load_model(root, entry_points=False), make_engine(url))
    with service.engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).mappings().one()
        context = Context(actor=load_actor(conn, row))
    done, conflicts, errors = [], 0, []
    start.wait()
    for task_id in task_ids:
        for _ in range(2):
            try:
                service.flows.approve(task_id, context, "ok")
                done.append(task_id)
            except FlowConflict:
                conflicts += 1
            except Exception as exc:  # anything else is a failure of the test
                errors.append(f"{type(exc).__name__}: {exc}")
    service.engine.dispose()
    results.put((username, done, conflicts, errors))
