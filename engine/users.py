"""Users of the CRM (the web sign-in arrives with the web pages; the table is here)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from .fields.base import FieldValueError
from .fields.email_address import checked_email
from .storage import users, write_engine

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,79}$")
MIN_PASSWORD = 8


class UserError(ValueError):
    pass


def hash_password(password: str) -> str:
    """scrypt through werkzeug: salted, memory-hard."""
    return generate_password_hash(password, method="scrypt")


def verify_password(password_hash: str | None, password: str) -> bool:
    return bool(password_hash) and check_password_hash(password_hash, password)


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
