"""Renames from `renamed_from` hints, and the model seen under the names the database uses.

A rename is only applied when it is unambiguous: the old table/column exists live and the
new one does not. Otherwise the hint is stale (already applied) or conflicting (both
exist), and the plan says so in a note.

Alembic's comparison knows nothing of renames: it would see a dropped column and a new
one. So the model is compared in a copy where renamed tables and columns carry their *live*
names; every difference it reports (type, NOT NULL, indexes...) is then a real change to
make after the rename, and the rename itself is a separate operation that keeps the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from .live import LiveSchema


@dataclass
class Renames:
    tables: dict[str, str] = field(default_factory=dict)  # model name -> live (old) name
    columns: dict[tuple[str, str], str] = field(default_factory=dict)  # (model table, model column) -> old
    notes: list[str] = field(default_factory=list)

    def live_table(self, model_table: str) -> str:
        return self.tables.get(model_table, model_table)

    def live_column(self, model_table: str, model_column: str) -> str:
        return self.columns.get((model_table, model_column), model_column)


def detect(model_tables: list[sa.Table], live: LiveSchema) -> Renames:
    renames = Renames()
    model_names = {t.name for t in model_tables}
    for table in model_tables:
        old = table.info.get("renamed_from")
        if not old or old == table.name:
            continue
        if old in live.tables and table.name not in live.tables and old not in model_names:
            renames.tables[table.name] = old
        elif old in live.tables and table.name in live.tables:
            renames.notes.append(
                f"table {table.name}: renamed_from '{old}' ignored, both tables exist "
                f"(the old one is treated as removed from the model)"
            )
    for table in model_tables:
        live_name = renames.live_table(table.name)
        live_columns = live.columns(live_name)
        if not live_columns:
            continue
        model_columns = {c.name for c in table.columns}
        for column in table.columns:
            old = column.info.get("renamed_from")
            if not old or old == column.name:
                continue
            if old in live_columns and column.name not in live_columns and old not in model_columns:
                renames.columns[(table.name, column.name)] = old
            elif old in live_columns and column.name in live_columns:
                renames.notes.append(
                    f"column {table.name}.{column.name}: renamed_from '{old}' ignored, both "
                    f"columns exist (the old one is treated as removed from the model)"
                )
    return renames


def under_live_names(
    model_tables: list[sa.Table], renames: Renames
) -> tuple[sa.MetaData, dict[str, sa.Table]]:
    """A copy of the model for comparison, with renamed things under their live names.

    Returns the copy and a map from the copy's table names to the model's tables. Only
    what Alembic compares is copied: columns (type, NULL, comment), primary key, unique
    constraints, indexes and foreign keys, all with their model names.
    """
    metadata = sa.MetaData()
    by_live_name: dict[str, sa.Table] = {}
    for table in model_tables:
        name = renames.live_table(table.name)
        cols = {c.name: renames.live_column(table.name, c.name) for c in table.columns}
        copy = sa.Table(
            name,
            metadata,
            *[
                sa.Column(
                    cols[c.name],
                    c.type,
                    primary_key=c.primary_key,
                    nullable=c.nullable,
                    autoincrement=c.autoincrement,
                    comment=c.comment,
                )
                for c in table.columns
            ],
            comment=table.comment,
        )
        for constraint in table.constraints:
            if isinstance(constraint, sa.UniqueConstraint):
                copy.append_constraint(
                    sa.UniqueConstraint(*[cols[c.name] for c in constraint.columns], name=constraint.name)
                )
            elif isinstance(constraint, sa.ForeignKeyConstraint):
                copy.append_constraint(
                    sa.ForeignKeyConstraint(
                        [cols[c.name] for c in constraint.columns],
                        [_live_target(el, renames) for el in constraint.elements],
                        name=constraint.name,
                        ondelete=constraint.ondelete,
                        onupdate=constraint.onupdate,
                        deferrable=constraint.deferrable,
                        initially=constraint.initially,
                    )
                )
        for index in table.indexes:
            if len(index.columns) == len(index.expressions):  # expression indexes are not compared
                sa.Index(index.name, *[copy.c[cols[c.name]] for c in index.columns], unique=index.unique)
        by_live_name[name] = table
    _stub_outside_targets(metadata)
    return metadata, by_live_name


def _stub_outside_targets(metadata: sa.MetaData) -> None:
    """Foreign keys may point outside the project (e.g. created_by -> tailor_user.id). The
    copy gets a stub of each such table so the keys resolve; `include_object` keeps the stubs
    out of the comparison."""
    wanted: dict[str, dict[str, sa.types.TypeEngine]] = {}
    for table in list(metadata.tables.values()):
        for fk in table.foreign_keys:
            target, column = fk.target_fullname.rsplit(".", 1)
            if target not in metadata.tables:
                wanted.setdefault(target, {})[column] = fk.parent.type
    for target, cols in wanted.items():
        sa.Table(target, metadata, *[sa.Column(name, type_) for name, type_ in cols.items()])


def _live_target(element: sa.ForeignKey, renames: Renames) -> str:
    """'table.column' a foreign key points at, under live names (the target may be an engine
    table such as tailor_user that is not part of the compared metadata)."""
    table, column = element.target_fullname.rsplit(".", 1)
    return f"{renames.live_table(table)}.{renames.live_column(table, column)}"
