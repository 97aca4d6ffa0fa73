"""shares looked up by user and by team (which entities a user has shares in, once per request)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tailor_share_user", "tailor_share", ["user_id"])
    op.create_index("ix_tailor_share_team", "tailor_share", ["team_id"])


def downgrade() -> None:
    op.drop_index("ix_tailor_share_team", table_name="tailor_share")
    op.drop_index("ix_tailor_share_user", table_name="tailor_share")
