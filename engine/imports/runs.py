"""Import runs: a dry run, a run in batches through the job runner, and a revert.

* `dry_run` sends every row through `RecordService.import_rows` inside one transaction and
  rolls it back: the counts and failed rows are exactly what a run would give (the same
  code, the same rules), and nothing is written.
* `start` keeps the file (`tailor_import_file`), its mapping and the user (`tailor_import_run`) and queues a job
  (kind "import"); `run` works through it a batch at a time. Each batch commits with the
  run's progress (rows done, counts, failed rows, the records written): a crash or
  `kill -9` loses at most the batch in flight, and a restart resumes at `rows_done`, so
  every row is imported exactly once. A batch first moves `rows_done` on from the value it
  read: of two runners on one run, the second finds it moved and undoes its batch.
* reverting a run is a job of its own: engine/imports/reverts.py.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..gcpause import gc_paused
from ..jobs import LEASE, MAX_ATTEMPTS, JobContext, now_utc, schedule
from ..model.model import Entity
from ..records.context import SYSTEM, Actor, Context
from ..records.errors import RecordError, ValidationError
from ..storage import import_errors, import_files, import_items, import_runs, jobs
from ..storage.bulk import insert_rows
from . import messages as m
from .convert import Converter
from .mapping import Mapping
from .messages import ImportProblem, Problem
from .reading import Sheet, read_file

BATCH = 2000  # rows per transaction of a run (each commit waits for the disk, and each batch asks the database its questions once)
JOB_KIND = "import"
ENGINE_MESSAGE = "%(text)s"  # an engine message, kept as it was said
# a callback for progress (rows done, total) of the runs made in this context (the CLI's bar)
PROGRESS: ContextVar[Callable[[int, int], None] | None] = ContextVar("tailor_import_progress", default=None)


@dataclass
class RowError:
    row: int
    column: str
    problem: Problem

    def to_dict(self, language: str = "en") -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.problem.text(language)}


@dataclass
class Summary:
    """What an import did (or, dry, would do)."""

    entity: str
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)
    run: int | None = None
    dry_run: bool = False
    status: str | None = None

    def add(self, results: list[dict[str, Any]], errors: list[RowError]) -> None:
        for result in results:
            action = result["action"]
            setattr(self, action, getattr(self, action) + 1)
        self.errors.extend(errors)

    @property
    def records(self) -> int:
        """Records the rows made (an order and its lines are one record; `total` counts rows)."""
        return self.created + self.updated + self.unchanged + self.failed

    def counted(self) -> str:
        """"3 records (10 rows)" when records have several rows (child lines), else "10 rows"."""
        if self.records == self.total:
            return f"{self.total} row{'s' if self.total != 1 else ''}"
        return f"{self.records} record{'s' if self.records != 1 else ''} ({self.total} rows)"

    def failed_rows(self) -> list[int]:
        return sorted({e.row for e in self.errors})

    def to_dict(self, language: str = "en") -> dict[str, Any]:
        return {"entity": self.entity, "run": self.run, "dry_run": self.dry_run, "status": self.status,
                "total": self.total, "records": self.records, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "failed": self.failed,
                "errors": [e.to_dict(language) for e in self.errors]}


def prepare(service: Any, entity_name: str, data: bytes, file_name: str, mapping: Mapping | None,
            context: Context, sheet_name: str | None = None) -> tuple[Entity, Sheet, Mapping]:
    """The entity, the file's table and the mapping to use, or ImportProblem (a bad file,
    a bad mapping) and RecordError (the user may not import): nothing is read further."""
    entity = service.model.entity(entity_name) if entity_name in service.model.entities else None
    if entity is None:
        raise ImportProblem(m.NOT_ALLOWED, entity=entity_name)
    service.authorize(entity.name, "import", context)
    sheet = read_file(data, file_name, sheet_name or (mapping.sheet if mapping else None))
    suggested = Mapping.suggested(entity, sheet)
    chosen = mapping.merged_over(suggested) if mapping is not None else suggested
    chosen.entity = entity.name
    chosen.check(entity, sheet)
    return entity, sheet, chosen


def row_errors(prepared: list[Any], results: list[dict[str, Any]], mapping: Mapping) -> list[RowError]:
    """Failed rows' problems, each under the column it came from ('' for the row)."""
    found = []
    for row, result in zip(prepared, results, strict=True):
        if result["action"] != "failed":
            continue
        unread = set()  # (row, column) of cells the import could not read
        for index, (column, problem) in enumerate(row.errors):
            found.append(RowError(row.row_of_error(index), column, problem))
            unread.add((row.row_of_error(index), column))
        for key, texts in (result["errors"] or {}).items():
            number, column = _where(row, key, mapping)
            if (number, column) in unread:  # (a required field whose cell was unreadable: said once)
                continue
            for text in texts:
                found.append(RowError(number, column, Problem.of(text)))
    return found


def _where(row: Any, key: str, mapping: Mapping) -> tuple[int, str]:
    """The file's row and column of the service's error key: 'city', 'amount_currency',
    or a line's 'lines.2.quantity' (the second line's row, the lines.quantity column)."""
    if not key:
        return row.number, ""
    parts = key.split(".")
    if len(parts) >= 3 and parts[1].isdigit():
        column = mapping.column_of(f"{parts[0]}.{parts[2]}") or mapping.column_of(parts[0]) or key
        return row.row_of_line(parts[0], int(parts[1])), column
    return row.number, mapping.column_of(key) or mapping.column_of(parts[0]) or key


class _DryRun(Exception):
    pass


def dry_run(service: Any, entity_name: str, data: bytes, file_name: str, mapping: Mapping | None = None,
            context: Context | None = None, batch: int = BATCH,
            progress: Callable[[int, int], None] | None = None, *,
            prepared: tuple[Entity, Sheet, Mapping] | None = None) -> Summary:
    """Every row through the full rules, nothing written (one transaction, rolled back);
    `progress(rows done, total)` after each batch; `prepared` as for `start`."""
    context = context or Context()
    entity, sheet, mapping = prepared or prepare(service, entity_name, data, file_name, mapping, context)
    summary = Summary(entity=entity.name, total=len(sheet.rows), dry_run=True, status="dry_run")
    converter = Converter(service, entity, mapping, sheet.headers, context)
    seen: dict[Any, int] = {}
    try:
        with service.transaction():
            start = 0
            while start < len(sheet.rows):
                end = mapping.record_end(sheet.headers, sheet.rows, min(start + batch, len(sheet.rows)))
                with gc_paused():  # as a run's batch (see `run`)
                    prepared = converter.convert(sheet.rows[start:end], sheet.numbers[start:end], seen)
                    results = service.import_rows(entity.name, prepared, mode=mapping.mode, key=mapping.key,
                                                  context=context)
                summary.add(results, row_errors(prepared, results, mapping))
                start = end
                if progress is not None:
                    progress(end, len(sheet.rows))
            raise _DryRun()
    except _DryRun:
        pass
    return summary


def start(service: Any, entity_name: str, data: bytes, file_name: str, mapping: Mapping | None = None,
          context: Context | None = None, *, prepared: tuple[Entity, Sheet, Mapping] | None = None,
          here: bool = False) -> int:
    """Check the file and mapping, keep them in a new run and queue the job that imports
    it; returns the run's number. `prepared`: what `prepare` gave for this file, mapping
    and user (the file is not read again). `here`: the run will be made by this process
    (`tailor import` in the foreground), which keeps the file's table for it (see `run`)."""
    context = context or Context()
    if prepared is None:
        prepared = prepare(service, entity_name, data, file_name, mapping, context)
    entity, sheet, mapping = prepared
    with service.transaction() as conn:
        run_id = conn.execute(import_runs.insert().values(
            entity=entity.name, user_id=context.actor.id, status="queued", file_name=file_name[:255],
            mapping=mapping.to_dict(), total_rows=len(sheet.rows), created_at=now_utc())
            .returning(import_runs.c.id)).scalar_one()
        conn.execute(import_files.insert().values(run_id=run_id, source=data))
        schedule(conn, JOB_KIND, job_key(run_id), now_utc(), {"run": run_id})
    if here:
        _TABLES[int(run_id)] = (data, sheet)
    return int(run_id)


# the tables of files `start(here=True)` read, for the run this process makes next (a file
# of 100,000 rows takes about a second to read, once more by a run that reads it anew)
_TABLES: dict[int, tuple[bytes, Sheet]] = {}


def _table_of(kept: tuple[bytes, Sheet] | None, source: bytes, file_name: str, sheet_name: str | None) -> Sheet:
    """The table a run imports: the one `start` kept when it is of these very bytes and
    this sheet (run numbers repeat across databases; equal bytes read alike), else read."""
    if kept is not None and kept[0] == source and (kept[1].name == sheet_name if sheet_name else not kept[1].sheets):
        return kept[1]
    return read_file(source, file_name, sheet_name)


def job_key(run_id: int) -> str:
    return f"import:{run_id}"


def job_id(service: Any, run_id: int) -> int | None:
    with service.engine.connect() as conn:
        return conn.execute(sa.select(jobs.c.id).where(jobs.c.key == job_key(run_id))).scalar()


def run(service: Any, run_id: int, job: int | None = None, batch: int = BATCH,
        latest: Callable[[], Any] | None = None) -> Summary:
    """Import the rows of a run not yet done, a batch per transaction. With `latest` (the
    newest records service), each batch runs under the model of its time: a field an
    administrator adds a rule to, or removes, while the run goes is judged so from the next
    batch on (a mapping the new model refuses fails the run, its done batches kept)."""
    kept = _TABLES.pop(run_id, None)
    record = _run_row(service, run_id)
    summary = _summary_of(record)
    if record["status"] not in ("queued", "running"):
        return summary
    context = _context_of(service, record)
    if context is None:  # the user was removed or switched off meanwhile
        _finish(service, run_id, "failed", "the user who started the import is no longer active")
        summary.status = "failed"
        return summary
    try:
        entity = service.model.entity(record["entity"])
        mapping = Mapping.from_dict(record["mapping"])
        sheet = _table_of(kept, source_of(service, run_id), record["file_name"], mapping.sheet)
        mapping.check(entity, sheet)
    except (ImportProblem, KeyError) as exc:
        _finish(service, run_id, "failed", str(exc))
        summary.status = "failed"
        return summary
    with service.writer.begin() as conn:
        conn.execute(import_runs.update().where(import_runs.c.id == run_id, import_runs.c.status == "queued")
                     .values(status="running", started_at=now_utc()))
    converter = Converter(service, entity, mapping, sheet.headers, context)
    seen = _keys_before(converter, sheet, record["rows_done"])
    progress = PROGRESS.get()
    done = record["rows_done"]
    total = len(sheet.rows)
    while done < total:
        newest = latest() if latest is not None else service
        if newest is not service:  # the model changed since the last batch
            service = newest
            try:
                entity = service.model.entity(record["entity"])
                mapping.check(entity, sheet)
            except (ImportProblem, KeyError) as exc:
                _finish(service, run_id, "failed", str(exc))
                return summary_of(service, run_id)
            converter = Converter(service, entity, mapping, sheet.headers, context)
        end = mapping.record_end(sheet.headers, sheet.rows, min(done + batch, total))  # whole records
        batch_context = Context(actor=context.actor, extra={"import_run": run_id})
        # a batch allocates tens of thousands of small objects that live until it ends (cells,
        # inputs, records, audit changes): the cyclic collector would scan them again and
        # again, a fifth of an import's time; reference counting frees as always
        with gc_paused(), service.transaction() as conn:
            # first: move the run on from where this runner read it (locks the run's row)
            moved = conn.execute(import_runs.update().where(import_runs.c.id == run_id,
                                                            import_runs.c.rows_done == done,
                                                            import_runs.c.status == "running")
                                 .values(rows_done=end)).rowcount
            if moved != 1:
                raise RunLost(run_id)
            if job is not None:  # still working: keep the job's claim
                conn.execute(jobs.update().where(jobs.c.id == job, jobs.c.status == "running")
                             .values(locked_until=now_utc() + LEASE))
            prepared = converter.convert(sheet.rows[done:end], sheet.numbers[done:end], seen)
            results = service.import_rows(entity.name, prepared, mode=mapping.mode, key=mapping.key,
                                          context=batch_context)
            errors = row_errors(prepared, results, mapping)
            part = Summary(entity=entity.name)
            part.add(results, [])
            conn.execute(import_runs.update().where(import_runs.c.id == run_id).values(
                created=import_runs.c.created + part.created, updated=import_runs.c.updated + part.updated,
                unchanged=import_runs.c.unchanged + part.unchanged, failed=import_runs.c.failed + part.failed))
            items = [{"run_id": run_id, "row_number": r["number"], "record_id": r["id"], "action": r["action"],
                      "version": r["version"]} for r in results if r["action"] in ("created", "updated")]
            if items:
                insert_rows(conn, import_items, items)
            if errors:
                conn.execute(import_errors.insert(), [
                    {"run_id": run_id, "row_number": e.row, "column_name": e.column[:255],
                     "message": {"message": e.problem.message, "params": _plain(e.problem.params)}}
                    for e in errors])
        done = end
        if progress is not None:
            progress(done, total)
    _finish(service, run_id, "done")
    return summary_of(service, run_id)


class RunLost(Exception):
    """Another runner moved the run on: this one's batch was undone."""


def run_job(job: JobContext) -> None:
    """The job handler: imports the run in batches that commit by themselves (so it runs
    outside the job's transaction, and may run again after a crash: it resumes)."""
    run_id = int(job.payload["run"])
    try:
        run(job.service, run_id, job=job.job_id, latest=job.latest)
    except RunLost:
        return
    except Exception as exc:  # the runner retries the job; after its last try the run has failed
        with job.service.engine.connect() as conn:
            attempts = conn.execute(sa.select(jobs.c.attempts).where(jobs.c.id == job.job_id)).scalar() or 0
        if attempts >= MAX_ATTEMPTS:
            _finish(job.service, run_id, "failed", f"{type(exc).__name__}: {exc}"[:2000])
        raise


run_job.outside_transaction = True  # type: ignore[attr-defined]
JOB_HANDLERS = {JOB_KIND: run_job}


def summary_of(service: Any, run_id: int) -> Summary:
    """A run's counts and failed rows, as stored."""
    record = _run_row(service, run_id)
    summary = _summary_of(record)
    with service.engine.connect() as conn:
        for r in conn.execute(sa.select(import_errors).where(import_errors.c.run_id == run_id)
                              .order_by(import_errors.c.row_number, import_errors.c.id)):
            summary.errors.append(RowError(r.row_number, r.column_name,
                                           Problem(r.message["message"], r.message.get("params") or {})))
    return summary


def source_of(service: Any, run_id: int) -> bytes:
    """The file a run imports, as uploaded."""
    with service.engine.connect() as conn:
        source = conn.execute(sa.select(import_files.c.source).where(import_files.c.run_id == run_id)).scalar()
    if source is None:
        raise ImportProblem(m.NO_RUN, run=run_id)
    return bytes(source)


def _summary_of(record: dict[str, Any]) -> Summary:
    return Summary(entity=record["entity"], total=record["total_rows"], created=record["created"],
                   updated=record["updated"], unchanged=record["unchanged"], failed=record["failed"],
                   run=record["id"], status=record["status"])


def _run_row(service: Any, run_id: int) -> dict[str, Any]:
    with service.engine.connect() as conn:
        record = conn.execute(sa.select(import_runs).where(import_runs.c.id == run_id)).mappings().first()
    if record is None:
        raise ImportProblem(m.NO_RUN, run=run_id)
    return dict(record)


def _context_of(service: Any, record: dict[str, Any]) -> Context | None:
    if record["user_id"] is None:
        return Context(actor=SYSTEM)
    from ..workflows.duties import actor_of

    with service.engine.connect() as conn:
        actor = actor_of(conn, record["user_id"])
    return Context(actor=actor) if actor is not None else None


def _keys_before(converter: Converter, sheet: Sheet, done: int) -> dict[Any, int]:
    """The key values of the rows already imported (a resumed run still refuses a key
    seen twice in the file)."""
    return converter.keys_seen(sheet.rows[:done], sheet.numbers[:done])


def _finish(service: Any, run_id: int, status: str, message: str | None = None) -> None:
    with service.writer.begin() as conn:
        conn.execute(import_runs.update().where(import_runs.c.id == run_id,
                                                import_runs.c.status.in_(("queued", "running")))
                     .values(status=status, message=message, finished_at=now_utc()))


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in params.items()}


def actor_label(actor: Actor) -> str:
    return actor.username


__all__ = ["BATCH", "JOB_HANDLERS", "PROGRESS", "RecordError", "RowError", "RunLost", "Summary", "ValidationError",
           "dry_run", "job_id", "prepare", "run", "run_job", "source_of", "start", "summary_of"]
