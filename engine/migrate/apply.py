"""Applying a plan: all of it in one transaction, or nothing.

Inside a single transaction (taken with the write lock: BEGIN IMMEDIATE on SQLite, an
advisory lock on PostgreSQL) `apply_plan`:

1. creates the engine tables if they are missing (same transaction: a failed first
   migration leaves no trace);
2. plans again against the database as it is *now*, under the lock, and refuses if that
   differs from the plan it was given (someone changed the schema in between) or if it
   has destructive operations that were not allowed;
3. runs every operation, writing one `tailor_schema_history` row per operation;
4. on SQLite, checks foreign keys (enforcement is off during the migration, see sqlite.py)
   unless every operation is one that cannot break a reference;
5. commits. Any error, or the process dying, before the commit leaves the database exactly
   as it was: both databases roll back DDL with the transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from alembic.migration import MigrationContext
from alembic.operations import Operations, ops
from sqlalchemy.engine import Connection, Engine

from engine.storage import write_engine
from engine.storage.system import schema_history

from . import operations as kinds
from . import sqlite
from .data import record_states
from .errors import DestructiveChangeRefused, MigrationBlocked, MigrationError, PlanOutdated
from .execute import Executor, OnStep, OperationFailed, SqlRecorder
from .operations import Operation
from .plan import MigrationPlan
from .planner import build_plan
from .system import system_tables_current, take_migration_lock, upgrade_system_tables

_REMOVALS = {
    kinds.KEEP_COLUMN: "remove_column",
    kinds.DROP_COLUMN: "remove_column",
    kinds.KEEP_TABLE: "remove_table",
    kinds.DROP_TABLE: "remove_table",
}


def apply_plan(
    engine: Engine,
    plan: MigrationPlan,
    allow_destructive: bool = False,
    on_step: OnStep | None = None,
) -> list[Operation]:
    """Apply `plan`; returns the operations applied (as re-planned inside the transaction).

    Raises DestructiveChangeRefused (nothing applied) when destructive operations exist and
    allow_destructive is False, MigrationBlocked when some cannot be applied at all,
    PlanOutdated when the database changed since planning, MigrationError when an
    operation fails (rolled back). `on_step(op)` is called before each operation.
    """
    try:
        with migration_transaction(engine) as connection:
            return apply_in(connection, plan, allow_destructive, on_step)
    except OperationFailed as failure:
        raise MigrationError(f"{failure}\nThe migration was rolled back; nothing was applied.") from failure


@contextmanager
def migration_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction for a migration and whatever must commit with it (the
    designer stores its change set and the metadata version in it): the write lock is
    taken (BEGIN IMMEDIATE on SQLite, the advisory lock on PostgreSQL), SQLite's foreign
    key enforcement is off inside it and back on after. Commits when the block ends."""
    with write_engine(engine).connect() as connection:
        is_sqlite = connection.dialect.name == "sqlite"
        if is_sqlite:
            sqlite.set_foreign_keys(connection, False)
        try:
            with connection.begin():
                take_migration_lock(connection)
                yield connection
        finally:
            if is_sqlite:
                _restore_foreign_keys(connection)


def apply_in(connection: Connection, plan: MigrationPlan, allow_destructive: bool = False,
             on_step: OnStep | None = None) -> list[Operation]:
    """`apply_plan` inside a `migration_transaction` the caller holds (raises OperationFailed
    when an operation fails; the caller's transaction then rolls back)."""
    return _apply(connection, plan, allow_destructive, on_step)


def _restore_foreign_keys(connection: Connection) -> None:
    try:
        sqlite.set_foreign_keys(connection, True)
    except Exception:
        # Never hand a connection without enforcement back to the pool.
        connection.invalidate()


def _apply(connection: Connection, given: MigrationPlan, allow_destructive: bool, on_step: OnStep | None):
    take_migration_lock(connection)
    # The engine's own tables first, to the newest revision: a database made by an older
    # Tailor gains the tables and columns this one needs (running it again changes nothing).
    if not system_tables_current(connection):
        upgrade_system_tables(connection)
    # Removed tables/columns are planned as drops if either the reviewed plan or this call
    # asks for it; a plan listing drops applied without the flag is then refused below.
    plan = build_plan(
        connection,
        given.metadata,
        given.project,
        given.metadata_version,
        allow_destructive=allow_destructive or given.allow_destructive,
        drop_only=given.drop_only,
    )
    if plan.is_empty:  # nothing (left) to do, e.g. another process applied the same migration first
        record_states(connection, given.metadata)
        return []
    _ensure_unchanged(given, plan)
    if plan.blocked_operations:
        raise MigrationBlocked(plan, plan.blocked_operations)
    if plan.destructive_operations and not allow_destructive:
        raise DestructiveChangeRefused(plan)

    check_references = connection.dialect.name == "sqlite" and _may_break_references(plan)
    violations_before = (
        _renamed(sqlite.foreign_key_violations(connection), plan) if check_references else set()
    )
    applied: list[Operation] = []
    now = datetime.now(UTC)

    def record(op: Operation, sql: list[str]) -> None:
        applied.append(op)
        detail = op.detail + (f"; destroyed: {op.data_loss}" if op.destructive and op.data_loss else "")
        connection.execute(
            schema_history.insert().values(
                applied_at=now,
                project=plan.project,
                metadata_version=plan.metadata_version,
                operation=op.kind[:40],
                target=op.target[:200],
                detail=detail,
                destructive=op.destructive,
                sql="\n".join(s if s.startswith("--") else f"{s};" for s in sql),
            )
        )

    recorder = SqlRecorder(connection)
    try:
        executor = Executor(
            Operations(MigrationContext.configure(connection)),
            connection.dialect.name,
            connection=connection,
            recorder=recorder,
            on_step=on_step,
            on_done=record,
        )
        executor.run(plan.operations)
    finally:
        recorder.close()

    record_states(connection, plan.metadata)
    if check_references:
        new = sqlite.foreign_key_violations(connection) - violations_before
        if new:
            shown = ", ".join(f"{table} row {rowid} -> {parent}" for table, rowid, parent in sorted(new)[:5])
            raise MigrationError(
                f"the migration would leave {len(new)} broken references ({shown}); rolled back, nothing applied"
            )
    return applied


# With foreign keys off, these cannot create a dangling reference: a new table is empty, an
# added column is NULL, an index holds no data. Skipping the check for them keeps the common
# migration (new fields) constant-time on SQLite: `PRAGMA foreign_key_check` reads every row.
_CANNOT_BREAK_REFERENCES = {kinds.CREATE_TABLE, kinds.ADD_COLUMN, kinds.ADD_INDEX, kinds.DROP_INDEX}


def _may_break_references(plan: MigrationPlan) -> bool:
    return any(
        op.rebuild
        or op.kind not in _CANNOT_BREAK_REFERENCES
        or any(isinstance(s, ops.ExecuteSQLOp) for s in op.steps)
        for op in plan.applying_operations
    )


def _renamed(violations: set[tuple[str, int, str]], plan: MigrationPlan) -> set[tuple[str, int, str]]:
    """Violations found before the migration, under the table names they will have after it."""
    names = plan.table_renames
    return {(names.get(t, t), rowid, names.get(p, p)) for t, rowid, p in violations}


def _signatures(plan: MigrationPlan) -> Counter:
    """What a reviewer approved: kinds and targets, destructive or not. Kept-vs-dropped is the
    allow_destructive choice, not a change in the database, so both count the same."""
    result: Counter = Counter()
    for op in plan.operations:
        if op.follows_removal:
            continue
        if op.kind in _REMOVALS:
            result[(_REMOVALS[op.kind], op.target, False)] += 1
        else:
            result[op.signature()] += 1
    return result


def _ensure_unchanged(given: MigrationPlan, fresh: MigrationPlan) -> None:
    before, now = _signatures(given), _signatures(fresh)
    if before == now:
        return
    appeared = [f"  + {kind} {target}" + (" (destructive)" if d else "") for kind, target, d in now - before]
    vanished = [f"  - {kind} {target}" + (" (destructive)" if d else "") for kind, target, d in before - now]
    raise PlanOutdated(
        "The database changed since the plan was made; nothing was applied. Plan again and review.\n"
        + "\n".join(appeared + vanished)
    )
