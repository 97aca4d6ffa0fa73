"""Backups on a schedule, run by the job runner, and how many are kept.

Settings (environment): `TAILOR_BACKUP_EVERY_HOURS` turns scheduled backups on;
`TAILOR_BACKUP_AT` (`HH:MM`, UTC, default `00:00`) places the first slot of each day;
`TAILOR_BACKUP_DIR` (default `PROJECT/instance/backups`); `TAILOR_BACKUP_KEEP` (default 7)
how many archives stay; `TAILOR_BACKUP_PASSPHRASE` encrypts them.

Why jobs: every web worker and `tailor worker` of every host runs the same job queue, and
a job is claimed by one runner at a time, so a backup is taken once per slot however many
processes run. Each slot has its own archive name, so a slot run twice (a runner killed
after writing, its lease taken over) finds its archive and does nothing more. The backup
runs outside the job's database transaction: it would otherwise hold SQLite's write lock
for as long as it takes.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .archive import PARTIAL, WORK_PREFIX, database_versions, default_name, write_backup
from .errors import BackupError
from .sealing import PASSPHRASE_SETTING

KIND = "backup"
SEALED = ".sealed"
STALE = timedelta(hours=6)  # a half-written file older than this belongs to a writer that died


def backup_settings(extra: dict[str, str], project_dir: Path) -> dict[str, Any] | None:
    """The scheduled backups' settings (None when they are off); a BackupError names a
    setting that is wrong."""
    every = extra.get("backup_every_hours", "").strip()
    if not every:
        return None
    try:
        hours = float(every)
        if not 0 < hours <= 24 * 31:
            raise ValueError
    except ValueError:
        raise BackupError(f"TAILOR_BACKUP_EVERY_HOURS must be a number of hours (0 < h <= 744), not {every!r}") \
            from None
    at = extra.get("backup_at", "00:00").strip()
    try:
        hour, minute = (int(part) for part in at.split(":"))
        if not (0 <= hour < 24 and 0 <= minute < 60):
            raise ValueError
    except ValueError:
        raise BackupError(f"TAILOR_BACKUP_AT must be a time of day HH:MM (UTC), not {at!r}") from None
    keep = extra.get("backup_keep", "7").strip()
    if not (keep.isascii() and keep.isdigit()) or not 1 <= int(keep) <= 10_000:
        raise BackupError(f"TAILOR_BACKUP_KEEP must be a whole number of archives from 1, not {keep!r}")
    folder = extra.get("backup_dir") or str(Path(project_dir).resolve() / "instance" / "backups")
    return {"every_hours": hours, "offset_minutes": hour * 60 + minute, "keep": int(keep), "dir": folder,
            "project_dir": str(Path(project_dir).resolve())}


def next_slot(now: datetime, every_hours: float, offset_minutes: int) -> datetime:
    """The first slot after `now`: the day's offset plus whole multiples of the interval."""
    step = timedelta(hours=every_hours)
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    slot = day + timedelta(minutes=offset_minutes) - timedelta(days=1)
    while slot <= now:
        slot += step
    return slot


def plan_next(conn, config: dict[str, Any], now: datetime) -> datetime:
    """Queue the next scheduled backup (idempotent: its key is its slot)."""
    from ..jobs import schedule

    slot = next_slot(now, config["every_hours"], config["offset_minutes"])
    schedule(conn, KIND, f"{KIND}:{slot.isoformat()}", slot, {**config, "slot": slot.isoformat()})
    return slot


def seed(engine, extra: dict[str, str], project_dir: Path, now: datetime | None = None) -> datetime | None:
    """At start-up of a web app or worker: make sure the next backup is queued."""
    from ..storage import write_engine

    config = backup_settings(extra, project_dir)
    if config is None:
        return None
    with write_engine(engine).begin() as conn:
        return plan_next(conn, config, now or datetime.now(UTC))


def run_scheduled(job) -> None:
    """The job handler: this slot's archive (unless it exists), old archives pruned, the
    next slot queued."""
    from ..storage import write_engine

    payload = dict(job.payload)
    engine = job.service.engine
    folder = Path(payload["dir"])
    slot = datetime.fromisoformat(payload["slot"])
    project = database_versions(engine)[0] or Path(payload["project_dir"]).name
    secret = os.environ.get(PASSPHRASE_SETTING) or None
    target = folder / (default_name(project, slot) + (SEALED if secret else ""))
    if not target.exists():
        try:
            write_backup(engine, Path(payload["project_dir"]), target, secret)
        except BackupError:
            if not target.exists():  # taken meanwhile by a runner that took this slot over
                raise
    prune(folder, project, int(payload["keep"]))
    with write_engine(engine).begin() as conn:
        plan_next(conn, payload, max(job.now, slot))


run_scheduled.outside_transaction = True  # see engine.jobs.JobRunner.run_one


def archives(folder: Path, project: str) -> list[Path]:
    """The project's finished archives in `folder`, oldest first (names carry the time)."""
    names = [*Path(folder).glob(f"tailor-{project}-*.tar.gz"), *Path(folder).glob(f"tailor-{project}-*.tar.gz{SEALED}")]
    return sorted(names, key=lambda p: p.name.removesuffix(SEALED))


def prune(folder: Path, project: str, keep: int, now: float | None = None) -> list[Path]:
    """Remove all but the newest `keep` archives, and the leftovers of writers that died
    long ago; the files removed."""
    removed = []
    found = archives(folder, project)
    for path in found[:-keep] if keep else found:
        path.unlink(missing_ok=True)
        removed.append(path)
    limit = (now or time.time()) - STALE.total_seconds()
    for path in Path(folder).glob(f"*{PARTIAL}"):
        if path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)
            removed.append(path)
    for path in Path(folder).glob(f"{WORK_PREFIX}*"):
        if path.is_dir() and path.stat().st_mtime < limit:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
