"""Hand-built compiled models and database snapshots for the migration tests.

The models mimic what the model compiler produces: one Core table per entity with the
standard columns, the engine's own tables in the same MetaData (the planner must ignore
them), hints in `.info` (`renamed_from`, `backfill`).

This module only imports the engine and SQLAlchemy, so the subprocess script of the
kill test can import it too.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from engine.storage.system import NAMING_CONVENTION, SYSTEM_METADATA


def new_metadata() -> sa.MetaData:
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    for table in SYSTEM_METADATA.tables.values():
        table.to_metadata(metadata)
    return metadata


def field(
    name: str, type_: Any, *args: Any, renamed_from: str | None = None, backfill: Any = None, **kwargs: Any
):
    return sa.Column(
        name, type_, *args, info={"field": name, "renamed_from": renamed_from, "backfill": backfill}, **kwargs
    )


def standard_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="SET NULL")),
        sa.Column("owner", sa.Integer, sa.ForeignKey("tailor_user.id", ondelete="SET NULL")),
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
    ]


def entity(metadata: sa.MetaData, name: str, *fields: Any, renamed_from: str | None = None) -> sa.Table:
    return sa.Table(
        name, metadata, *standard_columns(), *fields, info={"entity": name, "renamed_from": renamed_from}
    )


def customer_fields() -> list[sa.Column]:
    return [field("name", sa.String(200)), field("email", sa.String(254))]


def crm(
    *extra: Any, table: str = "customer", renamed_from: str | None = None, base=None, lines: bool = False
):
    """A model with a customer entity (name, email, + extra fields) and optionally order lines."""
    metadata = new_metadata()
    base_fields = customer_fields() if base is None else base
    entity(metadata, table, *base_fields, *extra, renamed_from=renamed_from)
    if lines:
        entity(
            metadata,
            "customer_line",
            field(
                "customer_id", sa.Integer, sa.ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=False
            ),
            field("amount", sa.Numeric(12, 2)),
        )
    return metadata


def insert(engine: sa.Engine, table: str, *rows: dict) -> None:
    with engine.begin() as conn:
        t = sa.table(table, *[sa.column(c) for c in rows[0]])
        conn.execute(sa.insert(t), list(rows))


def select(engine: sa.Engine, sql: str, **params: Any) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(sql), params)]


def columns(engine: sa.Engine, table: str) -> dict[str, dict]:
    with engine.connect() as conn:
        return {c["name"]: c for c in sa.inspect(conn).get_columns(table)}


def history(engine: sa.Engine) -> list[tuple]:
    return select(
        engine,
        "SELECT project, metadata_version, operation, target, detail, destructive, sql "
        "FROM tailor_schema_history ORDER BY id",
    )


def snapshot(engine: sa.Engine) -> dict:
    """Everything observable about the database: schema of every table and all its rows."""
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        result: dict[str, Any] = {}
        for table in sorted(inspector.get_table_names()):
            cols = inspector.get_columns(table)
            names = [c["name"] for c in cols]
            quoted = ", ".join(conn.dialect.identifier_preparer.quote(n) for n in names)
            rows = conn.exec_driver_sql(
                f"SELECT {quoted} FROM {conn.dialect.identifier_preparer.quote(table)}"
            ).all()
            result[table] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in cols],
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(table)
                ),
                "uniques": sorted(
                    (u["name"] or "", tuple(u["column_names"]))
                    for u in inspector.get_unique_constraints(table)
                ),
                "fks": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"])
                    for f in inspector.get_foreign_keys(table)
                ),
                "rows": sorted(tuple(str(v) for v in row) for row in rows),
            }
        return result


def crm_three_changes() -> sa.MetaData:
    """From `crm(lines=True)`, three operations: ADD COLUMN customer.phone, a type change of
    customer.name (a table rebuild on SQLite) and an index on customer.email."""
    return crm(
        field("phone", sa.String(40)),
        base=[field("name", sa.Text), field("email", sa.String(254), index=True)],
        lines=True,
    )
