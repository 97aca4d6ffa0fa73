"""Data steps for encrypted fields (engine/fields/encryption.py): sealing the values a
field already holds when it is made `encrypted: true`, and opening them again only on an
explicit decision (`decrypt: true`) when the flag is removed.

Whether a column holds ciphertext is recorded in `tailor_column_state` (fingerprint
ENCRYPTED) when a migration leaves it encrypted, so planning reads no rows for columns that
are as the model says; the values are counted (by their `enc1:` prefix) only for a column
whose flag changed. Both steps run in Python, in batches, inside the migration's
transaction, and are shown by `--plan` and `--sql` like every other step.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..fields.encryption import HASH_SUFFIX, PREFIX, is_sealed, keyring
from . import operations as k
from .operations import Operation

ENCRYPTED = "encrypted:v1"  # the fingerprint of a column holding ciphertext
BATCH = 1000


def _like_sealed(column: Any) -> Any:
    return column.like(PREFIX + "%")


class EncryptionChanges:
    """Planner mixin (with DataChanges): encrypt or decrypt the stored values of a field."""

    def _encryption(self, table: sa.Table) -> None:
        live_table = self.renames.live_table(table.name)
        if table.name in self.new_tables or live_table not in self.live.tables:
            return
        for column in table.columns:
            kind = column.info.get("encrypted")
            live_column = self.renames.live_column(table.name, column.name)
            if (live_table, live_column) in self.new_columns or live_column not in self.live.columns(live_table):
                continue
            state = self._states.get((live_table, live_column))
            was_encrypted = state is not None and state[0] == ENCRYPTED
            if kind and not was_encrypted:
                self._plan_encrypt(table, column, live_table, live_column)
            elif not kind and was_encrypted and column.info.get("field") == column.name:
                self._plan_decrypt(table, column, live_table, live_column)

    def _count(self, live_table: str, live_column: str, sealed: bool) -> int:
        t = sa.table(live_table, sa.column(live_column, sa.Text()))
        c = t.c[live_column]
        where = _like_sealed(c) if sealed else sa.and_(c.is_not(None), sa.not_(_like_sealed(c)))
        return self.conn.execute(sa.select(sa.func.count()).select_from(t).where(where)).scalar_one()

    def _plan_encrypt(self, table: sa.Table, column: sa.Column, live_table: str, live_column: str) -> None:
        if not self._has_rows(live_table):
            return
        n = self._count(live_table, live_column, sealed=False)
        if not n:
            return
        field = column.info["encrypted"]  # the Field (engine/fields/scalar.py)
        key_id = keyring().current.id
        self.add(Operation(
            k.ENCRYPT_VALUES, table.name, column.name,
            detail=f"encrypted: true: {n:,} stored value{'' if n == 1 else 's'} encrypted under key {key_id} "
                   f"(and hashed for exact search), {BATCH:,} at a time",
            affected=n,
            steps=[_python_step(f"encrypt {table.name}.{column.name} under key {key_id}",
                                    lambda conn, t=table, f=field: encrypt_column(conn, t, f))],
            seq=self.model_order[table.name]))

    def _plan_decrypt(self, table: sa.Table, column: sa.Column, live_table: str, live_column: str) -> None:
        n = self._count(live_table, live_column, sealed=True) if self._has_rows(live_table) else 0
        decided = bool(column.info.get("decrypt"))
        what = f"{n:,} value{'' if n == 1 else 's'}"
        self.add(Operation(
            k.DECRYPT_VALUES, table.name, column.name,
            detail=f"no longer encrypted: {what} stored in clear text again, {BATCH:,} at a time",
            affected=n,
            blocked=None if decided else (
                "the field is encrypted in the database: storing its values in clear text is a decision, "
                "say it with `decrypt: true` on the field (or keep `encrypted: true`)"),
            data_loss=None if decided else f"{what} encrypted",
            steps=[_python_step(f"decrypt {table.name}.{column.name}",
                                    lambda conn, t=table, name=column.name: decrypt_column(conn, t, name))]
            if n else []))

    def live_encrypted(self, live_table: str, live_column: str) -> bool:
        """Whether the database holds this column encrypted (by the last migration)."""
        states = getattr(self, "_states", None)
        if states is None:
            states = self._states = self._read_states()
        state = states.get((live_table, live_column))
        return state is not None and state[0] == ENCRYPTED


def _python_step(description: str, run: Any) -> Any:
    from .data import PythonStepOp

    return PythonStepOp(description, run)


def encrypt_column(conn: Connection, table: sa.Table, field: Any) -> None:
    """Seal every clear value of the field's column and fill its hash, BATCH rows at a time."""
    column = table.c[field.name]
    hashed = table.c[field.name + HASH_SUFFIX]
    ring = keyring()
    last = 0
    statement = sa.update(table).where(table.c.id == sa.bindparam("row_id")).values(
        {column.name: sa.bindparam("sealed", type_=column.type), hashed.name: sa.bindparam("digest")})
    while True:
        rows = conn.execute(sa.select(table.c.id, column).where(table.c.id > last, column.is_not(None))
                            .order_by(table.c.id).limit(BATCH)).all()
        changes = [{"row_id": row_id, "sealed": ring.seal(value),
                    "digest": ring.digest(field.type.exact_key(value))}
                   for row_id, value in rows if not is_sealed(value)]
        if changes:
            conn.execute(statement, changes)
        if len(rows) < BATCH:
            break
        last = rows[-1][0]
    _rewrite_trail(conn, table.name, field.name, lambda v: v if v is None or is_sealed(v) else ring.seal(str(v)))


def _rewrite_trail(conn: Connection, entity: str, name: str, change: Any) -> None:
    """The audit trail of the entity holds the field's values too: each one rewritten."""
    from ..storage import audit_log

    last = 0
    while True:
        rows = conn.execute(sa.select(audit_log.c.id, audit_log.c.changes)
                            .where(audit_log.c.entity == entity, audit_log.c.id > last)
                            .order_by(audit_log.c.id).limit(BATCH)).all()
        updates = []
        for row_id, changes in rows:
            pair = changes.get(name) if isinstance(changes, dict) else None
            if isinstance(pair, list):
                updates.append({"row_id": row_id, "new": {**changes, name: [change(v) for v in pair]}})
        if updates:
            conn.execute(sa.update(audit_log).where(audit_log.c.id == sa.bindparam("row_id"))
                         .values(changes=sa.bindparam("new", type_=audit_log.c.changes.type)), updates)
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


def decrypt_column(conn: Connection, table: sa.Table, name: str) -> None:
    """Open every sealed value of a column, BATCH rows at a time (its type may still be TEXT)."""
    t = sa.table(table.name, sa.column("id", sa.BigInteger()), sa.column(name, sa.Text()))
    ring = keyring()
    last = 0
    statement = sa.update(t).where(t.c.id == sa.bindparam("row_id")).values({name: sa.bindparam("clear")})
    while True:
        rows = conn.execute(sa.select(t.c.id, t.c[name]).where(t.c.id > last, _like_sealed(t.c[name]))
                            .order_by(t.c.id).limit(BATCH)).all()
        if rows:
            conn.execute(statement, [{"row_id": row_id, "clear": ring.open(value)} for row_id, value in rows])
        if len(rows) < BATCH:
            break
        last = rows[-1][0]
    _rewrite_trail(conn, table.name, name, lambda v: ring.open(v) if is_sealed(v) else v)


def rotate(engine: Any, model: Any) -> dict[str, int]:
    """`tailor keys rotate`: every value (and audit trail entry) sealed under another loaded
    key is sealed again under the current key, and its hash worked out with the current key.
    One transaction per batch: a rotation stopped half way is simply run again (the old key
    stays loaded until it is done). Returns {"entity.field": values re-encrypted}."""
    ring = keyring()
    current = f"{PREFIX}{ring.current.id}:%"
    done: dict[str, int] = {}
    for entity in model.entities.values():
        for field in entity.fields.values():
            if not field.encrypted:
                continue
            table = entity.table
            column, hashed = table.c[field.name], table.c[field.name + HASH_SUFFIX]
            statement = sa.update(table).where(table.c.id == sa.bindparam("row_id")).values(
                {column.name: sa.bindparam("sealed", type_=column.type), hashed.name: sa.bindparam("digest")})
            count, last = 0, 0
            while True:
                with engine.begin() as conn:
                    rows = conn.execute(sa.select(table.c.id, column)
                                        .where(table.c.id > last, _like_sealed(column), ~column.like(current))
                                        .order_by(table.c.id).limit(BATCH)).all()
                    if rows:
                        changes = []
                        for row_id, token in rows:
                            value = ring.open(token)
                            changes.append({"row_id": row_id, "sealed": ring.seal(value),
                                            "digest": ring.digest(field.type.exact_key(value))})
                        conn.execute(statement, changes)
                count += len(rows)
                if len(rows) < BATCH:
                    break
                last = rows[-1][0]
            with engine.begin() as conn:
                _rewrite_trail(conn, entity.name, field.name,
                               lambda v: ring.seal(ring.open(v)) if is_sealed(v) and not v.startswith(current[:-1])
                               else v)
            done[f"{entity.name}.{field.name}"] = count
    return done
