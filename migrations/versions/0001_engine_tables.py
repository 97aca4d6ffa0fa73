"""engine tables

The engine's own tables as declared in engine/storage/system.py. Generated with
`alembic revision --autogenerate` and then made dialect-neutral by hand (server defaults
written as sa.true()/sa.false()/sa.func.now(), as in the metadata, instead of the text
SQLite reflection produces). tests/migrate/test_system_tables.py checks that, after this
revision, the database matches SYSTEM_METADATA exactly on SQLite and PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 08:07:17
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tailor_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.String(length=120), server_default="", nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("language", sa.String(length=8), server_default="en", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_user")),
        sa.UniqueConstraint("username", name=op.f("uq_tailor_user_username")),
    )
    op.create_table(
        "tailor_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metadata_version", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["tailor_user.id"],
            name=op.f("fk_tailor_audit_user_id_tailor_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_audit")),
    )
    op.create_index("ix_tailor_audit_entity_record", "tailor_audit", ["entity", "record_id", "id"])
    op.create_table(
        "tailor_schema_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("project", sa.String(length=120), nullable=False),
        sa.Column("metadata_version", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.Column("destructive", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("sql", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_schema_history")),
    )
    op.create_table(
        "tailor_metadata",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=120), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_metadata")),
        sa.UniqueConstraint("version", name=op.f("uq_tailor_metadata_version")),
    )
    op.create_table(
        "tailor_sequence",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_tailor_sequence")),
    )


def downgrade() -> None:
    op.drop_table("tailor_sequence")
    op.drop_table("tailor_metadata")
    op.drop_table("tailor_schema_history")
    op.drop_index("ix_tailor_audit_entity_record", table_name="tailor_audit")
    op.drop_table("tailor_audit")
    op.drop_table("tailor_user")
