"""Column differences: new, removed (kept or dropped), retyped, NOT NULL added or dropped.

Counting comes first: whether an operation is destructive depends on what the live rows
hold, never on the kind of change alone (a NOT NULL over a column without NULLs, or a
shorter string that every value fits, loses nothing and is applied like any other change).
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops

from . import conversions, dataloss
from . import operations as k
from .context import PlanningContext, column_names
from .operations import Operation

_CONSTANT = re.compile(r"^\s*(-?\d+(\.\d+)?|'[^']*'|null|true|false)\s*$", re.IGNORECASE)


def _constant_default(arg: Any) -> bool:
    """Whether SQLite accepts this server default in ALTER TABLE ADD COLUMN."""
    if isinstance(arg, str):
        return True
    if isinstance(arg, (sa.sql.elements.True_, sa.sql.elements.False_, sa.sql.elements.Null)):
        return True
    if isinstance(arg, sa.sql.elements.TextClause):
        return bool(_CONSTANT.match(arg.text))
    return False


class ColumnChanges(PlanningContext):
    """Handlers for add_column, remove_column, modify_type, modify_nullable, modify_comment."""

    def _detached(self, column: sa.Column, *, nullable: bool, with_fk: bool) -> sa.Column:
        """A copy of a model column that belongs to no table (Alembic attaches it itself)."""
        args: list[Any] = []
        if with_fk:
            for fk in column.foreign_keys:
                args.append(
                    sa.ForeignKey(
                        fk.target_fullname,
                        name=fk.constraint.name if fk.constraint is not None else fk.name,
                        ondelete=fk.ondelete,
                        onupdate=fk.onupdate,
                        deferrable=fk.deferrable,
                        initially=fk.initially,
                    )
                )
        kwargs: dict[str, Any] = {"nullable": nullable, "comment": column.comment}
        if column.server_default is not None and isinstance(column.server_default, sa.DefaultClause):
            kwargs["server_default"] = column.server_default.arg
        return sa.Column(column.name, column.type, *args, **kwargs)

    def _on_add_column(self, schema, live_table: str, copy: sa.Column) -> None:
        table = self.model_table(live_table)
        column = self.model_column(live_table, copy.name)
        has_server_default = isinstance(column.server_default, sa.DefaultClause)
        needs_fill = not column.nullable and not has_server_default
        single_fks = [
            fk for fk in column.foreign_keys if fk.constraint is not None and len(fk.constraint.columns) == 1
        ]
        # SQLite: one single-column reference is added inline, still a plain ADD COLUMN.
        inline = self.sqlite and len(single_fks) == 1 and len(column.foreign_keys) == 1
        if inline:
            self.inline_fks.add((live_table, (column.name,)))
        detached = self._detached(column, nullable=column.nullable or needs_fill, with_fk=inline)
        step = ops.AddColumnOp(table.name, detached, inline_references=True if inline else None)
        # SQLite can only ADD COLUMN with a constant default; anything else rebuilds the table.
        rebuild = self.sqlite and has_server_default and not _constant_default(column.server_default.arg)
        detail = f"new column {self.type_text(column.type)}"
        detail += ", required" if not column.nullable else ", optional"
        self.add(
            Operation(k.ADD_COLUMN, table.name, column.name, detail=detail, steps=[step], rebuild=rebuild)
        )
        if needs_fill:
            self._set_not_null(live_table, column, new_column=True)

    def _on_remove_column(self, schema, live_table: str, live: sa.Column) -> None:
        table = self.model_table(live_table)
        values = dataloss.count_non_empty(self.conn, live_table, live.name, live.type)
        if self.may_drop(live_table, live.name):
            # Indexes go with the column (PostgreSQL would drop them implicitly; a SQLite
            # rebuild would try to recreate them on a column that no longer exists).
            indexes = [
                ix["name"]
                for ix in self.live.inspector.get_indexes(live_table)
                if live.name in ix["column_names"] and ix.get("name") and not ix.get("duplicates_constraint")
            ]
            self.add(
                Operation(
                    k.DROP_COLUMN,
                    table.name,
                    live.name,
                    detail="removed from the model",
                    destructive=True,
                    data_loss=f"{values} non-empty values",
                    affected=values,
                    steps=[ops.DropIndexOp(name, table_name=table.name) for name in indexes]
                    + [ops.DropColumnOp(table.name, live.name)],
                    rebuild=self.sqlite,
                )
            )
            return
        self.add(
            Operation(
                k.KEEP_COLUMN,
                table.name,
                live.name,
                detail=f"removed from the model; kept with {values} non-empty values "
                f"(dropped only with --allow-destructive)",
                applies=False,
                affected=values,
            )
        )
        info = self.live.columns(live_table)[live.name]
        if not info["nullable"] and info.get("default") is None:
            # The records service no longer writes this column: NOT NULL would reject new rows.
            self.add(
                Operation(
                    k.DROP_NOT_NULL,
                    table.name,
                    live.name,
                    detail="kept column made optional, so new records can be saved without it",
                    steps=[
                        ops.AlterColumnOp(
                            table.name,
                            live.name,
                            modify_nullable=True,
                            existing_type=info["type"],
                            existing_nullable=False,
                        )
                    ],
                    rebuild=self.sqlite,
                    follows_removal=True,
                )
            )

    def _on_modify_type(self, schema, live_table: str, live_column: str, existing: dict, old, new) -> None:
        table = self.model_table(live_table)
        column = self.model_column(live_table, live_column)
        optional = column.nullable and self.live_nullable(live_table, live_column)
        fill, fill_text = self.fill_value(column)
        if optional or fill is None:
            replacement: Any = sa.null()
        else:
            replacement = sa.literal(fill, new)
        conversion = conversions.analyse(old, new, replacement, fill_text.removeprefix("the "))
        if self.live_encrypted(live_table, live_column):
            # ciphertext now, the values typed once decrypted first (engine/migrate/encryption.py):
            # its length says nothing about theirs
            counts = [0 for _loss in conversion.losses]
        else:
            counts = [
                dataloss.count_where(self.conn, live_table, live_column, loss.predicate)
                for loss in conversion.losses
            ]
        affected = sum(counts)
        data_loss = "; ".join(
            loss.describe(n) for loss, n in zip(conversion.losses, counts, strict=True) if n
        )
        blocked = None
        if affected and conversion.convert is not None:
            blocked = self._collisions(live_table, column, conversion.convert)
        if (
            not optional
            and fill is None
            and any(n for loss, n in zip(conversion.losses, counts, strict=True) if loss.empties)
        ):
            blocked = (
                "values that cannot be converted would have to be emptied, but the field is required "
                "and has no default: fix those values first"
            )
        steps: list[ops.MigrateOperation] = []
        kw: dict[str, Any] = {}
        if conversion.convert is not None:
            value = conversion.convert(sa.column(column.name))
            if self.sqlite:
                t = sa.table(table.name, sa.column(column.name))
                touched = conversion.touched(t.c[column.name]) if conversion.touched else sa.true()
                steps.append(
                    ops.ExecuteSQLOp(self.sql(sa.update(t).where(touched).values({column.name: value})))
                )
            else:
                kw["postgresql_using"] = self.sql(value)
        steps.append(
            ops.AlterColumnOp(
                table.name,
                column.name,
                modify_type=new,
                existing_type=old,
                existing_nullable=existing.get("existing_nullable"),
                **kw,
            )
        )
        self.add(
            Operation(
                k.ALTER_TYPE,
                table.name,
                column.name,
                detail=f"{self.type_text(old)} -> {self.type_text(new)} ({conversion.summary})",
                destructive=affected > 0,
                data_loss=data_loss or None,
                blocked=blocked,
                affected=affected,
                steps=steps,
                rebuild=self.sqlite,
            )
        )

    def _collisions(self, live_table: str, column: sa.Column, convert) -> str | None:
        """A type change that rewrites values of a unique column may make them collide (two
        names cut to the same 8 characters); the constraint would then fail half-way."""
        table = self.model_table(live_table)
        uniques = [
            [c.name for c in item.columns]
            for item in [*table.constraints, *table.indexes]
            if (isinstance(item, sa.UniqueConstraint) or getattr(item, "unique", False))
            and column.name in item.columns
        ]
        live_column = self.renames.live_column(table.name, column.name)
        for names in uniques:
            live_names = [self.renames.live_column(table.name, n) for n in names]
            groups, examples = dataloss.duplicate_groups(
                self.conn, live_table, live_names, converted={live_column: convert}
            )
            if groups:
                return (
                    f"the converted values would no longer be unique ({column_names(names)}): {groups} "
                    f"duplicate groups, e.g. {'; '.join(examples)}; fix those values first"
                )
        return None

    def _on_modify_nullable(
        self, schema, live_table: str, live_column: str, existing: dict, old, new
    ) -> None:
        column = self.model_column(live_table, live_column)
        table = self.model_table(live_table)
        if new:  # NOT NULL dropped: nothing stored changes
            self.add(
                Operation(
                    k.DROP_NOT_NULL,
                    table.name,
                    column.name,
                    detail="now optional",
                    steps=[
                        ops.AlterColumnOp(
                            table.name,
                            column.name,
                            modify_nullable=True,
                            existing_type=column.type,
                            existing_nullable=False,
                        )
                    ],
                    rebuild=self.sqlite,
                )
            )
        else:
            self._set_not_null(live_table, column, new_column=False)

    def _set_not_null(self, live_table: str, column: sa.Column, *, new_column: bool) -> None:
        table = self.model_table(live_table)
        live_column = self.renames.live_column(table.name, column.name)
        if new_column or live_table in self.new_tables:
            nulls = dataloss.count_rows(self.conn, live_table) if live_table in self.live.tables else 0
        else:
            nulls = dataloss.count_nulls(self.conn, live_table, live_column)
        fill, fill_text = self.fill_value(column)
        steps: list[ops.MigrateOperation] = []
        destructive, data_loss, blocked = False, None, None
        if nulls:
            if fill is None:
                blocked = (
                    f"{nulls} rows have no value and there is nothing to fill them with: give the "
                    f"field a default or fill the values first"
                )
            else:
                steps.append(self.fill_update(table.name, column, fill))
            if new_column:
                detail = f"new required field: {nulls} existing rows get {fill_text}"
                # Filling a new column with its declared default changes nothing anyone entered.
                if column.info.get("backfill") is None:
                    destructive = True
                    data_loss = (
                        f"{nulls} existing rows would get {fill_text} (new required field without a default)"
                    )
            else:
                detail = f"now required: {nulls} rows are NULL and get {fill_text}"
                destructive = True
                data_loss = f"{nulls} rows are NULL and would be set to {fill_text}"
        else:
            detail = (
                "now required (no NULL values)" if not new_column else "new required field (table is empty)"
            )
        steps.append(
            ops.AlterColumnOp(
                table.name,
                column.name,
                modify_nullable=False,
                existing_type=column.type,
                existing_nullable=True,
            )
        )
        self.add(
            Operation(
                k.SET_NOT_NULL,
                table.name,
                column.name,
                detail=detail,
                destructive=destructive or bool(blocked),
                data_loss=data_loss,
                blocked=blocked,
                affected=nulls,
                steps=steps,
                rebuild=self.sqlite,
            )
        )

    def _on_modify_comment(self, schema, live_table: str, live_column: str, existing: dict, old, new) -> None:
        column = self.model_column(live_table, live_column)
        table = self.model_table(live_table)
        self.add(
            Operation(
                k.ALTER_COMMENT,
                table.name,
                column.name,
                detail=f"comment {new!r}",
                steps=[
                    ops.AlterColumnOp(
                        table.name,
                        column.name,
                        modify_comment=new,
                        existing_comment=old,
                        existing_type=existing.get("existing_type"),
                        existing_nullable=existing.get("existing_nullable"),
                    )
                ],
            )
        )
