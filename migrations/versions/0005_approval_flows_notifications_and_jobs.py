"""approval flows (definitions, flows, steps, tasks, append-only history), notifications and
background jobs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("tailor_flow_definition",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("hash", sa.String(length=40), nullable=False),
    sa.Column("workflow", sa.String(length=64), nullable=False),
    sa.Column("flow", sa.String(length=64), nullable=False),
    sa.Column("definition", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_flow_definition")),
    sa.UniqueConstraint("hash", name=op.f("uq_tailor_flow_definition_hash"))
    )
    op.create_table("tailor_job",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("kind", sa.String(length=40), nullable=False),
    sa.Column("key", sa.String(length=200), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False),
    sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
    sa.Column("locked_by", sa.String(length=80), nullable=True),
    sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_job")),
    sa.UniqueConstraint("key", name=op.f("uq_tailor_job_key"))
    )
    with op.batch_alter_table("tailor_job", schema=None) as batch_op:
        batch_op.create_index("ix_tailor_job_status_run_at", ["status", "run_at"], unique=False)

    op.create_table("tailor_flow",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("definition_id", sa.Integer(), nullable=False),
    sa.Column("workflow", sa.String(length=64), nullable=False),
    sa.Column("flow", sa.String(length=64), nullable=False),
    sa.Column("entity", sa.String(length=64), nullable=False),
    sa.Column("record_id", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("submitter_id", sa.Integer(), nullable=True),
    sa.Column("state_before", sa.String(length=64), nullable=True),
    sa.Column("running_state", sa.String(length=64), nullable=True),
    sa.Column("returned_from", sa.String(length=64), nullable=True),
    sa.Column("picked", sa.JSON(), nullable=False),
    sa.Column("revision", sa.Integer(), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("urged_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["definition_id"], ["tailor_flow_definition.id"], name=op.f("fk_tailor_flow_definition_id_tailor_flow_definition")),
    sa.ForeignKeyConstraint(["submitter_id"], ["tailor_user.id"], name=op.f("fk_tailor_flow_submitter_id_tailor_user"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_flow"))
    )
    with op.batch_alter_table("tailor_flow", schema=None) as batch_op:
        batch_op.create_index("ix_tailor_flow_entity_record", ["entity", "record_id"], unique=False)
        batch_op.create_index("ix_tailor_flow_submitter_status", ["submitter_id", "status"], unique=False)

    op.create_table("tailor_notification",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("kind", sa.String(length=24), nullable=False),
    sa.Column("title", sa.String(length=300), nullable=False),
    sa.Column("body", sa.Text(), server_default="", nullable=False),
    sa.Column("link", sa.String(length=300), nullable=True),
    sa.Column("entity", sa.String(length=64), nullable=True),
    sa.Column("record_id", sa.Integer(), nullable=True),
    sa.Column("flow_id", sa.Integer(), nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("email", sa.String(length=16), server_default="none", nullable=False),
    sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_notification_user_id_tailor_user"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_notification"))
    )
    with op.batch_alter_table("tailor_notification", schema=None) as batch_op:
        batch_op.create_index("ix_tailor_notification_user_read", ["user_id", "read_at", "id"], unique=False)

    op.create_table("tailor_flow_history",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("flow_id", sa.Integer(), nullable=False),
    sa.Column("step_id", sa.Integer(), nullable=True),
    sa.Column("task_id", sa.Integer(), nullable=True),
    sa.Column("node", sa.String(length=64), nullable=True),
    sa.Column("user_id", sa.Integer(), nullable=True),
    sa.Column("action", sa.String(length=24), nullable=False),
    sa.Column("comment", sa.Text(), nullable=True),
    sa.Column("details", sa.JSON(), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["flow_id"], ["tailor_flow.id"], name=op.f("fk_tailor_flow_history_flow_id_tailor_flow")),
    sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_flow_history_user_id_tailor_user"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_flow_history"))
    )
    with op.batch_alter_table("tailor_flow_history", schema=None) as batch_op:
        batch_op.create_index("ix_tailor_flow_history_flow", ["flow_id", "id"], unique=False)
        batch_op.create_index("ix_tailor_flow_history_user", ["user_id", "id"], unique=False)

    op.create_table("tailor_flow_step",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("flow_id", sa.Integer(), nullable=False),
    sa.Column("node", sa.String(length=64), nullable=False),
    sa.Column("branch", sa.String(length=200), server_default="", nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("outcome", sa.String(length=16), nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["flow_id"], ["tailor_flow.id"], name=op.f("fk_tailor_flow_step_flow_id_tailor_flow")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_flow_step"))
    )
    with op.batch_alter_table("tailor_flow_step", schema=None) as batch_op:
        batch_op.create_index("ix_tailor_flow_step_flow_status", ["flow_id", "status"], unique=False)

    op.create_table("tailor_flow_task",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("flow_id", sa.Integer(), nullable=False),
    sa.Column("step_id", sa.Integer(), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("seq", sa.Integer(), server_default="0", nullable=False),
    sa.Column("required", sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column("waiting_for", sa.Integer(), nullable=True),
    sa.Column("added_by", sa.Integer(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("comment", sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(["added_by"], ["tailor_user.id"], name=op.f("fk_tailor_flow_task_added_by_tailor_user"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["flow_id"], ["tailor_flow.id"], name=op.f("fk_tailor_flow_task_flow_id_tailor_flow")),
    sa.ForeignKeyConstraint(["step_id"], ["tailor_flow_step.id"], name=op.f("fk_tailor_flow_task_step_id_tailor_flow_step")),
    sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_flow_task_user_id_tailor_user")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_flow_task"))
    )
    with op.batch_alter_table("tailor_flow_task", schema=None) as batch_op:
        batch_op.create_index("ix_tailor_flow_task_flow", ["flow_id"], unique=False)
        batch_op.create_index("ix_tailor_flow_task_step", ["step_id"], unique=False)
        batch_op.create_index("ix_tailor_flow_task_user_status", ["user_id", "status", "id"], unique=False)
    _append_only("tailor_flow_history")



def _append_only(table: str) -> None:
    """The database itself refuses to change or remove a row of the history."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""CREATE FUNCTION {table}_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{table} is append-only'; END; $$ LANGUAGE plpgsql""")
        op.execute(f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_append_only()""")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table}
                BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER tailor_flow_history_append_only ON tailor_flow_history")
        op.execute("DROP FUNCTION tailor_flow_history_append_only()")
    with op.batch_alter_table("tailor_flow_task", schema=None) as batch_op:
        batch_op.drop_index("ix_tailor_flow_task_user_status")
        batch_op.drop_index("ix_tailor_flow_task_step")
        batch_op.drop_index("ix_tailor_flow_task_flow")

    op.drop_table("tailor_flow_task")
    with op.batch_alter_table("tailor_flow_step", schema=None) as batch_op:
        batch_op.drop_index("ix_tailor_flow_step_flow_status")

    op.drop_table("tailor_flow_step")
    with op.batch_alter_table("tailor_flow_history", schema=None) as batch_op:
        batch_op.drop_index("ix_tailor_flow_history_user")
        batch_op.drop_index("ix_tailor_flow_history_flow")

    op.drop_table("tailor_flow_history")
    with op.batch_alter_table("tailor_notification", schema=None) as batch_op:
        batch_op.drop_index("ix_tailor_notification_user_read")

    op.drop_table("tailor_notification")
    with op.batch_alter_table("tailor_flow", schema=None) as batch_op:
        batch_op.drop_index("ix_tailor_flow_submitter_status")
        batch_op.drop_index("ix_tailor_flow_entity_record")

    op.drop_table("tailor_flow")
    with op.batch_alter_table("tailor_job", schema=None) as batch_op:
        batch_op.drop_index("ix_tailor_job_status_run_at")

    op.drop_table("tailor_job")
    op.drop_table("tailor_flow_definition")
