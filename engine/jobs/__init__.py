"""Background jobs kept in the database (`tailor_job`): approval timeouts and reminders,
e-mails. They survive a restart, and a job's effects commit with its "done" mark, so a
crash never loses a job nor applies it twice.

* `schedule(conn, kind, key, run_at, payload)` queues a job inside the caller's
  transaction; a second call with the same key does nothing (scheduling is idempotent).
* `JobRunner.run_due()` claims due jobs (an atomic UPDATE: two runners never take the
  same job), runs each handler inside a records-service transaction and marks the job
  done in that same transaction, only if it still holds the claim. A failed job is
  retried later (at most `MAX_ATTEMPTS` times), with the error kept.
* `tailor worker` runs a runner in a loop for production; `create_app()` starts one in a
  thread of each web worker as the embedded default (`TAILOR_JOBS=off` to switch it off).

Handlers come from the `tailor_job_handlers` hook: {kind: handler(JobContext)}. A handler
marked `outside_transaction = True` (a backup) runs before the transaction that marks its
job done, so it must be idempotent: it may run again if its runner dies before the mark.
"""

from __future__ import annotations

import logging
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ..storage import jobs

MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=5)  # a claim older than this belongs to a runner that died
log = logging.getLogger("tailor.jobs")


def now_utc() -> datetime:
    return datetime.now(UTC)


def schedule(conn: Connection, kind: str, key: str, run_at: datetime, payload: Mapping[str, Any]) -> None:
    """Queue a job (in the caller's transaction). The same key twice is one job."""
    insert = postgresql.insert(jobs) if conn.dialect.name == "postgresql" else sqlite.insert(jobs)
    conn.execute(insert.values(kind=kind, key=key[:200], payload=dict(payload), run_at=run_at, status="pending",
                               attempts=0, created_at=now_utc()).on_conflict_do_nothing(index_elements=["key"]))


def cancel(conn: Connection, keys: list[str]) -> int:
    """Cancel the pending jobs of these keys (a node decided before its timeouts)."""
    if not keys:
        return 0
    return conn.execute(jobs.update().where(jobs.c.key.in_(keys), jobs.c.status == "pending")
                        .values(status="cancelled", finished_at=now_utc())).rowcount


def aware(value: datetime | None) -> datetime | None:
    """SQLite gives datetimes back without their UTC zone: put it back."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@dataclass
class JobContext:
    """What a handler gets: the records service (and through it the flow engine), the
    job's payload and the time it runs at."""

    service: Any
    payload: Mapping[str, Any]
    now: datetime
    job_id: int
    kind: str
    # the newest records service (the database's model, designer changes included): a long
    # job working in batches (an import) follows changes made while it runs
    latest: Callable[[], Any] | None = None

    @property
    def flows(self) -> Any:
        return self.service.flows


class JobRunner:
    def __init__(self, service_of: Callable[[], Any], handlers: Mapping[str, Callable[[JobContext], None]],
                 name: str | None = None, refresh: Callable[[], Any] | None = None):
        self._service_of = service_of  # the current records service (the web app's may be recompiled)
        self.refresh = refresh  # called before each batch: `tailor worker` follows the database's model
        self._batch: Any = None  # the service pinned for the batch being run
        self.handlers = dict(handlers)
        self.name = name or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"

    def due(self, now: datetime, limit: int) -> list[int]:
        engine = self.service_of().engine
        with engine.connect() as conn:
            return list(conn.execute(
                sa.select(jobs.c.id).where(sa.or_(
                    sa.and_(jobs.c.status == "pending", jobs.c.run_at <= now),
                    sa.and_(jobs.c.status == "running", jobs.c.locked_until < now)))
                .order_by(jobs.c.run_at, jobs.c.id).limit(limit)).scalars())

    def run_due(self, now: datetime | None = None, limit: int = 50) -> int:
        """Run the jobs due at `now`; returns how many completed."""
        now = now or now_utc()
        done = 0
        if self.refresh is not None:
            self.refresh()
        self._batch = self._service_of()  # one model for the whole batch, never a mix
        try:
            for job_id in self.due(now, limit):
                if self.run_one(job_id, now):
                    done += 1
        finally:
            self._batch = None
        return done

    def latest(self) -> Any:
        """The current records service after checking the database's model version."""
        if self.refresh is not None:
            self.refresh()
        return self._service_of()

    def service_of(self) -> Any:
        """The records service: the batch's while one runs, else the current one."""
        return self._batch if self._batch is not None else self._service_of()

    def claim(self, job_id: int, now: datetime) -> dict[str, Any] | None:
        service = self.service_of()
        with service.writer.begin() as conn:
            claimed = conn.execute(jobs.update().where(
                jobs.c.id == job_id,
                sa.or_(sa.and_(jobs.c.status == "pending", jobs.c.run_at <= now),
                       sa.and_(jobs.c.status == "running", jobs.c.locked_until < now)))
                .values(status="running", locked_by=self.name, locked_until=now + LEASE,
                        attempts=jobs.c.attempts + 1)).rowcount
            if claimed != 1:
                return None
            return dict(conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().one())

    def run_one(self, job_id: int, now: datetime) -> bool:
        job = self.claim(job_id, now)
        if job is None:
            return False  # another runner has it, or it is no longer due
        service = self.service_of()
        handler = self.handlers.get(job["kind"])
        try:
            if handler is None:
                raise LookupError(f"no handler for jobs of kind '{job['kind']}' (a plugin missing?)")
            context = JobContext(service, job["payload"] or {}, now, job_id, job["kind"], latest=self.latest)
            if getattr(handler, "outside_transaction", False):
                handler(context)  # long work that must not hold the write lock (a backup); idempotent
            with service.transaction() as conn:
                if not getattr(handler, "outside_transaction", False):
                    handler(context)
                finished = conn.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.locked_by == self.name,
                                                            jobs.c.status == "running")
                                        .values(status="done", finished_at=now_utc(), locked_until=None)).rowcount
                if finished != 1:  # our claim ran out and someone else took the job: undo our part
                    raise _LostClaim()
            return True
        except _LostClaim:
            return False
        except Exception as exc:  # a job's failure is recorded, never raised into the loop
            log.warning("job %s (%s) failed: %s", job_id, job["kind"], exc)
            attempts = job["attempts"]
            with service.writer.begin() as conn:
                conn.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.locked_by == self.name).values(
                    status="failed" if attempts >= MAX_ATTEMPTS else "pending",
                    run_at=now + timedelta(minutes=attempts * attempts), locked_by=None, locked_until=None,
                    last_error="".join(traceback.format_exception_only(type(exc), exc)).strip()[:2000]))
            return False

    def loop(self, interval: float, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_due()
            except Exception as exc:  # the database may be briefly unreachable: try again later
                log.warning("job runner: %s", exc)
            stop.wait(interval)


class _LostClaim(Exception):
    pass


def start_in_process(service_of: Callable[[], Any], handlers: Mapping[str, Callable], interval: float,
                     refresh: Callable[[], Any] | None = None) -> threading.Event:
    """The embedded default: a daemon thread running due jobs every `interval` seconds
    (`refresh` before each batch follows the database's model). Returns the event that stops it."""
    stop = threading.Event()
    runner = JobRunner(service_of, handlers, refresh=refresh)
    threading.Thread(target=runner.loop, args=(interval, stop), name="tailor-jobs", daemon=True).start()
    return stop


def job_handlers(model: Any) -> dict[str, Callable[[JobContext], None]]:
    """Every handler plugins (and the engine's defaults) register."""
    found: dict[str, Callable] = {}
    for handlers in reversed(model.plugins.hook.tailor_job_handlers() if model.plugins is not None else []):
        found.update(handlers or {})
    return found


def status_counts(conn: Connection) -> dict[str, int]:
    return dict(conn.execute(sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status)).all())


__all__ = ["JobContext", "JobRunner", "aware", "cancel", "job_handlers", "schedule", "start_in_process",
           "status_counts"]
