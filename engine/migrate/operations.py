"""One planned schema change (`Operation`) and the order in which changes run.

An Operation is what a person reads in the plan *and* what the executor runs: the human
fields (kind, target, detail, destructive, data_loss) sit next to `steps`, the Alembic
operation objects (plus data fixes such as an UPDATE that fills NULLs) that carry it out.
Keeping both in one object means the plan shown with `--plan`, the SQL shown with `--sql`, the
revision written with `--write-revision` and what `apply_plan` does cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alembic.operations import ops

# Operation kinds, in the order their phase runs (see PHASES).
CREATE_TABLE = "create_table"
RENAME_TABLE = "rename_table"
RENAME_COLUMN = "rename_column"
ADD_COLUMN = "add_column"
ADD_INDEX = "add_index"
DROP_INDEX = "drop_index"
ADD_UNIQUE = "add_unique"
DROP_UNIQUE = "drop_unique"
ADD_FOREIGN_KEY = "add_foreign_key"
DROP_FOREIGN_KEY = "drop_foreign_key"
ALTER_TYPE = "alter_type"
SET_NOT_NULL = "set_not_null"
DROP_NOT_NULL = "drop_not_null"
ALTER_COMMENT = "alter_comment"
DROP_COLUMN = "drop_column"
DROP_TABLE = "drop_table"
KEEP_COLUMN = "keep_column"
KEEP_TABLE = "keep_table"
UNSUPPORTED = "unsupported"
# data steps (engine/migrate/data.py): what the stored values need besides the schema
NEVER_REUSE_IDS = "never_reuse_ids"  # SQLite: rebuild a table as AUTOINCREMENT
SEED_IDS = "seed_ids"  # new ids start after every id the engine's records of the entity name
MAP_VALUES = "map_values"  # replaced_options: old option values become new ones
CHECK_VALUES = "check_values"  # stored values that are not among a field's options
RECOMPUTE = "recompute"  # stored computed values (and other derived columns) worked out again
ENCRYPT_VALUES = "encrypt_values"  # a field made `encrypted: true`: its stored values sealed
DECRYPT_VALUES = "decrypt_values"  # a field no longer encrypted (`decrypt: true`): values opened

# Renames first (everything after them uses the new names), then new tables, then the
# changes inside each table, grouped per table so SQLite rebuilds a table at most once,
# then indexes (after the columns they cover exist), then what removes things.
PHASES: dict[str, int] = {
    RENAME_TABLE: 0,
    RENAME_COLUMN: 1,
    CREATE_TABLE: 2,
    DROP_INDEX: 3,
    # phase 4: per-table block, ordered by BLOCK_ORDER
    NEVER_REUSE_IDS: 4,
    MAP_VALUES: 4,
    DECRYPT_VALUES: 4,
    CHECK_VALUES: 4,
    ADD_COLUMN: 4,
    DROP_UNIQUE: 4,
    DROP_FOREIGN_KEY: 4,
    ALTER_TYPE: 4,
    SET_NOT_NULL: 4,
    DROP_NOT_NULL: 4,
    ALTER_COMMENT: 4,
    ADD_UNIQUE: 4,
    ADD_FOREIGN_KEY: 4,
    DROP_COLUMN: 4,
    KEEP_COLUMN: 4,
    UNSUPPORTED: 4,
    SEED_IDS: 5,  # after the tables exist (and were rebuilt)
    RECOMPUTE: 5,  # after the columns they read and write exist, before indexes cover them
    ENCRYPT_VALUES: 5,  # after the column became TEXT and its hash column exists
    ADD_INDEX: 6,
    DROP_TABLE: 7,
    KEEP_TABLE: 7,
}
# Inside a table's block: plain ADD COLUMNs first (SQLite adds them without a rebuild, and a
# later rebuild then sees them), constraints dropped before types change, added after.
BLOCK_ORDER: dict[str, float] = {
    ADD_COLUMN: 0,
    MAP_VALUES: 0.5,  # values mapped while the column still has its old type
    DECRYPT_VALUES: 0.5,  # clear text back before the column becomes VARCHAR again
    CHECK_VALUES: 0.6,
    DROP_UNIQUE: 1,
    DROP_FOREIGN_KEY: 2,
    DROP_NOT_NULL: 3,  # before a conversion that may empty values of a column that becomes optional
    NEVER_REUSE_IDS: 3.9,  # a rebuild: joins the table's other rebuilds, if any
    ALTER_TYPE: 4,
    SET_NOT_NULL: 5,  # after the conversion, so the values it fills are of the new type
    ALTER_COMMENT: 6,
    ADD_UNIQUE: 7,
    ADD_FOREIGN_KEY: 8,
    DROP_COLUMN: 9,
    KEEP_COLUMN: 10,
    UNSUPPORTED: 11,
}


@dataclass(eq=False)
class Operation:
    """A change the plan proposes, or (applies=False) a fact it reports, such as a kept column.

    `destructive` ops would remove or alter existing values; `data_loss` says which, counted
    in the live database. `blocked` ops cannot be applied even with allow_destructive (e.g. a
    UNIQUE constraint over duplicates: enforcing it would mean deleting rows).
    """

    kind: str
    table: str
    column: str | None = None
    detail: str = ""
    destructive: bool = False
    data_loss: str | None = None
    applies: bool = True
    blocked: str | None = None
    affected: int = 0  # values/rows concerned (NULLs filled, values cut, rows kept...)
    # `affected` is the database's estimate of a huge table's rows, not a count
    # (engine/migrate/rowcount.py): shown as "about N (estimated)"
    estimated: bool = False
    # How to carry it out: Alembic ops (and ExecuteSQLOp data fixes), run in order.
    steps: list[ops.MigrateOperation] = field(default_factory=list, repr=False)
    # SQLite: the steps need the table rebuilt (Alembic batch "move and copy").
    rebuild: bool = field(default=False, repr=False)
    # Order inside a phase that is not per-table (dependency order of tables).
    seq: int = field(default=0, repr=False)
    # Exists only because a field/table was removed (kept or dropped): ignored when the plan
    # made without allow_destructive is checked against the one made with it.
    follows_removal: bool = field(default=False, repr=False)
    # SQLite: what a rebuild of this table must keep that reflection cannot see (AUTOINCREMENT)
    table_kwargs: dict = field(default_factory=dict, repr=False)

    @property
    def target(self) -> str:
        return f"{self.table}.{self.column}" if self.column else self.table

    @property
    def sort_key(self) -> tuple:
        phase = PHASES.get(self.kind, 4)
        if phase == 4:
            return (phase, self.table, BLOCK_ORDER.get(self.kind, 99), self.seq, self.target)
        return (phase, "", 0, self.seq, self.target)

    def describe(self) -> str:
        """One line for plans, errors and logs."""
        text = f"{self.kind} {self.target}"
        if self.detail:
            text += f": {self.detail}"
        if self.blocked:
            text += (f" [found: {self.data_loss}]" if self.data_loss else "") + f" [cannot be applied: {self.blocked}]"
        elif self.data_loss:
            text += f" [would destroy: {self.data_loss}]"
        return text

    def affected_label(self, language: str = "en") -> str:
        """`affected` as a person reads it: "1,000" or "about 1,000,000 (estimated)"."""
        from .rowcount import RowCount

        return RowCount(self.affected, self.estimated).label(language)

    def signature(self) -> tuple[str, str, bool]:
        """What must not change between planning and applying (counts in texts may)."""
        return (self.kind, self.target, self.destructive or bool(self.blocked))
