"""The engine tables of two-factor sign-in and single sign-on (revision 0008).

Kept apart from system.py so the tables of sign-in sit together; they join the same
`SYSTEM_METADATA`, which the revisions in migrations/ must produce exactly.
"""

from __future__ import annotations

import sqlalchemy as sa

from .system import SYSTEM_METADATA

# A user's TOTP secret. `enabled_at` is empty while the user enrols (the secret is shown but
# no code has confirmed it yet); `last_step` is the time step of the last code accepted, so
# that a code seen once is never accepted again (replay).
two_factor = sa.Table(
    "tailor_two_factor",
    SYSTEM_METADATA,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("secret", sa.String(64), nullable=False),
    sa.Column("enabled_at", sa.DateTime(timezone=True)),
    sa.Column("last_step", sa.BigInteger),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Single-use recovery codes: only a SHA-256 of each (the codes are 80 random bits, so a hash
# without salt cannot be reversed by guessing); `used_at` is set when one is spent.
recovery_codes = sa.Table(
    "tailor_recovery_code",
    SYSTEM_METADATA,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("used_at", sa.DateTime(timezone=True)),
)

# Which user an OpenID Connect subject of an issuer signs in as (matched before e-mail).
oidc_links = sa.Table(
    "tailor_oidc_link",
    SYSTEM_METADATA,
    sa.Column("issuer", sa.String(255), primary_key=True),
    sa.Column("subject", sa.String(255), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_tailor_oidc_link_user", "user_id"),
)
