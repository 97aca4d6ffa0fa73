"""web tables: comments on records, saved list views, failed sign-ins

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 09:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tailor_comment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_comment_user_id_tailor_user"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_comment")),
    )
    op.create_index("ix_tailor_comment_entity_record", "tailor_comment", ["entity", "record_id", "id"])
    op.create_table(
        "tailor_saved_view",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_saved_view_user_id_tailor_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_saved_view")),
        sa.UniqueConstraint("user_id", "entity", "name", name=op.f("uq_tailor_saved_view_user_id_entity_name")),
    )
    op.create_table(
        "tailor_sign_in_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_sign_in_failure")),
    )
    op.create_index("ix_tailor_sign_in_failure_key_at", "tailor_sign_in_failure", ["key", "at"])


def downgrade() -> None:
    op.drop_index("ix_tailor_sign_in_failure_key_at", table_name="tailor_sign_in_failure")
    op.drop_table("tailor_sign_in_failure")
    op.drop_table("tailor_saved_view")
    op.drop_index("ix_tailor_comment_entity_record", table_name="tailor_comment")
    op.drop_table("tailor_comment")
