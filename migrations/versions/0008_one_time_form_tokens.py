"""one-time tokens of create forms: a form posted twice (a double click, a reload, the back
button) creates one record, not two

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 05:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("tailor_form_token",
    sa.Column("token", sa.String(length=64), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("entity", sa.String(length=64), nullable=False),
    sa.Column("record_id", sa.Integer(), nullable=True),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_form_token_user_id_tailor_user"),
                            ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("token", name=op.f("pk_tailor_form_token"))
    )
    with op.batch_alter_table("tailor_form_token", schema=None) as batch_op:
        batch_op.create_index("ix_tailor_form_token_used_at", ["used_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tailor_form_token", schema=None) as batch_op:
        batch_op.drop_index("ix_tailor_form_token_used_at")
    op.drop_table("tailor_form_token")
