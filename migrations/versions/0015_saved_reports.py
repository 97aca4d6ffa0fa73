"""report builder: reports users build and save on a web page, each owned by its user and
shared with roles (engine/reports/saved.py)

Revision ID: 0015
Revises: 0014 (import uploads and mappings)
Create Date: 2026-12-06 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("tailor_saved_report",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("entity", sa.String(length=64), nullable=False),
    sa.Column("title", sa.String(length=200), nullable=False),
    sa.Column("roles", sa.JSON(), nullable=False),
    sa.Column("document", sa.JSON(), nullable=False),
    sa.Column("form", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_saved_report_user_id_tailor_user"),
                            ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_saved_report")),
    sqlite_autoincrement=True,
    )
    op.create_index("ix_tailor_saved_report_user_id", "tailor_saved_report", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tailor_saved_report_user_id", table_name="tailor_saved_report")
    op.drop_table("tailor_saved_report")
