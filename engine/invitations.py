"""One-time links that let a user set their password: invitations and password resets.

An admin never needs to know or send a password. The link carries a random token; only its
SHA-256 is stored (`tailor_user_link`), it expires, and it works once: redeeming it marks it
used in the same UPDATE that checks it is unused and unexpired, so two concurrent uses
cannot both succeed. Issuing a new link for a user cancels their older unused ones.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .sessions import aware, token_hash
from .storage import user_links, users
from .users import check_password_rules, set_password

INVITE, RESET = "invite", "reset"
LIFETIME = {INVITE: timedelta(days=7), RESET: timedelta(hours=24)}


def issue(conn: Connection, user_id: int, purpose: str, created_by: int | None = None,
          now: datetime | None = None) -> str:
    """A new link token for the user (returned once, never stored as such)."""
    now = now or datetime.now(UTC)
    conn.execute(user_links.update().where(user_links.c.user_id == user_id, user_links.c.used_at.is_(None))
                 .values(used_at=now))  # older links stop working
    token = secrets.token_urlsafe(32)
    conn.execute(user_links.insert().values(token_hash=token_hash(token), user_id=user_id, purpose=purpose,
                                            created_by=created_by, created_at=now, expires_at=now + LIFETIME[purpose]))
    return token


def reset_password(conn: Connection, user_id: int, created_by: int | None = None) -> str:
    """The old password stops working and every session ends; the user sets a new one with
    the returned link's token."""
    set_password(conn, user_id, None)
    return issue(conn, user_id, RESET, created_by)


def pending(conn: Connection, token: str, now: datetime | None = None) -> dict[str, Any] | None:
    """The link and its user, if the token is unused, unexpired and its user active."""
    now = now or datetime.now(UTC)
    row = conn.execute(sa.select(user_links, users.c.username, users.c.is_active)
                       .join(users, users.c.id == user_links.c.user_id)
                       .where(user_links.c.token_hash == token_hash(token))).mappings().first()
    if row is None or row["used_at"] is not None or aware(row["expires_at"]) <= now or not row["is_active"]:
        return None
    return dict(row)


def redeem(conn: Connection, token: str, password: str, now: datetime | None = None) -> int | None:
    """Set the password through the link; the user's id, or None when the link does not
    work (any more). Raises UserError for a password that breaks the rules (link kept)."""
    now = now or datetime.now(UTC)
    check_password_rules(password)
    link = pending(conn, token, now)
    if link is None:
        return None
    claimed = conn.execute(user_links.update().where(user_links.c.id == link["id"], user_links.c.used_at.is_(None),
                                                     user_links.c.expires_at > now).values(used_at=now)).rowcount
    if claimed != 1:
        return None
    set_password(conn, link["user_id"], password)
    return int(link["user_id"])
