"""Running a plan's operations through Alembic's `Operations`.

One code path serves applying (online), the SQL preview (Alembic offline mode on
PostgreSQL, a dry run on an empty copy on SQLite) and the grouping used by revision files.

On SQLite, consecutive operations that need a table rebuild are grouped per table and
carried out by one Alembic batch ("move and copy"), so a table is copied once however many
of its columns change. Everything else (ADD COLUMN, renames, indexes, new tables) uses
SQLite's own ALTER and stays constant-time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations, ops
from sqlalchemy import event
from sqlalchemy.engine import Connection

from . import operations as kinds
from . import sqlite
from .operations import Operation

OnStep = Callable[[Operation], Any]
OnDone = Callable[[Operation, list[str]], Any]
OnRebuild = Callable[[str, list[Operation], list[str]], Any]


class OperationFailed(Exception):
    """Raised (and chained to the database error) when an operation fails mid-migration."""

    def __init__(self, operation: Operation, error: BaseException):
        self.operation = operation
        super().__init__(f"{operation.describe()} failed: {error}")


class SqlRecorder:
    """Collects the statements a connection sends, so history rows can show their SQL."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.statements: list[str] = []
        self.paused = False
        event.listen(connection, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        text = statement.strip()
        if self.paused or not text or text.upper().startswith("PRAGMA"):
            return
        if parameters:
            text += f"  -- parameters: {parameters!r}"
        self.statements.append(text)

    def take(self) -> list[str]:
        taken, self.statements = self.statements, []
        return taken

    def close(self) -> None:
        event.remove(self.connection, "before_cursor_execute", self._record)


def chunks(operations: list[Operation], dialect: str) -> Iterator[tuple[bool, list[Operation]]]:
    """(rebuild, operations): SQLite rebuild groups per table, else one operation at a time."""
    applying = [op for op in operations if op.applies]
    i = 0
    while i < len(applying):
        op = applying[i]
        if dialect == "sqlite" and op.rebuild:
            j = i + 1
            while j < len(applying) and applying[j].rebuild and applying[j].table == op.table:
                j += 1
            yield True, applying[i:j]
            i = j
        else:
            yield False, [op]
            i += 1


def fresh(step: ops.MigrateOperation) -> ops.MigrateOperation:
    """A step safe to invoke again. Alembic attaches an added column to a throw-away table
    when it runs; a second run would copy it without its foreign key, so the column is
    rebuilt detached each time."""
    if isinstance(step, ops.AddColumnOp):
        column = step.column
        fks = [
            sa.ForeignKey(
                fk.target_fullname,
                name=fk.name or (fk.constraint.name if fk.constraint is not None else None),
                ondelete=fk.ondelete,
                onupdate=fk.onupdate,
                deferrable=fk.deferrable,
                initially=fk.initially,
            )
            for fk in column.foreign_keys
        ]
        kwargs: dict[str, Any] = {"nullable": column.nullable, "comment": column.comment}
        if isinstance(column.server_default, sa.DefaultClause):
            kwargs["server_default"] = column.server_default.arg
        return ops.AddColumnOp(
            step.table_name,
            sa.Column(column.name, column.type, *fks, **kwargs),
            schema=step.schema,
            inline_references=step.inline_references,
            **step.kw,
        )
    return step


class Executor:
    def __init__(
        self,
        operations: Operations,
        dialect: str,
        *,
        connection: Connection | None = None,
        recorder: SqlRecorder | None = None,
        on_step: OnStep | None = None,
        on_done: OnDone | None = None,
        on_rebuild: OnRebuild | None = None,
    ):
        """on_step(op) runs before an operation, on_done(op, sql) after it with the SQL it sent.
        For a SQLite rebuild group, the rebuild's SQL is appended to every operation's SQL,
        unless on_rebuild(table, group, sql) is given to receive it once."""
        self.operations = operations
        self.dialect = dialect
        self.connection = connection
        self.recorder = recorder
        self.on_step = on_step
        self.on_done = on_done
        self.on_rebuild = on_rebuild

    def _take(self) -> list[str]:
        return self.recorder.take() if self.recorder else []

    def run(self, plan_operations: list[Operation]) -> None:
        for rebuild, group in chunks(plan_operations, self.dialect):
            if rebuild:
                self._rebuild(group)
            else:
                self._plain(group[0])

    def _invoke(self, op: Operation, target: Operations, step: ops.MigrateOperation) -> None:
        try:
            target.invoke(fresh(step))
        except Exception as error:
            raise OperationFailed(op, error) from error

    def _plain(self, op: Operation) -> None:
        if self.on_step:
            self.on_step(op)
        self._take()
        for step in op.steps:
            self._invoke(op, self.operations, step)
        if self.on_done:
            self.on_done(op, self._take())

    def _rebuild(self, group: list[Operation]) -> None:
        table = group[0].table
        own_sql: list[list[str]] = []
        deferred: list[ops.MigrateOperation] = []  # the table changes, made by one rebuild
        for op in group:
            if self.on_step:
                self.on_step(op)
            self._take()
            for step in op.steps:
                if isinstance(step, ops.ExecuteSQLOp):  # data fixes run before the copy
                    self._invoke(op, self.operations, step)
                else:
                    deferred.append(step)
            own_sql.append(self._take())
        copy_from = None
        if self.connection is not None:
            if self.recorder:
                self.recorder.paused = True
            try:
                copy_from = sqlite.reflect_for_rebuild(self.connection, table, self.operations.impl)
                sqlite.keep_text_of_new_datetimes(copy_from, deferred)
            finally:
                if self.recorder:
                    self.recorder.paused = False
        table_kwargs: dict = {}
        for op in group:
            table_kwargs.update(op.table_kwargs)
        recreate = "always" if any(op.kind == kinds.NEVER_REUSE_IDS for op in group) else "auto"
        keep, restore = sqlite.sequence_kept(table) if table_kwargs.get("sqlite_autoincrement") else ([], [])
        for statement in keep:
            self._invoke(group[-1], self.operations, ops.ExecuteSQLOp(statement))
        try:
            with self.operations.batch_alter_table(table, recreate=recreate, copy_from=copy_from,
                                                   table_kwargs=table_kwargs) as batch:
                for step in deferred:
                    batch.invoke(fresh(step))
        except OperationFailed:
            raise
        except Exception as error:
            raise OperationFailed(group[-1], error) from error
        for statement in restore:
            self._invoke(group[-1], self.operations, ops.ExecuteSQLOp(statement))
        shared = self._take()
        if self.on_done:
            for op, sql in zip(group, own_sql, strict=True):
                if self.on_rebuild:
                    self.on_done(op, sql)
                else:
                    note = (
                        [f"-- table {table} rebuilt once for {len(group)} changes:"] if len(group) > 1 else []
                    )
                    self.on_done(op, sql + note + shared)
        if self.on_rebuild:
            self.on_rebuild(table, group, shared)
