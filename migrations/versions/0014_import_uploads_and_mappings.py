"""import pages: an uploaded file kept between the steps of the import pages (upload, map,
dry run, run), and mappings saved by name per entity (a user's own, or shared)

Revision ID: 0014
Revises: 0013 (imports)
Create Date: 2026-12-06 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("tailor_import_upload",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("token", sa.String(length=32), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("entity", sa.String(length=64), nullable=False),
    sa.Column("file_name", sa.String(length=255), nullable=False),
    sa.Column("source", sa.LargeBinary(), nullable=False),
    sa.Column("mapping", sa.JSON(), nullable=True),
    sa.Column("checked", sa.JSON(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_import_upload_user_id_tailor_user"),
                            ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_import_upload")),
    sa.UniqueConstraint("token", name=op.f("uq_tailor_import_upload_token")),
    sqlite_autoincrement=True,
    )
    op.create_table("tailor_import_mapping",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("entity", sa.String(length=64), nullable=False),
    sa.Column("name", sa.String(length=80), nullable=False),
    sa.Column("shared", sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column("mapping", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_import_mapping_user_id_tailor_user"),
                            ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_import_mapping")),
    sa.UniqueConstraint("user_id", "entity", "name", name=op.f("uq_tailor_import_mapping_user_id_entity_name")),
    sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("tailor_import_mapping")
    op.drop_table("tailor_import_upload")
