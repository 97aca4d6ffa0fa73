"""The state shared while turning comparison differences into operations.

`PlanningContext` holds what every handler needs: the connection, the live schema, the
model under live and model names, the renames, and small helpers (fill values, literal SQL,
which columns are new or removed). The handlers live in `column_changes.py` and
`constraint_changes.py`; `planner.py` drives them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.operations import ops
from sqlalchemy.engine import Connection

from . import conversions, renames
from .live import LiveSchema, is_project_table
from .operations import Operation


def column_names(columns) -> str:
    """'name' for one column, '(a, b)' for several: the target shown for indexes and constraints."""
    names = [c if isinstance(c, str) else c.name for c in columns]
    return names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"


class PlanningContext:
    """Built once per plan; handlers append Operations through `add()`."""

    def __init__(self, connection: Connection, metadata: sa.MetaData, project: str, allow_destructive: bool,
                 drop_only: frozenset[str] | None = None):
        self.conn = connection
        # with allow_destructive: drop only these ("table" or "table.column"; None: every removed one)
        self.drop_only = drop_only
        self.dialect = connection.dialect
        self.sqlite = self.dialect.name == "sqlite"
        self.project = project
        self.allow_destructive = allow_destructive
        self.live = LiveSchema(connection)
        self.model_tables = [t for t in metadata.sorted_tables if is_project_table(t.name)]
        self.model_order = {t.name: i for i, t in enumerate(self.model_tables)}
        self.model_by_name = {t.name: t for t in self.model_tables}
        self.renames = renames.detect(self.model_tables, self.live)
        self.notes: list[str] = list(self.renames.notes)
        if self.renames.tables or self.renames.columns:
            self.compare_md, self.by_live_name = renames.under_live_names(self.model_tables, self.renames)
        else:  # nothing renamed: compare the model itself (copying it costs more than reflecting)
            self.compare_md, self.by_live_name = metadata, dict(self.model_by_name)
        self.operations: list[Operation] = []
        self.new_tables: set[str] = set()  # live (= model) names
        self.new_columns: set[tuple[str, str]] = set()  # (live table, column)
        self.removed_columns: set[tuple[str, str]] = set()  # (live table, live column)
        self.inline_fks: set[tuple[str, tuple[str, ...]]] = set()  # added with ADD COLUMN ... REFERENCES
        self.dropped_fks: set[tuple[str, tuple[str, ...]]] = (
            set()
        )  # (live table, columns) of drop_foreign_key ops

    def may_drop(self, table: str, column: str | None = None) -> bool:
        """Whether a removed table or column is planned as a drop (else kept)."""
        if not self.allow_destructive:
            return False
        return self.drop_only is None or (f"{table}.{column}" if column else table) in self.drop_only

    def add(self, op: Operation) -> Operation:
        if op.column and not op.seq:
            op.seq = self._position(op.table, op.column)
        model = self.model_by_name.get(op.table)
        if op.rebuild and model is not None and model.dialect_kwargs.get("sqlite_autoincrement"):
            op.table_kwargs = {"sqlite_autoincrement": True}  # a rebuilt table keeps AUTOINCREMENT
        self.operations.append(op)
        return op

    def _position(self, table: str, column: str) -> int:
        """Columns in model order (removed ones after, in live order): plans are stable."""
        model = self.model_by_name.get(table)
        if model is not None and column in model.c:
            return list(model.c.keys()).index(column)
        live_columns = list(self.live.columns(self.renames.live_table(table)))
        return 1000 + live_columns.index(column) if column in live_columns else 2000

    def model_table(self, live_table: str) -> sa.Table:
        """The model table compared with `live_table`. Differences inside tables the model no
        longer has never reach the handlers: the planner folds them into the table's keep/drop."""
        try:
            return self.by_live_name[live_table]
        except KeyError:
            raise KeyError(f"table {live_table!r} is not in the model") from None

    def model_column(self, live_table: str, live_column: str) -> sa.Column:
        table = self.model_table(live_table)
        for column in table.columns:
            if self.renames.live_column(table.name, column.name) == live_column:
                return column
        raise KeyError(f"{live_table}.{live_column}")

    def type_text(self, type_: sa.types.TypeEngine) -> str:
        try:
            return str(type_.compile(dialect=self.dialect))
        except Exception:  # a type this dialect cannot render: still say something useful
            return repr(type_)

    def sql(self, statement: sa.sql.ClauseElement) -> str:
        return str(statement.compile(dialect=self.dialect, compile_kwargs={"literal_binds": True}))

    def fill_value(self, column: sa.Column) -> tuple[Any, str]:
        """What a NULL becomes when the column turns NOT NULL: the field's default, else the
        type's empty value; (None, reason) when there is neither."""
        if column.info.get("backfill") is not None:
            value = column.info["backfill"]
            return value, f"the default {value!r}"
        value = conversions.empty_value(column.type)
        if value is None:
            return None, "nothing (no default, and the type has no empty value)"
        return value, f"the empty value {value!r}"

    def fill_update(self, table: str, column: sa.Column, value: Any) -> ops.ExecuteSQLOp:
        t = sa.table(table, sa.column(column.name))
        stmt = (
            sa.update(t)
            .where(t.c[column.name].is_(None))
            .values({column.name: sa.literal(value, column.type)})
        )
        return ops.ExecuteSQLOp(self.sql(stmt))

    def is_removed(self, live_table: str, columns) -> bool:
        return any((live_table, c if isinstance(c, str) else c.name) in self.removed_columns for c in columns)

    def live_nullable(self, live_table: str, live_column: str) -> bool:
        info = self.live.columns(live_table).get(live_column)
        return True if info is None else bool(info["nullable"])
