"""What SQLite needs that PostgreSQL does not.

* Foreign keys must be OFF while tables are rebuilt (Alembic batch "move and copy" drops
  the old table: with enforcement ON that DROP would run the ON DELETE actions of every
  referencing row, e.g. cascade-delete children). The pragma only takes effect outside a
  transaction, so it is set on the driver connection before BEGIN, and the result is
  checked with `PRAGMA foreign_key_check` before COMMIT.
* A reference column added with a plain `ALTER TABLE ADD COLUMN ... REFERENCES ...` (the
  only constant-time way) keeps its ON DELETE action in SQLite, but SQLAlchemy's reflection
  only parses actions of table-level constraints. `foreign_key_actions()` reads them from
  `PRAGMA foreign_key_list`, so neither the comparison nor a later table rebuild loses them.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.storage.system import NAMING_CONVENTION

FkKey = tuple[tuple[str, ...], str, tuple[str, ...]]  # (columns, referred table, referred columns)


def set_foreign_keys(connection: Connection, enabled: bool) -> None:
    """Switch enforcement on this connection; must be called outside any transaction."""
    if connection.in_transaction():
        raise RuntimeError("PRAGMA foreign_keys has no effect inside a transaction")
    driver = connection.connection.driver_connection
    driver.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")


def foreign_key_violations(connection: Connection) -> set[tuple[str, int, str]]:
    rows = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    return {(row[0], row[1], row[2]) for row in rows}


def _action(value: str | None) -> str | None:
    value = (value or "").upper()
    return None if value in ("", "NO ACTION") else value


def foreign_key_actions(connection: Connection, table: str) -> dict[FkKey, tuple[str | None, str | None]]:
    """(ON UPDATE, ON DELETE) of each foreign key of `table`, as SQLite enforces them."""
    quoted = connection.dialect.identifier_preparer.quote(table)
    rows = connection.exec_driver_sql(f"PRAGMA foreign_key_list({quoted})").all()
    grouped: dict[int, dict] = {}
    for fk_id, _seq, target, column, target_column, on_update, on_delete, _match in rows:
        entry = grouped.setdefault(
            fk_id, {"cols": [], "target": target, "tcols": [], "actions": (on_update, on_delete)}
        )
        entry["cols"].append(column)
        entry["tcols"].append(target_column)
    return {
        (tuple(e["cols"]), e["target"], tuple(e["tcols"])): (
            _action(e["actions"][0]),
            _action(e["actions"][1]),
        )
        for e in grouped.values()
    }


def conventional_fk_name(table: str, columns: list[str], target: str) -> str:
    return NAMING_CONVENTION["fk"] % {
        "table_name": table,
        "column_0_name": columns[0],
        "referred_table_name": target,
    }


def reflect_for_rebuild(connection: Connection, table: str, impl) -> sa.Table:
    """The live table as Alembic batch should copy it: reflected like Alembic does, with
    foreign key actions restored from the pragma and unnamed foreign keys named by the
    convention (so that they can be dropped by name)."""
    reflected = sa.Table(
        table,
        sa.MetaData(),
        autoload_with=connection,
        listeners=[("column_reflect", impl.autogen_column_reflect)],
    )
    actions = foreign_key_actions(connection, table)
    for fk in reflected.foreign_key_constraints:
        key = (
            tuple(c.name for c in fk.columns),
            fk.elements[0].target_fullname.rsplit(".", 1)[0],
            tuple(el.target_fullname.rsplit(".", 1)[1] for el in fk.elements),
        )
        on_update, on_delete = actions.get(key, (fk.onupdate, fk.ondelete))
        fk.onupdate, fk.ondelete = on_update, on_delete
        for element in fk.elements:
            element.onupdate, element.ondelete = on_update, on_delete
        if fk.name is None:
            fk.name = conventional_fk_name(table, [c.name for c in fk.columns], key[1])
    return reflected


def keep_text_of_new_datetimes(copy_from: sa.Table, steps) -> None:
    """A DATE column becoming a DATETIME one holds its converted text already (the data fix
    ran before the copy); Alembic would copy it with CAST(... AS DATETIME), which SQLite
    reads as a number (the year alone). Copied as the new type, the text is kept as it is."""
    for step in steps:
        new, old = getattr(step, "modify_type", None), getattr(step, "existing_type", None)
        name = getattr(step, "column_name", None)
        if isinstance(new, sa.DateTime) and isinstance(old, sa.Date) and name in copy_from.c:
            copy_from.c[name].type = new


def scratch_copy(connection: Connection) -> sa.Engine:
    """An empty in-memory database with the same tables and indexes, to dry-run DDL on."""
    rows = connection.exec_driver_sql(
        "SELECT type, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
        "AND type IN ('table', 'index') ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END"
    ).all()
    scratch = sa.create_engine("sqlite://")
    with scratch.begin() as conn:
        for _type, sql in rows:
            conn.exec_driver_sql(sql)
    return scratch


def sequence_kept(table: str) -> tuple[list[str], list[str]]:
    """SQL around a rebuild of an AUTOINCREMENT table: before, keep its counter; after, put
    it back. The rebuilt table's counter is its largest id, so without this the id of the
    newest record, once deleted, would be given again (with that record's history)."""
    name = table.replace("'", "''")
    before = [
        "CREATE TEMP TABLE IF NOT EXISTS tailor_sequence_kept (name TEXT PRIMARY KEY, seq INTEGER NOT NULL)",
        f"INSERT OR REPLACE INTO tailor_sequence_kept (name, seq) SELECT name, seq FROM sqlite_sequence "
        f"WHERE name = '{name}'",
    ]
    after = [
        f"UPDATE sqlite_sequence SET seq = max(seq, (SELECT k.seq FROM tailor_sequence_kept k WHERE k.name = '{name}')) "
        f"WHERE name = '{name}' AND EXISTS (SELECT 1 FROM tailor_sequence_kept k WHERE k.name = '{name}')",
        f"INSERT INTO sqlite_sequence (name, seq) SELECT name, seq FROM tailor_sequence_kept WHERE name = '{name}' "
        f"AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '{name}')",
        f"DELETE FROM tailor_sequence_kept WHERE name = '{name}'",
    ]
    return before, after
