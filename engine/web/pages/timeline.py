"""A record's one timeline (issue 15): field changes, comments, approval decisions and the
notifications sent about it, newest first, filterable by kind (`?show=comments`).

Each source is read as its own page already reads it — the history through the records
service (masked and hidden fields left out), comments through the service, approvals from
the workflow panel — and only merged here, so the timeline shows nothing the record page
would not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from ...storage import notifications
from ..forms import user_names
from ..i18n import gettext as _
from ..i18n import language
from . import service

KINDS = ("changes", "comments", "approvals", "notifications")
NOTIFICATIONS_SHOWN = 50


def kind_labels() -> dict[str, str]:
    return {"all": _("All"), "changes": _("Changes"), "comments": _("Comments"), "approvals": _("Approvals"),
            "notifications": _("Notifications")}


def chosen(value: str | None) -> str:
    return value if value in KINDS else "all"


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.min.replace(tzinfo=UTC)


def merged(changes: list[dict], comments: list[dict], names: dict, workflow: dict | None, entity_name: str,
           record_id: int, show: str) -> list[dict[str, Any]]:
    """The items of the timeline, newest first: each {kind, at, ...} as the template shows it."""
    items: list[dict[str, Any]] = []
    if show in ("all", "changes"):
        items += [{"kind": "changes", **entry} for entry in changes]
    if show in ("all", "comments"):
        items += [{"kind": "comments", "at": c["at"], "user": names.get(c["user_id"]), "body": c["body"]}
                  for c in comments]
    if show in ("all", "approvals") and workflow:
        for flow in workflow.get("flows") or []:
            items += [{"kind": "approvals", "flow": flow.get("label"), **h} for h in flow.get("history") or []]
    if show in ("all", "notifications"):
        items += sent(entity_name, record_id)
    return sorted(items, key=lambda item: _moment(item.get("at")), reverse=True)


def sent(entity_name: str, record_id: int) -> list[dict[str, Any]]:
    """The notifications sent about the record: one item per sending (same kind, same moment),
    naming whom it reached, with the title in the reader's language where a recipient had it."""
    with service().reading() as conn:
        rows = conn.execute(sa.select(notifications.c.user_id, notifications.c.kind, notifications.c.title,
                                      notifications.c.at, notifications.c.flow_id)
                            .where(notifications.c.entity == entity_name, notifications.c.record_id == record_id)
                            .order_by(notifications.c.id.desc()).limit(NOTIFICATIONS_SHOWN)).mappings().all()
    groups: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = (row["kind"], row["at"], row["flow_id"])
        groups.setdefault(key, {"kind": "notifications", "at": row["at"], "users": [], "titles": []})
        groups[key]["users"].append(row["user_id"])
        groups[key]["titles"].append(row["title"])
    names = user_names({u for g in groups.values() for u in g["users"]})
    lang = language()
    items = []
    for group in groups.values():
        titles = group.pop("titles")
        han = [t for t in titles if any("\u4e00" <= ch <= "\u9fff" for ch in t)]
        latin = [t for t in titles if t not in han]
        group["title"] = ((han if lang == "zh" else latin) or titles)[0]
        group["to"] = ", ".join(names.get(u, f"#{u}") for u in group.pop("users"))
        items.append(group)
    return items
