"""audit by user: the home page lists the records a user changed last (newest first)

Revision ID: 0016
Revises: 0015 (saved reports)
Create Date: 2026-12-06 07:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tailor_audit_user", "tailor_audit", ["user_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tailor_audit_user", table_name="tailor_audit")
