"""What pages read about flows: the "my approvals" inbox, its counts, and a record's flows
with their steps, tasks and history. Reads only; every change goes through `Flows`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..jobs import aware
from ..storage import flow_history, flow_steps, flow_tasks, flows, notifications, users

TABS = ("todo", "done", "cc", "mine")
DECIDED = ("approved", "rejected", "returned", "transferred")


def _nav_counts_query() -> sa.Select:
    me = sa.bindparam("user_id", type_=sa.Integer)
    todo = sa.select(sa.func.count()).where(flow_tasks.c.user_id == me, flow_tasks.c.status == "open",
                                            flow_tasks.c.kind == "approval").scalar_subquery()
    unread = sa.select(sa.func.count()).where(notifications.c.user_id == me,
                                              notifications.c.read_at.is_(None)).scalar_subquery()
    return sa.select(todo, unread)


# built once: building and keying it cost more than running it, on every page
NAV_COUNTS = _nav_counts_query()


def nav_counts(conn: Connection, user_id: int) -> tuple[int, int]:
    """(open approvals, unread notifications) in one round trip: shown on every page."""
    row = conn.execute(NAV_COUNTS, {"user_id": user_id}).one()
    return int(row[0]), int(row[1])


def tab_counts(conn: Connection, user_id: int) -> dict[str, int]:
    def count(statement) -> int:
        return conn.execute(sa.select(sa.func.count()).select_from(statement.subquery())).scalar_one()

    return {
        "todo": count(sa.select(flow_tasks.c.id).where(flow_tasks.c.user_id == user_id, flow_tasks.c.status == "open",
                                                       flow_tasks.c.kind == "approval")),
        "cc": count(sa.select(flow_tasks.c.id).where(flow_tasks.c.user_id == user_id, flow_tasks.c.kind == "cc",
                                                     flow_tasks.c.status == "unread")),
        "mine": count(sa.select(flows.c.id).where(flows.c.submitter_id == user_id,
                                                  flows.c.status.in_(("running", "returned")))),
    }


def inbox(conn: Connection, user_id: int, tab: str, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Rows of one tab, newest first: to do (open tasks), done (tasks I decided), cc (copied
    to me), mine (flows I submitted)."""
    submitter = users.alias("submitter")
    base = [flows.c.id.label("flow_id"), flows.c.workflow, flows.c.flow, flows.c.entity, flows.c.record_id,
            flows.c.status.label("flow_status"), flows.c.started_at, flows.c.finished_at,
            flows.c.submitter_id, submitter.c.display_name.label("submitter_name"),
            submitter.c.username.label("submitter_username")]
    if tab == "mine":
        statement = (sa.select(*base).select_from(flows.outerjoin(submitter, submitter.c.id == flows.c.submitter_id))
                     .where(flows.c.submitter_id == user_id).order_by(flows.c.id.desc()))
    else:
        statement = (sa.select(*base, flow_tasks.c.id.label("task_id"), flow_tasks.c.status, flow_tasks.c.created_at,
                               flow_tasks.c.decided_at, flow_tasks.c.comment, flow_steps.c.node)
                     .select_from(flow_tasks.join(flows, flows.c.id == flow_tasks.c.flow_id)
                                  .join(flow_steps, flow_steps.c.id == flow_tasks.c.step_id)
                                  .outerjoin(submitter, submitter.c.id == flows.c.submitter_id))
                     .where(flow_tasks.c.user_id == user_id))
        if tab == "todo":
            statement = statement.where(flow_tasks.c.status == "open", flow_tasks.c.kind == "approval")
        elif tab == "done":
            statement = statement.where(flow_tasks.c.status.in_(DECIDED), flow_tasks.c.kind == "approval")
        else:
            statement = statement.where(flow_tasks.c.kind == "cc")
        statement = statement.order_by(flow_tasks.c.id.desc())
    rows = [dict(r) for r in conn.execute(statement.limit(limit).offset(offset)).mappings()]
    for row in rows:
        for key in ("started_at", "finished_at", "created_at", "decided_at"):
            if key in row:
                row[key] = aware(row[key])
    return rows


def record_flows(conn: Connection, entity: str, record_id: int, since: Any = None) -> list[dict[str, Any]]:
    """The record's flows, newest first, each with its steps, tasks and history. `since`:
    the record's creation, so that a deleted record's flows (their history stays) never
    show on a new record that got the same id."""
    statement = sa.select(flows).where(flows.c.entity == entity, flows.c.record_id == record_id)
    if since is not None:
        statement = statement.where(flows.c.started_at >= since)
    found = [dict(r) for r in conn.execute(statement.order_by(flows.c.id.desc()).limit(20)).mappings()]
    if not found:
        return []
    ids = [f["id"] for f in found]
    steps = conn.execute(sa.select(flow_steps).where(flow_steps.c.flow_id.in_(ids))
                         .order_by(flow_steps.c.id)).mappings().all()
    tasks = conn.execute(sa.select(flow_tasks).where(flow_tasks.c.flow_id.in_(ids))
                         .order_by(flow_tasks.c.seq, flow_tasks.c.id)).mappings().all()
    history = conn.execute(sa.select(flow_history).where(flow_history.c.flow_id.in_(ids))
                           .order_by(flow_history.c.id)).mappings().all()
    for flow in found:
        flow["steps"] = [dict(s) for s in steps if s["flow_id"] == flow["id"]]
        flow["tasks"] = [dict(t) for t in tasks if t["flow_id"] == flow["id"]]
        flow["history"] = [dict(h) for h in history if h["flow_id"] == flow["id"]]
        for item in (flow, *flow["steps"], *flow["tasks"], *flow["history"]):
            for key in ("started_at", "finished_at", "created_at", "decided_at", "at", "urged_at"):
                if key in item:
                    item[key] = aware(item[key])
    return found


def mark_cc_read(conn: Connection, user_id: int, flow_ids: list[int]) -> None:
    """Copies the user has now seen (the record page shows the flow)."""
    if flow_ids:
        conn.execute(flow_tasks.update().where(flow_tasks.c.user_id == user_id, flow_tasks.c.kind == "cc",
                                               flow_tasks.c.status == "unread", flow_tasks.c.flow_id.in_(flow_ids))
                     .values(status="read"))


def people_of(conn: Connection, ids: set[int]) -> Mapping[int, str]:
    if not ids:
        return {}
    return {r.id: r.display_name or r.username for r in conn.execute(
        sa.select(users.c.id, users.c.display_name, users.c.username).where(users.c.id.in_(ids)))}
