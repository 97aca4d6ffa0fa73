"""The migration part of a diff: the engine's own planner, run between the two models.

Without a database the old model's schema is built in a scratch SQLite file (migrated
exactly as `tailor migrate` would, under the new project's name so that removed tables
count as the project's own), and the new model is planned against it with removals as
drops: every step is listed, destructive ones marked, but there are no rows to count.

With a database: when the database is at the old model (planning the old model against it
finds nothing to apply), the new model is planned against the database itself; planning
only reads, and the planner counts exactly what each step touches and destroys. Otherwise
the scratch plan is shown, with a note, and the database only gives the row counts of the
tables it touches and the non-empty values of the columns destructive steps change.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..migrate import MigrationPlan, apply_plan, plan_migration
from ..migrate import operations as kinds
from ..migrate.dataloss import count_non_empty, count_rows
from ..model import CompiledModel
from ..storage import make_engine
from .changes import Migration, Step, Touched

SCRATCH, DATABASE, GIVEN = "scratch", "database", "given"
# steps whose column's stored values are removed, converted or moved: their values are counted
_COUNTED_STEPS = {kinds.DROP_COLUMN, kinds.KEEP_COLUMN, kinds.ALTER_TYPE, kinds.MAP_VALUES, kinds.CHECK_VALUES,
                  kinds.ENCRYPT_VALUES, kinds.DECRYPT_VALUES, kinds.RENAME_COLUMN}
_WHOLE_TABLE = {kinds.CREATE_TABLE, kinds.DROP_TABLE, kinds.KEEP_TABLE}


def scratch_plan(old: CompiledModel, new: CompiledModel) -> tuple[MigrationPlan, str]:
    """The plan from `old`'s schema (built in a throwaway SQLite file) to `new`'s, and its SQL."""
    with tempfile.TemporaryDirectory(prefix="tailor-diff-") as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'old.sqlite'}")
        try:
            apply_plan(engine, plan_migration(engine, old.metadata, project=new.project,
                                              metadata_version=old.version))
            plan = plan_migration(engine, new.metadata, project=new.project, metadata_version=new.version,
                                  allow_destructive=True)
            return plan, plan.sql(engine)
        finally:
            engine.dispose()


def at_old_model(engine: Engine, old: CompiledModel) -> bool:
    """Whether the database's project tables are those of `old` (nothing to apply for it)."""
    plan = plan_migration(engine, old.metadata, project=old.project, metadata_version=old.version)
    return plan.is_empty and _has_tables(engine, old)


def _has_tables(engine: Engine, model: CompiledModel) -> bool:
    names = set(sa.inspect(engine).get_table_names())
    return all(entity.table.name in names for entity in model.entities.values())


def migration(old: CompiledModel, new: CompiledModel, *, plan: MigrationPlan | None = None,
              engine: Engine | None = None) -> Migration:
    """The Migration of a diff: from `plan` when given, else planned as the module says."""
    notes: list[str] = []
    sql: str | None = None
    if plan is not None:
        source = GIVEN
    elif engine is not None and at_old_model(engine, old):
        source = DATABASE
        plan = plan_migration(engine, new.metadata, project=new.project, metadata_version=new.version,
                              allow_destructive=True)
        sql = plan.sql(engine)  # rendered without touching the database (engine/migrate/preview.py)
    else:
        source = SCRATCH
        plan, sql = scratch_plan(old, new)
        if engine is not None:
            notes.append("database-not-at-old")
    # an empty scratch database counts nothing: its "0 values" would mislead
    steps = [_step(op, counted=source != SCRATCH) for op in plan.operations]
    touched = _touched(plan)
    if engine is not None:
        steps, touched = _count(engine, plan, steps, touched)
    return Migration(source=source, dialect=plan.dialect, steps=tuple(steps), touched=tuple(touched),
                     notes=tuple(notes + list(plan.notes)), database=engine is not None, sql=sql)


def _step(op, *, counted: bool) -> Step:
    return Step(kind=op.kind, table=op.table, column=op.column, detail=op.detail, destructive=bool(op.destructive),
                blocked=op.blocked, applies=bool(op.applies), data_loss=op.data_loss if counted else None)


def _columns(column: str | None) -> list[str]:
    """'a' or '(a, b)' (how plans name the columns of an index) as a list of names."""
    if not column:
        return []
    return [c.strip() for c in column.strip("()").split(",")]


def _touched(plan: MigrationPlan) -> list[Touched]:
    """The tables the plan changes (kept ones too: they are reported) and their columns; a
    table created, dropped or kept is touched whole (no columns listed)."""
    tables: dict[str, list[str]] = {}
    whole = {op.table for op in plan.operations if op.kind in _WHOLE_TABLE}
    created = {op.table for op in plan.operations if op.kind == kinds.CREATE_TABLE}
    for op in plan.operations:
        columns = tables.setdefault(op.table, [])
        for column in _columns(op.column) if op.table not in whole else ():
            if column not in columns:
                columns.append(column)
    return [Touched(table, tuple(columns), new=table in created) for table, columns in tables.items()]


def _count(engine: Engine, plan: MigrationPlan, steps: list[Step],
           touched: list[Touched]) -> tuple[list[Step], list[Touched]]:
    """Row counts of the touched tables, and values of the columns destructive steps change,
    read in the database under the names it has now (before renames)."""
    live_name = {new: old for old, new in plan.table_renames.items()}
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        existing = set(inspector.get_table_names())
        live_columns: dict[str, dict[str, sa.types.TypeEngine]] = {}

        def columns_of(table: str) -> dict[str, sa.types.TypeEngine]:
            if table not in live_columns:
                live_columns[table] = ({c["name"]: c["type"] for c in inspector.get_columns(table)}
                                       if table in existing else {})
            return live_columns[table]

        rows: dict[str, int | None] = {}
        for item in touched:
            table = live_name.get(item.table, item.table)
            rows[item.table] = count_rows(conn, table) if table in existing else None
        counted: list[Step] = []
        for step in steps:
            values: int | None = None
            table = live_name.get(step.table, step.table)
            if step.kind in (kinds.DROP_TABLE, kinds.KEEP_TABLE):
                values = rows.get(step.table)
            elif step.column and (step.destructive or step.blocked or step.kind in _COUNTED_STEPS):
                column = _live_column(plan, step)
                type_ = columns_of(table).get(column)
                if type_ is not None:
                    values = count_non_empty(conn, table, column, type_)
            counted.append(Step(**{**step.__dict__, "values": values}))
    return counted, [Touched(t.table, t.columns, rows.get(t.table), t.new) for t in touched]


def _live_column(plan: MigrationPlan, step: Step) -> str:
    """The column's name in the database now: a renamed column still has its old name."""
    for op in plan.operations:
        if op.kind == kinds.RENAME_COLUMN and op.table == step.table and op.column == step.column and op.steps:
            return str(getattr(op.steps[0], "column_name", step.column))
    return step.column or ""
