"""the designer layer: change sets made at /design, stored as one more project layer over
the YAML (who, when, why, the ops, the metadata versions before and after, reverts)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 00:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("tailor_design_change",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("author_id", sa.Integer(), nullable=True),
    sa.Column("author", sa.String(length=80), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("comment", sa.Text(), server_default="", nullable=False),
    sa.Column("ops", sa.JSON(), nullable=False),
    sa.Column("base_version", sa.String(length=64), nullable=False),
    sa.Column("version", sa.String(length=64), nullable=False),
    sa.Column("reverted_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("reverted_by", sa.String(length=80), nullable=True),
    sa.Column("reverts", sa.Integer(), nullable=True),
    sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["author_id"], ["tailor_user.id"], name=op.f("fk_tailor_design_change_author_id_tailor_user"),
                            ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["reverts"], ["tailor_design_change.id"],
                            name=op.f("fk_tailor_design_change_reverts_tailor_design_change"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_design_change")),
    sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("tailor_design_change")
