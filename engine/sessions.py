"""Server-side sessions and the sign-in history.

A signed cookie alone cannot be taken back: a copy keeps working until it expires. So the
cookie holds only a random session id, and the session is a row (`tailor_session`) that
holds the id's SHA-256 (a leaked database does not hand out working cookies). Signing out,
a password change, deactivation and "sign out everywhere" set `revoked_at`; a session also
ends after `idle` without a request and `absolute` after sign-in, whatever happens.

The web layer (engine/web/auth.py) and the CLI both use these functions, so a user
deactivated from either place is signed out everywhere.

Every sign-in and failed attempt is recorded in `tailor_sign_in_event` for the admin's
per-user history.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .storage import sign_in_events, user_sessions, users

DEFAULT_IDLE_MINUTES = 120
DEFAULT_ABSOLUTE_HOURS = 12
TOUCH_EVERY = timedelta(minutes=1)  # last-seen is written at most this often, not on every request
MAX_AGENT = 300
MAX_ADDRESS = 64


class SessionSettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Timeouts:
    idle: timedelta = timedelta(minutes=DEFAULT_IDLE_MINUTES)
    absolute: timedelta = timedelta(hours=DEFAULT_ABSOLUTE_HOURS)

    @classmethod
    def from_settings(cls, extra: dict[str, str]) -> Timeouts:
        """TAILOR_SESSION_IDLE_MINUTES and TAILOR_SESSION_ABSOLUTE_HOURS (positive integers)."""
        idle = _positive(extra, "session_idle_minutes", DEFAULT_IDLE_MINUTES)
        absolute = _positive(extra, "session_absolute_hours", DEFAULT_ABSOLUTE_HOURS)
        return cls(idle=timedelta(minutes=idle), absolute=timedelta(hours=absolute))


def _positive(extra: dict[str, str], key: str, default: int) -> int:
    raw = extra.get(key)
    if raw is None or raw.strip() == "":
        return default
    if not (raw.strip().isascii() and raw.strip().isdigit()) or int(raw) < 1:
        raise SessionSettingsError(f"TAILOR_{key.upper()} must be a whole number of at least 1, not {raw!r}")
    return int(raw)


def token_hash(token: str) -> str:
    """What is stored for a cookie's session id or a link's token: never the value itself."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def aware(moment: datetime | None) -> datetime | None:
    """SQLite gives timestamps back without a zone; they were written in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def create_session(conn: Connection, user_id: int, ip: str | None, user_agent: str | None,
                   now: datetime | None = None, timeouts: Timeouts | None = None) -> str:
    """A new session row; returns the random id for the cookie (only its hash is stored).
    The user's sessions past the absolute limit, which can never work again, are deleted."""
    now = now or datetime.now(UTC)
    if timeouts is not None:
        conn.execute(user_sessions.delete().where(user_sessions.c.user_id == user_id,
                                                  user_sessions.c.created_at < now - timeouts.absolute))
    token = secrets.token_urlsafe(32)
    conn.execute(user_sessions.insert().values(
        token_hash=token_hash(token), user_id=user_id, created_at=now, last_seen_at=now,
        ip=(ip or "")[:MAX_ADDRESS] or None, user_agent=(user_agent or "")[:MAX_AGENT] or None))
    return token


# built once (it runs on every request): building and keying it cost more than running it
FIND_SESSION = (
    sa.select(user_sessions.c.id.label("tailor_session_id"), user_sessions.c.created_at.label("tailor_created_at"),
              user_sessions.c.last_seen_at.label("tailor_last_seen_at"),
              user_sessions.c.revoked_at.label("tailor_revoked_at"), users)
    .join(users, users.c.id == user_sessions.c.user_id)
    .where(user_sessions.c.token_hash == sa.bindparam("token_hash", type_=sa.String)))


def find_session(conn: Connection, token: str, timeouts: Timeouts, now: datetime | None = None
                 ) -> dict[str, Any] | None:
    """The live session for a cookie's id, with its user row under "user"; None when the
    session is unknown, revoked, idle or too old, or its user is deactivated. One query:
    this runs on every request."""
    now = now or datetime.now(UTC)
    found = conn.execute(FIND_SESSION, {"token_hash": token_hash(token)}).mappings().first()
    if found is None or found["tailor_revoked_at"] is not None or not found["is_active"]:
        return None
    last_seen, created = aware(found["tailor_last_seen_at"]), aware(found["tailor_created_at"])
    if now - last_seen > timeouts.idle or now - created > timeouts.absolute:
        return None
    user = {key: value for key, value in found.items() if not key.startswith("tailor_")}
    return {"id": found["tailor_session_id"], "created_at": created, "last_seen_at": last_seen, "user": user}


def needs_touch(found: dict[str, Any], now: datetime | None = None) -> bool:
    return (now or datetime.now(UTC)) - aware(found["last_seen_at"]) >= TOUCH_EVERY


def touch(conn: Connection, session_id: int, now: datetime | None = None) -> None:
    conn.execute(user_sessions.update().where(user_sessions.c.id == session_id)
                 .values(last_seen_at=now or datetime.now(UTC)))


def revoke(conn: Connection, session_id: int, user_id: int | None = None) -> int:
    """End one session (of `user_id`, when given: a user may only end their own)."""
    query = user_sessions.update().where(user_sessions.c.id == session_id, user_sessions.c.revoked_at.is_(None))
    if user_id is not None:
        query = query.where(user_sessions.c.user_id == user_id)
    return conn.execute(query.values(revoked_at=datetime.now(UTC))).rowcount


def revoke_token(conn: Connection, token: str) -> None:
    conn.execute(user_sessions.update().where(user_sessions.c.token_hash == token_hash(token),
                                              user_sessions.c.revoked_at.is_(None))
                 .values(revoked_at=datetime.now(UTC)))


def revoke_all(conn: Connection, user_id: int, keep: int | None = None) -> int:
    """End every session of a user (but `keep`, the one making the request, if given)."""
    query = user_sessions.update().where(user_sessions.c.user_id == user_id, user_sessions.c.revoked_at.is_(None))
    if keep is not None:
        query = query.where(user_sessions.c.id != keep)
    return conn.execute(query.values(revoked_at=datetime.now(UTC))).rowcount


def live_sessions(conn: Connection, user_id: int, timeouts: Timeouts, now: datetime | None = None
                  ) -> list[dict[str, Any]]:
    """A user's sessions that still work, most recently used first."""
    now = now or datetime.now(UTC)
    rows = conn.execute(sa.select(user_sessions).where(user_sessions.c.user_id == user_id,
                                                       user_sessions.c.revoked_at.is_(None),
                                                       user_sessions.c.created_at > now - timeouts.absolute,
                                                       user_sessions.c.last_seen_at > now - timeouts.idle)
                        .order_by(user_sessions.c.last_seen_at.desc())).mappings().all()
    return [dict(r) for r in rows]


# -- sign-in history -------------------------------------------------------------------------
SUCCESS, FAILURE, THROTTLED = "success", "failure", "throttled"


def record_sign_in(conn: Connection, username: str, user_id: int | None, outcome: str, ip: str | None,
                   user_agent: str | None, now: datetime | None = None) -> None:
    conn.execute(sign_in_events.insert().values(
        user_id=user_id, username=(username or "")[:80], outcome=outcome, at=now or datetime.now(UTC),
        ip=(ip or "")[:MAX_ADDRESS] or None, user_agent=(user_agent or "")[:MAX_AGENT] or None))


def sign_in_history(conn: Connection, user_id: int, limit: int = 50) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(sign_in_events).where(sign_in_events.c.user_id == user_id)
                        .order_by(sign_in_events.c.at.desc(), sign_in_events.c.id.desc()).limit(limit))
    return [dict(r) for r in rows.mappings()]


def last_sign_ins(conn: Connection) -> dict[int, datetime]:
    """Each user's latest successful sign-in, for the admin's list of users."""
    rows = conn.execute(sa.select(sign_in_events.c.user_id, sa.func.max(sign_in_events.c.at))
                        .where(sign_in_events.c.outcome == SUCCESS, sign_in_events.c.user_id.is_not(None))
                        .group_by(sign_in_events.c.user_id))
    return {user_id: aware(at) for user_id, at in rows}
