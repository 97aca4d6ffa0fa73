"""Users of the CRM: creating them, their passwords, and switching them off.

A password change and a deactivation end the user's sessions (engine/sessions.py), from
the web pages and the CLI alike.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from functools import cache

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from . import sessions
from .fields.base import FieldValueError
from .fields.email_address import checked_email
from .storage import users, write_engine

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,79}$")
MIN_PASSWORD = 8
# werkzeug's scrypt at its default cost (n=2**15, r=8, p=1: 32 MB and a noticeable fraction of a
# second a hash). Only the test suite changes it (tests/conftest.py: it creates and signs in
# thousands of users); tests/test_password_cost.py checks that a fresh process uses this default.
PASSWORD_HASH_METHOD = "scrypt"


class UserError(ValueError):
    pass


def hash_password(password: str) -> str:
    """scrypt through werkzeug: salted, memory-hard."""
    return generate_password_hash(password, method=PASSWORD_HASH_METHOD)


@cache
def _dummy_hash() -> str:
    """A hash of a random password, made with the same scrypt parameters as real ones."""
    return hash_password(secrets.token_hex(16))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; without a hash (an unknown user, a user who has not set a
    password yet) a dummy hash is checked anyway, so that every sign-in attempt costs the
    same and the time taken does not tell which usernames exist."""
    if not password_hash:
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(password_hash, password)


def check_password_rules(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"a password has at least {MIN_PASSWORD} characters")


def set_password(conn, user_id: int, password: str | None, keep_session: int | None = None) -> None:
    """A new password (None: none, until the user sets one through a link); every session
    of the user but `keep_session` ends."""
    if password is not None:
        check_password_rules(password)
    conn.execute(users.update().where(users.c.id == user_id)
                 .values(password_hash=hash_password(password) if password else None))
    sessions.revoke_all(conn, user_id, keep=keep_session)


def set_active(conn, user_id: int, active: bool) -> None:
    """Deactivating ends every session of the user; their records keep them as owner."""
    conn.execute(users.update().where(users.c.id == user_id).values(is_active=active))
    if not active:
        sessions.revoke_all(conn, user_id)


def user_id_of(conn, username: str) -> int:
    found = conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar()
    if found is None:
        raise UserError(f"no user '{username}'")
    return int(found)


def user_email(value: str | None) -> str | None:
    """A user's e-mail address as stored (checked like an `email` field), None when empty."""
    if value is None or not value.strip():
        return None
    try:
        return checked_email(value)
    except FieldValueError as exc:
        raise UserError(str(exc)) from None


def create_user(engine, username: str, password: str | None, *, display_name: str | None = None,
                email: str | None = None, is_admin: bool = False, language: str = "en") -> int:
    if not USERNAME_RE.match(username or ""):
        raise UserError("a username is 2-80 letters, digits, '.', '_' or '-'")
    if password is not None and len(password) < MIN_PASSWORD:
        raise UserError(f"a password has at least {MIN_PASSWORD} characters")
    email = user_email(email)
    if isinstance(engine, sa.engine.Connection):  # inside a caller's transaction
        return _insert_user(engine, username, password, display_name, email, is_admin, language)
    with write_engine(engine).begin() as conn:
        return _insert_user(conn, username, password, display_name, email, is_admin, language)


def _insert_user(conn, username, password, display_name, email, is_admin, language) -> int:
    if conn.execute(sa.select(users.c.id).where(users.c.username == username)).first():
        raise UserError(f"user '{username}' already exists")
    result = conn.execute(users.insert().values(
        username=username, display_name=display_name or username, email=email,
        password_hash=hash_password(password) if password else None, is_admin=is_admin,
        language=language, is_active=True, created_at=datetime.now(UTC)).returning(users.c.id))
    return int(result.scalar_one())
