"""Notifications: in-app (the bell and its unread count) and e-mail when SMTP is set.

A notification is written in the recipient's language when it is created, from the same
message catalogue as the pages (engine/web/translations). When `TAILOR_SMTP_HOST` is set
and the user has an e-mail address, an `email` job is queued in the same transaction:
the mail goes out from the job runner, so a slow or failing mail server never holds up a
decision, and a crash before the commit sends nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..jobs import schedule
from ..messages import N_, TRANSLATIONS, translations  # noqa: F401 - one catalogue, shared
from ..storage import notifications, users

# kind -> title, with %(who)s (the person acting), %(what)s (entity and record), %(node)s
TITLES = {
    "task": N_("%(who)s asks you to approve %(what)s"),
    "cc": N_("%(who)s copied you on %(what)s"),
    "urge": N_("%(who)s is waiting for your approval of %(what)s"),
    "remind": N_("Reminder: %(what)s is waiting for your approval"),
    "escalated": N_("%(what)s was escalated to you: its approver did not decide in time"),
    "transferred": N_("%(who)s passed you the approval of %(what)s"),
    "added": N_("%(who)s asks you to approve %(what)s as well"),
    "approved": N_("%(what)s was approved"),
    "rejected": N_("%(what)s was rejected by %(who)s"),
    "returned": N_("%(what)s was sent back to you by %(who)s"),
    "withdrawn": N_("%(who)s withdrew %(what)s"),
    "message": N_("%(what)s: %(message)s"),
    "mention": N_("%(who)s mentioned you on %(what)s: %(message)s"),
}


def title(kind: str, language: str, **params: Any) -> str:
    template = translations(language).ugettext(TITLES[kind])
    return (template % {k: v for k, v in params.items()})[:300]


def smtp_configured() -> bool:
    return bool(os.environ.get("TAILOR_SMTP_HOST"))


def notify(conn: Connection, user_ids: Iterable[int], kind: str, *, now: datetime, what: Mapping[str, str],
           who: str = "", link: str | None = None, entity: str | None = None, record_id: int | None = None,
           flow_id: int | None = None, message: Mapping[str, str] | str | None = None, body: str = "") -> list[int]:
    """Notify users (each once); `what` is the record as each language names it
    ({"en": "Sales order SO-2026-0001", "zh": "销售订单 SO-2026-0001"})."""
    ids = list(dict.fromkeys(u for u in user_ids if u is not None))
    if not ids:
        return []
    people = conn.execute(sa.select(users.c.id, users.c.language, users.c.email, users.c.is_active)
                          .where(users.c.id.in_(ids))).all()
    mail = smtp_configured()
    created = []
    for person in people:
        if not person.is_active:
            continue
        language = person.language or "en"
        text = message.get(language) or message.get("en") or next(iter(message.values()), "") \
            if isinstance(message, Mapping) else (message or "")
        heading = title(kind, language, who=who, what=what.get(language) or what.get("en", ""), message=text)
        emailed = "queued" if mail and person.email else "none"
        notification_id = conn.execute(notifications.insert().values(
            user_id=person.id, kind=kind, title=heading, body=body, link=link, entity=entity, record_id=record_id,
            flow_id=flow_id, at=now, email=emailed).returning(notifications.c.id)).scalar_one()
        if emailed == "queued":
            schedule(conn, "email", f"email:{notification_id}", now, {"notification": notification_id})
        created.append(notification_id)
    return created


def unread_count(conn: Connection, user_id: int) -> int:
    return conn.execute(sa.select(sa.func.count()).where(notifications.c.user_id == user_id,
                                                         notifications.c.read_at.is_(None))).scalar_one()


def mark_read(conn: Connection, user_id: int, now: datetime, notification_id: int | None = None) -> int:
    """Mark one (or every) notification of the user read; returns how many changed."""
    statement = notifications.update().where(notifications.c.user_id == user_id, notifications.c.read_at.is_(None))
    if notification_id is not None:
        statement = statement.where(notifications.c.id == notification_id)
    return conn.execute(statement.values(read_at=now)).rowcount
