"""The import pages' dry run ("check") of a large file, as a job of the job runner.

A small file is checked while its page waits; a larger one (more rows than the pages'
`SYNC_ROWS`) is queued here (kind "import.check") and its page polls. The result is kept
with the upload (`tailor_import_upload.checked`) exactly as a check made while the page
waited: counts and failed rows as message ids, said in the reader's language when shown.

The upload's `checked` holds a marker while the check runs: {"state": "checking", "id",
"total", "started", "done"}. A job whose marker was replaced (the user checked again, or
ran the import) keeps its result to itself.

Progress: a dry run is one transaction, rolled back at its end (so its counts are exactly
a run's). On PostgreSQL each batch's progress is committed from a second connection to
the marker (any web worker sees it); SQLite has one writer at a time and the dry run is
it, so there the progress is kept in this process's memory (`SEEN`), which the pages of
the web worker running the job (the default: it starts the job itself) read; a separate
`tailor worker` on SQLite gives the page no row count, only a bar that moves.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from ..jobs import LEASE, JobContext, now_utc, schedule
from ..messages import Message, error_message
from ..records import Context, RecordError
from ..storage import import_uploads, jobs
from . import runs
from .mapping import Mapping
from .messages import ImportProblem

KIND = "import.check"
KEPT_ERRORS = 50_000  # failed rows of a dry run kept for its download
log = logging.getLogger(__name__)
SEEN: dict[str, int] = {}  # marker id: rows done, for the pages of this process (SQLite)
_SEEN_LOCK = threading.Lock()


def plain_params(params: dict[str, Any]) -> dict[str, Any]:
    """A message's parameters as JSON keeps them."""
    return {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in params.items()}


def checked(service: Any, entity_name: str, upload: dict[str, Any], mapping: Mapping, context: Context,
            progress: Any = None) -> dict[str, Any]:
    """The dry run's result as kept with the upload: counts and failed rows (as message ids,
    said in the reader's language when shown), or why it was refused as a whole."""
    try:
        summary = runs.dry_run(service, entity_name, upload["source"], upload["file_name"], mapping, context,
                               progress=progress)
    except ImportProblem as exc:
        return {"state": "refused", "message": exc.problem.message, "params": plain_params(exc.problem.params)}
    except RecordError as exc:  # an engine message keeps its id, said in the reader's language
        said = error_message(exc)
        if isinstance(said, Message):
            return {"state": "refused", "message": said.msgid, "params": plain_params(said.params),
                    "status": exc.status}
        return {"state": "refused", "text": str(exc), "status": exc.status}
    return {"state": "checked", "total": summary.total, "created": summary.created, "updated": summary.updated,
            "unchanged": summary.unchanged, "failed": summary.failed,
            "errors": [{"row": e.row, "column": e.column, "message": e.problem.message,
                        "params": plain_params(e.problem.params)} for e in summary.errors[:KEPT_ERRORS]],
            "more_errors": max(len(summary.errors) - KEPT_ERRORS, 0), "at": now_utc().isoformat()}


def queue(conn: Any, upload_id: int, marker: str) -> int:
    """Queue the check of an upload (in the caller's transaction, with its marker); the job's id."""
    key = f"import-check:{upload_id}:{marker}"
    schedule(conn, KIND, key, now_utc(), {"upload": upload_id, "marker": marker})
    return int(conn.execute(sa.select(jobs.c.id).where(jobs.c.key == key)).scalar_one())


def done_of(marker: dict[str, Any]) -> int | None:
    """Rows a running check has done: from the marker (PostgreSQL) or this process's memory."""
    with _SEEN_LOCK:
        seen = SEEN.get(marker.get("id", ""))
    stored = marker.get("done")
    found = [n for n in (seen, stored) if isinstance(n, int)]
    return max(found) if found else None


def check_job(job: JobContext) -> None:
    """The job handler: the dry run (its own transaction, rolled back: so outside the job's),
    then its result kept with the upload if the upload still waits for this check."""
    service = job.service
    upload_id, marker = int(job.payload["upload"]), str(job.payload["marker"])
    with service.engine.connect() as conn:
        row = conn.execute(sa.select(import_uploads).where(import_uploads.c.id == upload_id)).mappings().first()
    if row is None or not _current(row["checked"], marker):
        return  # checked again, run or removed since: nothing to do
    upload = dict(row)
    context = runs._context_of(service, upload)
    if context is None:
        _keep(service, upload_id, marker, {"state": "error", "text": "the user is no longer active"})
        return
    concurrent = service.engine.dialect.name == "postgresql"

    def progress(done: int, _total: int) -> None:
        with _SEEN_LOCK:
            SEEN[marker] = done
        if concurrent:  # a second connection: the dry run's transaction holds no lock on these rows
            try:
                with service.writer.begin() as conn:
                    current = conn.execute(sa.select(import_uploads.c.checked).where(
                        import_uploads.c.id == upload_id).with_for_update()).scalar()
                    if _current(current, marker):
                        conn.execute(import_uploads.update().where(import_uploads.c.id == upload_id)
                                     .values(checked={**current, "done": done}))
                    conn.execute(jobs.update().where(jobs.c.id == job.job_id, jobs.c.status == "running")
                                 .values(locked_until=now_utc() + LEASE))
            except Exception as exc:  # progress is a courtesy: never the check's failure
                log.warning("progress of the check of upload %s: %s", upload_id, exc)

    try:
        mapping = Mapping.from_dict(upload["mapping"])
        result = checked(service, upload["entity"], upload, mapping, context, progress)
    except Exception as exc:  # a fault, not the file: said on the page, the user may check again
        log.exception("dry run of upload %s failed", upload_id)
        result = {"state": "error", "text": f"{type(exc).__name__}: {exc}"[:500]}
    finally:
        with _SEEN_LOCK:
            SEEN.pop(marker, None)
    _keep(service, upload_id, marker, result)


check_job.outside_transaction = True  # type: ignore[attr-defined]
JOB_HANDLERS = {KIND: check_job}


def _current(checked_: Any, marker: str) -> bool:
    return isinstance(checked_, dict) and checked_.get("state") == "checking" and checked_.get("id") == marker


def _keep(service: Any, upload_id: int, marker: str, result: dict[str, Any]) -> None:
    with service.writer.begin() as conn:
        current = conn.execute(sa.select(import_uploads.c.checked).where(import_uploads.c.id == upload_id)).scalar()
        if _current(current, marker):  # still the check this job was queued for
            conn.execute(import_uploads.update().where(import_uploads.c.id == upload_id).values(checked=result))


LOST = timedelta(hours=2)  # a check marked running for longer than this died with its runner

__all__ = ["JOB_HANDLERS", "KIND", "LOST", "SEEN", "check_job", "checked", "done_of", "plain_params", "queue"]
