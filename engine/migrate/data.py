"""Data steps: what the stored values need when the model changes, besides the schema.

Alembic compares schemas; some changes leave the schema alone but make stored values wrong,
or need values moved. The planner adds these steps after the schema differences, counted in
the live database like every other operation, shown by `--plan` and `--sql`, and applied in
the same transaction:

* **recompute** (`column.info["derived"]`, engine/model/derived.py): a stored computed field
  added to a table that has rows, or whose formula changed, is worked out again for every
  row, in batches, by the same code a save runs. Whether a formula changed is known from
  the fingerprint recorded in `tailor_column_state` when the values were last worked out.
* **check_values / map_values** (`column.info["choices"]`): when a choice field's options
  change (or a field becomes a choice), stored values that are no longer options are found
  and counted. `replaced_options: {old: new}` maps them (an explicit decision, applied as an
  UPDATE); values nobody decided about block the migration until the YAML says what to do
  (map them, or keep them as hidden options).
* **never_reuse_ids** (SQLite): a table made by an older Tailor without AUTOINCREMENT is
  rebuilt with it, so the id of a deleted record is never given to a new one.
* **seed_ids**: a new table (or one rebuilt as AUTOINCREMENT) starts its ids after every id
  the engine's own records (audit, comments, shares, flows, notifications) already hold for
  that entity name, so a new record never shows a deleted record's history. A renamed table
  takes those records along (their entity name is updated in the same transaction).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations, ops
from sqlalchemy.engine import Connection

from engine.storage.system import (
    audit_log,
    column_states,
    comments,
    flows,
    notifications,
    saved_views,
    shares,
)

from . import operations as k
from . import rowcount
from .context import PlanningContext
from .encryption import ENCRYPTED, EncryptionChanges
from .operations import Operation

BATCH = 1000  # rows read and written at a time by a recompute
SHOWN_VALUES = 10  # values named in a plan line

# the engine's records that name a project record by (entity, record_id)
ATTACHMENTS = (audit_log, comments, shares, flows, notifications)
NAMED_BY_ENTITY = (*ATTACHMENTS, saved_views)


class PythonStepOp(ops.MigrateOperation):
    """A step that runs Python on the migration's connection (a recompute in batches).
    Rendered as a comment where SQL is shown: `--sql` and revision files say what it does."""

    def __init__(self, description: str, run: Callable[[Connection], Any]):
        self.description = description
        self.run = run

    def reverse(self):  # pragma: no cover - Tailor migrations only go forward
        raise NotImplementedError


@Operations.implementation_for(PythonStepOp)
def _run_python_step(operations: Operations, operation: PythonStepOp) -> None:
    context = operations.migration_context
    if context.as_sql:
        context.impl.static_output(f"-- {operation.description} (worked out in Python by `tailor migrate`)")
        return
    connection = operations.get_bind()
    if connection.info.get("tailor_dry_run"):
        return  # the SQLite preview on an empty copy: nothing to work out
    operation.run(connection)


def targets_fingerprint(targets: tuple[str, ...]) -> str:
    """What a polymorphic link may point at, as recorded in tailor_column_state."""
    return hashlib.sha256(("targets:" + ",".join(sorted(targets))).encode()).hexdigest()[:32]


def _shown(value: str | None) -> str:
    return "empty" if value is None else repr(value)


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}" + ("" if n == 1 else "s")


class DataChanges(EncryptionChanges, PlanningContext):
    """Planner mixin: the data steps, planned after the schema differences."""

    def _plan_data(self) -> None:
        self._row_counts: dict[str, int] = {}
        self._estimated_rows: set[str] = set()
        self._states = self._read_states()
        self._attachments_follow_renames()
        if self.sqlite:
            self._never_reuse_ids()
        self._seed_ids()
        for table in self.model_tables:
            self._polymorphic(table)
            self._check_choices(table)
            self._encryption(table)
            self._recompute(table)

    # -- helpers ----------------------------------------------------------------------------
    def _rows(self, live_table: str) -> int:
        """The rows a step works through, for its description: estimated on a huge table
        (engine/migrate/rowcount.py; the step itself reads every row either way)."""
        if live_table not in self._row_counts:
            count = rowcount.count_rows(self.conn, live_table) if live_table in self.live.tables else None
            self._row_counts[live_table] = count.n if count is not None else 0
            if count is not None and count.estimated:
                self._estimated_rows.add(live_table)
        return self._row_counts[live_table]

    def _rows_text(self, live_table: str) -> str:
        rows = self._rows(live_table)
        if live_table in self._estimated_rows:
            return f"{rowcount.RowCount(rows, estimated=True).label()} rows"
        return _count(rows, "row")

    def _engine_table(self, table: sa.Table) -> bool:
        return self.live.inspector.has_table(table.name)

    def _read_states(self) -> dict[tuple[str, str], tuple[str, str | None]]:
        if not self._engine_table(column_states):
            return {}
        rows = self.conn.execute(sa.select(column_states.c.table_name, column_states.c.column_name,
                                           column_states.c.fingerprint, column_states.c.detail))
        return {(t, c): (f, d) for t, c, f, d in rows}

    def _has_rows(self, live_table: str) -> bool:
        """Whether a table holds any row: one row read, not a count (planning stays cheap
        on a million rows)."""
        if live_table not in self._row_counts:
            found = live_table in self.live.tables and self.conn.execute(
                sa.select(sa.literal(1)).select_from(sa.table(live_table)).limit(1)).first() is not None
            if not found:
                self._row_counts[live_table] = 0
            return found
        return self._row_counts[live_table] > 0

    def _stale(self, table: sa.Table, column: sa.Column, fingerprint: str) -> str | None:
        """Why the stored values of a column need working out again, or None."""
        live_table = self.renames.live_table(table.name)
        if table.name in self.new_tables:
            return None
        live_column = self.renames.live_column(table.name, column.name)
        derived = column.info.get("derived")
        # the fields this migration adds, when their columns stay empty (not filled with a
        # default, nor worked out): keys built without them are still right
        added = {table.c[c].info.get("field", c) for (t, c) in self.new_columns
                 if t == live_table and c in table.c and table.c[c].nullable
                 and table.c[c].info.get("backfill") is None and table.c[c].info.get("derived") is None}
        if (live_table, live_column) in self.new_columns or live_column not in self.live.columns(live_table):
            if derived is not None and derived.only_from(added):
                return None  # worked out from new, empty fields only: empty in every record, as added
            reason = "new column"
        else:
            state = self._states.get((live_table, live_column))
            if state is not None and state[0] == fingerprint:
                return None
            if state is not None and derived is not None and derived.still_valid(state[1], added):
                return None
            reason = "never worked out by this version of Tailor" if state is None else "changed"
        return reason if self._has_rows(live_table) else None

    # -- ids ---------------------------------------------------------------------------------
    def _attachments_follow_renames(self) -> None:
        """A renamed entity keeps its history, comments, shares, flows and notifications; a
        dropped one's are set apart under a name no entity can have (`~task`), so that an
        entity given its name later (new, or renamed to it) never shows them."""
        attached = [t for t in NAMED_BY_ENTITY if self._engine_table(t)]
        for op in self.operations:
            if op.kind == k.DROP_TABLE and self.model_by_name.get(op.table) is None:
                op.steps += self._set_apart(attached, op.table)
                continue
            old = self.renames.tables.get(op.table) if op.kind == k.RENAME_TABLE else None
            if old is None:
                continue
            op.steps += self._set_apart(attached, op.table)  # of an earlier entity of the new name
            for table in attached:
                statement = sa.update(table).where(table.c.entity == old).values(entity=op.table)
                op.steps.append(ops.ExecuteSQLOp(self.sql(statement)))
            op.detail += "; its history, comments, shares and flows follow"

    def _set_apart(self, attached: list[sa.Table], name: str) -> list[ops.ExecuteSQLOp]:
        apart = f"~{name}"[:64]
        return [ops.ExecuteSQLOp(self.sql(sa.update(t).where(t.c.entity == name).values(entity=apart)))
                for t in attached]

    def _autoincrement_missing(self) -> set[str]:
        rows = self.conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all()
        return {name for name, sql in rows if "AUTOINCREMENT" not in (sql or "").upper()}

    def _never_reuse_ids(self) -> None:
        missing = self._autoincrement_missing()
        for table in self.model_tables:
            live_table = self.renames.live_table(table.name)
            if not table.dialect_kwargs.get("sqlite_autoincrement") or table.name in self.new_tables \
                    or live_table not in self.live.tables or live_table not in missing:
                continue
            rows = self._rows(live_table)
            self.add(Operation(
                k.NEVER_REUSE_IDS, table.name,
                detail=f"rebuilt with AUTOINCREMENT so that ids of deleted records are never given to new "
                       f"ones ({self._rows_text(live_table)} kept)",
                affected=rows, estimated=live_table in self._estimated_rows, rebuild=True,
                seq=self.model_order[table.name]))

    def _seed_ids(self) -> None:
        """New tables, and tables rebuilt above, start their ids after the ids the engine's
        records already name for that entity."""
        rebuilt = {op.table for op in self.operations if op.kind == k.NEVER_REUSE_IDS}
        attachments = [t for t in ATTACHMENTS if self._engine_table(t)]
        if not attachments:
            return
        for table in self.model_tables:
            if table.name not in self.new_tables and table.name not in rebuilt:
                continue
            if "entity" not in table.info:
                continue  # rows of a lines or links table have nothing attached to them
            named = max((self.conn.execute(sa.select(sa.func.max(t.c.record_id)).where(t.c.entity == table.name))
                         .scalar() or 0) for t in attachments)
            live_table = self.renames.live_table(table.name)
            highest = 0
            if table.name in rebuilt:
                highest = self.conn.execute(sa.text(f'SELECT max(id) FROM "{live_table}"')).scalar() or 0
            if named <= highest:
                continue
            self.add(Operation(
                k.SEED_IDS, table.name,
                detail=f"new ids start after {named}, the highest id the engine's records (history, comments, "
                       f"shares, flows) already name for '{table.name}'",
                steps=[ops.ExecuteSQLOp(s) for s in self._seed_sql(table.name, named)],
                seq=self.model_order[table.name]))

    def _seed_sql(self, table: str, after: int) -> list[str]:
        if self.sqlite:
            quoted = table.replace("'", "''")
            return [
                f"UPDATE sqlite_sequence SET seq = max(seq, {after}) WHERE name = '{quoted}'",
                f"INSERT INTO sqlite_sequence (name, seq) SELECT '{quoted}', {after} "
                f"WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '{quoted}')",
            ]
        quoted = table.replace("'", "''").replace('"', '""')
        return [f"SELECT setval(pg_get_serial_sequence('\"{quoted}\"', 'id'), "
                f"greatest({after}, (SELECT coalesce(max(id), 0) FROM \"{quoted}\")))"]

    # -- polymorphic links -------------------------------------------------------------------
    def _polymorphic(self, table: sa.Table) -> None:
        """A polymorphic link stores entity names: they follow an entity's rename, and a link
        that became polymorphic gets the entity it pointed at."""
        live_table = self.renames.live_table(table.name)
        if table.name in self.new_tables or live_table not in self.live.tables:
            return
        for column in table.columns:
            targets = column.info.get("polymorphic")
            if not targets:
                continue
            live_column = self.renames.live_column(table.name, column.name)
            id_name = column.info["field"]
            t = sa.table(table.name, sa.column(column.name, sa.String()), sa.column(id_name, sa.BigInteger()))
            live = sa.table(live_table, sa.column(live_column, sa.String()),
                            sa.column(self.renames.live_column(table.name, id_name), sa.BigInteger()))
            if (live_table, live_column) in self.new_columns:
                self._polymorphic_from_link(table, column, targets, t, live)
                continue
            renamed = {old: new for new, old in self.renames.tables.items() if new in targets}
            for old, new in renamed.items():
                n = self.conn.execute(sa.select(sa.func.count()).select_from(live)
                                      .where(live.c[live_column] == old)).scalar_one()
                if n:
                    self.add(Operation(
                        k.MAP_VALUES, table.name, column.name,
                        detail=f"entity '{old}' renamed to '{new}': {_count(n, 'record')} point at it", affected=n,
                        steps=[ops.ExecuteSQLOp(self.sql(sa.update(t).where(t.c[column.name] == old)
                                                         .values({column.name: new})))]))
            state = self._states.get((live_table, live_column))
            if state is not None and state[0] == targets_fingerprint(targets):
                continue
            allowed = sorted({*targets, *renamed})
            found = dict(self.conn.execute(
                sa.select(live.c[live_column], sa.func.count()).where(live.c[live_column].is_not(None),
                                                                      live.c[live_column].not_in(allowed))
                .group_by(live.c[live_column])).all())
            if found:
                self._empty_links(table, id_name, t.c[id_name], t.c[column.name].not_in(allowed), found,
                                  f"records of entities '{id_name}' no longer points at ({', '.join(targets)})",
                                  also=column.name)
        for column in table.columns:  # a polymorphic link made a plain link again
            if len(column.foreign_keys) != 1 or column.info.get("field") != column.name:
                continue
            kept = f"{self.renames.live_column(table.name, column.name)}_entity"
            if kept not in self.live.columns(live_table) or f"{column.name}_entity" in table.c:
                continue
            target = next(iter(column.foreign_keys)).column.table.name
            live = sa.table(live_table, sa.column(kept, sa.String()),
                            sa.column(self.renames.live_column(table.name, column.name), sa.BigInteger()))
            live_id = live.c[self.renames.live_column(table.name, column.name)]
            found = dict(self.conn.execute(
                sa.select(live.c[kept], sa.func.count()).where(live_id.is_not(None), live.c[kept].is_not(None),
                                                               live.c[kept] != target).group_by(live.c[kept])).all())
            if found:
                t = sa.table(table.name, sa.column(kept, sa.String()), sa.column(column.name, sa.BigInteger()))
                self._empty_links(table, column.name, t.c[column.name],
                                  sa.and_(t.c[kept].is_not(None), t.c[kept] != target), found,
                                  f"records of other entities than {target} (the link points at {target} records "
                                  f"now: the same ids would name other records)")

    def _empty_links(self, table: sa.Table, name: str, id_column: Any, where: Any, found: dict[str, int],
                     why: str, also: str | None = None) -> None:
        """Links that would point at records they never pointed at are emptied, only with
        --allow-destructive (refused for a required link: those records must change first)."""
        n = sum(found.values())
        shown = ", ".join(f"{e} ({c:,})" for e, c in found.items())
        required = not table.c[name].nullable
        statement = sa.update(id_column.table).where(where).values({name: None, **({also: None} if also else {})})
        self.add(Operation(
            k.MAP_VALUES, table.name, name, detail=f"{_count(n, 'record')} link to {why}", affected=n,
            destructive=True, data_loss=f"{_count(n, 'link')} emptied: {shown}",
            blocked="the link is required: change those records first" if required else None,
            steps=[ops.ExecuteSQLOp(self.sql(statement))]))

    def _polymorphic_from_link(self, table: sa.Table, column: sa.Column, targets: tuple, t, live) -> None:
        id_name = column.info["field"]
        live_id = self.renames.live_column(table.name, id_name)
        if live_id not in self.live.columns(self.renames.live_table(table.name)):
            return
        model_names = {old: new for new, old in self.renames.tables.items()}
        for fk in self.live.inspector.get_foreign_keys(self.renames.live_table(table.name)):
            if fk["constrained_columns"] != [live_id]:
                continue
            target = model_names.get(fk["referred_table"], fk["referred_table"])
            if target not in targets:
                continue
            n = self.conn.execute(sa.select(sa.func.count()).select_from(live)
                                  .where(live.c[live_id].is_not(None))).scalar_one()
            if n:
                self.add(Operation(
                    k.MAP_VALUES, table.name, column.name,
                    detail=f"{_count(n, 'record')} linked to {target} records: they keep pointing at them",
                    affected=n,
                    steps=[ops.ExecuteSQLOp(self.sql(sa.update(t).where(t.c[id_name].is_not(None))
                                                     .values({column.name: target})))]))

    # -- choices ------------------------------------------------------------------------------
    def _check_choices(self, table: sa.Table) -> None:
        for column in table.columns:
            choices = column.info.get("choices")  # engine.model.derived.ChoiceValues
            if choices is None or self._stale(table, column, choices.fingerprint) in (None, "new column"):
                continue
            live_table = self.renames.live_table(table.name)
            live_column = self.renames.live_column(table.name, column.name)
            found = self._unlisted(live_table, live_column, choices)
            if not found:
                continue
            replaced = dict(choices.replaced)
            mapped = {v: n for v, n in found.items() if v in replaced}
            unmapped = {v: n for v, n in found.items() if v not in replaced}
            if mapped:
                self._map_values(table, column, choices, mapped, replaced)
            if unmapped:
                shown = ", ".join(f"{v!r} ({n:,})" for v, n in list(unmapped.items())[:SHOWN_VALUES])
                more = len(unmapped) - SHOWN_VALUES
                rows = sum(unmapped.values())
                self.add(Operation(
                    k.CHECK_VALUES, table.name, column.name,
                    detail=f"{rows:,} {'record holds' if rows == 1 else 'records hold'} values that are not "
                           f"among the options",
                    data_loss=shown + (f" and {more:,} more" if more > 0 else ""),
                    affected=rows,
                    blocked="decide in the YAML what they become: map them with `replaced_options: {old: new}` "
                            "on the field, or keep them as hidden options (`- {value: old, hidden: true}`); "
                            "or change those records first"))

    def _unlisted(self, live_table: str, live_column: str, choices: Any) -> dict[str, int]:
        """Stored values that are not options, most frequent first, with their counts."""
        t = sa.table(live_table, sa.column("id"), sa.column(live_column))
        column = sa.cast(t.c[live_column], sa.Text)  # as text: the column may still be a number or a boolean
        found: dict[str, int] = {}
        if not choices.multiple:
            statement = (sa.select(column, sa.func.count()).where(t.c[live_column].is_not(None), column != "")
                         .group_by(column))
            if choices.values:
                statement = statement.where(column.not_in(sorted(choices.values)))
            for value, n in self.conn.execute(statement):
                found[str(value)] = n
        else:
            for _id, items in _list_rows(self.conn, t, live_column):
                for item in dict.fromkeys(str(i) for i in items):
                    if item not in choices.values:
                        found[item] = found.get(item, 0) + 1
        return dict(sorted(found.items(), key=lambda kv: (-kv[1], kv[0])))

    def _map_values(self, table: sa.Table, column: sa.Column, choices: Any, mapped: dict[str, int],
                    replaced: dict[str, str | None]) -> None:
        emptied = {v: n for v, n in mapped.items() if replaced[v] is None}
        detail = "; ".join(f"{v!r} -> {_shown(replaced[v])} ({_count(n, 'record')})" for v, n in mapped.items())
        t = sa.table(table.name, sa.column("id"), sa.column(column.name))
        if not choices.multiple:
            steps: list[ops.MigrateOperation] = [
                ops.ExecuteSQLOp(self.sql(sa.update(t).where(t.c[column.name] == old)
                                          .values({column.name: sa.literal(replaced[old], sa.String())
                                                   if replaced[old] is not None else sa.null()})))
                for old in mapped]
        else:
            mapping = {old: replaced[old] for old in mapped}
            steps = [PythonStepOp(f"replace option values in {table.name}.{column.name}: {detail}",
                                  lambda conn, t=t, name=column.name, m=mapping: _map_lists(conn, t, name, m))]
        self.add(Operation(
            k.MAP_VALUES, table.name, column.name, detail=f"replaced_options: {detail}",
            destructive=bool(emptied),
            data_loss=f"{_count(sum(emptied.values()), 'value')} emptied ({', '.join(map(repr, emptied))})"
            if emptied else None,
            affected=sum(mapped.values()), steps=steps))

    # -- derived values ----------------------------------------------------------------------
    def _recompute(self, table: sa.Table) -> None:
        stale: list[tuple[sa.Column, Any, str]] = []
        for column in table.columns:
            derived = column.info.get("derived")
            if derived is None:
                continue
            reason = self._stale(table, column, derived.fingerprint)
            if reason is not None:
                stale.append((column, derived, reason))
        if not stale:
            return
        if len(stale) == 1 and stale[0][2] == "changed" and self._append_search_text(table, *stale[0][:2]):
            return
        stale.sort(key=lambda item: item[1].order)
        live_table = self.renames.live_table(table.name)
        rows = self._rows(live_table)
        parts = [f"{c.name} ({d.what}; {reason})" for c, d, reason in stale]
        description = f"{table.name}: {', '.join(parts)}: {self._rows_text(live_table)} worked out again"
        self.add(Operation(
            k.RECOMPUTE, table.name, detail=f"{', '.join(parts)}: values worked out again for "
                                            f"{self._rows_text(live_table)}, {BATCH:,} at a time",
            affected=rows, estimated=live_table in self._estimated_rows,
            steps=[PythonStepOp(description, lambda conn, t=table, s=[(c, d) for c, d, _r in stale]:
                                recompute(conn, t, s))],
            seq=self._recompute_order().get(table.name, 0) * 100_000 + self.model_order[table.name]))

    def _append_search_text(self, table: sa.Table, column: sa.Column, derived: Any) -> bool:
        """A text field added with a default (every existing record holds the same value)
        changes every search key the same way: one UPDATE appends the folded value where a
        key lacks it, instead of working out a million keys in Python. Planned when the
        search key says that is exactly the change (`SearchKey.appended_text`)."""
        appended = getattr(derived, "appended_text", None)
        live_table = self.renames.live_table(table.name)
        live_column = self.renames.live_column(table.name, column.name)
        state = self._states.get((live_table, live_column))
        if appended is None or state is None or live_column not in self.live.columns(live_table):
            return False
        new = [table.c[c] for (t, c) in self.new_columns if t == live_table and c in table.c]
        filled = {c.info.get("field", c.name): c.info["backfill"] for c in new
                  if c.info.get("backfill") is not None and c.info.get("derived") is None and not c.nullable}
        empty = {c.info.get("field", c.name) for c in new
                 if c.nullable and c.info.get("backfill") is None and c.info.get("derived") is None}
        text = appended(state[1], filled, empty)
        if text is None:
            return False
        from engine.model.search import SEPARATOR

        t = sa.table(table.name, sa.column(column.name, sa.Text()))
        key = t.c[column.name]
        value = sa.literal(text, sa.Text())
        wrapped = sa.literal(SEPARATOR, sa.Text()).concat(key).concat(sa.literal(SEPARATOR, sa.Text()))
        needle = sa.literal(SEPARATOR + text + SEPARATOR, sa.Text())
        found = (sa.func.instr(wrapped, needle) if self.sqlite else sa.func.strpos(wrapped, needle)) > 0
        statement = (sa.update(t).where(sa.or_(key.is_(None), sa.not_(found)))
                     .values({column.name: sa.case((key.is_(None), value),
                                                   else_=key.concat(sa.literal(SEPARATOR, sa.Text())).concat(value))}))
        self.add(Operation(
            k.RECOMPUTE, table.name, column.name,
            detail=f"{derived.what}: the default {text!r} appended to the key of every record "
                   f"({self._rows_text(live_table)}, one UPDATE)",
            affected=self._rows(live_table), estimated=live_table in self._estimated_rows,
            steps=[ops.ExecuteSQLOp(self.sql(statement))],
            seq=self._recompute_order().get(table.name, 0) * 100_000 + self.model_order[table.name]))
        return True

    def _recompute_order(self) -> dict[str, int]:
        """How deep each table is in the chain of rollups: a table's values are worked out
        after those of the records its rollups count (which may be worked out again too)."""
        if getattr(self, "_depths", None) is None:
            reads: dict[str, set[str]] = {}
            for table in self.model_tables:
                for column in table.columns:
                    field = getattr(column.info.get("derived"), "field", None)
                    if getattr(field, "rollup", None) is not None:
                        reads.setdefault(table.name, set()).add(field.rollup.child)
            depths: dict[str, int] = {}

            def depth(name: str, stack: frozenset) -> int:
                if name not in depths:
                    depths[name] = 1 + max((depth(c, stack | {name}) for c in reads.get(name, ())
                                            if c not in stack), default=-1)
                return depths[name]

            for table in self.model_tables:
                depth(table.name, frozenset())
            self._depths = depths
        return self._depths


def _list_rows(conn: Connection, t: sa.TableClause, name: str) -> Iterable[tuple[int, list]]:
    """(id, list) of every row whose list column holds something, in batches. Read as text:
    a column that is to become a list (text made a multichoice) holds `a, b`, not JSON."""
    typed = sa.table(t.name, sa.column("id"), sa.column(name))
    text = sa.cast(typed.c[name], sa.Text)
    last = 0
    while True:
        batch = conn.execute(sa.select(typed.c.id, text).where(typed.c.id > last, typed.c[name].is_not(None))
                             .order_by(typed.c.id).limit(BATCH)).all()
        for row_id, raw in batch:
            items = _as_list(raw)
            if items:
                yield row_id, items
        if len(batch) < BATCH:
            return
        last = batch[-1][0]


def _as_list(raw: Any) -> list:
    if raw is None:
        return []
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        value = raw
    if value is None:  # JSON null
        return []
    if isinstance(value, list):
        return value
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _map_lists(conn: Connection, t: sa.TableClause, name: str, mapping: dict[str, str | None]) -> None:
    changed = []
    for row_id, items in list(_list_rows(conn, t, name)):
        new = list(dict.fromkeys(mapping.get(str(i), str(i)) if str(i) in mapping else i for i in items))
        new = [i for i in new if i is not None]
        if new != items:
            changed.append({"row_id": row_id, "value": new or None})
    target = sa.table(t.name, sa.column("id"), sa.column(name, sa.JSON))
    for start in range(0, len(changed), BATCH):
        conn.execute(sa.update(target).where(target.c.id == sa.bindparam("row_id"))
                     .values({name: sa.bindparam("value", type_=sa.JSON)}), changed[start:start + BATCH])


def recompute(conn: Connection, table: sa.Table, derived: list[tuple[sa.Column, Any]]) -> None:
    """Work out the values of these columns for every row, `BATCH` rows at a time, in the
    order given (a value read by a later one is already new)."""
    statement = sa.update(table).where(table.c.id == sa.bindparam("row_id"))
    last = 0
    while True:
        rows = [dict(r) for r in conn.execute(sa.select(table).where(table.c.id > last)
                                              .order_by(table.c.id).limit(BATCH)).mappings()]
        if not rows:
            return
        for column, d in derived:
            for row, value in zip(rows, d.values(conn, rows), strict=True):
                row[column.name] = value
        names = [c.name for c, _d in derived]
        conn.execute(statement.values({n: sa.bindparam(f"v_{n}", type_=table.c[n].type) for n in names}),
                     [{"row_id": r["id"], **{f"v_{n}": r[n] for n in names}} for r in rows])
        if len(rows) < BATCH:
            return
        last = rows[-1]["id"]


def record_states(conn: Connection, metadata: sa.MetaData) -> None:
    """After a migration: the values of every derived and choice column are as the model
    says (recomputed, checked or new), so their fingerprints are recorded."""
    wanted: dict[tuple[str, str], tuple[str, str | None]] = {}
    for table in metadata.tables.values():
        for column in table.columns:
            for key in ("derived", "choices"):
                info = column.info.get(key)
                if info is not None:
                    wanted[(table.name, column.name)] = (info.fingerprint, getattr(info, "detail", None))
            if column.info.get("polymorphic"):
                wanted[(table.name, column.name)] = (targets_fingerprint(column.info["polymorphic"]), None)
            if column.info.get("encrypted"):
                wanted[(table.name, column.name)] = (ENCRYPTED, None)
    current = {(t, c): f for t, c, f in conn.execute(
        sa.select(column_states.c.table_name, column_states.c.column_name, column_states.c.fingerprint))}
    for (table, column), fingerprint in current.items():  # decrypted (or removed): clear text now
        if fingerprint == ENCRYPTED and (table, column) not in wanted:
            conn.execute(column_states.delete().where(column_states.c.table_name == table,
                                                      column_states.c.column_name == column))
    if not wanted:
        return
    now = datetime.now(UTC)
    for (table, column), (fingerprint, detail) in wanted.items():
        if current.get((table, column)) == fingerprint:
            continue
        if (table, column) in current:
            conn.execute(column_states.update().where(column_states.c.table_name == table,
                                                      column_states.c.column_name == column)
                         .values(fingerprint=fingerprint, detail=detail, updated_at=now))
        else:
            conn.execute(column_states.insert().values(table_name=table, column_name=column,
                                                       fingerprint=fingerprint, detail=detail, updated_at=now))
