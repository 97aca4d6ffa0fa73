"""ids are never used twice (SQLite AUTOINCREMENT for every engine table with an id), and
the state of derived columns (how their stored values were worked out)

SQLite gives a new row the largest id plus one, so after the newest row is deleted its id
comes back: a new comment, share or notification would take the id of a deleted one. An
AUTOINCREMENT table never does that. SQLite cannot add AUTOINCREMENT to a table, so each
engine table with an id is rebuilt (rows, indexes and foreign keys kept; the append-only
triggers of the flow history are made again). PostgreSQL sequences never go back: nothing
to do there.

A rebuild drops the old table, which with foreign keys enforced would run ON DELETE
actions: Tailor upgrades the engine tables with enforcement off (apply_plan and
upgrade_system_tables), and this revision refuses to rebuild tables that hold rows when it
is not.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the engine tables with an integer id, as revisions 0001-0005 made them
TABLES = (
    "tailor_department", "tailor_user", "tailor_team", "tailor_share", "tailor_audit", "tailor_schema_history",
    "tailor_metadata", "tailor_comment", "tailor_saved_view", "tailor_sign_in_failure", "tailor_flow_definition",
    "tailor_flow", "tailor_flow_step", "tailor_flow_task", "tailor_flow_history", "tailor_notification", "tailor_job",
)
APPEND_ONLY = "tailor_flow_history"


def upgrade() -> None:
    op.create_table(
        "tailor_column_state",
        sa.Column("table_name", sa.String(length=128), nullable=False),
        sa.Column("column_name", sa.String(length=128), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("table_name", "column_name", name=op.f("pk_tailor_column_state")),
    )
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    definitions = dict(bind.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all())
    stale = [t for t in TABLES if t in definitions and "AUTOINCREMENT" not in (definitions[t] or "").upper()]
    if not stale:
        return
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        filled = [t for t in stale if bind.exec_driver_sql(f'SELECT 1 FROM "{t}" LIMIT 1').first() is not None]
        if filled:
            raise RuntimeError(
                "the engine tables must be rebuilt with foreign keys off (their ON DELETE actions would "
                f"run): upgrade them with `tailor migrate` or upgrade_system_tables(engine), not inside a "
                f"transaction of your own ({', '.join(filled)})")
    for table in stale:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass
    if APPEND_ONLY in stale:  # a rebuilt table has lost its triggers
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER {APPEND_ONLY}_no_{event.lower()} BEFORE {event} ON {APPEND_ONLY}
                BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY} is append-only'); END""")


def downgrade() -> None:
    # AUTOINCREMENT stays: it only ever prevents an id from being used twice
    op.drop_table("tailor_column_state")
