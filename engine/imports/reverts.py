"""Reverting an import run: a background job of the job runner, in committed batches,
with progress a page can poll (a new user waited 43 s for 3,000 rows inside one request).

* `queue` checks that the run may be reverted, now: it finished, the user may import, no
  revert of it is under way, and none of its records changed since the run (else
  `ImportProblem`, naming those records by title in the user's language); then it queues
  a job (kind "import.revert") and returns the job's id.
* `revert_job` (the handler) checks the records again (they may have changed while the
  job waited) and then works through the run's records a batch per transaction: created
  ones deleted, updated ones given back the values they had before the run (from the
  audit trail), through the records service (the reverting user's permissions, hooks,
  audit). Each batch commits with the job's progress (records done, deleted, restored),
  kept in the job's payload: a crash or `kill -9` loses at most the batch in flight and
  the runner's retry resumes after the last committed one. A batch first checks that the
  job is still this runner's (its claim), so two runners never revert one batch twice.
* A record someone changes while the revert runs (after the first check) is left as that
  person saved it, and so is one the service refuses to delete or restore (a record that
  others now link to): each is named in the result, never overwritten.
* `revert` is the same in the foreground (tests, scripts): queue, run the job now, and
  return the counts or raise why it was refused.

The job's payload is its state: {"run", "user", "total", "done", "deleted", "restored",
"started", "finished", "refused": [record ids] | None, "skipped": [{"id", "text"}]}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from ..jobs import LEASE, JobContext, JobRunner, aware, now_utc, schedule
from ..model.model import Entity
from ..records.context import Context
from ..records.errors import NotFound, RecordError
from ..records.titles import read_titles
from ..records.values import input_keys, write_refusal
from ..storage import audit_log, import_items, import_runs, jobs
from . import messages as m
from .messages import ImportProblem
from .runs import PROGRESS, RunLost, _context_of, _run_row

KIND = "import.revert"
BATCH = 200  # records per transaction of a revert
NAMED = 10  # records a refusal names (then "…")
KEPT_SKIPPED = 200  # records left as they were that the result names


def key_prefix(run_id: int) -> str:
    return f"import-revert:{run_id}:"


@dataclass
class RevertState:
    """The newest revert of a run, as its pages show it."""

    job: int
    status: str  # the job's: pending, running, done, failed
    total: int = 0
    done: int = 0
    deleted: int = 0
    restored: int = 0
    started: datetime | None = None
    finished_at: datetime | None = None
    refused: list[int] | None = None
    skipped: list[dict[str, Any]] = field(default_factory=list)
    skipped_count: int = 0
    error: str | None = None
    since: int = 0  # records done before `started` (a revert resumed after its job failed)

    @property
    def working(self) -> bool:
        return self.status in ("pending", "running")

    @property
    def rate(self) -> int | None:
        if self.started is None or self.done <= self.since:
            return None
        seconds = ((self.finished_at or now_utc()) - self.started).total_seconds()
        return round((self.done - self.since) / seconds) if seconds > 0 else None


def latest(service: Any, run_id: int) -> RevertState | None:
    """The run's newest revert job, or None when it was never reverted through one."""
    with service.engine.connect() as conn:
        row = conn.execute(sa.select(jobs.c.id, jobs.c.status, jobs.c.payload, jobs.c.finished_at, jobs.c.last_error)
                           .where(jobs.c.kind == KIND, jobs.c.key.like(key_prefix(run_id) + "%"))
                           .order_by(jobs.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    p = row.payload or {}
    started = datetime.fromisoformat(p["started"]) if p.get("started") else None
    return RevertState(job=row.id, status=row.status, total=p.get("total", 0), done=p.get("done", 0),
                       deleted=p.get("deleted", 0), restored=p.get("restored", 0), started=started,
                       finished_at=aware(row.finished_at), refused=p.get("refused"), skipped=p.get("skipped") or [],
                       skipped_count=p.get("skipped_count", 0), since=p.get("since", 0),
                       error=p.get("error") or (row.last_error if row.status in ("failed", "pending") else None))


def reverting(service: Any) -> set[int]:
    """The runs a revert job is under way for (queued or running): the list of past imports
    says so."""
    with service.engine.connect() as conn:
        keys = conn.execute(sa.select(jobs.c.key).where(jobs.c.kind == KIND,
                                                        jobs.c.status.in_(("pending", "running")))).scalars()
        return {int(k.split(":")[1]) for k in keys if k.count(":") == 2 and k.split(":")[1].isdigit()}


def _items(conn: Any, run_id: int) -> list[dict[str, Any]]:
    """The records a run wrote, newest first (lines and later rows before earlier ones)."""
    return [dict(r) for r in conn.execute(sa.select(import_items.c.record_id, import_items.c.action,
                                                    import_items.c.version)
                                          .where(import_items.c.run_id == run_id)
                                          .order_by(import_items.c.id.desc())).mappings()]


def _versions(conn: Any, entity: Entity, ids: list[int]) -> dict[int, int]:
    table = entity.table
    found: dict[int, int] = {}
    for start in range(0, len(ids), 500):
        found.update(conn.execute(sa.select(table.c.id, table.c.version)
                                  .where(table.c.id.in_(ids[start:start + 500]))).all())
    return found


def _changed(items: list[dict[str, Any]], versions: dict[int, int]) -> list[int]:
    """Records changed since the run (a created record deleted since is simply gone)."""
    return [i["record_id"] for i in items if versions.get(i["record_id"]) != i["version"]
            and not (i["action"] == "created" and i["record_id"] not in versions)]


def named(service: Any, entity: Entity, ids: list[int], context: Context, language: str) -> str:
    """Records by title and number ("Acme Ltd (#12), #15 …"), the reader's titles in
    their language; a record they may not read (or that is gone) by its number only."""
    shown = ids[:NAMED]
    titles = read_titles(service, entity, shown, context, language)
    text = ", ".join(f"{titles[i]} (#{i})" if titles.get(i) else f"#{i}" for i in shown)
    return text + (" …" if len(ids) > NAMED else "")


def refusal(service: Any, entity: Entity, run_id: int, ids: list[int], context: Context,
            language: str | None = None) -> ImportProblem:
    language = language or context.actor.language
    return ImportProblem(m.CHANGED_SINCE, run=run_id, count=len(ids),
                         records=named(service, entity, ids, context, language))


def queue(service: Any, run_id: int, context: Context | None = None) -> int:
    """Check that the run may be reverted now and queue the job that reverts it; returns
    the job's id. ImportProblem (said in the user's language) or RecordError otherwise."""
    context = context or Context()
    record = _run_row(service, run_id)
    if record["status"] == "reverted":
        raise ImportProblem(m.ALREADY_REVERTED, run=run_id)
    if record["status"] not in ("done", "failed"):
        raise ImportProblem(m.NOT_FINISHED, run=run_id)
    entity = service.model.entity(record["entity"])
    service.authorize(entity.name, "import", context)
    current = latest(service, run_id)
    if current is not None and current.working:
        raise ImportProblem(m.REVERTING, run=run_id)
    # a revert that stopped for good part way (its job failed 5 times) goes on where it stopped
    resumed = current if current is not None and current.status == "failed" and not current.refused \
        and 0 < current.done < current.total else None
    with service.engine.connect() as conn:
        items = _items(conn, run_id)
        left = items[resumed.done:] if resumed is not None else items
        changed = _changed(left, _versions(conn, entity, sorted({i["record_id"] for i in left})))
    if changed:
        raise refusal(service, entity, run_id, changed, context)
    payload: dict[str, Any] = {
        "run": run_id, "user": context.actor.id, "total": len(items), "done": 0, "deleted": 0, "restored": 0,
        "started": None, "finished": False, "refused": None, "skipped": [], "skipped_count": 0}
    if resumed is not None:
        payload.update(done=resumed.done, since=resumed.done, deleted=resumed.deleted, restored=resumed.restored,
                       started=now_utc().isoformat(), skipped=resumed.skipped, skipped_count=resumed.skipped_count)
    with service.writer.begin() as conn:
        # the n-th revert of the run: two clicks at once make the same key, so one job
        tries = conn.execute(sa.select(sa.func.count()).select_from(jobs).where(
            jobs.c.kind == KIND, jobs.c.key.like(key_prefix(run_id) + "%"))).scalar_one()
        key = f"{key_prefix(run_id)}{tries + 1}"
        schedule(conn, KIND, key, now_utc(), payload)
        return int(conn.execute(sa.select(jobs.c.id).where(jobs.c.key == key)).scalar_one())


def revert_job(job: JobContext) -> None:
    """The job handler: batches that commit by themselves (so it runs outside the job's
    transaction, and may run again after a crash: it resumes)."""
    try:
        work(job.service, job.job_id, dict(job.payload))
    except RunLost:
        return


revert_job.outside_transaction = True  # type: ignore[attr-defined]
JOB_HANDLERS = {KIND: revert_job}


def work(service: Any, job_id: int, payload: dict[str, Any], batch: int | None = None) -> dict[str, Any]:
    """Revert the run of the job from where its last committed batch stopped."""
    batch = batch or BATCH
    run_id = int(payload["run"])
    with service.engine.connect() as conn:
        holder = conn.execute(sa.select(jobs.c.locked_by).where(jobs.c.id == job_id)).scalar()
    record = _run_row(service, run_id)
    if payload.get("finished") or record["status"] not in ("done", "failed"):
        return payload
    context = _context_of(service, {"user_id": payload.get("user")})
    entity = service.model.entity(record["entity"])
    with service.engine.connect() as conn:
        items = _items(conn, run_id)
    done = int(payload.get("done") or 0)
    if done == 0:  # first: nothing may have changed since the run (checked again: the job may have waited)
        with service.engine.connect() as conn:
            changed = _changed(items, _versions(conn, entity, sorted({i["record_id"] for i in items})))
        if changed or context is None:
            payload.update(finished=True, refused=changed or None,
                           error=None if changed else "the user who asked for the revert is no longer active")
            _save(service, job_id, holder, payload)
            return payload
        payload["started"] = now_utc().isoformat()
        payload["total"] = len(items)
    assert context is not None
    progress = PROGRESS.get()
    total = len(items)
    while True:
        end = min(done + batch, total)
        part = items[done:end]
        with service.transaction() as conn:
            # first: the job must still be this runner's (locks its row): else undo this batch
            _save(service, job_id, holder, payload, conn)
            versions = _versions(conn, entity, [i["record_id"] for i in part])
            befores = _values_before(conn, entity, run_id, [i["record_id"] for i in part if i["action"] == "updated"])
            for item in part:
                record_id = item["record_id"]
                if item["action"] == "created" and record_id not in versions:
                    continue  # deleted since (or with another record of the run): nothing to undo
                if versions.get(record_id) != item["version"]:  # changed while the revert ran: left as it is
                    _skip(payload, record_id, None)
                    continue
                try:
                    if item["action"] == "created":
                        service.delete(entity.name, record_id, version=item["version"], context=context)
                        payload["deleted"] += 1
                    else:
                        data = befores.get(record_id, {})
                        if data:
                            service.update(entity.name, record_id, data, version=item["version"], context=context)
                        payload["restored"] += 1
                except NotFound as exc:  # gone with another record of the run (a cascade), or out of reach
                    if _versions(conn, entity, [record_id]):
                        _skip(payload, record_id, str(exc))
                except RecordError as exc:  # refused by a rule: only this record's change was undone
                    _skip(payload, record_id, str(exc))
            payload["done"] = done = end
            if done >= total:
                payload["finished"] = True
                conn.execute(import_runs.update().where(import_runs.c.id == run_id,
                                                        import_runs.c.status.in_(("done", "failed")))
                             .values(status="reverted", reverted_at=datetime.now(UTC)))
            _save(service, job_id, holder, payload, conn)
        if progress is not None:
            progress(done, total)
        if done >= total:
            return payload


def _skip(payload: dict[str, Any], record_id: int, text: str | None) -> None:
    payload["skipped_count"] = payload.get("skipped_count", 0) + 1
    if len(payload["skipped"]) < KEPT_SKIPPED:
        payload["skipped"].append({"id": record_id, "text": text})


def _save(service: Any, job_id: int, holder: str | None, payload: dict[str, Any], conn: Any = None) -> None:
    """Keep the revert's progress in its job (and its claim alive), only while the job is
    still this runner's: else RunLost, and the caller's transaction is undone."""
    def save(c: Any) -> None:
        moved = c.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.status == "running",
                                              jobs.c.locked_by == holder)
                          .values(payload=dict(payload), locked_until=now_utc() + LEASE)).rowcount
        if moved != 1:
            raise RunLost(job_id)

    if conn is not None:
        save(conn)
    else:
        with service.writer.begin() as c:
            save(c)


def _values_before(conn: Any, entity: Entity, run_id: int, ids: list[int]) -> dict[int, dict[str, Any]]:
    """{record id: input giving back the values a run's update replaced}, from the audit
    entries the run wrote (the first per record: a record is updated once per run)."""
    from ..fields.encryption import is_sealed, keyring

    keys = input_keys(entity)
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for r in conn.execute(sa.select(audit_log.c.record_id, audit_log.c.changes)
                              .where(audit_log.c.import_run == run_id, audit_log.c.entity == entity.name,
                                     audit_log.c.action == "update", audit_log.c.record_id.in_(chunk))
                              .order_by(audit_log.c.id)):
            if r.record_id in found:
                continue
            data: dict[str, Any] = {}
            for key, (before, _after) in (r.changes or {}).items():
                owner = keys.get(key)
                if key == "owner":
                    data[key] = before
                elif owner is not None and write_refusal(owner, trusted=False) is None:
                    data[key] = keyring().open(before) if owner.encrypted and is_sealed(before) else before
            found[r.record_id] = data
    return found


def revert(service: Any, run_id: int, context: Context | None = None) -> dict[str, int]:
    """Revert a run in the foreground through the job runner (its job claimed here, so a
    worker resumes it if this process dies); the counts, or ImportProblem when refused."""
    context = context or Context()
    job = queue(service, run_id, context)
    JobRunner(lambda: service, JOB_HANDLERS).run_one(job, now_utc())
    return outcome(service, run_id, context)


def outcome(service: Any, run_id: int, context: Context) -> dict[str, int]:
    """The newest revert's counts, or ImportProblem saying why it did not finish."""
    state = latest(service, run_id)
    if state is None:
        raise ImportProblem(m.NO_RUN, run=run_id)
    if state.refused:
        entity = service.model.entity(_run_row(service, run_id)["entity"])
        raise refusal(service, entity, run_id, state.refused, context)
    if state.status != "done" or state.done < state.total:
        raise ImportProblem(m.REVERT_STOPPED, run=run_id, reason=state.error or state.status)
    return {"deleted": state.deleted, "restored": state.restored, "skipped": state.skipped_count}


__all__ = ["BATCH", "JOB_HANDLERS", "KIND", "RevertState", "latest", "named", "outcome", "queue", "refusal",
           "revert", "revert_job", "reverting", "work"]
