"""The SQL a plan would run (`tailor migrate --sql`), produced without touching the database.

PostgreSQL: Alembic's offline ("as_sql") mode renders every operation.
SQLite: a table rebuild needs the table's current definition, which offline mode cannot
reflect, so the operations are run for real on an empty in-memory copy of the schema and
the statements sent are recorded. Either way the same `Executor` as `apply_plan` runs the
same steps, so the preview is what apply does (apart from the engine's bookkeeping).
"""

from __future__ import annotations

import io

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import Engine

from . import sqlite
from .execute import Executor, SqlRecorder
from .plan import MigrationPlan


def _comment(op) -> str:
    text = f"-- {op.kind} {op.target}: {op.detail}"
    if op.blocked:
        text += f"\n--   CANNOT BE APPLIED: {op.blocked}"
    elif op.destructive:
        text += f"\n--   NEEDS --allow-destructive, would destroy: {op.data_loss}"
    return text


def render_sql(plan: MigrationPlan, engine: Engine) -> str:
    header = (
        f"-- Tailor migration for project '{plan.project}' (metadata {plan.metadata_version}), "
        f"{engine.dialect.name}; applied in one transaction"
    )
    if plan.is_empty:
        return f"{header}\n-- nothing to do\n"
    if engine.dialect.name == "sqlite":
        return f"{header}\nBEGIN;\n\n{_sqlite_dry_run(plan, engine)}COMMIT;\n"
    buffer = io.StringIO()
    context = MigrationContext.configure(
        dialect_name=engine.dialect.name, opts={"as_sql": True, "output_buffer": buffer}
    )
    executor = Executor(
        Operations(context),
        engine.dialect.name,
        on_step=lambda op: buffer.write(_comment(op) + "\n"),
    )
    executor.run(plan.operations)
    return f"{header}\nBEGIN;\n\n{buffer.getvalue()}COMMIT;\n"


def _sqlite_dry_run(plan: MigrationPlan, engine: Engine) -> str:
    with engine.connect() as connection:
        scratch = sqlite.scratch_copy(connection)
    out: list[str] = []
    try:
        with scratch.connect() as conn:
            conn.info["tailor_dry_run"] = True  # Python steps (recomputing values) only described
            recorder = SqlRecorder(conn)
            executor = Executor(
                Operations(MigrationContext.configure(conn)),
                "sqlite",
                connection=conn,
                recorder=recorder,
                on_done=lambda op, sql: out.append(_comment(op) + "\n" + _statements(sql) + "\n"),
                on_rebuild=lambda table, group, sql: out.append(
                    f"-- rebuild of table {table} (copies its rows once for the {len(group)} change(s) above)\n"
                    + _statements(sql)
                    + "\n"
                ),
            )
            executor.run(plan.operations)
            recorder.close()
    finally:
        scratch.dispose()
    return "".join(out)


def _statements(sql: list[str]) -> str:
    return "".join(f"{s}\n" if s.startswith("--") else f"{s};\n" for s in sql)
