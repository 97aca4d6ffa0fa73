"""The engine's own tables, shared by every project.

These are migrated by the Alembic revisions in `migrations/` (not by the project planner,
which ignores every table whose name starts with `tailor_`). A test checks that the
revisions produce exactly this metadata.
"""

from __future__ import annotations

import sqlalchemy as sa

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SYSTEM_PREFIX = "tailor_"
ALEMBIC_VERSION_TABLE = "tailor_alembic_version"

SYSTEM_METADATA = sa.MetaData(naming_convention=NAMING_CONVENTION)

users = sa.Table(
    "tailor_user",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(80), nullable=False, unique=True),
    sa.Column("display_name", sa.String(120), nullable=False, server_default=""),
    sa.Column("email", sa.String(254)),
    sa.Column("password_hash", sa.String(255)),
    sa.Column("language", sa.String(8), nullable=False, server_default="en"),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("department_id", sa.Integer, sa.ForeignKey("tailor_department.id", ondelete="SET NULL")),
    sa.Column("manager_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="SET NULL")),
)

# -- organisation: departments (a tree), their heads, teams, roles held, records shared ---------
departments = sa.Table(
    "tailor_department",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("tailor_department.id", ondelete="RESTRICT")),
    sa.UniqueConstraint("parent_id", "name"),
)

department_heads = sa.Table(
    "tailor_department_head",
    SYSTEM_METADATA,
    sa.Column("department_id", sa.Integer, sa.ForeignKey("tailor_department.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="CASCADE"), primary_key=True),
)

teams = sa.Table(
    "tailor_team",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(120), nullable=False, unique=True),
)

team_members = sa.Table(
    "tailor_team_member",
    SYSTEM_METADATA,
    sa.Column("team_id", sa.Integer, sa.ForeignKey("tailor_team.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="CASCADE"), primary_key=True),
)

user_roles = sa.Table(
    "tailor_user_role",
    SYSTEM_METADATA,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role", sa.String(64), primary_key=True),
)

shares = sa.Table(
    "tailor_share",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("record_id", sa.Integer, nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="CASCADE")),
    sa.Column("team_id", sa.Integer, sa.ForeignKey("tailor_team.id", ondelete="CASCADE")),
    sa.Column("access", sa.String(8), nullable=False),  # read / write
    sa.Column("shared_by", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="SET NULL")),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_tailor_share_entity_record", "entity", "record_id"),
    sa.Index("ix_tailor_share_entity_user", "entity", "user_id"),
    sa.Index("ix_tailor_share_entity_team", "entity", "team_id"),
    sa.Index("ix_tailor_share_user", "user_id"),  # which entities a user has shares in
    sa.Index("ix_tailor_share_team", "team_id"),
)

audit_log = sa.Table(
    "tailor_audit",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("record_id", sa.Integer, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # create / update / delete
    sa.Column("changes", sa.JSON, nullable=False),  # {field: [old, new]}
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="SET NULL")),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("metadata_version", sa.String(64)),
    # an admin did what no role of theirs allows: every such bypass is on the record
    sa.Column("bypass", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_tailor_audit_entity_record", "entity", "record_id", "id"),
)

schema_history = sa.Table(
    "tailor_schema_history",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("project", sa.String(120), nullable=False),
    sa.Column("metadata_version", sa.String(64), nullable=False),
    sa.Column("operation", sa.String(40), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("destructive", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("sql", sa.Text, nullable=False, server_default=""),
)

metadata_version = sa.Table(
    "tailor_metadata",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.String(64), nullable=False, unique=True),
    sa.Column("project", sa.String(120), nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
)

sequence = sa.Table(
    "tailor_sequence",
    SYSTEM_METADATA,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)


comments = sa.Table(
    "tailor_comment",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("record_id", sa.Integer, nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="SET NULL")),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_tailor_comment_entity_record", "entity", "record_id", "id"),
)

saved_views = sa.Table(
    "tailor_saved_view",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="CASCADE"), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("state", sa.JSON, nullable=False),  # {filters, sort, columns, search}
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("user_id", "entity", "name"),
)

sign_in_failures = sa.Table(
    "tailor_sign_in_failure",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(200), nullable=False),  # username and client address
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_tailor_sign_in_failure_key_at", "key", "at"),
)
