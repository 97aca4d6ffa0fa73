"""The records service: the only door to data.

Forms, the API, imports and automations all call these methods, so validation, audit,
locking and hooks hold for every entry point. Each write runs in one transaction: either
the record, its child rows, its links, its autonumber and its audit entry are all saved,
or nothing is.

Optimistic locking: every record has a `version`. An update names the version it was
based on; `UPDATE … WHERE id = :id AND version = :version` either wins or changes nothing,
in which case the caller gets a ConflictError holding the current record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError

from ..fields.base import FieldValueError
from ..fields.encryption import is_sealed, keyring
from ..fields.numbers import SQLITE_EXACT_DIGITS, digits_kept, numbers_in
from ..messages import N_, message
from ..model.model import CompiledModel, Entity, Field, computed_order
from ..model.rollups import values_together
from ..model.search import SEARCH_COLUMN, search_key
from ..permissions import org
from ..permissions.policy import Access, Policy
from ..storage import audit_log, comments, notifications, sequence, shares, write_engine
from ..storage.bulk import insert_rows
from ..workflows import guard
from .context import SYSTEM, Context
from .echo import echo_plan, echo_rows
from .errors import ConflictError, NotFound, PermissionDenied, ValidationError
from .linked import LinkRules, filter_clause, given_keys
from .masking import mask_changes, mask_record, mask_records, masked_fields, unmask
from .mentions import mentioned
from .query import Query, build_select, virtual_of
from .values import (
    apply_defaults,
    coerce_input,
    compute,
    derive_values,
    fill_currencies,
    input_keys,
    merge_changed_rows,
    prepare_lines,
    readonly_now,
    validate_record,
)

_AUDIT_INSERT = audit_log.insert()  # built once: its values are parameters
# The words users meet, translated where shown (engine/messages.py).
TAKEN = N_("'%(value)s' is already used by another record")
NO_RECORD = N_("%(entity)s %(id)s does not exist")
NO_USER = N_("user %(id)s does not exist")
STILL_USED = N_("cannot delete: still used by %(records)s")
USED_BY = N_("%(count)s %(entity)s record(s) (%(field)s)")
CASCADE_REFUSED = N_("cannot delete: linked %(entity)s records would change that your roles do not let you change")
COMMENT_LENGTH = N_("a comment is 1 to 5,000 characters of text")
OWNER_SHARES = N_("only the owner of a record can share it")
NO_SHARE_TARGET = N_("no such user or team")
NOT_TO_THAT_USER = N_("you may not give this record to that user")
UNKNOWN_FIELD = N_("unknown field")
NOT_YOURS_TO_CHANGE = N_("you may not change this field")
MASKED = N_("is masked for you and cannot be changed")
GIVE_A_LIMIT = N_("a list is read a page at a time: give a limit")
VERSION_REQUIRED = N_("the version you edited is required")
WHOLE_NUMBER = N_("must be a whole number")
BAD_MODE = N_("must be insert, update or upsert")
DATABASE_REFUSED = N_("the database refused the change: %(reason)s")


class _Taken:
    """`_TAKEN % (value,)`: the uniqueness message as a Message (the batch code's call sites
    stay as they are)."""

    def __mod__(self, args: tuple[Any, ...]) -> str:
        return message(TAKEN, value=args[0])


_TAKEN = _Taken()
_NEXT_NUMBER: dict[str, Any] = {}  # the autonumber counter's upsert, per dialect
_NEXT_NUMBERS: dict[str, Any] = {}  # the same, moving the counter on by a block of numbers
_OUTER: ContextVar[tuple[RecordService, Connection] | None] = ContextVar("tailor_outer_transaction", default=None)
# the shared read connection of `reading()`, with what was worked out once for it (row restrictions)
_READER: ContextVar[tuple[RecordService, Connection, dict] | None] = ContextVar("tailor_reader", default=None)


_PLAIN = frozenset({str, int, float, bool, type(None)})  # values JSON holds as they are
_AUDIT_SKIP = frozenset({"id", "version", "created_at", "updated_at", "created_by"})
_STANDARD_COLUMNS = ("id", "created_at", "updated_at", "created_by", "owner", "version")  # a record's first keys


def jsonable(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, timedelta):  # a duration, as ISO 8601 (PT1H30M)
        from ..fields.duration import iso_duration

        return iso_duration(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


class RecordService:
    def __init__(self, model: CompiledModel, engine: Engine):
        self.model = model
        self.engine = engine
        self.writer = write_engine(engine)
        # SQLite keeps NUMERIC as a double: more digits than it holds exactly are refused
        self._exact_digits = SQLITE_EXACT_DIGITS if engine.dialect.name == "sqlite" else None
        self.hooks = model.plugins.hook if model.plugins is not None else None
        # per entity, worked out once: the fields read from a row, with their extra keys
        self._row_fields: dict[str, list[tuple[Field, list[str], bool]]] = {}
        self.policy = Policy(model.roles, model.entities)
        # rollups by the entity whose records they aggregate: refreshed when those are written
        self._rollups: dict[str, list[tuple[Entity, Field]]] = {}
        for parent in model.entities.values():
            for rollup_field in parent.fields.values():
                if rollup_field.rollup is not None:
                    self._rollups.setdefault(rollup_field.rollup.child, []).append((parent, rollup_field))
        self._workflow_entities = frozenset(w.entity for w in model.workflows.values())
        self._inserts: dict[str, Any] = {}  # INSERT … RETURNING id, per entity
        self._loads: dict[tuple[str, bool], Any] = {}  # SELECT a record by id, per entity (and lock)
        self._statements: dict[tuple, Any] = {}  # other statements built once (values as parameters)
        self._flows = None
        # imports create the new records of a batch together (`_create_many`); False: one
        # `create` per row (the reference the batch is tested against)
        self.import_batches = True
        self._encrypted: dict[str, frozenset[str]] = {}  # per entity, its encrypted fields
        # per entity, what a row holds: the keys of stored fields, and the fields whose type converts
        self._columns: dict[str, tuple[frozenset[str], list[Field], bool]] = {}  # (and whether it has a search key)
        self._keys: dict[str, dict[str, Field]] = {}  # per entity, input keys and their fields
        # (id of an Access, action, keys of a create's input) -> (the Access, the refusals of those keys)
        self._refusals: dict[tuple[int, str, tuple[str, ...]], tuple[Access, list[tuple[str, str]]]] = {}
        self.links = LinkRules(self)  # links' filters and fields copied from linked records
        # per entity: a whole row's keys in the record's order (as a list and a set), and the
        # fields whose type converts the stored value (`_from_row`)
        self._whole_rows: dict[str, tuple[list[str], frozenset[str], list[Field]]] = {}
        self._audit_orders: dict[tuple[str, ...], list[tuple[str, str]]] = {}  # a new record's keys -> its audit's (as text, as keyed)

    @property
    def flows(self):
        """The flow engine (engine/workflows/runtime.py) working through this service."""
        if self._flows is None:
            from ..workflows.runtime import Flows

            self._flows = Flows(self)
        return self._flows

    # -- reading --------------------------------------------------------------------------
    def get(self, entity_name: str, record_id: Any, context: Context | None = None) -> dict[str, Any]:
        context = context or Context()
        entity = self._entity(entity_name)
        record_id = _record_id(entity_name, record_id)
        access = self.access(entity, context)
        with self._read() as conn:
            record = self._load(conn, entity, record_id)
            # a record the user may not see is not found: its id reveals nothing
            if record is None or not self._reaches(conn, access, record, "read", context):
                raise NotFound(entity_name, record_id)
            hidden = access.hidden_fields()
            if entity.name in self._workflow_entities:
                hidden = hidden | guard.hidden_for_approver(self, conn, entity, record_id, context.actor)
        self._virtual(entity, record, context)
        shown = self._scoped(entity, [_without(record, hidden)], access, context)[0]
        return mask_record(entity, shown, self._masks(entity, access, context))

    def reveal(self, entity_name: str, record_id: Any, context: Context | None = None) -> dict[str, Any]:
        """The record with its masked fields in full, for a user granted `reveal` on the
        entity; written to the audit trail (who, when, which fields)."""
        context = context or Context()
        entity = self._entity(entity_name)
        access = self.authorize(entity.name, "reveal", context)
        record = self.get(entity_name, record_id, replace(context, revealing=True))
        names = sorted(n for n in masked_fields(entity) if n in record)
        with self._write() as conn:
            conn.execute(audit_log.insert().values(
                entity=entity.name, record_id=record["id"], action="reveal", changes={n: None for n in names},
                user_id=context.actor.id, at=context.now, metadata_version=self.model.version,
                bypass=access.bypass and not access.actor.system and self.policy.enabled
                and not self.policy.access(context.actor, entity, as_admin=False).can("reveal")))
        return record

    def _masks(self, entity: Entity, access: Access, context: Context, action: str = "read") -> dict[str, str]:
        """The fields to mask for this user (engine/records/masking.py): none for the engine
        and administrators, none for a reveal (or an export) by a role granted `reveal`."""
        names = masked_fields(entity)
        if not names or access.bypass or context.actor.system:
            return {}
        if (context.revealing or action == "export") and access.can("reveal"):
            return {}
        return names

    def list(self, entity_name: str, query: Query | None = None, context: Context | None = None,
             action: str = "read", **kwargs) -> list[dict[str, Any]]:
        """Rows of an entity. `query` (or keyword arguments for it) filters, sorts, pages.
        Only whitelisted fields can be filtered or sorted on; others are a ValidationError.
        `action`: the rows the user reaches for it (an export reads the rows it may export)."""
        return self._list(self._entity(entity_name), query or Query(**kwargs), context or Context(), action)

    def link_choices(self, entity_name: str, path: str, values: Mapping[str, Any], query: Query,
                     context: Context | None = None, parent: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The records the link at `path` (NAME, or LINES.NAME for a row's) of `entity_name`
        may name, for its lookup: the rows of `query` the user may read that the link's
        `filter` allows, `values` being the record (row) as it is being edited (`parent`:
        the record holding the row)."""
        context = context or Context()
        link, _beside = self.links.field_at(self._entity(entity_name), path)
        if link is None or link.type.name != "link":
            raise ValidationError({"for": [f"{entity_name} has no link {path}"]})
        target = self._entity(link.to)
        within = filter_clause(link, target, values, context, parent) if link.link_filter is not None else None
        return self._list(target, query, context, "read", within)

    def _list(self, entity: Entity, query: Query, context: Context, action: str,
              within: Any = None) -> list[dict[str, Any]]:
        """`list`, `within` an SQL condition of the engine's own (a link's filter)."""
        if query.limit is None:
            raise ValidationError({"limit": [message(GIVE_A_LIMIT)]})
        access = self._readable(entity, context)
        if action != "read":
            self.authorize(entity.name, action, context)
        hidden = access.hidden_fields()
        scoped = access.scoped_fields()
        restrict = self._restriction(access, action, context)
        if within is not None:
            restrict = within if restrict is None else sa.and_(restrict, within)
        # rollups worked out for this user are not read from the row (nor ordered or filtered
        # by): chosen columns naming them are read without them, and they are added below
        reading = query if query.columns is None or not scoped else \
            replace(query, columns=tuple(c for c in query.columns if c not in scoped))
        with numbers_in(context.actor.language):  # filter values typed by the user
            statement = build_select(entity, reading, context, restrict=restrict, hidden=hidden | scoped)
        with self._read() as conn:
            rows = [self._from_row(entity, dict(r._mapping)) for r in conn.execute(statement)]
            if query.with_children:
                for row in rows:
                    self._children(conn, entity, row)
        # with chosen columns, only the computed-when-read fields among them are computed
        only = virtual_of(entity, query.columns) if query.columns is not None else None
        for row in rows:
            self._virtual(entity, row, context, only)
        rows = [_without(row, hidden) for row in rows] if hidden else rows
        wanted = scoped if query.columns is None else scoped & set(query.columns)
        return mask_records(entity, self._scoped(entity, rows, access, context, wanted),
                            self._masks(entity, access, context, action))

    def count(self, entity_name: str, query: Query | None = None, context: Context | None = None,
              limit: int | None = None, action: str = "read", **kwargs) -> int:
        """Matching rows; with `limit`, counting stops there (cheap on big tables)."""
        context = context or Context()
        entity = self._entity(entity_name)
        query = query or Query(**kwargs)
        access = self._readable(entity, context)
        restrict = self._restriction(access, action, context)
        with numbers_in(context.actor.language):
            inner = build_select(entity, query.unpaged(), context, columns=[entity.table.c.id],
                                 restrict=restrict, hidden=access.hidden_fields() | access.scoped_fields())
        if limit is not None:
            inner = inner.limit(limit)
        with self._read() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(inner.subquery())).scalar_one()

    # -- writing --------------------------------------------------------------------------
    def create(self, entity_name: str, data: Mapping[str, Any], context: Context | None = None,
               *, trusted: bool = False) -> dict[str, Any]:
        context = context or Context()
        entity = self._entity(entity_name)
        # records a workflow action creates are the flow engine's to permit, not the user's
        access = self.authorize(entity.name, "create", Context(actor=SYSTEM) if context.workflow else context)
        record = self._new_record(entity, access, data, context, trusted)
        with self._write() as conn:
            saved = self._save_new(conn, entity, record, context)
        self._virtual(entity, saved, context)
        shown = self._scoped(entity, [_without(saved, access.hidden_fields())], access, context)[0]
        return mask_record(entity, shown, self._masks(entity, access, context))

    def _new_record(self, entity: Entity, access: Access, data: Mapping[str, Any], context: Context,
                    trusted: bool) -> dict[str, Any]:
        """The part of a create made before the database is asked: fields the user may set,
        coercion, defaults, the workflow's initial state, the before-save hook, child rows,
        computed values and validation (raises ValidationError with every problem found).
        `create` and the batch of an import (`_create_many`) both start here."""
        errors: dict[str, list[str]] = {}
        data = dict(data)
        self._refuse_fields(access, data, None, "create", errors)
        with numbers_in(context.actor.language), digits_kept(self._exact_digits):  # the user's language
            record = coerce_input(entity, data, creating=True, trusted=trusted, errors=errors,
                                  keys=self._input_keys(entity))
        plan = self.links.plan(entity)
        if plan[2] or plan[3]:  # fields copied from the records the new one links to, before defaults
            with self._read() as conn:
                self.links.copy(conn, entity, record, None, given_keys(entity, record), context, trusted)
        apply_defaults(entity.fields, record, context)
        if entity.name in self._workflow_entities:
            guard.check_create(self.model, entity, record, context, errors)
        if not errors:
            self._hook("tailor_before_save", entity=entity, record=record, old=None, context=context)
        self._complete(entity, record, None, context, errors, trusted)
        return record

    def _save_new(self, conn: Connection, entity: Entity, record: dict[str, Any], context: Context) -> dict[str, Any]:
        """The part of a create made in the database, for one record: uniqueness and link
        targets, autonumbers, the row, child rows, audit, after-save hook, rollups, flows."""
        errors: dict[str, list[str]] = {}
        self._check_database_rules(conn, entity, record, None, errors, context)
        if errors:
            raise ValidationError(errors)
        row = self._new_row(conn, entity, record, context)
        record_id = self._insert(conn, entity, row)
        saved = self._finish_write(conn, entity, record_id, record, None, context)
        self._refresh_rollups(conn, entity, None, saved, context)
        if entity.name in self._workflow_entities:
            self.flows.start_when(entity, saved, None, context)
        return saved

    def _new_row(self, conn: Connection, entity: Entity, record: dict[str, Any], context: Context,
                 numbers: dict[str, Iterator[str]] | None = None) -> dict[str, Any]:
        """The table row of a new record: its autonumbers (taken from `numbers`, a block
        allocated for a batch, or one at a time), owner and standard columns."""
        numbered = self._statements.get(("autonumbers", entity.name))
        if numbered is None:
            numbered = self._statements[("autonumbers", entity.name)] = [
                f for f in entity.fields.values() if f.is_autonumber]
        for field in numbered:  # first: the row's search key finds the record by its number from the start
            if record.get(field.name) is None:
                record[field.name] = next(numbers[field.name]) if numbers is not None else \
                    self._next_number(conn, entity, field, context)
        row = self._row_values(entity, record)
        owner = record.pop("owner", None) if "owner" in record else context.actor.id
        row.update(created_at=context.now, updated_at=context.now, created_by=context.actor.id,
                   owner=owner, version=1)
        return row

    def update(self, entity_name: str, record_id: Any, data: Mapping[str, Any], *, version: int,
               context: Context | None = None, trusted: bool = False) -> dict[str, Any]:
        context = context or Context()
        entity = self._entity(entity_name)
        record_id = _record_id(entity_name, record_id)
        try:
            version = int(version)
        except (TypeError, ValueError):
            raise ValidationError({"version": [message(VERSION_REQUIRED)]}) from None
        errors: dict[str, list[str]] = {}
        # the flow engine's own changes (state moves, actions) are not the user's to permit
        access = self.access(entity, Context(actor=SYSTEM) if context.workflow else context)
        data = dict(data)
        with self._write() as conn:
            old = self._load(conn, entity, record_id, for_update=True)
            if old is None or not self._reaches(conn, access, old, "read", context):
                raise NotFound(entity_name, record_id)
            if not access.can("update") or not self._reaches(conn, access, old, "update", context):
                raise PermissionDenied(entity_name, "update")
            self._refuse_fields(access, data, old, "update", errors)
            self._keep_masked(entity, access, context, data, old, errors)
            with numbers_in(context.actor.language), digits_kept(self._exact_digits):
                changes = coerce_input(entity, data, creating=False, trusted=trusted, errors=errors)
            if old["version"] != version:
                raise ConflictError(entity_name, record_id, version, self._shown(entity, old, access, context))
            given = given_keys(entity, changes)  # before the rows' stored values are merged in
            merge_changed_rows(entity, changes, old, errors)
            if not trusted:
                readonly_now(entity, changes, old, context, errors)
            bypass = entity.name in self._workflow_entities and guard.check_update(
                self, conn, entity, old, changes, context, errors)
            record = {k: v for k, v in old.items() if k not in ("id", "version", "created_at", "updated_at",
                                                               "created_by")}
            record.update(changes)
            self.links.copy(conn, entity, record, old, given, context, trusted)
            if not errors:
                self._hook("tailor_before_save", entity=entity, record=record, old=old, context=context)
            self._complete(entity, record, old, context, errors, trusted)
            self._check_database_rules(conn, entity, record, record_id, errors, context, old)
            if errors:
                raise ValidationError(errors)
            row = self._row_values(entity, record)
            if "owner" in record:
                row["owner"] = record["owner"]
            row.update(updated_at=context.now, version=version + 1)
            table = entity.table
            result = conn.execute(
                table.update().where(table.c.id == record_id, table.c.version == version).values(**row))
            if result.rowcount != 1:
                current = self._load(conn, entity, record_id)
                if current is None:
                    raise NotFound(entity_name, record_id)
                raise ConflictError(entity_name, record_id, version, self._shown(entity, current, access, context))
            saved = self._finish_write(conn, entity, record_id, record, old, context, bypass)
            self._refresh_rollups(conn, entity, old, saved, context)
            if entity.name in self._workflow_entities:
                self.flows.start_when(entity, saved, old, context)
        self._virtual(entity, saved, context)
        shown = self._scoped(entity, [_without(saved, access.hidden_fields())], access, context)[0]
        return mask_record(entity, shown, self._masks(entity, access, context))

    def delete(self, entity_name: str, record_id: Any, *, version: int | None = None,
               context: Context | None = None) -> None:
        """Delete a record. Records linking to it follow their field's `on_delete`: restrict
        refuses, cascade deletes them and set_null empties the link — both through this
        service, so they are audited, versioned and seen by hooks like any other change."""
        context = context or Context()
        entity = self._entity(entity_name)
        record_id = _record_id(entity_name, record_id)
        if version is not None:
            try:
                version = int(version)
            except (TypeError, ValueError):
                raise ValidationError({"version": [message(WHOLE_NUMBER)]}) from None
        access = self.access(entity, context)
        with self._write() as conn:
            old = self._load(conn, entity, record_id)
            if old is None or not self._reaches(conn, access, old, "read", context):
                raise NotFound(entity_name, record_id)
            if not access.can("delete") or not self._reaches(conn, access, old, "delete", context):
                raise PermissionDenied(entity_name, "delete")
            if entity.name in self._workflow_entities:
                guard.check_delete(conn, entity, record_id, context)
            self._delete(conn, entity, record_id, version, context, set())

    def _delete(self, conn: Connection, entity: Entity, record_id: int, version: int | None,
                context: Context, seen: set[tuple[str, int]]) -> None:
        if (entity.name, record_id) in seen:
            return
        seen.add((entity.name, record_id))
        old = self._load(conn, entity, record_id, for_update=True)
        if old is None:
            raise NotFound(entity.name, record_id)
        if version is not None and old["version"] != version:
            raise ConflictError(entity.name, record_id, version,
                                self._shown(entity, old, self.access(entity, context), context))
        if len(seen) > 1:  # deleted by a cascade: the user must be allowed that too
            self._require(conn, entity, old, "delete", context)
            if entity.name in self._workflow_entities:  # and it must not be under approval
                guard.check_delete(conn, entity, record_id, context)
        self._hook("tailor_before_delete", entity=entity, record=old, context=context)
        referencing = self._references(conn, entity, record_id)
        if referencing:
            raise ValidationError({"": [message(STILL_USED, records=", ".join(referencing))]})
        for other, field in self._linking_fields(entity):
            ids = list(conn.execute(sa.select(other.table.c.id).where(
                points_at(other, field, entity.name, record_id))).scalars())
            for other_id in ids:
                if field.on_delete == "cascade":
                    self._delete(conn, other, other_id, None, context, seen)
                else:
                    self._set_link_empty(conn, other, field, other_id, context)
        for other, field in self._links_to(entity):
            table = other.child_tables[field.name]
            sources = list(conn.execute(sa.select(table.c.source_id).where(table.c.target_id == record_id)).scalars())
            for source_id in sources:
                if (other.name, source_id) not in seen:
                    self._unlink(conn, other, field, source_id, record_id, context)
        conn.execute(entity.table.delete().where(entity.table.c.id == record_id))
        self._refresh_rollups(conn, entity, old, None, context, seen)
        self._forget(conn, entity, record_id, context)
        self._audit(conn, entity, record_id, "delete", old, None, context)
        self._hook("tailor_after_delete", entity=entity, record=old, context=context)

    def import_rows(self, entity_name: str, rows: Iterable[Any], *, mode: str = "insert", key: str | None = None,
                    context: Context | None = None) -> list[dict[str, Any]]:
        """A batch of imported rows, created or updated by the code of `create` and
        `update`, so every rule holds (permissions, validation, computed fields, autonumbers,
        the workflow's initial state, hooks, audit): an import is a batch method of this
        service, never a side door. What it adds is speed where no rule is at stake: the
        records a batch matches on its key are read in one query, a row whose values are
        those the record already has is reported unchanged without a write, and the rows to
        create (each run of them between updates, so the file's order holds) are created
        together by `_create_many` (one query per check, one INSERT, one audit INSERT).
        `import_batches = False` creates them one `create` at a time (the reference).

        `rows` have `number`, `data` (input as for `create`), `key` (the value of the key
        field, for update and upsert) and `errors` (problems found converting the row:
        such a row is reported failed and not tried). Run inside `transaction()` to commit
        or roll back the batch as one; each row is a savepoint of it, so a refused row undoes
        only itself. The context's `extra["import_run"]` marks the audit entries. Returns,
        per row: number, action (created, updated, unchanged, failed), id, version, errors."""
        context = context or Context()
        entity = self._entity(entity_name)
        access = self.authorize(entity.name, "import", context)
        if mode not in ("insert", "update", "upsert"):
            raise ValidationError({"mode": [message(BAD_MODE)]})
        key = key or (None if mode == "insert" else "id")
        rows = list(rows)
        existing = self._import_matches(entity, key, rows, context) if key else {}
        results: list[dict[str, Any]] = []
        creating: list[tuple[dict[str, Any], dict[str, Any]]] = []  # rows to create, in a run of them
        for row in rows:
            result: dict[str, Any] = {"number": row.number, "action": "failed", "id": None, "version": None,
                                      "errors": {}}
            results.append(result)
            old = existing.get(_key_of(row.key)) if key and row.key is not None else None
            if row.errors:  # cells the import could not read: the row is not saved, but the
                # rest of a new one is checked as `create` checks it, so every problem of the
                # row is said at once (the caller leaves out what its unread cells cause)
                if old is None and mode != "update" and not (key == "id" and row.key is not None):
                    result["errors"] = self._problems_of_new(entity, row.data, context)
                continue
            try:
                if old is None:
                    if mode == "update" or (key == "id" and row.key is not None):
                        raise NotFound(entity.name, row.key)
                    data = {k: v for k, v in row.data.items() if k != "id"} if "id" in row.data else row.data
                    if self.import_batches:  # created together with the rows around it
                        creating.append((result, data))
                        continue
                    saved = self.create(entity.name, data, context)
                    result.update(action="created", id=saved["id"], version=saved["version"])
                    continue
                if creating:  # the rows before this one first: the order of the file holds
                    self._create_many(entity, creating, context)
                    creating = []
                if mode == "insert":
                    raise ValidationError({key: [_TAKEN % (row.key,)]})
                data = {k: v for k, v in row.data.items() if k != "id"}
                if self._import_unchanged(entity, access, data, old, context):
                    result.update(action="unchanged", id=old["id"], version=old["version"])
                    continue
                saved = self.update(entity.name, old["id"], data, version=old["version"], context=context)
                result.update(action="updated", id=saved["id"], version=saved["version"])
                existing[_key_of(row.key)] = {**old, "version": saved["version"]}
            except ValidationError as exc:
                result["errors"] = exc.errors
            except (NotFound, PermissionDenied, ConflictError) as exc:
                result["errors"] = {"": [str(exc)]}
        if creating:
            self._create_many(entity, creating, context)
        return results

    def _problems_of_new(self, entity: Entity, data: Mapping[str, Any], context: Context) -> dict[str, list[str]]:
        """What `create` would refuse of `data` before asking the database (nothing saved)."""
        try:
            access = self.authorize(entity.name, "create", Context(actor=SYSTEM) if context.workflow else context)
            self._new_record(entity, access, {k: v for k, v in data.items() if k != "id"}, context, False)
        except ValidationError as exc:
            return exc.errors
        except PermissionDenied as exc:
            return {"": [str(exc)]}
        return {}

    # -- creates of a batch (imports) ------------------------------------------------------------
    def _create_many(self, entity: Entity, items: list[tuple[dict[str, Any], dict[str, Any]]],
                     context: Context) -> None:
        """Create the records of a run of imported rows: the same rules as `create`, with the
        database asked once per batch instead of once per row. Each row is first completed by
        `_new_record` (the one code path of `create`: fields the user may set, coercion,
        defaults, initial state, before-save hook, computed values, validation); then, for
        the rows that passed, uniqueness (against the table and the rows before in the
        batch) and link targets are checked with one query per field, autonumbers are taken
        as a block, the rows inserted by one executemany, the audit entries written by
        another, and after-save hooks, rollups and flows run per record as after `create`.
        Should the database refuse anything of the batch, it is undone and its rows are
        saved one at a time (`_save_new`, as `create` saves), so exactly the bad rows fail.
        `items` are (result, input) pairs: each result gets its action, id, version, errors."""
        try:
            access = self.authorize(entity.name, "create", Context(actor=SYSTEM) if context.workflow else context)
        except PermissionDenied as exc:
            for result, _data in items:
                result["errors"] = {"": [str(exc)]}
            return
        prepared: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for result, data in items:
            try:
                prepared.append((result, self._new_record(entity, access, data, context, False)))
            except ValidationError as exc:
                result["errors"] = exc.errors
        if not prepared:
            return
        # the keys saving sets in a record (`_new_row`: its autonumbers, and takes its owner
        # out), as they are: should the batch be refused, its rows are saved one at a time
        # from the records as they were (a copy of the few keys, not of every record)
        changing = [f.name for f in entity.fields.values() if f.is_autonumber] + ["owner"]
        before = [{k: record[k] for k in changing if k in record} for _result, record in prepared]
        try:
            with self._write() as conn:
                saved = self._save_many(conn, entity, [record for _result, record in prepared], context)
        except (_BatchRefused, ValidationError, NotFound, PermissionDenied, ConflictError):
            saved = None  # the database refused a row, or a hook, rollup or flow a record
            for (_result, record), kept in zip(prepared, before, strict=True):
                for key in changing:
                    if key in kept:
                        record[key] = kept[key]
                    else:
                        record.pop(key, None)
        if saved is not None:
            for (result, _record), found in zip(prepared, saved, strict=True):
                if isinstance(found, dict) and "id" in found and "version" in found:
                    result.update(action="created", id=found["id"], version=found["version"])
                else:
                    result["errors"] = found
            return
        for result, record in prepared:  # one at a time, each in its savepoint
            try:
                with self._write() as conn:
                    one = self._save_new(conn, entity, record, context)
                result.update(action="created", id=one["id"], version=one["version"])
            except ValidationError as exc:
                result["errors"] = exc.errors
            except (NotFound, PermissionDenied, ConflictError) as exc:
                result["errors"] = {"": [str(exc)]}

    def _save_many(self, conn: Connection, entity: Entity, records: list[dict[str, Any]],
                   context: Context) -> list[dict[str, Any]]:
        """`_save_new` for several records at once (see `_create_many`): per record, the
        saved record ({id, version, …}) or its errors."""
        outcome: list[dict[str, Any]] = self._check_database_rules_many(conn, entity, records, context)
        accepted = [i for i, errors in enumerate(outcome) if not errors]
        if not accepted:
            return outcome
        numbers = self._number_blocks(conn, entity, [records[i] for i in accepted], context)
        rows = [self._new_row(conn, entity, records[i], context, numbers) for i in accepted]
        ids = self._insert_many(conn, entity, rows)
        if entity.child_tables:
            for i, record_id in zip(accepted, ids, strict=True):
                self._write_children(conn, entity, record_id, records[i], None)
        saved = self._saved_many(conn, entity, rows, ids)
        entries = [self._audit_entry(conn, entity, record["id"], "create", None, record, context) for record in saved]
        insert_rows(conn, audit_log, entries)
        flowing = entity.name in self._workflow_entities
        for record in saved:
            self._hook("tailor_after_save", entity=entity, record=record, old=None, context=context)
        self._refresh_rollups_many(conn, entity, saved, context)
        if flowing:
            for record in saved:
                self.flows.start_when(entity, record, None, context)
        for i, record in zip(accepted, saved, strict=True):
            outcome[i] = record
        return outcome

    def _check_database_rules_many(self, conn: Connection, entity: Entity, records: list[dict[str, Any]],
                                   context: Context) -> list[dict[str, list[str]]]:
        """`_check_database_rules` of new records, one query per field for the batch: the
        same messages, in the same order. A value of a unique field taken by an earlier
        record of the batch (one that will be saved) is taken, as it would be one at a time."""
        from ..storage import users

        found: list[dict[str, list[str]]] = [{} for _ in records]  # what the database says, per record
        unique: list[Field] = []
        checked = [f for f in entity.fields.values()  # the fields `_check_database_rules` asks about
                   if (f.unique and f.type.storage == "column")
                   or f.type.name in ("link", "polymorphic_link", "user", "links")]
        for field in checked:
            present = [(i, r[field.name]) for i, r in enumerate(records) if r.get(field.name) is not None]
            if not present:
                continue
            if field.unique and field.type.storage == "column":
                unique.append(field)
                if all(isinstance(v, str) for _i, v in present):
                    column = entity.table.c[field.name]
                    taken = set(self._in_chunks(conn, column, column, sorted({v for _i, v in present})))
                    hits = [i for i, v in present if v in taken]
                else:
                    hits = [i for i, v in present if self._taken(conn, entity, field, v, None)]
                for i in hits:
                    found[i].setdefault(field.name, []).append(_TAKEN % (records[i][field.name],))
            kind = field.type.name
            if kind in ("link", "user"):
                if kind == "link":
                    target = self.model.entity(field.to)
                    column = target.table.c.id
                    scope = self._restriction(self.access(target, context), "read", context)
                else:
                    column, scope = users.c.id, None
                ids = {v for _i, v in present if isinstance(v, int) and not isinstance(v, bool)}
                exist = set(self._in_chunks(conn, column, column, sorted(ids), scope))
                for i, value in present:
                    if value not in exist or not isinstance(value, int) or isinstance(value, bool):
                        name = field.to if kind == "link" else "user"
                        found[i].setdefault(field.name, []).append(message(NO_RECORD, entity=name, id=value))
            else:
                for i, value in present:
                    self._check_target(conn, entity, field, records[i], value, found[i], context, None)
        owners = {r["owner"] for r in records if r.get("owner") is not None}
        known = set(self._in_chunks(conn, users.c.id, users.c.id, sorted(owners))) if owners else set()
        outcome: list[dict[str, list[str]]] = []
        batch: dict[str, set[Any]] = {f.name: set() for f in unique}  # values of the records saved before
        for record, said in zip(records, found, strict=True):
            errors: dict[str, list[str]] = {}
            for field in checked:
                value = record.get(field.name)
                if value is None:
                    continue
                messages = said.get(field.name, [])
                if field.name in batch and (not messages or messages[0] != _TAKEN % (value,)) \
                        and _hashable(value) and value in batch[field.name]:
                    messages = [_TAKEN % (value,), *messages]
                if messages:
                    errors[field.name] = list(messages)
            owner = record.get("owner")
            if owner is not None and owner not in known:
                errors.setdefault("owner", []).append(message(NO_USER, id=owner))
            self.links.check(conn, entity, record, None, errors, context)
            if not errors:
                for field in unique:
                    value = record.get(field.name)
                    if value is not None and _hashable(value):
                        batch[field.name].add(value)
            outcome.append(errors)
        return outcome

    @staticmethod
    def _in_chunks(conn: Connection, column: Any, where: Any, values: list[Any], scope: Any = None) -> Iterator[Any]:
        """`SELECT column WHERE where IN values (AND scope)`, 500 values a query. On
        PostgreSQL, texts and whole numbers go as one array (`= ANY`), of the column's base
        type (never its length, which a cast would cut): one parameter, one statement the
        driver prepares once, instead of 500 parameters to render, send and plan each time."""
        array = None
        if conn.dialect.name == "postgresql":
            if isinstance(where.type, sa.String) and all(type(v) is str for v in values):
                array = postgresql.ARRAY(sa.String())
            elif isinstance(where.type, sa.Integer) and all(type(v) is int for v in values):
                array = postgresql.ARRAY(sa.BigInteger())
        size = 5000 if array is not None else 500
        for start in range(0, len(values), size):
            chunk = values[start:start + size]
            condition = where == sa.any_(sa.bindparam("values", chunk, type_=array)) if array is not None \
                else where.in_(chunk)
            statement = sa.select(column).where(condition)
            if scope is not None:
                statement = statement.where(scope)
            yield from conn.execute(statement).scalars()

    def _number_blocks(self, conn: Connection, entity: Entity, records: list[dict[str, Any]],
                       context: Context) -> dict[str, Iterator[str]]:
        """For each autonumber field, the numbers of the records that need one, taken from
        the counter in one statement (the numbers one at a time would give, in order)."""
        blocks: dict[str, Iterator[str]] = {}
        for field in entity.fields.values():
            if not field.is_autonumber:
                continue
            wanted = sum(1 for r in records if r.get(field.name) is None)
            if not wanted:
                continue
            key = field.type.sequence_key(entity.name, field, context.now)
            statement = _NEXT_NUMBERS.get(conn.dialect.name)
            if statement is None:
                insert = postgresql.insert(sequence) if conn.dialect.name == "postgresql" else sqlite.insert(sequence)
                statement = _NEXT_NUMBERS[conn.dialect.name] = insert.values(
                    key=sa.bindparam("sequence_key"), value=sa.bindparam("first")).on_conflict_do_update(
                    index_elements=[sequence.c.key], set_={"value": sequence.c.value + sa.bindparam("step")}
                ).returning(sequence.c.value)
            last = int(conn.execute(statement, {"sequence_key": key, "first": wanted, "step": wanted}).scalar_one())
            blocks[field.name] = iter([field.type.render(field, context.now, n)
                                       for n in range(last - wanted + 1, last + 1)])
        return blocks

    def _insert_many(self, conn: Connection, entity: Entity, rows: list[dict[str, Any]]) -> list[int]:
        """INSERT rows in their order, returning their ids: one executemany per run of rows
        naming the same columns (a column a row leaves out, with no default, is NULL)."""
        table = entity.table
        if not conn.dialect.insert_executemany_returning_sort_by_parameter_order:
            return [self._insert(conn, entity, row) for row in rows]
        names = list(dict.fromkeys(k for row in rows for k in row))
        fill = {n: None for n in names if table.c[n].default is None and table.c[n].server_default is None}
        runs: list[list[dict[str, Any]]] = []
        for row in rows:
            full = {**fill, **row} if len(row) != len(names) else row
            if runs and full.keys() == runs[-1][0].keys():
                runs[-1].append(full)
            else:
                runs.append([full])
        ids: list[int] = []
        if conn.dialect.name == "sqlite" and self._autoincrement(conn, table):
            # SQLite numbers the rows of an executemany one after the other: an AUTOINCREMENT
            # table's counter (sqlite_sequence) before and after gives their ids, in order,
            # with no RETURNING (which SQLAlchemy would send one row at a time to keep order)
            counter = sa.text("SELECT seq FROM sqlite_sequence WHERE name = :name")
            for run in runs:
                before = conn.execute(counter, {"name": table.name}).scalar() or 0
                insert_rows(conn, table, run)
                after = conn.execute(counter, {"name": table.name}).scalar() or 0
                if after - before != len(run):
                    raise _BatchRefused()
                ids.extend(range(before + 1, after + 1))
            return ids
        if conn.dialect.name == "postgresql":
            # the ids taken from the table's sequence in one query, then a plain executemany
            # (psycopg sends it as one pipeline): INSERT … RETURNING of many rows is one huge
            # statement psycopg parses anew each time, slower than the rows' own checks
            sequence_of = self._id_sequence(conn, table)
            if sequence_of is not None:
                taken = sorted(conn.execute(sa.text("SELECT nextval(CAST(:sequence AS regclass)) "
                                                    "FROM generate_series(1, :wanted)"),
                                            {"sequence": sequence_of, "wanted": len(rows)}).scalars())
                ids = [int(i) for i in taken]
                at = iter(ids)
                for run in runs:
                    insert_rows(conn, table, [{**row, "id": next(at)} for row in run])
                return ids
        statement = self._statements.get(("insert many", entity.name))
        if statement is None:
            statement = self._statements[("insert many", entity.name)] = table.insert().returning(
                table.c.id, sort_by_parameter_order=True)
        for run in runs:
            ids.extend(int(r[0]) for r in conn.execute(statement, run))
        if len(ids) != len(rows):
            raise _BatchRefused()
        return ids

    def _id_sequence(self, conn: Connection, table: sa.Table) -> str | None:
        """The sequence numbering a PostgreSQL table's ids (asked once per table)."""
        key = ("id sequence", table.name)
        if key not in self._statements:
            self._statements[key] = conn.execute(sa.text("SELECT pg_get_serial_sequence(:table, 'id')"),
                                                 {"table": conn.dialect.identifier_preparer.quote(table.name)}).scalar()
        return self._statements[key]

    def _autoincrement(self, conn: Connection, table: sa.Table) -> bool:
        """Whether an SQLite table was created with AUTOINCREMENT (ids never reused, counted
        in sqlite_sequence): asked once per table."""
        key = ("autoincrement", table.name)
        if key not in self._statements:
            created = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"),
                                   {"name": table.name}).scalar()
            self._statements[key] = bool(created) and "AUTOINCREMENT" in created.upper()
        return self._statements[key]

    def _saved_many(self, conn: Connection, entity: Entity, rows: list[dict[str, Any]],
                    ids: list[int]) -> list[dict[str, Any]]:
        """The records just inserted from `rows` (with these ids), as `_load` would read them:
        built from the inserted values when the database is known to give each of them back
        unchanged or changed in a way mirrored here (engine/records/echo.py), else read back."""
        if not entity.child_tables:
            key = ("echo", entity.name, conn.dialect.name)
            plan = self._statements.get(key)
            if plan is None:
                plan = self._statements[key] = echo_plan(conn, entity.table)
            echoed = echo_rows(conn, plan, rows, ids)
            if echoed is not None:
                return self._from_rows_in_place(entity, echoed)
        return self._load_many(conn, entity, ids)

    def _load_many(self, conn: Connection, entity: Entity, ids: list[int]) -> list[dict[str, Any]]:
        """The records of these ids, in that order, as `_load` reads one."""
        table = entity.table
        by_id: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            for r in conn.execute(sa.select(table).where(table.c.id.in_(ids[start:start + 500]))):
                record = self._from_row(entity, dict(r._mapping))
                by_id[record["id"]] = record
        if len(by_id) != len(ids):
            raise _BatchRefused()
        records = [by_id[i] for i in ids]
        if entity.child_tables:
            for record in records:
                self._children(conn, entity, record)
        return records

    def _refresh_rollups_many(self, conn: Connection, entity: Entity, saved: list[dict[str, Any]],
                              context: Context) -> None:
        """`_refresh_rollups` after new records: each related record once for the batch."""
        rollups = self._rollups.get(entity.name, ())
        if not rollups:
            return
        groups: dict[tuple[str, str], tuple[Entity, dict[str, Any]]] = {}
        for parent, field in rollups:
            groups.setdefault((parent.name, field.rollup.link), (parent, {}))[1][field.name] = field
        for (_parent_name, link), (parent, fields) in groups.items():
            polymorphic = next(iter(fields.values())).rollup.polymorphic
            ids = set()
            for record in saved:
                target = record.get(link)
                if not isinstance(target, int):
                    continue
                if polymorphic and record.get(f"{link}_entity") != parent.name:
                    continue
                ids.add(target)
            for target in sorted(ids):
                self._refresh_rollup(conn, parent, entity, fields, target, context, frozenset(), 0)

    def _import_matches(self, entity: Entity, key: str, rows: list[Any], context: Context) -> dict[Any, dict]:
        """The records the rows' key values name, read in one query (a key value is coerced
        as the field coerces input, so '0042' finds what a form saving '0042' stored)."""
        table = entity.table
        values = set()
        for row in rows:
            if row.errors or row.key is None:
                continue
            try:
                if key == "id":
                    values.add(_record_id(entity.name, row.key))
                else:
                    field = entity.fields[key]
                    with numbers_in(context.actor.language):
                        coerced = field.type.coerce(row.key, field)
                    row.key = coerced
                    values.add(coerced)
            except (NotFound, FieldValueError):
                continue
        if not values:
            return {}
        column = table.c.id if key == "id" else table.c[key]
        found: dict[Any, dict] = {}
        with self._read() as conn:
            ordered = sorted(values, key=str)
            for start in range(0, len(ordered), 500):
                for r in conn.execute(sa.select(table).where(column.in_(ordered[start:start + 500]))):
                    record = self._from_row(entity, dict(r._mapping))
                    found[_key_of(record["id"] if key == "id" else record.get(key))] = record
            if entity.child_tables and any(n in row.data for row in rows for n in entity.child_tables):
                for record in found.values():  # lines imported: compared with the stored ones
                    self._children(conn, entity, record)
        if key == "id":
            for row in rows:
                if not row.errors and row.key is not None:
                    try:
                        row.key = _record_id(entity.name, row.key)
                    except NotFound:
                        pass
        return found

    def _import_unchanged(self, entity: Entity, access: Access, data: dict[str, Any], old: dict[str, Any],
                          context: Context) -> bool:
        """Whether an imported row would change nothing in a record the user may update:
        coerced as `update` coerces it, every value equal to the stored one. Fields the user
        may not see or set, and masked values, are checked first as `update` checks them:
        "unchanged" must never confirm a guess of a hidden value."""
        errors: dict[str, list[str]] = {}
        self._refuse_fields(access, data, old, "update", errors)
        if not errors:
            data = dict(data)
            self._keep_masked(entity, access, context, data, old, errors)
        if errors:
            return False  # the update reports them, whatever the values were
        with numbers_in(context.actor.language), digits_kept(self._exact_digits):
            changes = coerce_input(entity, dict(data), creating=False, trusted=False, errors=errors)
        if errors or any(not _same_value(entity.fields.get(k), v, old.get(k)) for k, v in changes.items()):
            return False
        if access.bypass:
            return True
        with self._read() as conn:
            return access.can("update") and self._reaches(conn, access, old, "update", context)

    def _forget(self, conn: Connection, entity: Entity, record_id: int, context: Context) -> None:
        """What is attached to a deleted record goes with it, explicitly: its comments and
        shares are deleted, notifications about it lose their link, a flow still running
        ends. Its audit trail stays (with the deleted values) and so does the history of its
        finished flows. Ids are never used twice (AUTOINCREMENT on SQLite, sequences on
        PostgreSQL, engine/migrate/data.py), so none of it can ever show on another record."""
        conn.execute(comments.delete().where(comments.c.entity == entity.name, comments.c.record_id == record_id))
        conn.execute(shares.delete().where(shares.c.entity == entity.name, shares.c.record_id == record_id))
        conn.execute(notifications.update().where(notifications.c.entity == entity.name,
                                                  notifications.c.record_id == record_id,
                                                  notifications.c.link.is_not(None)).values(link=None))
        if entity.name in self._workflow_entities:
            guard.end_with_record(conn, entity, record_id, context)

    def _pointing_fields(self, entity: Entity) -> list[tuple[Entity, Field]]:
        """Fields of any entity that point at records of this one (links and polymorphic links)."""
        return [(other, field) for other in self.model.entities.values() for field in other.fields.values()
                if (field.type.name == "link" and field.to == entity.name)
                or (field.type.name == "polymorphic_link" and entity.name in field.targets)]

    def _linking_fields(self, entity: Entity) -> list[tuple[Entity, Field]]:
        return [(other, field) for other, field in self._pointing_fields(entity) if field.on_delete != "restrict"]

    def _links_to(self, entity: Entity) -> list[tuple[Entity, Field]]:
        return [(other, field) for other in self.model.entities.values() for field in other.fields.values()
                if field.type.name == "links" and field.to == entity.name]

    def _unlink(self, conn: Connection, entity: Entity, field: Field, record_id: int, target_id: int,
                context: Context) -> None:
        """A deleted record leaves the `links` of the records that pointed to it, audited."""
        old = self._load(conn, entity, record_id, for_update=True)
        if old is None:
            return
        self._require(conn, entity, old, "update", context)
        table = entity.child_tables[field.name]
        conn.execute(table.delete().where(table.c.source_id == record_id, table.c.target_id == target_id))
        conn.execute(entity.table.update().where(entity.table.c.id == record_id).values(
            updated_at=context.now, version=old["version"] + 1))
        new = {**old, field.name: [link for link in old.get(field.name) or [] if link["id"] != target_id]}
        self._audit(conn, entity, record_id, "update", old, new, context)

    def _set_link_empty(self, conn: Connection, entity: Entity, field: Field, record_id: int,
                        context: Context) -> None:
        old = self._load(conn, entity, record_id, for_update=True)
        if old is None:
            return
        self._require(conn, entity, old, "update", context)
        emptied = dict.fromkeys(field.type.input_keys(field))  # a polymorphic link's entity too
        conn.execute(entity.table.update().where(entity.table.c.id == record_id).values(
            {**emptied, "updated_at": context.now, "version": old["version"] + 1}))
        new = {**old, **emptied}
        self._audit(conn, entity, record_id, "update", old, new, context)

    # -- rollups -----------------------------------------------------------------------------
    def _refresh_rollups(self, conn: Connection, entity: Entity, old: Mapping[str, Any] | None,
                         new: Mapping[str, Any] | None, context: Context,
                         deleting: set[tuple[str, int]] | frozenset = frozenset(), depth: int = 0) -> None:
        """After a write of a record: the rollups that aggregate it, on the records it
        pointed at before and after, worked out again in the same transaction (the rollups
        of one record over one link together: one lock, one query, one update)."""
        groups: dict[tuple[str, str], tuple[Entity, dict[str, Any]]] = {}
        for parent, field in self._rollups.get(entity.name, ()):
            rollup = field.rollup
            if old is not None and new is not None and all(
                    jsonable(old.get(k)) == jsonable(new.get(k)) for k in rollup.reads):
                continue  # nothing the value depends on changed
            groups.setdefault((parent.name, rollup.link), (parent, {}))[1][field.name] = field
        for (_parent_name, link), (parent, fields) in groups.items():
            polymorphic = next(iter(fields.values())).rollup.polymorphic
            ids = set()
            for record in (old, new):
                target = record.get(link) if record is not None else None
                if not isinstance(target, int) or (parent.name, target) in deleting:
                    continue
                if polymorphic and record.get(f"{link}_entity") != parent.name:
                    continue
                ids.add(target)
            for target in sorted(ids):
                self._refresh_rollup(conn, parent, entity, fields, target, context, deleting, depth)

    def _refresh_rollup(self, conn: Connection, parent: Entity, child: Entity, fields: dict[str, Field],
                        record_id: int, context: Context, deleting: set[tuple[str, int]] | frozenset,
                        depth: int) -> None:
        """Rollups of one record: the row is locked first (PostgreSQL; SQLite writers
        queue), so that of two writes counting at once the second sees the first (its
        aggregate, a new statement, sees what the first committed). The record's computed
        fields that read them follow; its version does not change (nobody edited it) and no
        audit entry is written (the related record's is)."""
        table = parent.table
        statement = sa.select(table).where(table.c.id == record_id)
        if conn.dialect.name == "postgresql":
            # FOR NO KEY UPDATE: the related record's own foreign key check holds a KEY SHARE
            # lock on this row, which FOR UPDATE would wait for (two such writes: deadlock)
            statement = statement.with_for_update(key_share=True)
        row = conn.execute(statement).mappings().first()
        if row is None:
            return
        found = values_together(conn, child, parent.name, {n: f.rollup for n, f in fields.items()}, record_id)
        changes: dict[str, Any] = {}
        for name, field in fields.items():
            try:
                value = field.type.coerce(found[name], field)
            except FieldValueError as exc:  # a total beyond what the column holds: the write is refused
                raise ValidationError({"": [f"{parent.name} {record_id}, {field.label_text()}: the total would be too "
                                            f"large ({exc})"]}) from None
            if jsonable(field.type.from_row(row, field)) != jsonable(value):
                changes[name] = value
        if not changes:
            return
        before = self._from_row(parent, dict(row))
        after = {**before, **changes}
        if parent.computed_order:
            self._children(conn, parent, after)
            compute(parent.fields, parent.computed_order, after, context)
            for name in parent.computed_order:
                if parent.fields[name].stored and jsonable(after.get(name)) != jsonable(before.get(name)):
                    changes[name] = after[name]
        if SEARCH_COLUMN in table.c:
            changes[SEARCH_COLUMN] = search_key(parent, after)
        conn.execute(table.update().where(table.c.id == record_id).values(**changes))
        if depth < 8:  # a rollup over records that hold rollups themselves
            self._refresh_rollups(conn, parent, before, after, context, deleting, depth + 1)

    def _shown(self, entity: Entity, record: dict[str, Any], access: Access, context: Context) -> dict[str, Any]:
        """A record as this user may see it: without hidden fields, with rollups over what
        they may read (the current record of a conflict, say)."""
        shown = self._scoped(entity, [_without(record, access.hidden_fields())], access, context)[0]
        return mask_record(entity, shown, self._masks(entity, access, context))

    def _scoped(self, entity: Entity, rows: list[dict[str, Any]], access: Access, context: Context,
                names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Rollups the user sees over only the related records they may read: worked out
        for them (one query per rollup for all the rows), instead of the stored total."""
        wanted = access.scoped_fields() if names is None else frozenset(names)
        if not wanted or not rows:
            return rows
        ids = [row["id"] for row in rows if isinstance(row.get("id"), int)]
        for name in sorted(wanted):
            field = entity.fields[name]
            child = self.model.entities[field.rollup.child]
            restrict = self._restriction(self.access(child, context), "read", context)
            with self._read() as conn:
                found = field.rollup.values(conn, child, entity.name, ids, restrict)
            for row in rows:
                if row.get("id") in found:
                    row[name] = field.type.coerce(found[row["id"]], field)
        return rows

    def comments(self, entity_name: str, record_id: Any, context: Context | None = None,
                 limit: int = 100) -> list[dict[str, Any]]:
        """The latest comments on a record, oldest first (the record must be readable)."""
        entity = self._entity(entity_name)
        record = self.get(entity.name, record_id, context)
        with self._read() as conn:
            rows = conn.execute(sa.select(comments).where(comments.c.entity == entity.name,
                                                          comments.c.record_id == record["id"])
                                .order_by(comments.c.id.desc()).limit(limit)).mappings().all()
        notes = [dict(r) for r in reversed(rows)]
        for note in notes:
            if isinstance(note["at"], datetime) and note["at"].tzinfo is None:
                note["at"] = note["at"].replace(tzinfo=UTC)
        return notes

    def add_comment(self, entity_name: str, record_id: Any, body: str, context: Context | None = None) -> int:
        """Comment on a record someone can read; the body is plain text (escaped when shown)."""
        context = context or Context()
        entity = self._entity(entity_name)
        record = self.get(entity.name, record_id, context)
        body = (body or "").strip()
        if not body or len(body) > 5000 or "\x00" in body:
            raise ValidationError({"body": [message(COMMENT_LENGTH)]})
        with self._write() as conn:
            result = conn.execute(comments.insert().values(
                entity=entity.name, record_id=record["id"], user_id=context.actor.id, body=body, at=context.now)
                .returning(comments.c.id))
            comment_id = int(result.scalar_one())
            self._notify_mentioned(conn, entity, record, body, context)
            return comment_id

    def _notify_mentioned(self, conn: Connection, entity: Entity, record: Mapping[str, Any], body: str,
                          context: Context) -> None:
        """Notify the active users a comment @mentions who may read the record (not the author)."""
        from ..storage import users

        names = mentioned(body)
        if not names:
            return
        found = conn.execute(sa.select(users).where(users.c.username.in_(names), users.c.is_active.is_(True),
                                                    users.c.id != context.actor.id)).mappings().all()
        readers = []
        for row in found:
            access = self.access(entity, Context(actor=org.load_actor(conn, row)))
            if access.bypass or self._reaches(conn, access, record, "read", context):
                readers.append(row["id"])
        if readers:
            self.flows.notify(readers, "mention", entity.name, record, who=context.actor.id, conn=conn,
                              now=context.now, message=body[:300])

    def share(self, entity_name: str, record_id: Any, *, access: str, context: Context | None = None,
              user_id: int | None = None, team_id: int | None = None) -> None:
        """Share a record with a user or a team, for read or write. Its owner may (or an
        admin); the share widens what the roles give, it never narrows it."""
        context = context or Context()
        entity = self._entity(entity_name)
        record = self.get(entity.name, record_id, context)
        actor = context.actor
        if not (actor.system or actor.is_admin or (actor.id is not None and record.get("owner") == actor.id)):
            raise PermissionDenied(entity.name, "share", message(OWNER_SHARES))
        try:
            with self._write() as conn:
                org.share(conn, entity.name, record["id"], access=access, by=actor.id, user_id=user_id,
                          team_id=team_id)
        except org.OrgError as exc:
            raise ValidationError({"share": [str(exc)]}) from None
        except IntegrityError:
            raise ValidationError({"share": [message(NO_SHARE_TARGET)]}) from None

    def history(self, entity_name: str, record_id: Any, context: Context | None = None) -> list[dict[str, Any]]:
        """The audit trail of one record, oldest first (the record must be readable; changes
        of fields the user may not see are left out)."""
        context = context or Context()
        record_id = _record_id(entity_name, record_id)
        if not context.actor.system:
            self.get(entity_name, record_id, context)
        hidden = self.access(entity_name, context).hidden_fields()
        with self._read() as conn:
            rows = conn.execute(sa.select(audit_log).where(audit_log.c.entity == entity_name,
                                                           audit_log.c.record_id == record_id)
                                .order_by(audit_log.c.id))
            entries = [dict(r._mapping) for r in rows]
            if entity_name in self._workflow_entities:  # and what an approval step hides from its approver
                hidden = hidden | guard.hidden_for_approver(self, conn, self._entity(entity_name), record_id,
                                                            context.actor)
        masks = self._masks(self._entity(entity_name), self.access(entity_name, context), context)
        # entries from before a rename name the field as it was: shown (and hidden) under its name now
        renames = {f.renamed_from: f.name for f in self._entity(entity_name).fields.values() if f.renamed_from}
        for entry in entries:
            if renames and isinstance(entry.get("changes"), dict):
                entry["changes"] = {(renames[k] if k in renames and renames[k] not in entry["changes"] else k): v
                                    for k, v in entry["changes"].items()}
            if hidden and isinstance(entry.get("changes"), dict):
                entry["changes"] = _without(entry["changes"], hidden)
            if isinstance(entry.get("changes"), dict):
                for key, pair in entry["changes"].items():
                    if isinstance(pair, list) and any(is_sealed(v) for v in pair):
                        entry["changes"][key] = [keyring().open(v) if is_sealed(v) else v for v in pair]
            if masks:
                mask_changes(self._entity(entity_name), entry, masks)
        return entries

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Group several writes into one transaction: all of them are saved, or none
        (imports, demo data, automations that create several records)."""
        outer = _OUTER.get()
        if outer is not None and outer[0] is self:
            yield outer[1]
            return
        with _Transaction(self.writer) as conn:
            token = _OUTER.set((self, conn))
            try:
                yield conn
            finally:
                _OUTER.reset(token)

    # -- permissions ------------------------------------------------------------------------
    def access(self, entity: Entity | str, context: Context | None = None) -> Access:
        """What the context's user may do with an entity (see engine/permissions)."""
        entity = self._entity(entity) if isinstance(entity, str) else entity
        return self.policy.access((context or Context()).actor, entity)

    def authorize(self, entity_name: str, action: str, context: Context | None = None) -> Access:
        """Raise PermissionDenied unless the user may do `action` (export, import, a
        plugin's action) on the entity at all."""
        access = self.access(entity_name, context)
        if not access.can(action):
            raise PermissionDenied(entity_name, action)
        return access

    def may(self, entity_name: str, record: Mapping[str, Any], action: str, context: Context | None = None) -> bool:
        """Whether the user may do `action` (update, delete) to this record: for pages that
        offer the button only when it would work."""
        context = context or Context()
        access = self.access(entity_name, context)
        if access.bypass and entity_name not in self._workflow_entities:
            return True
        with self._read() as conn:  # the whole record: a scope may name a field the user cannot see
            entity = self._entity(entity_name)
            full = self._load(conn, entity, record["id"])
            if full is None or not self._reaches(conn, access, full, action, context):
                return False
            if entity.name in self._workflow_entities and action == "update":  # not while locked for the user
                return guard.readonly_fields(self, conn, entity, full, context) is not None
            if entity.name in self._workflow_entities and action == "delete":  # nor under approval
                return guard.running_flow(conn, entity.name, full["id"]) is None
            return True

    def _restriction(self, access: Access, action: str, context: Context) -> Any:
        """The SQL condition of the rows the user reaches for an action (None: all)."""
        if access.bypass:
            return None
        scoped = access.row_condition(action, context.now)
        if scoped is None:
            return None  # every row: shares add nothing, and need no query
        # a page asks several times (rows, count, titles): outside a write, work it out once
        reader = _READER.get() if _OUTER.get() is None else None
        key = (access.entity.name, access.actor.id, action)
        if reader is not None and reader[0] is self and key in reader[2]:
            return reader[2][key]
        with self._read() as conn:
            shared = org.shared_ids(conn, access.entity.name, access.actor, action)
        found = scoped if isinstance(shared, list) and not shared else access.row_condition(action, context.now, shared)
        if reader is not None and reader[0] is self:
            reader[2][key] = found
        return found

    def _readable(self, entity: Entity, context: Context) -> Access:
        return self.authorize(entity.name, "read", context)

    def _reaches(self, conn: Connection, access: Access, record: Mapping[str, Any], action: str,
                 context: Context) -> bool:
        """Whether one record is within the user's rows for an action (its scope, evaluated
        in Python, or a share)."""
        if access.bypass:
            return True
        if not access.can(action):
            return False
        if access.row_allows(record, action, None, context.now):
            return True
        return access.row_allows(record, action, org.share_of(conn, access.entity.name, record["id"], access.actor),
                                 context.now)

    def _require(self, conn: Connection, entity: Entity, record: Mapping[str, Any], action: str,
                 context: Context) -> None:
        """A record a delete reaches through links (cascade, set_null) must be one the user
        may change too: otherwise the delete is refused, and nothing changes."""
        access = self.access(entity, context)
        if not access.bypass and not self._reaches(conn, access, record, action, context):
            raise ValidationError({"": [message(CASCADE_REFUSED, entity=entity.name)]})

    def _refuse_fields(self, access: Access, data: Mapping[str, Any], old: Mapping[str, Any] | None, action: str,
                       errors: dict[str, list[str]]) -> None:
        """A value for a field the user may not set is refused, never dropped silently
        (sending back the value a field already has is not a change)."""
        if access.bypass:
            return
        if old is None and "owner" not in data:  # a create's refusals depend on its keys alone
            known = self._refusals.get((id(access), action, tuple(data)))
            if known is not None and known[0] is access:
                for key, said in known[1]:
                    errors.setdefault(key, []).append(said)
                return
            found: dict[str, list[str]] = {}
            self._refuse_keys(access, data, None, action, found)
            if len(self._refusals) > 256:
                self._refusals.clear()
            self._refusals[(id(access), action, tuple(data))] = (access, [(k, m) for k, said in found.items() for m in said])
            for key, said in found.items():
                errors.setdefault(key, []).extend(said)
            return
        self._refuse_keys(access, data, old, action, errors)

    def _refuse_keys(self, access: Access, data: Mapping[str, Any], old: Mapping[str, Any] | None, action: str,
                     errors: dict[str, list[str]]) -> None:
        owners = self._input_keys(access.entity)
        for key, value in data.items():
            name = owners[key].name if key in owners else key
            if key == "owner":
                if not access.may_assign(value, old.get("owner") if old is not None else access.actor.id):
                    errors.setdefault(key, []).append(message(NOT_TO_THAT_USER))
                continue
            if name not in access.entity.fields or access.editable(name, action):
                continue
            if not access.visible(name):  # before the "same value" shortcut: no guessing hidden values
                errors.setdefault(key, []).append(message(UNKNOWN_FIELD))
            elif old is None or jsonable(old.get(key)) != jsonable(value):
                errors.setdefault(key, []).append(message(NOT_YOURS_TO_CHANGE))

    def _keep_masked(self, entity: Entity, access: Access, context: Context, data: dict[str, Any],
                     old: Mapping[str, Any], errors: dict[str, list[str]]) -> None:
        """A masked value sent back as shown (`138****1234`, a form left untouched) keeps
        the stored value; a user who may not reveal it may not change it either."""
        masks = masked_fields(entity) if not (access.bypass or context.actor.system) else {}
        for name, kind in masks.items():
            field = entity.fields[name]
            for key in field.type.masked_keys(field):
                if key not in data:
                    continue
                stored = old.get(key)
                if key == name and isinstance(data[key], list) and hasattr(field.type, "stored_items"):
                    stored = [value for value, _kind in field.type.stored_items(old, field)]  # items sent as NAME
                if key == name and isinstance(data[key], Mapping):  # parts sent as NAME: {first: ..., last: ...}
                    parts, changed = dict(data[key]), False
                    for part, value in parts.items():
                        parts[part], part_changed = unmask(kind, value, old.get(f"{name}_{part}"))
                        changed = changed or part_changed
                    data[key] = parts
                else:
                    data[key], changed = unmask(kind, data[key], stored)
                if changed and not access.can("reveal"):
                    errors.setdefault(name, []).append(message(MASKED))

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """Share one connection among several reads (a page reads rows, a count, titles
        and lookups): fewer round trips, and one consistent view on PostgreSQL."""
        shared = self._shared_reader()
        if shared is not None:
            yield shared
            return
        with self._read_connection() as conn:
            token = _READER.set((self, conn, {}))
            try:
                yield conn
            finally:
                _READER.reset(token)

    # -- internals ------------------------------------------------------------------------
    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """The connection for a read: the open transaction's (so it sees its own writes),
        else the shared one of `reading()`, else a new one."""
        outer = _OUTER.get()
        if outer is not None and outer[0] is self:
            yield outer[1]
            return
        shared = self._shared_reader()
        if shared is not None:
            yield shared
            return
        with self._read_connection() as conn:
            yield conn

    @contextmanager
    def _read_connection(self) -> Iterator[Connection]:
        """A new connection for reads only. Closing it rolls its transaction back; when the
        database dropped it after the reads, that rollback fails, yet nothing is lost: the
        reads' answer stands (a page already rendered is sent) and the pool replaces the
        connection."""
        conn = self.engine.connect()
        try:
            yield conn
        finally:
            try:
                conn.close()
            except sa.exc.DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                conn.close()  # invalidated: closes without another round trip

    def _shared_reader(self) -> Connection | None:
        """The open connection of `reading()`, if any. One the database dropped during the
        request (a restart, a failover, `pg_terminate_backend`) is rolled back first, so
        the next read takes a fresh connection from the pool: a page that failed can still
        show its error page, instead of failing again on the dead connection."""
        current = _READER.get()
        if current is None or current[0] is not self:
            return None
        if current[1].invalidated:
            current[1].rollback()
        return current[1]

    def _complete(self, entity: Entity, record: dict[str, Any], old: dict[str, Any] | None, context: Context,
                  errors: dict[str, list[str]], trusted: bool = False) -> None:
        """Child rows, computed values and validation; raises with every error found
        (including those of coercion), so the user sees all problems at once."""
        fill_currencies(entity.fields, record)
        derive_values(entity.fields, record, old, errors)
        prepare_lines(entity, record, context, errors)
        compute(entity.fields, entity.computed_order, record, context, errors)
        for key, messages in validate_record(entity, record, old, context, self.model.validators, trusted).items():
            if key not in errors:
                errors[key] = messages
        if errors:
            raise ValidationError(errors)

    def _entity(self, name: str) -> Entity:
        try:
            return self.model.entity(name)
        except KeyError:
            raise NotFound(name, None) from None

    def _write(self):
        outer = _OUTER.get()
        if outer is not None and outer[0] is self:
            return _Savepoint(outer[1])  # a failed write inside transaction() undoes only itself
        # a transaction of its own, which what runs inside it (hooks, flows) joins
        return self.transaction()

    def _finish_write(self, conn: Connection, entity: Entity, record_id: int, record: dict[str, Any],
                      old: dict[str, Any] | None, context: Context, bypass: bool = False) -> dict[str, Any]:
        """Child rows, the audit entry and after-save hooks: the tail of a create or update."""
        self._write_children(conn, entity, record_id, record, old)
        saved = self._load(conn, entity, record_id)
        self._audit(conn, entity, record_id, "create" if old is None else "update", old, saved, context, bypass)
        self._hook("tailor_after_save", entity=entity, record=saved, old=old, context=context)
        return saved

    def _hook(self, name: str, **kwargs) -> None:
        if self.hooks is not None:
            caller = getattr(self.hooks, name)
            if caller.get_hookimpls():  # no plugin implements it: nothing to call
                caller(**kwargs)

    def _input_keys(self, entity: Entity) -> dict[str, Field]:
        keys = self._keys.get(entity.name)
        if keys is None:
            keys = self._keys[entity.name] = input_keys(entity)
        return keys

    def _row_values(self, entity: Entity, record: dict[str, Any]) -> dict[str, Any]:
        """The columns of a record: its values of stored fields (and their parts), those
        of types that convert converted (`to_row`), and the search key."""
        columns = self._columns.get(entity.name)
        if columns is None:  # worked out once: the keys stored as they are, and the fields that convert
            fields = [f for f in entity.fields.values()
                      if f.type.storage == "column" and not (f.is_computed and not f.stored)]
            columns = self._columns[entity.name] = (
                frozenset(k for f in fields for k in f.type.input_keys(f)),
                [f for f in fields if not f.type.writes_as_is(f)], SEARCH_COLUMN in entity.table.c)
        keys, converting, searched = columns
        row = {SEARCH_COLUMN: search_key(entity, record)} if searched else {}
        row.update({k: v for k, v in record.items() if k in keys})
        for field in converting:
            if field.name in record:
                row.update(field.type.to_row(record[field.name], field))
        return row

    def _insert(self, conn: Connection, entity: Entity, row: dict[str, Any]) -> int:
        # the values as parameters of a statement built once per table: SQLAlchemy caches its
        # compiled form, instead of building and keying a new statement for every record
        statement = self._inserts.get(entity.name)
        if statement is None:
            statement = self._inserts[entity.name] = entity.table.insert().returning(entity.table.c.id)
        return int(conn.execute(statement, row).scalar_one())

    def _from_row(self, entity: Entity, row: dict[str, Any]) -> dict[str, Any]:
        readers = self._row_fields.get(entity.name)
        if readers is None:  # (field, its extra keys, whether its type reads the row its own way)
            readers = self._row_fields[entity.name] = [
                (f, f.type.input_keys(f)[1:], not f.type.reads_as_stored(f))
                for f in entity.fields.values() if f.type.storage == "column" and not (f.is_computed and not f.stored)]
        whole = self._whole_rows.get(entity.name)
        if whole is None:  # the keys of a row of every column, in the record's order, and who converts
            keys = [k for k in _STANDARD_COLUMNS if k in entity.table.c]
            for field, extra, _converts in readers:
                keys += [field.name, *extra]
            whole = self._whole_rows[entity.name] = (keys, frozenset(keys), [
                field for field, _extra, converts in readers if converts], itemgetter(*keys))
        if row.keys() >= whole[1]:  # every column (a record loaded, an import's saved record): most rows
            values = whole[3](row)  # (one C call for every key)
            record = dict(zip(whole[0], values if len(whole[0]) > 1 else (values,), strict=True))
            for field in whole[2]:
                record[field.name] = field.type.from_row(row, field)
        else:
            record = {k: row[k] for k in _STANDARD_COLUMNS if k in row}
            for field, extra, converts in readers:
                name = field.name
                if name not in row:
                    continue
                record[name] = field.type.from_row(row, field) if converts else row[name]
                for key in extra:
                    record[key] = row.get(key)
        for key in ("created_at", "updated_at"):
            moment = record.get(key)
            if isinstance(moment, datetime) and moment.tzinfo is None:
                record[key] = moment.replace(tzinfo=UTC)
        return record

    def _from_rows_in_place(self, entity: Entity, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`_from_row` of rows of every column (an import's echoed rows), made into their
        records in place: the search key dropped, the values of types that convert
        converted (their keys are the record's too), the clock given its zone."""
        if not rows:
            return rows
        self._from_row(entity, rows[0])  # (works out the entity's row plan, `_whole_rows`)
        keys, key_set, converting, _get = self._whole_rows[entity.name]
        if rows[0].keys() - {SEARCH_COLUMN} != key_set:
            return [self._from_row(entity, row) for row in rows]
        zoned: dict[int, tuple[datetime, datetime]] = {}  # the batch's clock is one object: zoned once
        for row in rows:
            row.pop(SEARCH_COLUMN, None)
            if converting:
                converted = [(field.name, field.type.from_row(row, field)) for field in converting]
                row.update(converted)
            for key in ("created_at", "updated_at"):
                moment = row.get(key)
                if isinstance(moment, datetime) and moment.tzinfo is None:
                    known = zoned.get(id(moment))
                    if known is None or known[0] is not moment:
                        known = zoned[id(moment)] = (moment, moment.replace(tzinfo=UTC))
                    row[key] = known[1]
        return rows

    def _load(self, conn: Connection, entity: Entity, record_id: int, for_update: bool = False):
        locking = for_update and conn.dialect.name == "postgresql"
        # built once per entity (and lock): a SELECT of every column costs more to build
        # than to run, and a save loads its record once or twice
        statement = self._loads.get((entity.name, locking))
        if statement is None:
            statement = sa.select(entity.table).where(entity.table.c.id == sa.bindparam("record_id"))
            if locking:
                statement = statement.with_for_update()
            self._loads[(entity.name, locking)] = statement
        row = conn.execute(statement, {"record_id": record_id}).first()
        if row is None:
            return None
        record = self._from_row(entity, dict(row._mapping))
        self._children(conn, entity, record)
        return record

    def _children(self, conn: Connection, entity: Entity, record: dict[str, Any]) -> None:
        for name, table in entity.child_tables.items():
            field = entity.fields[name]
            if field.type.name == "lines":
                rows = conn.execute(sa.select(table).where(table.c.parent_id == record["id"])
                                    .order_by(table.c.position, table.c.id))
                lines = []
                for r in rows:
                    mapping = dict(r._mapping)
                    line = {"id": mapping["id"]}
                    for sub in field.subfields.values():
                        if sub.type.storage == "column" and not (sub.is_computed and not sub.stored):
                            line[sub.name] = sub.type.from_row(mapping, sub)
                            for key in sub.type.input_keys(sub)[1:]:
                                line[key] = mapping.get(key)
                    lines.append(line)
                record[name] = lines
            else:
                rows = conn.execute(sa.select(table).where(table.c.source_id == record["id"]).order_by(table.c.id))
                links = []
                for r in rows:
                    mapping = dict(r._mapping)
                    link = {"id": mapping["target_id"]}
                    for sub in field.subfields.values():
                        link[sub.name] = sub.type.from_row(mapping, sub)
                    links.append(link)
                record[name] = links

    def _write_children(self, conn: Connection, entity: Entity, record_id: int, record: dict[str, Any],
                        old: dict[str, Any] | None) -> None:
        for name, table in entity.child_tables.items():
            if name not in record:
                continue
            field = entity.fields[name]
            if field.type.name == "lines":
                existing = {line["id"] for line in (old or {}).get(name, [])}
                keep = set()
                for position, line in enumerate(record[name] or []):
                    values = {"parent_id": record_id, "position": position}
                    for sub in field.subfields.values():
                        if sub.type.storage == "column" and not (sub.is_computed and not sub.stored):
                            for key in sub.type.input_keys(sub):
                                if key in line:
                                    values[key] = line[key]
                            if sub.name in line:
                                values.update(sub.type.to_row(line[sub.name], sub))
                    line_id = line.get("id")
                    if line_id in existing:
                        keep.add(line_id)
                        conn.execute(table.update().where(table.c.id == line_id).values(**values))
                    else:
                        conn.execute(table.insert().values(**values))
                gone = existing - keep
                if gone:
                    conn.execute(table.delete().where(table.c.id.in_(gone)))
            else:
                conn.execute(table.delete().where(table.c.source_id == record_id))
                for link in record[name] or []:
                    values = {"source_id": record_id, "target_id": link["id"]}
                    for sub in field.subfields.values():
                        if sub.name in link:
                            values.update(sub.type.to_row(link[sub.name], sub))
                    conn.execute(table.insert().values(**values))

    def _check_database_rules(self, conn: Connection, entity: Entity, record: dict[str, Any],
                              record_id: int | None, errors: dict[str, list[str]],
                              context: Context | None = None, old: Mapping[str, Any] | None = None) -> None:
        """Uniqueness, and links to records that exist. A link the user sets must point to a
        record they may read: to them, one they may not is one that does not exist."""
        context = context or Context()
        for field in entity.fields.values():
            value = record.get(field.name)
            if value is None or field.name in errors:
                continue
            if field.unique and field.type.storage == "column" and self._taken(conn, entity, field, value, record_id):
                errors.setdefault(field.name, []).append(_TAKEN % (value,))
            self._check_target(conn, entity, field, record, value, errors, context, old)
        self.links.check(conn, entity, record, old, errors, context)
        owner = record.get("owner")
        if owner is not None and "owner" not in errors:
            from ..storage import users

            if conn.execute(sa.select(users.c.id).where(users.c.id == owner)).first() is None:
                errors.setdefault("owner", []).append(message(NO_USER, id=owner))

    def _taken(self, conn: Connection, entity: Entity, field: Field, value: Any, record_id: int | None) -> bool:
        """Whether another record holds this value of a unique field."""
        return conn.execute(self._unique_check(entity, field.name, record_id is not None),
                            {"value": value, "record_id": record_id}).first() is not None

    def _check_target(self, conn: Connection, entity: Entity, field: Field, record: dict[str, Any], value: Any,
                      errors: dict[str, list[str]], context: Context, old: Mapping[str, Any] | None) -> None:
        """The records a link, polymorphic link, links or user field names exist (and, set
        by the user, are among those they may read)."""
        if field.type.name == "link":
            target = self.model.entity(field.to).table
            scope = None if old is not None and old.get(field.name) == value else \
                self._restriction(self.access(self.model.entity(field.to), context), "read", context)
            if scope is not None:  # an unchanged link is not being set: any reader may keep it
                statement, params = sa.select(target.c.id).where(target.c.id == value, scope), {}
            else:
                statement, params = self._exists(field.to), {"record_id": value}
            if conn.execute(statement, params).first() is None:
                errors.setdefault(field.name, []).append(message(NO_RECORD, entity=field.to, id=value))
        elif field.type.name == "polymorphic_link":
            kind = record.get(f"{field.name}_entity")
            if old is not None and (old.get(field.name), old.get(f"{field.name}_entity")) == (value, kind):
                return  # unchanged: not being set
            found = None
            entity_of = self.model.entities.get(kind)
            if entity_of is not None:
                statement = sa.select(entity_of.table.c.id).where(entity_of.table.c.id == value)
                scope = self._restriction(self.access(entity_of, context), "read", context)
                if scope is not None:
                    statement = statement.where(scope)
                found = conn.execute(statement).first()
            if found is None:
                errors.setdefault(field.name, []).append(message(NO_RECORD, entity=kind, id=value))
        elif field.type.name == "user":
            from ..storage import users

            if conn.execute(sa.select(users.c.id).where(users.c.id == value)).first() is None:
                errors.setdefault(field.name, []).append(message(NO_USER, id=value))
        elif field.type.name == "links" and value:
            target = self.model.entity(field.to).table
            wanted = {link["id"] for link in value}
            statement = sa.select(target.c.id).where(target.c.id.in_(wanted))
            before = {link["id"] for link in (old or {}).get(field.name) or [] if isinstance(link, dict)}
            if wanted - before:
                scope = self._restriction(self.access(field.to, context), "read", context)
                statement = statement.where(scope) if scope is not None else statement
                wanted = wanted - before
                statement = statement.where(target.c.id.in_(wanted))
            found = set(conn.execute(statement).scalars())
            missing = sorted(wanted - found)
            if missing:
                errors.setdefault(field.name, []).append(
                    message(NO_RECORD, entity=field.to, id=", ".join(map(str, missing))))

    def _unique_check(self, entity: Entity, name: str, updating: bool) -> Any:
        """SELECT a record holding this value of a unique field (another one, updating):
        built once per field, its values are parameters."""
        key = ("unique", entity.name, name, updating)
        statement = self._statements.get(key)
        if statement is None:
            table = entity.table
            statement = sa.select(table.c.id).where(table.c[name] == sa.bindparam("value"))
            if updating:
                statement = statement.where(table.c.id != sa.bindparam("record_id"))
            statement = self._statements[key] = statement.limit(1)
        return statement

    def _exists(self, entity_name: str) -> Any:
        """SELECT a record by id, whoever may read it (a link any reader may set)."""
        key = ("exists", entity_name)
        statement = self._statements.get(key)
        if statement is None:
            table = self.model.entity(entity_name).table
            statement = self._statements[key] = sa.select(table.c.id).where(table.c.id == sa.bindparam("record_id"))
        return statement

    def _references(self, conn: Connection, entity: Entity, record_id: int) -> list[str]:
        """Records that link to this one with on_delete: restrict (the default for links
        is set_null; restrict protects e.g. orders of a customer)."""
        found = []
        for other, field in self._pointing_fields(entity):
            if field.on_delete == "restrict":
                n = conn.execute(sa.select(sa.func.count()).select_from(other.table)
                                 .where(points_at(other, field, entity.name, record_id))).scalar_one()
                if n:
                    found.append(message(USED_BY, count=n, entity=other.name, field=field.name))
        return found

    def _next_number(self, conn: Connection, entity: Entity, field: Field, context: Context) -> str:
        key = field.type.sequence_key(entity.name, field, context.now)
        statement = _NEXT_NUMBER.get(conn.dialect.name)
        if statement is None:  # built once: the key is a parameter
            insert = postgresql.insert(sequence) if conn.dialect.name == "postgresql" else sqlite.insert(sequence)
            statement = _NEXT_NUMBER[conn.dialect.name] = insert.values(
                key=sa.bindparam("sequence_key"), value=1).on_conflict_do_update(
                index_elements=[sequence.c.key], set_={"value": sequence.c.value + 1}).returning(sequence.c.value)
        counter = conn.execute(statement, {"sequence_key": key}).scalar_one()
        return field.type.render(field, context.now, int(counter))

    def _audit(self, conn: Connection, entity: Entity, record_id: int, action: str,
               old: dict[str, Any] | None, new: dict[str, Any] | None, context: Context,
               bypass: bool = False) -> None:
        entry = self._audit_entry(conn, entity, record_id, action, old, new, context, bypass)
        if entry is not None:
            conn.execute(_AUDIT_INSERT, entry)

    def _audit_entry(self, conn: Connection, entity: Entity, record_id: int, action: str,
                     old: dict[str, Any] | None, new: dict[str, Any] | None, context: Context,
                     bypass: bool = False) -> dict[str, Any] | None:
        """The audit row of a write (None: an update that changed nothing)."""
        changes = {}
        plain = True  # every value as JSON gives it back (else a trip through JSON below)
        old, new = old or {}, new or {}
        encrypted = self._encrypted.get(entity.name)
        if encrypted is None:
            encrypted = self._encrypted[entity.name] = frozenset(n for n, f in entity.fields.items() if f.encrypted)
        if old:
            for key in sorted(set(old) | set(new)):
                if key in _AUDIT_SKIP:
                    continue
                before = jsonable(old.get(key))
                after = jsonable(new.get(key))
                if before != after:
                    changes[str(key)] = [before, after]
                    plain = plain and type(before) in _PLAIN and type(after) in _PLAIN
        else:  # a new record: every value it has (nothing before), in the order of its keys
            keys = tuple(new)
            order = self._audit_orders.get(keys)
            if order is None:  # the records of an import share their keys: sorted once
                if len(self._audit_orders) > 256:
                    self._audit_orders.clear()
                # as plain text: a field's name may be a subclass of str (the spec's, a column's),
                # which the JSON writer hands on to json.dumps, at ten times the cost
                order = self._audit_orders[keys] = [(str(k), k) for k in sorted(keys) if k not in _AUDIT_SKIP]
            changes = {key: [None, after] for key, own in order if (after := new[own]) is not None}
            for pair in changes.values():
                if type(pair[1]) not in _PLAIN:
                    pair[1] = jsonable(pair[1])
                    plain = plain and type(pair[1]) in _PLAIN
        for key in encrypted.intersection(changes) if encrypted else ():  # the trail holds no clear text either
            changes[key] = [v if v is None else keyring().seal(str(v)) for v in changes[key]]
        if action == "update" and not changes:
            return None
        if not plain:  # as JSON stores it (tuples as lists, keys as text); plain values already are
            changes = json.loads(json.dumps(changes))
        return dict(
            entity=entity.name, record_id=record_id, action=action, changes=changes,
            user_id=context.actor.id, at=context.now, metadata_version=self.model.version,
            bypass=bypass or self._bypassed(conn, entity, action, old, new, changes, context),
            import_run=context.extra.get("import_run"))

    def _bypassed(self, conn: Connection, entity: Entity, action: str, old: dict[str, Any] | None,
                  new: dict[str, Any] | None, changes: Mapping[str, Any], context: Context) -> bool:
        """An admin's write that no role of theirs would allow (shown in the audit log)."""
        actor = context.actor
        if not actor.is_admin or actor.system or context.workflow or not self.policy.enabled:
            return False
        own = self.policy.access(actor, entity, as_admin=False)
        if not own.can(action):
            return True
        record = old if old is not None else new or {}
        if action != "create" and not self._reaches(conn, own, record, action, context):
            return True
        return action != "delete" and any(not own.editable(k, action) for k in changes if k in entity.fields)

    def _virtual(self, entity: Entity, record: dict[str, Any], context: Context,
                 only: set[str] | None = None) -> None:
        """Computed values that are not stored: of child rows first, then of the record
        (with `only`, just those of these names: a list asked for some columns)."""
        for field in entity.fields.values():
            if field.type.name == "lines" and isinstance(record.get(field.name), list):
                order = [n for n in computed_order(field.subfields) if not field.subfields[n].stored]
                for row in record[field.name] if order else ():
                    compute(field.subfields, order, row, context)
        virtual = [n for n in entity.computed_order if not entity.fields[n].stored and (only is None or n in only)]
        if virtual:
            compute(entity.fields, virtual, record, context)


class _BatchRefused(Exception):
    """A batch of creates could not be saved together: its rows are saved one at a time."""


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class _Transaction:
    """`with service._write() as conn`: one transaction; the database refusing a value
    (integrity or data errors) becomes a ValidationError, never a 500."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def __enter__(self) -> Connection:
        self.context = self.engine.begin()
        return self.context.__enter__()

    def __exit__(self, exc_type, exc, tb):
        suppress = self.context.__exit__(exc_type, exc, tb)
        _refused(exc)
        return suppress


class _Savepoint:
    """A write inside `transaction()`: a SAVEPOINT, so a refused write leaves the outer
    transaction usable on PostgreSQL as on SQLite."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def __enter__(self) -> Connection:
        self.savepoint = self.conn.begin_nested()
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            self.savepoint.commit()
        else:
            self.savepoint.rollback()
        _refused(exc)
        return False


def _refused(exc: BaseException | None) -> None:
    if isinstance(exc, (IntegrityError, DataError)):
        raise ValidationError({"": [message(DATABASE_REFUSED, reason=_integrity_message(exc))]}) from exc


def points_at(entity: Entity, field: Field, target: str, record_id: int) -> Any:
    """The rows of `entity` whose link or polymorphic link `field` points at one record."""
    condition = entity.table.c[field.name] == record_id
    if field.type.name == "polymorphic_link":
        condition = sa.and_(entity.table.c[f"{field.name}_entity"] == target, condition)
    return condition


def _integrity_message(exc: IntegrityError) -> str:
    text = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
    return text[:200]


def _without(record: dict[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """A record without the fields the user may not see (`hidden` holds their parts too,
    such as a money field's currency: see permissions.policy.with_derived)."""
    if not hidden:
        return record
    return {k: v for k, v in record.items() if k not in hidden}


def _same_value(field: Field | None, new: Any, old: Any) -> bool:
    """Whether an imported value is the stored one; lines compare row by row on the
    values the file gave (a file knows no line ids and no computed amounts)."""
    if field is not None and field.type.name == "lines" and isinstance(new, list):
        old = old or []
        if len(new) != len(old):
            return False
        for line, before in zip(new, old, strict=True):
            if any(jsonable(v) != jsonable(before.get(k)) for k, v in line.items() if k != "id"):
                return False
            # a value the line has and the file leaves out would be cleared (lines are replaced)
            for sub in field.subfields.values():
                if sub.name not in line and before.get(sub.name) is not None and not sub.is_computed \
                        and sub.default is None:
                    return False
        return True
    return jsonable(new) == jsonable(old)


def _record_id(entity: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise NotFound(entity, value) from None
    if number <= 0 or number >= 2**63:
        raise NotFound(entity, value)
    return number


def _key_of(value: Any) -> Any:
    """A key value as matched: the same text whatever type a cell gave it."""
    return jsonable(value) if not isinstance(value, str) else value


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    return [k for k in keys if jsonable(old.get(k)) != jsonable(new.get(k))]
