"""organisation: departments, heads, teams, roles held, shares; user department and manager;
admin bypasses marked in the audit log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tailor_department",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["parent_id"], ["tailor_department.id"],
                                name=op.f("fk_tailor_department_parent_id_tailor_department"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_department")),
        sa.UniqueConstraint("parent_id", "name", name=op.f("uq_tailor_department_parent_id_name")),
    )
    op.create_table(
        "tailor_team",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_team")),
        sa.UniqueConstraint("name", name=op.f("uq_tailor_team_name")),
    )
    with op.batch_alter_table("tailor_user") as batch:
        batch.add_column(sa.Column("department_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("manager_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_tailor_user_department_id_tailor_department"), "tailor_department",
                                 ["department_id"], ["id"], ondelete="SET NULL")
        batch.create_foreign_key(op.f("fk_tailor_user_manager_id_tailor_user"), "tailor_user",
                                 ["manager_id"], ["id"], ondelete="SET NULL")
    with op.batch_alter_table("tailor_audit") as batch:
        batch.add_column(sa.Column("bypass", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "tailor_department_head",
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["department_id"], ["tailor_department.id"],
                                name=op.f("fk_tailor_department_head_department_id_tailor_department"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"],
                                name=op.f("fk_tailor_department_head_user_id_tailor_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("department_id", "user_id", name=op.f("pk_tailor_department_head")),
    )
    op.create_table(
        "tailor_team_member",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["tailor_team.id"], name=op.f("fk_tailor_team_member_team_id_tailor_team"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_team_member_user_id_tailor_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_tailor_team_member")),
    )
    op.create_table(
        "tailor_user_role",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_user_role_user_id_tailor_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_tailor_user_role")),
    )
    op.create_table(
        "tailor_share",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("access", sa.String(length=8), nullable=False),
        sa.Column("shared_by", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_share_user_id_tailor_user"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["team_id"], ["tailor_team.id"], name=op.f("fk_tailor_share_team_id_tailor_team"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["shared_by"], ["tailor_user.id"], name=op.f("fk_tailor_share_shared_by_tailor_user"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tailor_share")),
    )
    op.create_index("ix_tailor_share_entity_record", "tailor_share", ["entity", "record_id"])
    op.create_index("ix_tailor_share_entity_user", "tailor_share", ["entity", "user_id"])
    op.create_index("ix_tailor_share_entity_team", "tailor_share", ["entity", "team_id"])


def downgrade() -> None:
    for index, table in (("ix_tailor_share_entity_team", "tailor_share"), ("ix_tailor_share_entity_user", "tailor_share"),
                         ("ix_tailor_share_entity_record", "tailor_share")):
        op.drop_index(index, table_name=table)
    for table in ("tailor_share", "tailor_user_role", "tailor_team_member", "tailor_department_head"):
        op.drop_table(table)
    with op.batch_alter_table("tailor_audit") as batch:
        batch.drop_column("bypass")
    with op.batch_alter_table("tailor_user") as batch:
        batch.drop_constraint(op.f("fk_tailor_user_manager_id_tailor_user"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_tailor_user_department_id_tailor_department"), type_="foreignkey")
        batch.drop_column("manager_id")
        batch.drop_column("department_id")
    op.drop_table("tailor_team")
    op.drop_table("tailor_department")
