"""The admin audit log: what administrators did to users, and what `tailor user` did.

Every user-administration action is written to `tailor_admin_audit` in the transaction
that makes it, so an action is recorded exactly when it happened: who (the admin's id and
username then, or "cli" for the command line), what, to whom (the user's id and username
then), when and from which address, and the details (the fields an edit changed, as
{field: [old, new]}; whether an invitation was mailed). Links' tokens and passwords are
never written here.

The records' own history (`tailor_audit`) is a separate table: this one is about people.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .storage import admin_audit, users

CLI = "cli"

# the actions, as the admin pages name them (engine/web/admin.py translates them)
CREATE = "create"  # a user made with a password
INVITE = "invite"  # a user made with an invitation link
RESEND_INVITE = "resend_invite"
RESET_PASSWORD = "reset_password"  # a one-time link; the old password stopped working
SET_PASSWORD = "set_password"  # `tailor user password`
UPDATE = "update"  # department, manager, roles, teams, head, name, active, admin
DEACTIVATE = "deactivate"
ACTIVATE = "activate"
UNLOCK = "unlock"
SIGN_OUT = "sign_out"  # every session ended
RESET_TWO_FACTOR = "reset_two_factor"  # the user's TOTP secret and recovery codes forgotten (lost phone)
IMPORT_CREATE = "import_create"  # `tailor org import` made the user (without a password)
IMPORT_UPDATE = "import_update"  # `tailor org import` changed what the staff list sets
# the designer (engine/design): metadata changes, with no user as their target
DESIGN_APPLY = "design_apply"  # a change set applied (details: change id, comment, paths, versions)
DESIGN_REVERT = "design_revert"
DESIGN_DROP_COLUMN = "design_drop_column"  # a hidden field's column dropped (details: values destroyed)
DESIGN_CLEAR = "design_clear"  # the designer layer emptied after its export became the project's YAML
# the report builder (engine/reports/saved.py): a report shared with roles saved or deleted (it
# changes what others see), or an administrator's change to another user's report
REPORT_SAVE = "report_save"  # details: report id, title, entity, roles, owner
REPORT_DELETE = "report_delete"
ACTIONS = (CREATE, INVITE, RESEND_INVITE, RESET_PASSWORD, SET_PASSWORD, UPDATE, DEACTIVATE, ACTIVATE, UNLOCK,
           SIGN_OUT, RESET_TWO_FACTOR, IMPORT_CREATE, IMPORT_UPDATE, DESIGN_APPLY, DESIGN_REVERT, DESIGN_DROP_COLUMN,
           DESIGN_CLEAR, REPORT_SAVE, REPORT_DELETE)
PAGE = 50


def record(conn: Connection, action: str, target_id: int | None, *, actor_id: int | None = None, actor: str = CLI,
           ip: str | None = None, details: dict[str, Any] | None = None, now: datetime | None = None) -> None:
    """Write one entry, in the caller's transaction (the action and its entry commit together)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown admin action {action!r}")
    target = "" if target_id is None else \
        conn.execute(sa.select(users.c.username).where(users.c.id == target_id)).scalar() or ""
    conn.execute(admin_audit.insert().values(
        at=now or datetime.now(UTC), actor_id=actor_id, actor=(actor or CLI)[:80], action=action,
        target_id=target_id, target=target[:80], details=dict(details or {}), ip=(ip or None) and ip[:64]))


def record_import(conn: Connection, before: dict[int, dict[str, Any]], after: dict[int, dict[str, Any]],
                  source: str, *, actor_id: int | None = None, actor: str = CLI) -> int:
    """One entry per user a staff-list import made or changed (`before`/`after`: what
    `permissions.org.staff` read around it), in the import's transaction; returns how many."""
    written = 0
    for user_id, now in after.items():
        old = before.get(user_id)
        if old is None:
            details = {k: v for k, v in now.items() if v not in (None, [], False)}
            action = IMPORT_CREATE
        else:
            details = {k: [old[k], now[k]] for k in now if old.get(k) != now[k]}
            action = IMPORT_UPDATE
        if old is None or details:
            record(conn, action, user_id, actor_id=actor_id, actor=actor, details={**details, "file": source[:200]})
            written += 1
    return written


def _aware(row: Any) -> dict[str, Any]:
    entry = dict(row)
    if entry["at"] is not None and entry["at"].tzinfo is None:  # SQLite gives it back without its zone
        entry["at"] = entry["at"].replace(tzinfo=UTC)
    return entry


def of_user(conn: Connection, user_id: int, limit: int = PAGE) -> list[dict[str, Any]]:
    """The newest entries about one user."""
    rows = conn.execute(sa.select(admin_audit).where(admin_audit.c.target_id == user_id)
                        .order_by(admin_audit.c.id.desc()).limit(limit)).mappings()
    return [_aware(r) for r in rows]


def recent(conn: Connection, page: int = 1, per_page: int = PAGE) -> tuple[list[dict[str, Any]], int]:
    """One page of every entry, newest first, and how many there are."""
    total = conn.execute(sa.select(sa.func.count()).select_from(admin_audit)).scalar_one()
    rows = conn.execute(sa.select(admin_audit).order_by(admin_audit.c.id.desc())
                        .limit(per_page).offset((max(page, 1) - 1) * per_page)).mappings()
    return [_aware(r) for r in rows], int(total)
