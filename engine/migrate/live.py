"""Reading the live database: which tables are the planner's business, and what they hold.

The planner only ever looks at project tables. Engine tables (`tailor_*`, including the
Alembic version table), SQLite's internal tables and leftovers of an Alembic batch rebuild
are invisible to it, so a project can never propose to drop or alter them.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.storage.system import ALEMBIC_VERSION_TABLE, SYSTEM_PREFIX, schema_history

from . import operations as kinds


def is_project_table(name: str | None) -> bool:
    if not name:
        return False
    return not (
        name.startswith(SYSTEM_PREFIX)
        or name == ALEMBIC_VERSION_TABLE
        or name.startswith("sqlite_")
        or name.startswith("_alembic_tmp_")
    )


def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """Alembic `include_name` hook: reflected tables outside the project are not compared."""
    if type_ == "table":
        return is_project_table(name)
    return True


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic `include_object` hook: the same rule for the model side (engine tables that
    the model references are present there only so that foreign keys resolve)."""
    if type_ == "table":
        return is_project_table(name)
    return True


class LiveSchema:
    """The database as it is now, read lazily and once per plan."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.dialect = connection.dialect.name
        self.inspector = sa.inspect(connection)
        self._columns: dict[str, dict[str, dict[str, Any]]] = {}

    @cached_property
    def tables(self) -> set[str]:
        return {name for name in self.inspector.get_table_names() if is_project_table(name)}

    def columns(self, table: str) -> dict[str, dict[str, Any]]:
        if table not in self._columns:
            self._columns[table] = (
                {c["name"]: c for c in self.inspector.get_columns(table)} if table in self.tables else {}
            )
        return self._columns[table]

    def has_history(self) -> bool:
        return self.inspector.has_table(schema_history.name)

    def tables_created_by(self, project: str) -> set[str]:
        """Tables this project created (or renamed to), according to the schema history.

        Only these may be dropped with allow_destructive: a table in the same database that
        Tailor did not create for this project (another project's, another application's)
        is never dropped, however the model changes.
        """
        if not self.has_history():
            return set()
        rows = self.connection.execute(
            sa.select(schema_history.c.target).where(
                schema_history.c.project == project,
                schema_history.c.operation.in_([kinds.CREATE_TABLE, kinds.RENAME_TABLE]),
            )
        )
        return {target for (target,) in rows}
