"""Index and constraint differences: indexes, UNIQUE constraints, foreign keys.

Adding a UNIQUE constraint (or unique index) or a foreign key is additive when the rows
already satisfy it; when they do not (duplicates, dangling references), the operation is
blocked, even with allow_destructive: the only automatic fix would be deleting or changing
records, which is a decision for a person, not for a migration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import ops

from . import dataloss, sqlite
from . import operations as k
from .context import PlanningContext, column_names
from .operations import Operation


class ConstraintChanges(PlanningContext):
    """Handlers for indexes, UNIQUE constraints and foreign keys (added or removed)."""

    def _duplicates(self, live_table: str, columns: list[str]) -> tuple[int, list[str]]:
        if live_table in self.new_tables or any((live_table, c) in self.new_columns for c in columns):
            return 0, []
        model = self.model_table(live_table)
        return dataloss.duplicate_groups(
            self.conn, live_table, [self.renames.live_column(model.name, c) for c in columns]
        )

    def _uniqueness(
        self, kind: str, live_table: str, columns: list[str], name: str, steps, rebuild: bool
    ) -> Operation:
        table = self.model_table(live_table)
        groups, examples = self._duplicates(live_table, columns)
        what = "unique index" if kind == k.ADD_INDEX else "unique constraint"
        op = Operation(
            kind, table.name, column_names(columns), detail=f"{what} {name}", steps=steps, rebuild=rebuild
        )
        if groups:
            op.destructive = True
            op.affected = groups
            op.data_loss = f"{groups} duplicate groups, e.g. {'; '.join(examples)}"
            op.blocked = (
                "existing values are not unique: fix the duplicates first (uniqueness cannot be enforced "
                "without deleting or changing records, which Tailor never does on its own)"
            )
        return self.add(op)

    def _on_add_index(self, copy: sa.Index) -> None:
        table = self.model_table(copy.table.name)
        index = next(ix for ix in table.indexes if ix.name == copy.name)
        columns = [c.name for c in index.columns]
        steps = [ops.CreateIndexOp.from_index(index)]
        if index.unique:
            self._uniqueness(k.ADD_INDEX, copy.table.name, columns, index.name, steps, rebuild=False)
        else:
            self.add(
                Operation(
                    k.ADD_INDEX, table.name, column_names(columns), detail=f"index {index.name}", steps=steps
                )
            )

    def _on_remove_index(self, live: sa.Index) -> None:
        if self.is_removed(live.table.name, live.columns):
            return  # kept with its column, or dropped with it
        table = self.model_table(live.table.name)
        self.add(
            Operation(
                k.DROP_INDEX,
                table.name,
                column_names(live.columns),
                detail=f"index {live.name} no longer in the model (no data is stored in an index)",
                steps=[ops.DropIndexOp(live.name, table_name=table.name)],
            )
        )

    def _on_add_constraint(self, copy: sa.Constraint) -> None:
        if not isinstance(copy, sa.UniqueConstraint):
            self._unsupported(("add_constraint", copy))
            return
        table = self.model_table(copy.table.name)
        constraint = next(
            c for c in table.constraints if isinstance(c, sa.UniqueConstraint) and c.name == copy.name
        )
        columns = [c.name for c in constraint.columns]
        steps = [ops.AddConstraintOp.from_constraint(constraint)]
        if self.sqlite and constraint.name:
            # SQLite cannot add a constraint without copying the table; a unique index
            # enforces the same (same name, same error) and is built in place. When the
            # plan copies the table anyway, the constraint goes into that copy instead
            # (`_unique_indexes_into_rebuilds`).
            index = ops.CreateIndexOp(constraint.name, table.name, columns, unique=True)
            op = self._uniqueness(k.ADD_UNIQUE, copy.table.name, columns, constraint.name, [index], rebuild=False)
            self.unique_as_index[id(op)] = steps
            return
        self._uniqueness(k.ADD_UNIQUE, copy.table.name, columns, constraint.name, steps, rebuild=self.sqlite)

    def _on_remove_constraint(self, live: sa.Constraint) -> None:
        if not isinstance(live, sa.UniqueConstraint) or not live.name:
            self._unsupported(("remove_constraint", live))
            return
        if self.is_removed(live.table.name, live.columns):
            return
        table = self.model_table(live.table.name)
        self.add(
            Operation(
                k.DROP_UNIQUE,
                table.name,
                column_names(live.columns),
                detail=f"unique constraint {live.name} no longer in the model (values are kept)",
                steps=[ops.DropConstraintOp(live.name, table.name, type_="unique")],
                rebuild=self.sqlite,
            )
        )

    def _on_add_fk(self, copy: sa.ForeignKeyConstraint) -> None:
        live_table = copy.table.name
        columns = tuple(c.name for c in copy.columns)
        if (live_table, columns) in self.inline_fks:
            return  # created by the ADD COLUMN itself
        table = self.model_table(live_table)
        constraint = next(
            fk
            for fk in table.foreign_key_constraints
            if tuple(self.renames.live_column(table.name, c.name) for c in fk.columns) == columns
        )
        target_live, target_columns = (
            copy.referred_table.name,
            [el.target_fullname.rsplit(".", 1)[1] for el in copy.elements],
        )
        if all((live_table, c) in self.new_columns for c in columns):
            dangling = 0
        elif target_live in self.new_tables or target_live not in self.live.tables:
            # the target table is created by this migration, so every reference dangles
            dangling = dataloss.count_where(self.conn, live_table, columns[0], lambda x: x.is_not(None))
        else:
            dangling = dataloss.orphans(self.conn, live_table, columns, target_live, target_columns)
        op = Operation(
            k.ADD_FOREIGN_KEY,
            table.name,
            column_names([c.name for c in constraint.columns]),
            detail=f"reference {constraint.name} to {constraint.elements[0].target_fullname.rsplit('.', 1)[0]}",
            steps=[ops.CreateForeignKeyOp.from_constraint(constraint)],
            rebuild=self.sqlite,
        )
        if dangling:
            op.destructive = True
            op.affected = dangling
            op.data_loss = f"{dangling} rows refer to records that do not exist"
            op.blocked = "fix or clear the dangling references first (Tailor will not delete or change them)"
        self.add(op)

    def _on_remove_fk(self, live: sa.ForeignKeyConstraint) -> None:
        if self.is_removed(live.table.name, live.columns):
            return
        table = self.model_table(live.table.name)
        columns = [c.name for c in live.columns]
        target = live.elements[0].target_fullname.rsplit(".", 1)[0]
        name = live.name or sqlite.conventional_fk_name(live.table.name, columns, target)
        self.dropped_fks.add((live.table.name, tuple(columns)))
        self.add(
            Operation(
                k.DROP_FOREIGN_KEY,
                table.name,
                column_names(columns),
                detail=f"reference {name} no longer in the model (values are kept)",
                steps=[ops.DropConstraintOp(name, table.name, type_="foreignkey")],
                rebuild=self.sqlite,
            )
        )

    def _unique_indexes_into_rebuilds(self) -> None:
        """SQLite: a UNIQUE planned as an index (no table copy) becomes a constraint again
        when another operation rebuilds its table anyway: the copy costs nothing more."""
        rebuilt = {op.table for op in self.operations if op.rebuild and op.applies}
        for op in self.operations:
            steps = self.unique_as_index.get(id(op))
            if steps is not None and op.table in rebuilt:
                op.steps, op.rebuild = steps, True

    def _drop_unique_index_false_alarms(self, diffs: list[tuple]) -> list[tuple]:
        """SQLite: a UNIQUE constraint added to an existing table is a unique index of the
        same name and columns (see `_on_add_constraint`). Alembic reports it as an index the
        model lacks plus a constraint the database lacks; that pair is no difference."""
        indexes = {}
        for diff in diffs:
            if diff[0] == "remove_index" and diff[1].unique and diff[1].name:
                indexes[(diff[1].table.name, diff[1].name)] = (diff, tuple(c.name for c in diff[1].columns))
        if not indexes:
            return diffs
        drop: set[int] = set()
        for diff in diffs:
            if diff[0] != "add_constraint" or not isinstance(diff[1], sa.UniqueConstraint):
                continue
            found = indexes.get((diff[1].table.name, diff[1].name))
            if found is not None and found[1] == tuple(c.name for c in diff[1].columns):
                drop.update({id(diff), id(found[0])})
        return [d for d in diffs if id(d) not in drop]

    def _drop_inline_fk_false_alarms(self, diffs: list[tuple]) -> list[tuple]:
        """SQLite: a foreign key added inline reflects without its ON DELETE/UPDATE action, so
        Alembic reports it removed and re-added. Drop that pair when the pragma shows the
        actions the model asks for."""
        removed = {}
        for diff in diffs:
            if diff[0] == "remove_fk":
                fk = diff[1]
                key = (fk.table.name, tuple(c.name for c in fk.columns), fk.referred_table.name)
                removed[key] = diff
        if not removed:
            return diffs
        drop: set[int] = set()
        for diff in diffs:
            if diff[0] != "add_fk":
                continue
            fk = diff[1]
            key = (fk.table.name, tuple(c.name for c in fk.columns), fk.referred_table.name)
            if key not in removed:
                continue
            actions = sqlite.foreign_key_actions(self.conn, fk.table.name)
            wanted = (
                (fk.onupdate or "").upper() or None,
                (fk.ondelete or "").upper() or None,
            )
            targets = [v for (cols, target, _), v in actions.items() if cols == key[1] and target == key[2]]
            if targets and targets[0] == tuple(None if w == "NO ACTION" else w for w in wanted):
                drop.update({id(diff), id(removed[key])})
        return [d for d in diffs if id(d) not in drop]
