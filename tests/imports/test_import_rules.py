"""An import runs the rules a form runs: the workflow's initial state, save hooks, the
audit trail naming the user and the import (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from importutil import administrator, csv_bytes, records

from engine.imports import dry_run, run, start
from engine.storage import audit_log

PLUGIN = '''
CALLS = []

def tailor_before_save(entity, record, old, context):
    if record.get("title"):
        record["title"] = record["title"].strip().capitalize()

def tailor_after_save(entity, record, old, context):
    if record.get("title") == "Boom":
        raise RuntimeError("the plugin broke")
    CALLS.append((record["id"], context.extra.get("import_run")))
'''

PROJECT = {
    "tailor.yaml": "name: desk\nlanguages: [en, zh]\nplugins: [./desk_hooks.py]\n",
    "desk_hooks.py": PLUGIN,
    "entities/ticket.yaml": """
        entity: ticket
        title: title
        fields:
          title: {type: string, required: true}
          status:
            type: choice
            default: open
            options: [open, closed]
        """,
    "workflows/ticket.yaml": """
        workflow: ticket
        entity: ticket
        field: status
        transitions:
          close: {from: open, to: closed}
        """,
}


@pytest.fixture
def desk(service_for):
    service = service_for(PROJECT)
    root = administrator(service)
    return service, root


def test_workflow_initial_state_hooks_and_audit(desk):
    service, root = desk
    data = csv_bytes([["title", "status"], ["  printer broken ", ""], ["already done", "closed"]])
    summary = dry_run(service, "ticket", data, "t.csv", context=root)
    assert (summary.created, summary.failed) == (1, 1)
    assert summary.errors[0].column == "status" and "starts as 'open'" in summary.errors[0].to_dict()["message"]
    run_id = start(service, "ticket", data, "t.csv", context=root)
    run(service, run_id)
    [ticket] = records(service, "ticket")
    assert ticket["title"] == "Printer broken" and ticket["status"] == "open"  # hook, initial state
    module = next(p for name, p in service.model.plugins.list_name_plugin() if name.endswith("desk_hooks.py"))
    assert (ticket["id"], run_id) in module.CALLS  # the after-save hook saw the import's row
    with service.engine.connect() as conn:
        entry = conn.execute(sa.select(audit_log).where(audit_log.c.entity == "ticket")).mappings().one()
    assert (entry["action"], entry["user_id"], entry["import_run"]) == ("create", root.actor.id, run_id)


def test_a_run_whose_job_keeps_failing_is_marked_failed(desk):
    from datetime import timedelta

    from engine.imports import summary_of
    from engine.jobs import JobRunner, job_handlers, now_utc

    service, root = desk
    run_id = start(service, "ticket", csv_bytes([["title"], ["fine"], ["boom"]]), "t.csv", context=root)
    runner = JobRunner(lambda: service, job_handlers(service.model))
    for attempt in range(5):
        assert runner.run_due(now=now_utc() + timedelta(hours=attempt + 1)) == 0
        assert summary_of(service, run_id).status == ("failed" if attempt == 4 else "running")
    assert records(service, "ticket") == []  # the batch rolled back as a whole
    with service.engine.connect() as conn:
        from engine.storage import import_runs

        message = conn.execute(sa.select(import_runs.c.message).where(import_runs.c.id == run_id)).scalar_one()
    assert "the plugin broke" in message


def test_a_run_follows_a_model_change_from_its_next_batch(service_for, build_model):
    """A designer change while an import runs: the batches after it are judged by the new
    model (a rule added), the batches before it stay; a change the mapping cannot survive
    (its field removed) fails the run and keeps what was done."""
    from importutil import FILES, world

    from engine.records import RecordService

    service = service_for(FILES)
    root = world(service)["root"]
    stricter = dict(FILES)
    stricter["entities/customer.yaml"] = FILES["entities/customer.yaml"].replace(
        "employees: {type: integer, label: {en: Employees, zh: 员工人数}, min: 0}",
        "employees: {type: integer, label: {en: Employees, zh: 员工人数}, min: 0, max: 5}")
    assert stricter["entities/customer.yaml"] != FILES["entities/customer.yaml"]
    newer = RecordService(build_model(stricter), service.engine)
    calls = []

    def latest():  # the model changes once the first batch is done
        calls.append(1)
        return service if len(calls) == 1 else newer

    data = csv_bytes([["Name", "Employees"], ["A", "9"], ["B", "9"], ["C", "9"], ["D", "2"]])
    summary = run(service, start(service, "customer", data, "c.csv", None, root), batch=2, latest=latest)
    assert (summary.created, summary.failed, summary.status) == (3, 1, "done"), summary.to_dict()
    assert [e.row for e in summary.errors] == [4]
    assert sorted(r["name"] for r in records(service)) == ["A", "B", "D"]

    gone = dict(FILES)
    gone["entities/customer.yaml"] = FILES["entities/customer.yaml"].replace(
        "          employees: {type: integer, label: {en: Employees, zh: 员工人数}, min: 0}\n", "").replace(
        '          double: {type: computed, returns: number, expression: "employees * 2", label: {en: Double, zh: 双倍}}\n', "")
    removed = RecordService(build_model(gone), service.engine)
    calls.clear()

    def latest_removed():
        calls.append(1)
        return service if len(calls) == 1 else removed

    data = csv_bytes([["Name", "Employees"], ["E", "1"], ["F", "1"], ["G", "1"]])
    summary = run(service, start(service, "customer", data, "c.csv", None, root), batch=2, latest=latest_removed)
    assert summary.status == "failed" and summary.created == 2
    assert sorted(r["name"] for r in records(service)) == ["A", "B", "D", "E", "F"]


def test_a_full_name_in_one_column_fills_the_parts_of_a_person_name(service_for):
    """Contacts exported with one 姓名 column come back in: the full name is split as a
    form splits it (family name first in Chinese characters)."""
    service = service_for({
        "tailor.yaml": "name: people\nlanguages: [en, zh]\n",
        "entities/contact.yaml": """
            entity: contact
            title: name
            fields:
              name: {type: person_name, required: true, label: {en: Name, zh: 姓名}}
            """,
    })
    root = administrator(service)
    data = csv_bytes([["姓名"], ["王磊"], ["欧阳娜娜"], ["David Q. Wu"], ["Cher"]])
    summary = run(service, start(service, "contact", data, "c.csv", None, root))
    assert (summary.created, summary.failed) == (4, 0), summary.to_dict()
    rows = records(service, "contact")
    assert [(r["name_last"], r["name_first"]) for r in rows] == [("王", "磊"), ("欧阳", "娜娜"), ("Wu", "David"),
                                                              ("Cher", None)]
    assert [r["name"] for r in rows] == ["王磊", "欧阳娜娜", "David Q. Wu", "Cher"]
