"""Database connections and the engine's own tables (users, audit log, history...)."""

from .connection import make_engine, write_engine
from .system import SYSTEM_METADATA, audit_log, metadata_version, schema_history, sequence, users

__all__ = [
    "SYSTEM_METADATA",
    "audit_log",
    "make_engine",
    "write_engine",
    "metadata_version",
    "schema_history",
    "sequence",
    "users",
]
