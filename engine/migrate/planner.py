"""From the compiled model and the live database to a plan that loses nothing silently.

Alembic's autogenerate comparison finds the differences; this module decides what each one
means for the data already stored:

* additive changes (new table/column/index, wider type, dropped NOT NULL, a UNIQUE or
  foreign key that existing rows already satisfy) are applied by default;
* `renamed_from` hints become renames, so data follows the new name;
* a table/column the model no longer has is kept (and reported), dropped only with
  allow_destructive;
* a change that would alter or remove existing values is destructive: the plan counts
  exactly what it would destroy, and it is refused unless allow_destructive is given;
* a change that cannot be made without deleting rows (UNIQUE over duplicates, a foreign key
  over dangling references) is blocked even with allow_destructive: the data must be fixed
  first, because the only automatic fix would be deleting records.

Planning only reads. `apply_plan` re-plans inside its transaction and applies that.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import ops
from sqlalchemy.engine import Connection, Engine

from ..gcpause import gc_paused
from . import dataloss
from . import operations as k
from .column_changes import ColumnChanges
from .constraint_changes import ConstraintChanges
from .context import column_names
from .data import DataChanges
from .live import include_name, include_object
from .operations import Operation
from .plan import MigrationPlan


def plan_migration(
    engine: Engine,
    metadata: sa.MetaData,
    project: str,
    metadata_version: str,
    *,
    allow_destructive: bool = False,
    drop_only: frozenset[str] | None = None,
) -> MigrationPlan:
    """Compare `metadata` with the database behind `engine`; reads only.

    With allow_destructive, removed tables/columns are planned as drops instead of being
    reported as kept (the rest of the plan is the same either way); `drop_only` narrows
    that to the tables ("table") and columns ("table.column") named (the designer's
    explicit drop of one column).
    """
    with gc_paused(), engine.connect() as connection:
        return build_plan(
            connection, metadata, project, metadata_version, allow_destructive=allow_destructive,
            drop_only=drop_only,
        )


def build_plan(
    connection: Connection,
    metadata: sa.MetaData,
    project: str,
    metadata_version: str,
    *,
    allow_destructive: bool = False,
    drop_only: frozenset[str] | None = None,
) -> MigrationPlan:
    planner = _Planner(connection, metadata, project, allow_destructive, drop_only)
    operations = planner.run()
    return MigrationPlan(
        project=project,
        metadata_version=metadata_version,
        dialect=connection.dialect.name,
        operations=operations,
        metadata=metadata,
        allow_destructive=allow_destructive,
        drop_only=drop_only,
        notes=planner.notes,
        table_renames={old: new for new, old in planner.renames.tables.items()},
    )


def _diff_table(diff: tuple) -> str | None:
    """The (live) table a comparison difference is about."""
    kind, subject = diff[0], diff[1]
    if kind in ("add_column", "remove_column") or kind.startswith("modify_"):
        return diff[2] if len(diff) > 2 and isinstance(diff[2], str) else None
    if isinstance(subject, sa.Table):
        return subject.name
    return getattr(getattr(subject, "table", None), "name", None)


def _flatten(diffs: list[Any]) -> list[tuple]:
    flat: list[tuple] = []
    for diff in diffs:
        if isinstance(diff, list):
            flat.extend(diff)
        else:
            flat.append(diff)
    return flat


class _Planner(ColumnChanges, ConstraintChanges, DataChanges):
    """Runs Alembic's comparison and hands each difference to its `_on_<kind>` handler."""

    # ----------------------------------------------------------------- driving
    def run(self) -> list[Operation]:
        context = MigrationContext.configure(
            self.conn,
            opts={
                "compare_type": True,
                "compare_server_default": False,
                "include_name": include_name,
                "include_object": include_object,
            },
        )
        diffs = _flatten(compare_metadata(context, self.compare_md))
        for diff in diffs:
            if diff[0] == "add_table":
                self.new_tables.add(diff[1].name)
            elif diff[0] == "add_column":
                self.new_columns.add((diff[2], diff[3].name))
            elif diff[0] == "remove_column":
                self.removed_columns.add((diff[2], diff[3].name))
        if self.sqlite:
            diffs = self._drop_inline_fk_false_alarms(diffs)
        self._plan_renames()
        # A table the model no longer has is one decision (keep it, or drop it with the flag):
        # Alembic also reports what is inside it (e.g. its indexes as remove_index), and those
        # differences go with the table instead of reaching handlers that need a model table.
        removed_tables: dict[str, None] = {}  # live names, in the order found
        for diff in diffs:
            table = _diff_table(diff)
            if diff[0] == "remove_table" or (
                diff[0] != "add_table" and table is not None and table not in self.by_live_name
            ):
                if table is not None and table in self.live.tables:
                    removed_tables.setdefault(table)
                continue
            handler = getattr(self, f"_on_{diff[0]}", None)
            if handler is None:
                self._unsupported(diff)
            else:
                handler(*diff[1:])
        self._on_removed_tables(list(removed_tables))
        self._plan_data()
        return sorted(self.operations, key=lambda op: op.sort_key)

    # ----------------------------------------------------------------- renames
    def _plan_renames(self) -> None:
        for new, old in self.renames.tables.items():
            self.add(
                Operation(
                    k.RENAME_TABLE,
                    new,
                    detail=f"renamed from {old}; rows kept",
                    steps=[ops.RenameTableOp(old, new)],
                    seq=self.model_order[new],
                )
            )
        for (table, new), old in self.renames.columns.items():
            info = self.live.columns(self.renames.live_table(table))[old]
            self.add(
                Operation(
                    k.RENAME_COLUMN,
                    table,
                    new,
                    detail=f"renamed from {old}; values kept",
                    steps=[
                        ops.AlterColumnOp(
                            table,
                            old,
                            modify_name=new,
                            existing_type=info["type"],
                            existing_nullable=info["nullable"],
                        )
                    ],
                    seq=self.model_order[table],
                )
            )

    # ----------------------------------------------------------------- tables
    def _on_add_table(self, copy: sa.Table) -> None:
        table = self.model_table(copy.name)
        self.add(
            Operation(
                k.CREATE_TABLE,
                table.name,
                detail=f"new table with {len(table.columns)} columns",
                steps=[ops.CreateTableOp.from_table(table)],
                seq=self.model_order[table.name],
            )
        )
        if self.sqlite:
            return  # SQLite declares every reference inline (engine/model/cycles.py)
        for constraint in table.foreign_key_constraints:
            if constraint.use_alter:  # in a cycle of references: added once both tables exist
                target = constraint.referred_table.name
                self.add(
                    Operation(
                        k.ADD_FOREIGN_KEY,
                        table.name,
                        column_names([c.name for c in constraint.columns]),
                        detail=f"reference {constraint.name} to {target} (after both tables exist)",
                        steps=[ops.CreateForeignKeyOp.from_constraint(constraint)],
                    )
                )

    def _on_removed_tables(self, tables: list[str]) -> None:
        """Each live table the model no longer has: kept (reported with its row count), or
        dropped with allow_destructive when this project created it and nothing that stays
        still references it."""
        if not tables:
            return
        created = self.live.tables_created_by(self.project)
        order = [name for name, _fks in self.live.inspector.get_sorted_table_and_fkc_names() if name]
        position = {name: i for i, name in enumerate(order)}
        droppable = {t for t in tables if t in created and self.may_drop(t)}
        still_referenced = self._still_referenced(droppable)
        for table in tables:
            rows = dataloss.count_rows(self.conn, table)
            seq = -position.get(table, 0)  # referencing tables are dropped first
            if table not in created:
                self.add(
                    Operation(
                        k.KEEP_TABLE,
                        table,
                        detail=f"not in the model and not created by project '{self.project}': "
                        f"left alone ({rows} rows)",
                        applies=False,
                        affected=rows,
                        seq=seq,
                    )
                )
            elif table in still_referenced:
                self.add(
                    Operation(
                        k.KEEP_TABLE,
                        table,
                        detail=f"removed from the model; kept with {rows} rows: still referenced by "
                        f"{still_referenced[table]}, which stays (remove that reference to drop it)",
                        applies=False,
                        affected=rows,
                        seq=seq,
                    )
                )
            elif self.may_drop(table):
                self.add(
                    Operation(
                        k.DROP_TABLE,
                        table,
                        detail="removed from the model",
                        destructive=True,
                        data_loss=f"{rows} rows",
                        affected=rows,
                        steps=[ops.DropTableOp(table)],
                        seq=seq,
                    )
                )
            else:
                self.add(
                    Operation(
                        k.KEEP_TABLE,
                        table,
                        detail=f"removed from the model; kept with {rows} rows "
                        f"(dropped only with --allow-destructive)",
                        applies=False,
                        affected=rows,
                        seq=seq,
                    )
                )

    def _still_referenced(self, droppable: set[str]) -> dict[str, str]:
        """Tables of `droppable` that a table staying in the database still references
        (through a foreign key this plan does not drop), with the referencing 'table.column'.

        Dropping such a table would fail on PostgreSQL (the foreign key depends on it) and
        leave dangling references on SQLite, so it is kept. A table kept for this reason
        stays too, so what it references is kept as well (repeated until nothing changes).
        """
        if not droppable:
            return {}
        droppable = set(droppable)
        references = [
            (table, tuple(fk["constrained_columns"]), fk["referred_table"])
            for table in self.live.inspector.get_table_names()
            if not table.startswith("sqlite_")
            for fk in self.live.inspector.get_foreign_keys(table)
        ]
        kept: dict[str, str] = {}
        changed = True
        while changed:
            changed = False
            for table, columns, target in references:
                if (
                    target in droppable
                    and table != target
                    and table not in droppable
                    and not self._reference_goes(table, columns)
                ):
                    droppable.discard(target)
                    kept[target] = f"{table}.{column_names(list(columns))}"
                    changed = True
        return kept

    def _reference_goes(self, live_table: str, columns: tuple[str, ...]) -> bool:
        """Whether this plan removes the foreign key `live_table`(columns): its column is
        dropped (allow_destructive), or the model no longer has the reference."""
        if live_table not in self.by_live_name:
            return False  # a table outside the model is never altered
        if any((live_table, c) in self.removed_columns and self.may_drop(live_table, c) for c in columns):
            return True
        return (live_table, columns) in self.dropped_fks

    def _unsupported(self, diff: tuple) -> None:
        kind = diff[0]
        subject = diff[1]
        table = getattr(getattr(subject, "table", None), "name", None) or (diff[2] if len(diff) > 2 else "?")
        self.add(
            Operation(
                k.UNSUPPORTED,
                str(table),
                detail=f"change '{kind}' ({subject!r}) is not handled by Tailor's planner",
                destructive=True,
                blocked="apply this change by hand (or with a reviewed Alembic revision)",
            )
        )
