"""The database job queue: scheduling twice is once; a job that fails half-way leaves
nothing of itself and is retried; two runners never run one job twice; a runner that died
holding a job loses it to another; `tailor worker --once` runs what is due."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.jobs import JobRunner, job_handlers, schedule
from engine.records import Context
from engine.storage import flow_history, jobs

REMIND = """
    nodes:
      manager:
        type: approval
        approvers: [{manager: submitter}]
        timeouts: [{after: 1h, action: remind}]
    """


def timeouts_in_history(w) -> int:
    with w.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(flow_history.c.action == "timeout")).scalar_one()


def job_row(w) -> dict:
    with w.engine.connect() as conn:
        return dict(conn.execute(sa.select(jobs).where(jobs.c.kind == "flow.timeout")).mappings().one())


def test_scheduling_the_same_key_twice_is_one_job(flow_world):
    w = flow_world(REMIND)
    now = Context().now
    with w.service.transaction() as conn:
        schedule(conn, "x", "same-key", now, {"a": 1})
        schedule(conn, "x", "same-key", now, {"a": 2})
    with w.engine.connect() as conn:
        assert conn.execute(sa.select(jobs.c.payload).where(jobs.c.key == "same-key")).scalars().all() == [{"a": 1}]


def test_a_job_failing_half_way_leaves_nothing_and_is_retried(flow_world, monkeypatch):
    w = flow_world(REMIND)
    deal = w.new()
    w.submit(deal)

    def crash(*args, **kwargs):
        raise RuntimeError("the machine died while notifying")

    monkeypatch.setattr(type(w.flows), "_notify_task", crash)
    assert w.run_jobs(timedelta(hours=2)) == 0
    assert timeouts_in_history(w) == 0  # the history row written before the crash was rolled back
    job = job_row(w)
    assert job["status"] == "pending" and job["attempts"] == 1 and "machine died" in job["last_error"]
    monkeypatch.undo()
    assert w.run_jobs(timedelta(hours=3)) == 1
    assert timeouts_in_history(w) == 1 and w.notified("boss") == ["task", "remind"]
    assert job_row(w)["status"] == "done"
    assert w.run_jobs(timedelta(hours=4)) == 0 and timeouts_in_history(w) == 1


def test_two_runners_do_not_run_one_job_twice(flow_world):
    w = flow_world(REMIND)
    deal = w.new()
    w.submit(deal)
    later = Context().now + timedelta(hours=2)
    first = JobRunner(lambda: w.service, job_handlers(w.service.model), "first")
    second = JobRunner(lambda: w.service, job_handlers(w.service.model), "second")
    job_id = job_row(w)["id"]
    assert first.claim(job_id, later) is not None
    assert second.run_one(job_id, later) is False  # claimed by the first
    assert first.run_one(job_id, later) is False  # a claim is taken once: run_one claims itself
    assert timeouts_in_history(w) == 0


def test_a_runner_that_died_loses_its_job_to_another(flow_world):
    w = flow_world(REMIND)
    deal = w.new()
    w.submit(deal)
    later = Context().now + timedelta(hours=2)
    dead = JobRunner(lambda: w.service, job_handlers(w.service.model), "dead")
    job_id = job_row(w)["id"]
    assert dead.claim(job_id, later) is not None  # ... and then it crashed
    alive = JobRunner(lambda: w.service, job_handlers(w.service.model), "alive")
    assert alive.run_due(later) == 0  # its claim still holds
    assert alive.run_due(later + timedelta(minutes=10)) == 1  # the claim ran out: taken over, run once
    assert timeouts_in_history(w) == 1
    with pytest.raises(Exception):  # noqa: B017 - the dead runner finishing late changes nothing
        raise_if_late(dead, job_id, later)
    assert timeouts_in_history(w) == 1


def raise_if_late(runner: JobRunner, job_id: int, now) -> None:
    if runner.claim(job_id, now) is None:
        raise LookupError("the job is no longer this runner's")


def test_tailor_worker_once(flow_world, monkeypatch):
    from engine.cli import cli

    w = flow_world("""
        nodes:
          manager:
            type: approval
            approvers: [{manager: submitter}]
            timeouts: [{after: 0m, action: approve}]
        """)
    deal = w.new()
    w.submit(deal)
    result = CliRunner().invoke(cli, ["worker", str(w.root), "--database", w.url, "--once"])
    assert result.exit_code == 0, result.output
    assert "1 job(s) done" in result.output
    assert w.flow(deal)["status"] == "approved"
