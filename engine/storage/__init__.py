"""Database connections and the engine's own tables (users, audit log, history...)."""

from .connection import make_engine, write_engine
from .system import (
    SYSTEM_METADATA,
    audit_log,
    comments,
    department_heads,
    departments,
    metadata_version,
    saved_views,
    schema_history,
    sequence,
    shares,
    sign_in_failures,
    team_members,
    teams,
    user_roles,
    users,
)

__all__ = [
    "SYSTEM_METADATA",
    "audit_log",
    "comments",
    "department_heads",
    "departments",
    "make_engine",
    "write_engine",
    "metadata_version",
    "saved_views",
    "schema_history",
    "sequence",
    "shares",
    "sign_in_failures",
    "team_members",
    "teams",
    "user_roles",
    "users",
]
