"""The home page's "my work" (issue 15): what a user has to do and was doing, beside their
dashboard — the approvals waiting for them, and the records they changed last.

Each list is read the way its own page reads it (the approvals inbox; records through the
records service, so a record the user may no longer read is left out, never shown).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ...storage import audit_log
from ...workflows import inbox as reads
from ..forms import read_titles
from . import can, model, service

APPROVALS_SHOWN = 5
RECENT_SHOWN = 8
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
            "recent": recent(rows, ctx)}


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
