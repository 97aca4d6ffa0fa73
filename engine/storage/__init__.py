"""Database connections and the engine's own tables (users, audit log, history...)."""

from .connection import make_engine, write_engine
from .system import (
    SYSTEM_METADATA,
    audit_log,
    comments,
    metadata_version,
    saved_views,
    schema_history,
    sequence,
    sign_in_failures,
    users,
)

__all__ = [
    "SYSTEM_METADATA",
    "audit_log",
    "comments",
    "make_engine",
    "write_engine",
    "metadata_version",
    "saved_views",
    "schema_history",
    "sequence",
    "sign_in_failures",
    "users",
]
