"""server-side sessions, one-time links (invitations, password resets) and the sign-in history

The session cookie used to carry the user id alone, so signing out could not end a copied
cookie. A session is now a row: the cookie holds a random id, stored here only as a hash,
and signing out, a password change, deactivation or "sign out everywhere" revoke the row.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tailor_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_session_user_id_tailor_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tailor_session_token_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_tailor_session_user_id", "tailor_session", ["user_id"])
    op.create_table(
        "tailor_user_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_user_link_user_id_tailor_user"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["tailor_user.id"],
                                name=op.f("fk_tailor_user_link_created_by_tailor_user"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_user_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tailor_user_link_token_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_tailor_user_link_user_id", "tailor_user_link", ["user_id"])
    op.create_table(
        "tailor_sign_in_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"],
                                name=op.f("fk_tailor_sign_in_event_user_id_tailor_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_sign_in_event")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_tailor_sign_in_event_user_id_at", "tailor_sign_in_event", ["user_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_tailor_sign_in_event_user_id_at", table_name="tailor_sign_in_event")
    op.drop_table("tailor_sign_in_event")
    op.drop_index("ix_tailor_user_link_user_id", table_name="tailor_user_link")
    op.drop_table("tailor_user_link")
    op.drop_index("ix_tailor_session_user_id", table_name="tailor_session")
    op.drop_table("tailor_session")
