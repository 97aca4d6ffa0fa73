"""import files: a run's file in a table of its own (tailor_import_file), out of the run's row,
which every batch's progress update rewrote with the whole file

Revision ID: 0017
Revises: 0016 (audit by user)
Create Date: 2026-12-06 20:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # the files wait in a table nothing refers to while SQLite rebuilds tailor_import_run
    # (dropping the old copy would delete the rows of a table referring to it, were foreign
    # keys enforced), then go to their own table
    op.create_table("tailor_import_source_moving",
    sa.Column("run_id", sa.Integer(), nullable=False),
    sa.Column("source", sa.LargeBinary(), nullable=False),
    )
    op.execute("INSERT INTO tailor_import_source_moving (run_id, source) SELECT id, source FROM tailor_import_run")
    with op.batch_alter_table("tailor_import_run", schema=None) as batch_op:
        batch_op.drop_column("source")
    op.create_table("tailor_import_file",
    sa.Column("run_id", sa.Integer(), nullable=False),
    sa.Column("source", sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(["run_id"], ["tailor_import_run.id"],
                            name=op.f("fk_tailor_import_file_run_id_tailor_import_run"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("run_id", name=op.f("pk_tailor_import_file")),
    )
    op.execute("INSERT INTO tailor_import_file (run_id, source) SELECT run_id, source FROM tailor_import_source_moving")
    op.drop_table("tailor_import_source_moving")


def downgrade() -> None:
    # a column added in place (no rebuild while tailor_import_file refers to the table)
    op.add_column("tailor_import_run",
                  sa.Column("source", sa.LargeBinary(), nullable=False, server_default=sa.text("''")))
    op.execute("UPDATE tailor_import_run SET source = (SELECT f.source FROM tailor_import_file f "
               "WHERE f.run_id = tailor_import_run.id) WHERE id IN (SELECT run_id FROM tailor_import_file)")
    op.drop_table("tailor_import_file")
    with op.batch_alter_table("tailor_import_run", schema=None) as batch_op:
        batch_op.alter_column("source", server_default=None)
