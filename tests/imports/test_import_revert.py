"""Reverting an import as a job of the job runner (SQLite and PostgreSQL): batches that
commit with their progress, a crash in the middle resumed without doing a record twice,
records changed before the job ran refused by title, records changed while it runs (or
refused by a rule) left as they are and named, and the CLI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from importutil import FILES, count, csv_bytes, records, world

from engine.imports import Mapping, reverts, run, start, summary_of
from engine.imports import runs as import_runs
from engine.imports.messages import ImportProblem
from engine.jobs import JobRunner, job_handlers, now_utc

VISIT = """
    entity: visit
    label: {en: Visit, zh: 拜访}
    title: note
    fields:
      note: {type: string, label: {en: Note, zh: 备注}}
      customer: {type: link, to: customer, required: true, label: {en: Customer, zh: 客户}}
    """


@pytest.fixture
def shop(service_for):
    service = service_for({**FILES, "entities/visit.yaml": VISIT})
    return service, world(service)


def imported(service, who, names: list[str], mode: str = "insert") -> int:
    data = csv_bytes([["name", "employees"], *[[n, "1"] for n in names]])
    mapping = Mapping(entity="customer", columns={}, mode=mode, key="name" if mode != "insert" else None)
    run_id = start(service, "customer", data, "c.csv", mapping, who)
    assert run(service, run_id).status == "done"
    return run_id


def runner(service):
    return JobRunner(lambda: service, job_handlers(service.model))


def test_a_revert_commits_batch_by_batch_and_resumes_after_a_crash(shop, monkeypatch):
    service, people = shop
    root = people["root"]
    run_id = imported(service, root, [f"C{i}" for i in range(7)])
    monkeypatch.setattr(reverts, "BATCH", 3)
    job = reverts.queue(service, run_id, root)
    state = reverts.latest(service, run_id)
    assert (state.job, state.status, state.total, state.done, state.working) == (job, "pending", 7, 0, True)
    # the process dies in the middle of the second batch: that batch is undone, the first kept
    real_delete = service.delete
    calls = {"n": 0}

    def dying_delete(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("worker killed")
        return real_delete(*args, **kwargs)

    monkeypatch.setattr(service, "delete", dying_delete)
    seen: list[tuple[int, int]] = []
    token = import_runs.PROGRESS.set(lambda done, total: seen.append((done, total)))
    try:
        assert runner(service).run_one(job, now_utc()) is False
    finally:
        import_runs.PROGRESS.reset(token)
    assert seen == [(3, 7)]
    state = reverts.latest(service, run_id)
    assert (state.status, state.done, state.deleted) == ("pending", 3, 3) and "worker killed" in state.error
    assert count(service) == 4 and summary_of(service, run_id).status == "done"
    # the runner's retry resumes after the last committed batch: every record once
    monkeypatch.setattr(service, "delete", real_delete)
    assert runner(service).run_one(job, now_utc() + timedelta(hours=1))
    state = reverts.latest(service, run_id)
    assert (state.status, state.done, state.deleted, state.restored, state.working) == ("done", 7, 7, 0, False)
    assert count(service) == 0 and summary_of(service, run_id).status == "reverted"
    assert state.rate is not None and state.rate > 0
    with pytest.raises(ImportProblem, match="already reverted"):
        reverts.queue(service, run_id, root)


def test_a_record_changed_before_the_job_runs_refuses_it_by_title(shop):
    service, people = shop
    root = people["root"]
    run_id = imported(service, root, ["Acme", "Globex"])
    job = reverts.queue(service, run_id, root)
    with pytest.raises(ImportProblem, match="being reverted"):  # one revert at a time
        reverts.queue(service, run_id, root)
    acme = next(r for r in records(service) if r["name"] == "Acme")
    service.update("customer", acme["id"], {"employees": 8}, version=acme["version"], context=root)
    runner(service).run_one(job, now_utc())
    state = reverts.latest(service, run_id)
    assert state.refused == [acme["id"]] and state.status == "done" and not state.working
    assert count(service) == 2 and summary_of(service, run_id).status == "done"  # nothing changed
    with pytest.raises(ImportProblem) as refused:
        reverts.outcome(service, run_id, root)
    assert f"Acme (#{acme['id']})" in refused.value.text("en")
    assert f"Acme (#{acme['id']})" in refused.value.text("zh") and "无法撤销" in refused.value.text("zh")
    # the queue's own check says it at once, naming the record too (a rep who may not read it: by number)
    with pytest.raises(ImportProblem) as at_once:
        reverts.queue(service, run_id, root)
    assert "Acme (#" in str(at_once.value)


def test_records_changed_while_it_runs_or_refused_are_left_and_named(shop, monkeypatch):
    service, people = shop
    root = people["root"]
    run_id = imported(service, root, [f"C{i}" for i in range(6)])
    # a visit now needs C0 (a required link: deleting C0 is refused by the service)
    c0 = next(r for r in records(service) if r["name"] == "C0")
    service.create("visit", {"note": "met", "customer": c0["id"]}, root)
    monkeypatch.setattr(reverts, "BATCH", 2)
    job = reverts.queue(service, run_id, root)  # the versions are as the run left them: queued

    def after_batch(done, _total):  # someone edits C1 (a later batch) while the revert runs
        if done == 2:
            c1 = next(r for r in records(service) if r["name"] == "C1")
            service.update("customer", c1["id"], {"employees": 3}, version=c1["version"], context=root)

    token = import_runs.PROGRESS.set(after_batch)
    try:
        assert runner(service).run_one(job, now_utc())
    finally:
        import_runs.PROGRESS.reset(token)
    assert sorted(r["name"] for r in records(service)) == ["C0", "C1"]
    state = reverts.latest(service, run_id)
    assert (state.deleted, state.skipped_count, state.done) == (4, 2, 6)
    reasons = {s["id"]: s["text"] for s in state.skipped}
    assert reasons[c0["id"]] and "still used by" in reasons[c0["id"]]
    assert [i for i, text in reasons.items() if text is None] != []  # C1: changed while it ran
    assert summary_of(service, run_id).status == "reverted"
    assert reverts.outcome(service, run_id, root) == {"deleted": 4, "restored": 0, "skipped": 2}


def test_updated_records_get_their_values_back(shop):
    service, people = shop
    root = people["root"]
    old = service.create("customer", {"name": "Old", "employees": 1, "level": "low"}, root)
    data = csv_bytes([["name", "employees", "level"], ["Old", "9", "high"], ["New", "2", ""]])
    run_id = start(service, "customer", data, "c.csv", Mapping(entity="customer", columns={}, mode="upsert",
                                                                   key="name"), root)
    run(service, run_id)
    assert reverts.revert(service, run_id, root) == {"deleted": 1, "restored": 1, "skipped": 0}
    back = service.get("customer", old["id"], root)
    assert (back["employees"], back["level"]) == (1, "low") and count(service) == 1


def test_cli_revert_reports_and_refuses_by_title(shop, tmp_path, db_url):
    from engine.cli import cli

    service, people = shop
    project = tmp_path / "project0"
    assert (project / "entities" / "visit.yaml").exists()
    first = imported(service, people["root"], ["Acme", "Globex"])
    second = imported(service, people["root"], ["Initech"])
    acme = next(r for r in records(service) if r["name"] == "Acme")
    service.update("customer", acme["id"], {"employees": 8}, version=acme["version"], context=people["root"])
    cli_runner = CliRunner()
    where = ["--project", str(project), "--database", db_url]
    result = cli_runner.invoke(cli, ["import-revert", str(first), *where])
    assert result.exit_code == 2 and f"Acme (#{acme['id']})" in result.output and "changed since" in result.output
    result = cli_runner.invoke(cli, ["import-revert", str(second), *where, "--background"])
    assert result.exit_code == 0 and "queued" in result.output
    assert reverts.latest(service, second).status == "pending" and count(service) == 3
    result = cli_runner.invoke(cli, ["import-revert", str(second), *where])
    assert result.exit_code == 2 and "being reverted" in result.output
    runner(service).run_one(reverts.latest(service, second).job, now_utc())
    assert count(service) == 2 and summary_of(service, second).status == "reverted"


def test_a_revert_whose_job_failed_for_good_goes_on_where_it_stopped(shop, monkeypatch):
    from engine.jobs import MAX_ATTEMPTS
    from engine.storage import jobs, write_engine

    service, people = shop
    root = people["root"]
    run_id = imported(service, root, [f"C{i}" for i in range(5)])
    monkeypatch.setattr(reverts, "BATCH", 2)
    job = reverts.queue(service, run_id, root)
    real_delete = service.delete
    calls = {"n": 0}

    def failing_after_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("database gone")
        return real_delete(*args, **kwargs)

    monkeypatch.setattr(service, "delete", failing_after_two)
    with write_engine(service.engine).begin() as conn:  # its last try
        conn.execute(jobs.update().where(jobs.c.id == job).values(attempts=MAX_ATTEMPTS - 1))
    assert not runner(service).run_one(job, now_utc())
    state = reverts.latest(service, run_id)
    assert (state.status, state.done, state.working) == ("failed", 2, False) and count(service) == 3
    with pytest.raises(ImportProblem, match="did not finish"):
        reverts.outcome(service, run_id, root)
    # asked again: the records it already reverted are not "changed since"; it goes on
    monkeypatch.setattr(service, "delete", real_delete)
    assert reverts.revert(service, run_id, root) == {"deleted": 5, "restored": 0, "skipped": 0}
    assert count(service) == 0 and summary_of(service, run_id).status == "reverted"
