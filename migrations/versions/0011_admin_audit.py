"""the admin audit log: who created, invited, reset, deactivated, activated, unlocked or
signed out which user, changed their roles or department, when and from which address

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 09:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("tailor_admin_audit",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor_id", sa.Integer(), nullable=True),
    sa.Column("actor", sa.String(length=80), nullable=False),
    sa.Column("action", sa.String(length=32), nullable=False),
    sa.Column("target_id", sa.Integer(), nullable=True),
    sa.Column("target", sa.String(length=80), nullable=False),
    sa.Column("details", sa.JSON(), nullable=False),
    sa.Column("ip", sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(["actor_id"], ["tailor_user.id"], name=op.f("fk_tailor_admin_audit_actor_id_tailor_user"),
                            ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["target_id"], ["tailor_user.id"],
                            name=op.f("fk_tailor_admin_audit_target_id_tailor_user"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_admin_audit")),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table("tailor_admin_audit", schema=None) as batch_op:
        batch_op.create_index("ix_tailor_admin_audit_target_id", ["target_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tailor_admin_audit", schema=None) as batch_op:
        batch_op.drop_index("ix_tailor_admin_audit_target_id")
    op.drop_table("tailor_admin_audit")
