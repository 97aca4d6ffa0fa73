"""Two-factor sign-in: TOTP secrets (RFC 6238, through pyotp), single-use recovery codes,
and whether a user's roles require a second factor.

Kept apart from the web pages so the command line (`tailor user reset-2fa`) and the pages
share one set of rules:

* a code is accepted in the current 30-second step or the one before or after (clocks
  drift), and never twice: the step of the last accepted code is stored and a code of that
  step or an earlier one is refused (replay), by a conditional update, so two workers
  cannot both accept the same code;
* recovery codes are 80 random bits each, shown once and stored as SHA-256 hashes; one is
  spent by a conditional update too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pyotp
import qrcode
import qrcode.image.svg
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .storage import recovery_codes, two_factor, user_roles

RECOVERY_CODES = 10
DRIFT_STEPS = 1  # steps accepted either side of now
ISSUER = "Tailor"


def clock() -> datetime:
    """Now (tests replace it, so codes of a given time step are checked without waiting)."""
    return datetime.now(UTC)


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str, issuer: str = ISSUER) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def qr_svg(text: str) -> str:
    """A QR code as an inline SVG element (drawn on the server: no script, no outside service)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")


def normalise(code: str | None) -> str:
    """Letters and digits only, upper case; full-width digits typed with a Chinese input method
    count as the digits they are (NFKC), anything else outside ASCII is dropped."""
    folded = unicodedata.normalize("NFKC", code or "")
    return "".join(ch for ch in folded if ch.isascii() and ch.isalnum()).upper()


def state_of(conn: Connection, user_id: int) -> Mapping[str, Any] | None:
    """The user's TOTP row (enabled or still being enrolled), or None."""
    return conn.execute(sa.select(two_factor).where(two_factor.c.user_id == user_id)).mappings().first()


def is_enabled(conn: Connection, user_id: int) -> bool:
    row = state_of(conn, user_id)
    return row is not None and row["enabled_at"] is not None


def required_for(conn: Connection, user_id: int, roles: Mapping[str, Any]) -> bool:
    """Does a role the user holds say `require_two_factor: true`?"""
    held = conn.execute(sa.select(user_roles.c.role).where(user_roles.c.user_id == user_id)).scalars()
    return any(getattr(roles.get(name), "require_two_factor", False) for name in held)


def pending_secret(conn: Connection, user_id: int, now: datetime | None = None) -> str:
    """The secret being enrolled: the stored one, or a new one (nothing is enabled yet)."""
    row = state_of(conn, user_id)
    if row is not None:
        if row["enabled_at"] is not None:
            raise ValueError("two-factor sign-in is already on")
        return row["secret"]
    secret = new_secret()
    conn.execute(two_factor.insert().values(user_id=user_id, secret=secret, created_at=now or clock()))
    return secret


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def accept_code(conn: Connection, user_id: int, code: str | None, now: datetime | None = None, *,
                enrolling: bool = False) -> bool:
    """Check a TOTP code and spend its time step: True only the first time a valid code is seen.
    `enrolling`: check against the secret still being enrolled (not yet enabled)."""
    row = state_of(conn, user_id)
    if row is None or (row["enabled_at"] is None) != enrolling:
        return False
    step = _matching_step(row["secret"], normalise(code), now or clock())
    if step is None:
        return False
    spent = conn.execute(two_factor.update().where(
        two_factor.c.user_id == user_id, two_factor.c.secret == row["secret"],
        sa.or_(two_factor.c.last_step.is_(None), two_factor.c.last_step < step)).values(last_step=step))
    return spent.rowcount == 1


def enable(conn: Connection, user_id: int, code: str | None, now: datetime | None = None) -> list[str] | None:
    """Turn on the enrolled secret when `code` proves the app has it; the new recovery codes
    (to be shown once), or None when the code is wrong."""
    now = now or clock()
    if not accept_code(conn, user_id, code, now, enrolling=True):
        return None
    conn.execute(two_factor.update().where(two_factor.c.user_id == user_id).values(enabled_at=now))
    return new_recovery_codes(conn, user_id)


def _hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode("ascii")).hexdigest()


def new_recovery_codes(conn: Connection, user_id: int) -> list[str]:
    """Ten fresh codes (the old ones stop working), like `7KQ2-M9XA-PL3D-W8RT`."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
    codes = ["-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))
             for _ in range(RECOVERY_CODES)]
    conn.execute(recovery_codes.delete().where(recovery_codes.c.user_id == user_id))
    conn.execute(recovery_codes.insert(), [{"user_id": user_id, "code_hash": _hash(c)} for c in codes])
    return codes


def use_recovery_code(conn: Connection, user_id: int, code: str | None, now: datetime | None = None) -> bool:
    """Spend one recovery code: True the first time only."""
    if len(normalise(code)) != 16:
        return False
    spent = conn.execute(recovery_codes.update().where(
        recovery_codes.c.user_id == user_id, recovery_codes.c.code_hash == _hash(code or ""),
        recovery_codes.c.used_at.is_(None)).values(used_at=now or clock()))
    return spent.rowcount == 1


def recovery_codes_left(conn: Connection, user_id: int) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(recovery_codes).where(
        recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None))).scalar_one()


def accept_second_factor(conn: Connection, user_id: int, code: str | None, now: datetime | None = None) -> bool:
    """A code from the app, or else one of the recovery codes."""
    return accept_code(conn, user_id, code, now) or use_recovery_code(conn, user_id, code, now)


def reset(conn: Connection, user_id: int) -> bool:
    """Turn two-factor sign-in off and forget the secret and recovery codes (an admin's reset,
    or the user's own with their password). True when there was something to reset."""
    conn.execute(recovery_codes.delete().where(recovery_codes.c.user_id == user_id))
    return conn.execute(two_factor.delete().where(two_factor.c.user_id == user_id)).rowcount > 0
