"""two-factor sign-in (TOTP secrets, hashed recovery codes) and single sign-on (OpenID
Connect subjects linked to users)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tailor_two_factor",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_two_factor_user_id_tailor_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_tailor_two_factor")),
    )
    op.create_table(
        "tailor_recovery_code",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"],
                                name=op.f("fk_tailor_recovery_code_user_id_tailor_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "code_hash", name=op.f("pk_tailor_recovery_code")),
    )
    op.create_table(
        "tailor_oidc_link",
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["tailor_user.id"], name=op.f("fk_tailor_oidc_link_user_id_tailor_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("issuer", "subject", name=op.f("pk_tailor_oidc_link")),
    )
    op.create_index("ix_tailor_oidc_link_user", "tailor_oidc_link", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tailor_oidc_link_user", table_name="tailor_oidc_link")
    op.drop_table("tailor_oidc_link")
    op.drop_table("tailor_recovery_code")
    op.drop_table("tailor_two_factor")
