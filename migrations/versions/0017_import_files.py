"""import files: a run's file in a table of its own (tailor_import_file), out of the run's row,
which every batch's progress update rewrote with the whole file

Revision ID: 0017
Revises: 0016 (audit by user)
Create Date: 2026-12-06 20:10:00
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("tailor_import_file",
    sa.Column("run_id", sa.Integer(), nullable=False),
    sa.Column("source", sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(["run_id"], ["tailor_import_run.id"],
                            name=op.f("fk_tailor_import_file_run_id_tailor_import_run"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("run_id", name=op.f("pk_tailor_import_file")),
    )
    op.execute("INSERT INTO tailor_import_file (run_id, source) SELECT id, source FROM tailor_import_run")
    _drop_source()


def _drop_source() -> None:
    """The run's column goes in place: SQLite (3.35 and later) drops a plain column without
    rebuilding the table. A rebuild would lose AUTOINCREMENT (reflection does not carry
    it: ids would be used again) and, with foreign keys on, its DROP would delete every
    run's items and errors (ON DELETE CASCADE) — and the file rows just copied."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite" or sqlite3.sqlite_version_info >= (3, 35):
        op.drop_column("tailor_import_run", "source")
        return
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar() and \
            bind.exec_driver_sql("SELECT 1 FROM tailor_import_run LIMIT 1").first() is not None:
        raise RuntimeError("this SQLite (before 3.35) rebuilds tailor_import_run to drop a column, which must "
                           "happen with foreign keys off (their ON DELETE actions would run): upgrade with "
                           "`tailor migrate` or upgrade_system_tables(engine), not inside a transaction of your own")
    with op.batch_alter_table("tailor_import_run", recreate="always", table_kwargs={"sqlite_autoincrement": True}) \
            as batch_op:
        batch_op.drop_column("source")


def downgrade() -> None:
    # the column comes back in place (no rebuild), with an empty default the rows it is added to
    # need: the only difference from 0016, which had none
    empty = "X''" if op.get_bind().dialect.name == "sqlite" else "''"  # no bytes (SQLite: not text)
    op.add_column("tailor_import_run",
                  sa.Column("source", sa.LargeBinary(), nullable=False, server_default=sa.text(empty)))
    op.execute("UPDATE tailor_import_run SET source = (SELECT f.source FROM tailor_import_file f "
               "WHERE f.run_id = tailor_import_run.id) WHERE id IN (SELECT run_id FROM tailor_import_file)")
    op.drop_table("tailor_import_file")
