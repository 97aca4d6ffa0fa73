"""record ids held by the engine's own tables are 64-bit on PostgreSQL, like the ids of the
entity tables they point at: an audit line, comment, share, flow, notification or form token
of a record whose id is beyond 2^31 could not be written (every save of such a record failed)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 10:00:00

SQLite's INTEGER already holds 64 bits; its tables are left alone (no rebuild).
On PostgreSQL, ALTER COLUMN ... TYPE BIGINT rewrites each table under a lock: on a large
audit trail, run the migration in a quiet hour.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("tailor_share", "tailor_audit", "tailor_comment", "tailor_flow", "tailor_notification", "tailor_form_token")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table in TABLES:
        op.alter_column(table, "record_id", type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table in TABLES:
        op.alter_column(table, "record_id", type_=sa.Integer(), existing_type=sa.BigInteger())
