"""imports: the runs of imports (their file, mapping and progress), the records each run
created or updated (to revert it) and its failed rows; the audit trail names the import
run that made a change

Revision ID: 0013
Revises: 0012 (the designer layer)
Create Date: 2026-12-06 00:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECORD_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table("tailor_import_run",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("entity", sa.String(length=64), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=True),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("file_name", sa.String(length=255), nullable=False),
    sa.Column("source", sa.LargeBinary(), nullable=False),
    sa.Column("mapping", sa.JSON(), nullable=False),
    sa.Column("total_rows", sa.Integer(), server_default="0", nullable=False),
    sa.Column("rows_done", sa.Integer(), server_default="0", nullable=False),
    sa.Column("created", sa.Integer(), server_default="0", nullable=False),
    sa.Column("updated", sa.Integer(), server_default="0", nullable=False),
    sa.Column("unchanged", sa.Integer(), server_default="0", nullable=False),
    sa.Column("failed", sa.Integer(), server_default="0", nullable=False),
    sa.Column("message", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("reverted_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_import_run_user_id_tailor_user"),
                            ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_import_run")),
    sqlite_autoincrement=True,
    )
    op.create_table("tailor_import_item",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("run_id", sa.Integer(), nullable=False),
    sa.Column("row_number", sa.Integer(), nullable=False),
    sa.Column("record_id", RECORD_ID, nullable=False),
    sa.Column("action", sa.String(length=16), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(["run_id"], ["tailor_import_run.id"],
                            name=op.f("fk_tailor_import_item_run_id_tailor_import_run"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_import_item")),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table("tailor_import_item", schema=None) as batch_op:
        batch_op.create_index("ix_tailor_import_item_run_id", ["run_id", "row_number"], unique=False)
    op.create_table("tailor_import_error",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("run_id", sa.Integer(), nullable=False),
    sa.Column("row_number", sa.Integer(), nullable=False),
    sa.Column("column_name", sa.String(length=255), nullable=False),
    sa.Column("message", sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(["run_id"], ["tailor_import_run.id"],
                            name=op.f("fk_tailor_import_error_run_id_tailor_import_run"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_import_error")),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table("tailor_import_error", schema=None) as batch_op:
        batch_op.create_index("ix_tailor_import_error_run_id", ["run_id", "row_number"], unique=False)
    # a nullable column: metadata only on SQLite and PostgreSQL, however long the trail
    op.add_column("tailor_audit", sa.Column("import_run", sa.Integer(), nullable=True))
    op.create_index("ix_tailor_audit_import_run", "tailor_audit", ["import_run"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tailor_audit_import_run", table_name="tailor_audit")
    with op.batch_alter_table("tailor_audit", schema=None) as batch_op:
        batch_op.drop_column("import_run")
    with op.batch_alter_table("tailor_import_error", schema=None) as batch_op:
        batch_op.drop_index("ix_tailor_import_error_run_id")
    op.drop_table("tailor_import_error")
    with op.batch_alter_table("tailor_import_item", schema=None) as batch_op:
        batch_op.drop_index("ix_tailor_import_item_run_id")
    op.drop_table("tailor_import_item")
    op.drop_table("tailor_import_run")
