"""Scheduled backups: queued once per slot whatever the number of processes, written by
the job runner outside its write transaction, old archives pruned, the next slot queued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.backup import BackupError, verify_archive
from engine.backup.schedule import backup_settings, next_slot, seed
from engine.cli import cli
from engine.jobs import JobRunner, job_handlers
from engine.model import load_model
from engine.records import RecordService
from engine.storage import jobs, make_engine


def test_slots_follow_the_interval_and_the_time_of_day():
    now = datetime(2026, 12, 5, 1, 30, tzinfo=UTC)
    assert next_slot(now, 24, 2 * 60) == datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    assert next_slot(now.replace(hour=3), 24, 2 * 60) == datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    assert next_slot(now, 6, 0) == datetime(2026, 12, 5, 6, 0, tzinfo=UTC)
    assert next_slot(datetime(2026, 12, 5, 6, 0, tzinfo=UTC), 6, 0) == datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("backup_every_hours", "daily", "TAILOR_BACKUP_EVERY_HOURS"),
    ("backup_every_hours", "0", "TAILOR_BACKUP_EVERY_HOURS"),
    ("backup_at", "25:00", "TAILOR_BACKUP_AT"),
    ("backup_keep", "0", "TAILOR_BACKUP_KEEP"),
])
def test_wrong_settings_are_named(tmp_path, key, value, message):
    extra = {"backup_every_hours": "24", key: value}
    with pytest.raises(BackupError, match=message):
        backup_settings(extra, tmp_path)
    assert backup_settings({}, tmp_path) is None


def test_the_job_runner_takes_one_backup_per_slot_and_keeps_the_newest(make_project, db_url, tmp_path):
    project = make_project({"entities/customer.yaml": "entity: customer\nfields:\n  name: {type: string}\n"})
    assert CliRunner().invoke(cli, ["migrate", str(project), "--database", db_url]).exit_code == 0
    engine = make_engine(db_url)
    model = load_model(project, entry_points=False)
    service = RecordService(model, engine)
    service.create("customer", {"name": "Acme"})
    folder = tmp_path / "archives"
    extra = {"backup_every_hours": "24", "backup_at": "02:00", "backup_keep": "2", "backup_dir": str(folder)}
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    for _ in range(3):  # every web worker and `tailor worker` seeds at start: one job per slot
        assert seed(engine, extra, project, now=start) == datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    runner = JobRunner(lambda: service, job_handlers(model))
    assert runner.run_due(start) == 0  # nothing due before the slot
    for day in range(2, 6):
        assert runner.run_due(datetime(2026, 12, day, 2, 5, tzinfo=UTC)) == 1
        assert runner.run_due(datetime(2026, 12, day, 2, 6, tzinfo=UTC)) == 0  # once per slot
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["tailor-test-20261204T020000Z.tar.gz", "tailor-test-20261205T020000Z.tar.gz"]
    assert verify_archive(folder / names[-1]).tables["customer"] == 1
    with engine.connect() as conn:
        pending = conn.execute(sa.select(jobs.c.run_at).where(jobs.c.kind == "backup", jobs.c.status == "pending")).all()
        done = conn.execute(sa.select(sa.func.count()).where(jobs.c.kind == "backup", jobs.c.status == "done")).scalar()
    assert done == 4
    assert [r.run_at.replace(tzinfo=UTC) for r in pending] == [datetime(2026, 12, 6, 2, 0, tzinfo=UTC)]
    engine.dispose()


def test_a_slot_run_again_writes_nothing_twice(make_project, db_url, tmp_path):
    """A runner killed after writing the archive, before marking its job done: the job is
    taken over when its lease runs out, finds the archive and only queues the next slot."""
    project = make_project({"entities/customer.yaml": "entity: customer\nfields:\n  name: {type: string}\n"})
    assert CliRunner().invoke(cli, ["migrate", str(project), "--database", db_url]).exit_code == 0
    engine = make_engine(db_url)
    model = load_model(project, entry_points=False)
    service = RecordService(model, engine)
    folder = tmp_path / "archives"
    extra = {"backup_every_hours": "12", "backup_dir": str(folder)}
    start = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    seed(engine, extra, project, now=start)
    slot = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    handlers = job_handlers(model)
    real = handlers["backup"]

    def dies_after_writing(job):
        real(job)
        raise SystemExit("killed")  # a runner that dies before its job's done mark

    dies_after_writing.outside_transaction = True
    with pytest.raises(SystemExit):
        JobRunner(lambda: service, {**handlers, "backup": dies_after_writing}).run_due(slot + timedelta(minutes=1))
    written = list(folder.iterdir())
    assert len(written) == 1
    mtime = written[0].stat().st_mtime_ns
    # the lease runs out; another runner takes the job over
    assert JobRunner(lambda: service, handlers).run_due(slot + timedelta(minutes=30)) == 1
    assert [p.stat().st_mtime_ns for p in folder.iterdir()] == [mtime]
    engine.dispose()
