"""The home page's "my work" (issue 15): what a user has to do and was doing, beside their
dashboard — the approvals waiting for them, what they own that is due today or overdue
(entities declaring `agenda:`), and the records they changed last.

Each list is read the way its own page reads it (the approvals inbox; records through the
records service, so a record the user may no longer read is left out, never shown).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import format_time, get_timezone

from ...records import Query, ValidationError
from ...storage import audit_log
from ...workflows import inbox as reads
from ..forms import read_titles, title_columns, title_of
from ..i18n import fmt
from . import can, model, service

APPROVALS_SHOWN = 5
RECENT_SHOWN = 8
AGENDA_SHOWN = 6  # of each: due today, overdue
AGENDA_COUNTED = 100  # counting stops there ("99+")
RECENT_SCANNED = 200  # audit rows read to find RECENT_SHOWN distinct records (an index on user, id)


def my_work(ctx: Any) -> dict[str, Any]:
    user_id = ctx.actor.id
    with service().reading() as conn:
        waiting = reads.inbox(conn, user_id, "todo", limit=APPROVALS_SHOWN) if model().workflows else []
        waiting_count = reads.tab_counts(conn, user_id)["todo"] if waiting else 0
        rows = conn.execute(sa.select(audit_log.c.entity, audit_log.c.record_id, audit_log.c.at)
                            .where(audit_log.c.user_id == user_id, audit_log.c.action != "delete")
                            .order_by(audit_log.c.id.desc()).limit(RECENT_SCANNED)).all()
    return {"approvals": [_approval(row, ctx) for row in waiting], "approvals_count": waiting_count,
            "recent": recent(rows, ctx), "agenda": agenda(ctx)}


def agenda(ctx: Any) -> dict[str, Any]:
    """What the user owns that is open and due today or before (`agenda:` entities they may
    read), in the project's time zone: today's soonest first, then the overdue, latest first.
    Each entity is read through the records service (scope, hidden fields), so a due field
    the user may not see leaves its entity out."""
    zone = get_timezone()
    now = datetime.now(zone)
    today = now.date()
    midnight = datetime.combine(today, time(), zone)
    found: dict[str, list] = {"today": [], "overdue": []}
    enabled = False
    counts = {"today": 0, "overdue": 0}
    for entity in model().entities.values():
        plan = entity.agenda
        if plan is None or entity.hidden or not can(entity, "read"):
            continue
        due_field = entity.fields.get(plan.due)
        if due_field is None:
            continue
        # a date is overdue from the next day, a date-time from its moment
        start, end = (today, today + timedelta(days=1)) if due_field.type.name == "date" else (
            now, midnight + timedelta(days=1))
        spans = {"today": ([("gte", start), ("lt", end)], (plan.due, "id")),
                 "overdue": ([("lt", start)], (f"-{plan.due}", "-id"))}
        columns = tuple(dict.fromkeys((*title_columns(entity), plan.due)))
        enabled = True
        try:
            for kind, (bounds, sort) in spans.items():
                filters = (("owner", "eq", ctx.actor.id), *((plan.due, op, value) for op, value in bounds))
                query = Query(where=plan.open, filters=filters, sort=sort, limit=AGENDA_SHOWN, columns=columns)
                rows = service().list(entity.name, query, ctx)
                counts[kind] += len(rows) if len(rows) < AGENDA_SHOWN else service().count(
                    entity.name, query, ctx, limit=AGENDA_COUNTED)
                found[kind] += [{"entity": entity, "record_id": row["id"], "title": title_of(entity, row),
                                 "due": row.get(plan.due), "when": _when(row.get(plan.due), kind)} for row in rows]
        except ValidationError:  # the due field, or one `open` reads, is hidden from this user
            continue
    found["today"].sort(key=lambda item: _moment(item["due"]))
    found["overdue"].sort(key=lambda item: _moment(item["due"]), reverse=True)
    return {"today": found["today"][:AGENDA_SHOWN], "overdue": found["overdue"][:AGENDA_SHOWN],
            "today_count": min(counts["today"], AGENDA_COUNTED), "overdue_count": min(counts["overdue"], AGENDA_COUNTED),
            "counted": AGENDA_COUNTED, "enabled": enabled}


def _when(value: Any, kind: str) -> str:
    """Today's date-times by their time and today's dates not at all (the heading says the
    day); the overdue in full."""
    if kind == "today" and isinstance(value, datetime):
        return format_time(value if value.tzinfo else value.replace(tzinfo=UTC), "short")
    return "" if kind == "today" else fmt(value)


def _moment(value: Any) -> datetime:
    """A date or date-time as a comparable aware date-time (a date: its start in the project's
    time zone; stored date-times are UTC)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), get_timezone())
    return datetime.min.replace(tzinfo=get_timezone())


def _approval(row: dict[str, Any], ctx: Any) -> dict[str, Any]:
    entity = model().entities.get(row["entity"])
    title = None
    if entity is not None:
        title = read_titles(entity, [row["record_id"]], ctx).get(row["record_id"])
    return {"entity": entity, "record_id": row["record_id"], "title": title or f"#{row['record_id']}",
            "submitter": row.get("submitter_name") or row.get("submitter_username") or "", "at": row.get("created_at")}


def recent(rows: list, ctx: Any) -> list[dict[str, Any]]:
    """The distinct records of the newest audit rows, newest first, that the user may still read."""
    wanted: list[tuple[str, int, Any]] = []
    seen = set()
    for entity_name, record_id, at in rows:
        if (entity_name, record_id) not in seen and entity_name in model().entities:
            seen.add((entity_name, record_id))
            wanted.append((entity_name, record_id, at))
    by_entity: dict[str, list[int]] = {}
    for entity_name, record_id, _at in wanted:
        by_entity.setdefault(entity_name, []).append(record_id)
    titles: dict[tuple[str, int], str] = {}
    for entity_name, ids in by_entity.items():
        entity = model().entities[entity_name]
        if entity.hidden or not can(entity, "read"):
            continue
        for record_id, title in read_titles(entity, ids, ctx).items():
            titles[(entity_name, record_id)] = title
    shown = []
    for entity_name, record_id, at in wanted:
        if (entity_name, record_id) in titles:
            shown.append({"entity": model().entities[entity_name], "record_id": record_id,
                          "title": titles[(entity_name, record_id)], "at": at})
        if len(shown) == RECENT_SHOWN:
            break
    return shown
