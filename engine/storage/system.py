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

# A record's id as other engine tables hold it (audit, comments, shares, flows,
# notifications, form tokens): entity tables have BIGINT ids, so these must hold every one of
# them. SQLite's INTEGER already holds 64 bits (and stays INTEGER: no table rebuild).
RECORD_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


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
    sa.Column("record_id", RECORD_ID, nullable=False),
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
    sa.Column("record_id", RECORD_ID, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # create / update / delete
    sa.Column("changes", sa.JSON, nullable=False),  # {field: [old, new]}
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="SET NULL")),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("metadata_version", sa.String(64)),
    # an admin did what no role of theirs allows: every such bypass is on the record
    sa.Column("bypass", sa.Boolean, nullable=False, server_default=sa.false()),
    # the import run that made the change ("imported by X, import #N"; engine/imports)
    sa.Column("import_run", sa.Integer),
    sa.Index("ix_tailor_audit_entity_record", "entity", "record_id", "id"),
    sa.Index("ix_tailor_audit_import_run", "import_run"),
    sa.Index("ix_tailor_audit_user", "user_id", "id"),  # the home page: what a user changed last
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
    sa.Column("record_id", RECORD_ID, nullable=False),
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

# -- approval flows (engine/workflows), notifications and background jobs ----------------------
flow_definitions = sa.Table(  # what running flows are pinned to, by hash
    "tailor_flow_definition",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("hash", sa.String(40), nullable=False, unique=True),
    sa.Column("workflow", sa.String(64), nullable=False),
    sa.Column("flow", sa.String(64), nullable=False),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

flows = sa.Table(
    "tailor_flow",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("definition_id", sa.Integer, sa.ForeignKey("tailor_flow_definition.id"), nullable=False),
    sa.Column("workflow", sa.String(64), nullable=False),
    sa.Column("flow", sa.String(64), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("record_id", RECORD_ID, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # running, returned, approved, rejected, withdrawn
    sa.Column("submitter_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="SET NULL")),
    sa.Column("state_before", sa.String(64)),  # the record's state when the flow started
    sa.Column("running_state", sa.String(64)),  # its state while the flow runs
    sa.Column("returned_from", sa.String(64)),  # the node that sent it back to the submitter
    sa.Column("picked", sa.JSON, nullable=False),  # {node: [user ids]} the submitter picked
    sa.Column("revision", sa.Integer, nullable=False),  # bumped by every operation: a row lock
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("urged_at", sa.DateTime(timezone=True)),
    sa.Index("ix_tailor_flow_entity_record", "entity", "record_id"),
    sa.Index("ix_tailor_flow_submitter_status", "submitter_id", "status"),
)

flow_steps = sa.Table(  # a node reached by a flow
    "tailor_flow_step",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("flow_id", sa.Integer, sa.ForeignKey("tailor_flow.id"), nullable=False),
    sa.Column("node", sa.String(64), nullable=False),
    sa.Column("branch", sa.String(200), nullable=False, server_default=""),  # parallel branches it is in
    sa.Column("status", sa.String(16), nullable=False),  # active, done, cancelled
    sa.Column("outcome", sa.String(16)),  # approved, rejected, returned, passed, ...
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Index("ix_tailor_flow_step_flow_status", "flow_id", "status"),
)

flow_tasks = sa.Table(  # one approver's (or cc recipient's) part in a step
    "tailor_flow_task",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("flow_id", sa.Integer, sa.ForeignKey("tailor_flow.id"), nullable=False),
    sa.Column("step_id", sa.Integer, sa.ForeignKey("tailor_flow_step.id"), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # approval, cc
    # open, pending (its turn has not come), waiting (for an approver added before), approved,
    # rejected, returned, transferred, escalated, cancelled; cc: unread, read
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False, server_default="0"),
    sa.Column("required", sa.Boolean, nullable=False, server_default=sa.false()),  # added after someone
    sa.Column("waiting_for", sa.Integer),  # the task added before this one
    sa.Column("added_by", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="SET NULL")),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("comment", sa.Text),
    sa.Index("ix_tailor_flow_task_user_status", "user_id", "status", "id"),
    sa.Index("ix_tailor_flow_task_step", "step_id"),
    sa.Index("ix_tailor_flow_task_flow", "flow_id"),
)

flow_history = sa.Table(  # append-only: database triggers refuse updates and deletes
    "tailor_flow_history",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("flow_id", sa.Integer, sa.ForeignKey("tailor_flow.id"), nullable=False),
    sa.Column("step_id", sa.Integer),
    sa.Column("task_id", sa.Integer),
    sa.Column("node", sa.String(64)),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="SET NULL")),
    sa.Column("action", sa.String(24), nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_tailor_flow_history_flow", "flow_id", "id"),
    sa.Index("ix_tailor_flow_history_user", "user_id", "id"),
)

notifications = sa.Table(
    "tailor_notification",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False, server_default=""),
    sa.Column("link", sa.String(300)),
    sa.Column("entity", sa.String(64)),
    sa.Column("record_id", RECORD_ID),
    sa.Column("flow_id", sa.Integer),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("read_at", sa.DateTime(timezone=True)),
    sa.Column("email", sa.String(16), nullable=False, server_default="none"),  # none, queued, sent, failed
    sa.Index("ix_tailor_notification_user_read", "user_id", "read_at", "id"),
)

jobs = sa.Table(  # background work that survives a restart (engine/jobs)
    "tailor_job",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("key", sa.String(200), nullable=False, unique=True),  # scheduling twice is once
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending, running, done, failed, cancelled
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_by", sa.String(80)),
    sa.Column("locked_until", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Index("ix_tailor_job_status_run_at", "status", "run_at"),
)


column_states = sa.Table(  # how the values of a derived column were worked out (engine/migrate/data.py)
    "tailor_column_state",
    SYSTEM_METADATA,
    sa.Column("table_name", sa.String(128), primary_key=True),
    sa.Column("column_name", sa.String(128), primary_key=True),
    # changes when the way the column's values are worked out changes (a computed field's
    # expression, a choice field's options, the fields of the search key): the planner then
    # recomputes or checks the stored values
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("detail", sa.Text),  # what the fingerprint stands for, where a planner needs it (search keys)
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
form_tokens = sa.Table(  # one-time tokens of create forms, once used (engine/web/form_tokens.py)
    "tailor_form_token",
    SYSTEM_METADATA,
    sa.Column("token", sa.String(64), primary_key=True),  # the form's nonce: a second post of it is refused
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="CASCADE"), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("record_id", RECORD_ID),  # the record the first post created
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_tailor_form_token_used_at", "used_at"),  # old tokens are pruned by age
)

# -- sessions, one-time links and the sign-in history (engine/sessions.py, engine/invitations.py) --
user_sessions = sa.Table(  # a signed-in browser; the cookie holds a random id, stored here only as a hash
    "tailor_session",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(300)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Index("ix_tailor_session_user_id", "user_id"),
)

user_links = sa.Table(  # invitations and password resets: used once, expiring, stored as a hash
    "tailor_user_link",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="CASCADE"), nullable=False),
    sa.Column("purpose", sa.String(16), nullable=False),  # invite | reset
    sa.Column("created_by", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="SET NULL")),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True)),
    sa.Index("ix_tailor_user_link_user_id", "user_id"),
)

sign_in_events = sa.Table(  # every sign-in and failed attempt, for the per-user history
    "tailor_sign_in_event",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="CASCADE")),  # NULL: unknown name
    sa.Column("username", sa.String(80), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # success | failure | throttled
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(300)),
    sa.Index("ix_tailor_sign_in_event_user_id_at", "user_id", "at"),
)

admin_audit = sa.Table(  # what administrators (and `tailor user` commands) did to users (engine/admin_audit.py)
    "tailor_admin_audit",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="SET NULL")),  # NULL: the CLI
    sa.Column("actor", sa.String(80), nullable=False),  # the admin's username then, or "cli"
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="SET NULL")),
    sa.Column("target", sa.String(80), nullable=False),  # the user's username then
    sa.Column("details", sa.JSON, nullable=False),  # {field: [old, new]}, the e-mail outcome...
    sa.Column("ip", sa.String(64)),  # the admin's address (NULL from the CLI)
    sa.Index("ix_tailor_admin_audit_target_id", "target_id", "id"),
)

design_changes = sa.Table(  # the designer layer: change sets made at /design (engine/design)
    "tailor_design_change",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("author_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="SET NULL")),  # NULL: the CLI
    sa.Column("author", sa.String(80), nullable=False),  # the username then, or "cli"
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    sa.Column("ops", sa.JSON, nullable=False),  # [{"path": ..., "value": ...} | {"path": ..., "delete": true}]
    sa.Column("base_version", sa.String(64), nullable=False),  # metadata version it was made on
    sa.Column("version", sa.String(64), nullable=False),  # metadata version after it
    sa.Column("reverted_at", sa.DateTime(timezone=True)),
    sa.Column("reverted_by", sa.String(80)),
    sa.Column("reverts", sa.Integer, sa.ForeignKey("tailor_design_change.id", ondelete="SET NULL")),
    sa.Column("cleared_at", sa.DateTime(timezone=True)),  # `tailor design clear`: now in the project's YAML
)

# -- imports (engine/imports): a run, what it wrote (for revert) and its failed rows ----------
import_runs = sa.Table(
    "tailor_import_run",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="SET NULL")),  # NULL: the engine
    sa.Column("status", sa.String(16), nullable=False),  # queued, running, done, failed, reverted
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("mapping", sa.JSON, nullable=False),  # engine.imports.mapping.Mapping.to_dict()
    sa.Column("total_rows", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_done", sa.Integer, nullable=False, server_default="0"),  # committed with each batch
    sa.Column("created", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("unchanged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("message", sa.Text),  # why a run failed as a whole
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("reverted_at", sa.DateTime(timezone=True)),
)

# the file of a run, in a table of its own: a restart reads it again. (In the run's row, every
# batch's progress update rewrote it: on SQLite a tenth of a 100,000-row import's time.)
import_files = sa.Table(
    "tailor_import_file",
    SYSTEM_METADATA,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("tailor_import_run.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("source", sa.LargeBinary, nullable=False),
)

import_items = sa.Table(  # each record a run created or updated, with its version after the run
    "tailor_import_item",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("tailor_import_run.id", ondelete="CASCADE"), nullable=False),
    sa.Column("row_number", sa.Integer, nullable=False),
    sa.Column("record_id", RECORD_ID, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # created, updated
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index("ix_tailor_import_item_run_id", "run_id", "row_number"),
)

import_errors = sa.Table(  # the failed rows of a run: row number, column, the engine's message
    "tailor_import_error",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("tailor_import_run.id", ondelete="CASCADE"), nullable=False),
    sa.Column("row_number", sa.Integer, nullable=False),
    sa.Column("column_name", sa.String(255), nullable=False),
    sa.Column("message", sa.JSON, nullable=False),  # a Problem: {"message": id, "params": {...}}
    sa.Index("ix_tailor_import_error_run_id", "run_id", "row_number"),
)

import_uploads = sa.Table(  # a file uploaded on the import pages, kept between its steps (its owner's only)
    "tailor_import_upload",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token", sa.String(32), nullable=False, unique=True),  # the URL's name: random, never guessed
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="CASCADE"), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("source", sa.LargeBinary, nullable=False),
    sa.Column("mapping", sa.JSON),  # the mapping last chosen (Mapping.to_dict())
    sa.Column("checked", sa.JSON),  # the last dry run's summary (counts and failed rows)
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

import_mappings = sa.Table(  # mappings saved by name on the import pages, per entity
    "tailor_import_mapping",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="CASCADE"), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()),  # every importer sees it
    sa.Column("mapping", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("user_id", "entity", "name"),
)

saved_reports = sa.Table(  # reports built and saved on the report builder's page (engine/reports/saved.py)
    "tailor_saved_report",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="CASCADE"), nullable=False),  # owner
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("roles", sa.JSON, nullable=False),  # the roles it is shared with ([]: its owner's only)
    sa.Column("document", sa.JSON, nullable=False),  # the report, as reports/*.yaml says it (checked)
    sa.Column("form", sa.JSON, nullable=False),  # the builder's inputs it came from, to edit it again
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_tailor_saved_report_user_id", "user_id"),
)

# Ids are never used twice: SQLite reuses the largest id after a delete unless the table is
# AUTOINCREMENT, and then a new row would inherit the comments, history or shares of a
# deleted one. (PostgreSQL sequences never go back.) Revision 0006 rebuilds older tables.
for _table in SYSTEM_METADATA.tables.values():
    if "id" in _table.c and _table.c.id.primary_key:
        _table.dialect_kwargs["sqlite_autoincrement"] = True
