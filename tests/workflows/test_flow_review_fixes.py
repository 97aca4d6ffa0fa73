"""Defects a review found in the flow engine, each kept from coming back."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from engine.records import Context, NotFound, PermissionDenied, ValidationError
from engine.storage import audit_log

TWO = """
    outcomes: {approved: approved, rejected: rejected, returned: draft, withdrawn: draft}
    nodes:
      manager: {type: approval, approvers: [{manager: submitter}]}
      director: {type: approval, approvers: [{user: ceo}]}
    """


def test_an_explicit_deny_of_a_transition_wins(flow_world):
    roles = """
        roles:
          rep: {entities: {deal: {actions: [read, create, update], deny: [submit], scope: own}}}
          manager: {entities: {deal: {actions: [read, update], scope: all}}}
          finance: {entities: {deal: {actions: [read], scope: all}}}
          director: {entities: {deal: {actions: [read], scope: all}}}
          legal: {entities: {deal: {actions: [read], scope: all}}}
        """
    w = flow_world(TWO, files={"roles.yaml": roles})
    deal = w.new()
    assert [t.name for t in w.flows.transitions("deal", w.get(deal), w["rep"])] == []
    with pytest.raises(PermissionDenied):
        w.submit(deal)
    w.submit(deal, "boss")  # may update: allowed
    assert w.state(deal) == "pending"


def test_resubmit_refused_when_the_record_no_longer_meets_the_condition(flow_world, make_project):
    w = flow_world(TWO)
    # a workflow whose submit has a condition and a required field
    from flowutil import ACCOUNT, DEAL, NOTE, ROLES

    from engine.migrate import apply_plan, plan_migration
    from engine.model import load_model
    from engine.records import RecordService
    root = make_project({"entities/deal.yaml": DEAL, "entities/memo.yaml": NOTE, "entities/account.yaml": ACCOUNT, "roles.yaml": ROLES,
                         "workflows/deal.yaml": (
                             "workflow: deal\nentity: deal\nfield: status\ntransitions:\n"
                             "  submit: {from: [draft, rejected], to: pending, approval: check, "
                             "condition: \"amount > 0\", requires: [due]}\n"
                             "approvals:\n  check:\n    outcomes: {approved: approved, returned: draft}\n"
                             "    nodes:\n      manager: {type: approval, approvers: [{manager: submitter}]}\n")},
                        name="conditioned")
    model = load_model(root, entry_points=False)
    apply_plan(w.engine, plan_migration(w.engine, model.metadata, project=model.project,
                                        metadata_version=model.version))
    w.service = RecordService(model, w.engine)
    w.flows = w.service.flows
    deal = w.new(amount=10, due="2026-12-01")
    w.submit(deal)
    w.flows.send_back(w.task(deal, "boss"), w["boss"], "fix", "submitter")
    record = w.get(deal)
    w.service.update("deal", deal["id"], {"amount": 0, "due": None}, version=record["version"], context=w["rep"])
    with pytest.raises(ValidationError) as info:
        w.flows.resubmit(w.flow(deal)["id"], w["rep"])
    assert "due" in info.value.errors and w.flow(deal)["status"] == "returned"


def test_withdraw_after_a_resubmit_while_nobody_acted_in_the_new_round(flow_world):
    w = flow_world(TWO)
    deal = w.new()
    w.submit(deal)
    w.approve(deal, "boss")
    w.flows.send_back(w.task(deal, "ceo"), w["ceo"], "fix", "submitter")
    w.flows.resubmit(w.flow(deal)["id"], w["rep"])
    w.flows.withdraw(w.flow(deal)["id"], w["rep"])
    assert w.flow(deal)["status"] == "withdrawn" and w.state(deal) == "draft"


def test_escalating_a_task_someone_waits_for_keeps_them_waiting_for_its_successor(flow_world):
    w = flow_world("""
        outcomes: {approved: approved}
        nodes:
          both:
            type: approval
            approvers: [{user: rep}, {user: fin1}]
            mode: all
            timeouts: [{after: 1h, action: escalate}]
        """)
    deal = w.new(owner="ceo")
    w.submit(deal, "ceo")  # not rep: a submitter never approves their own request
    w.flows.add_approver(w.task(deal, "rep"), w["rep"], "rep2", "before")
    assert w.run_jobs(timedelta(hours=2)) == 1  # rep2's (and fin1's) tasks go to their managers
    assert sorted(w.open_tasks(deal)) == ["boss", "fin1"]  # fin1 has no manager: reminded, keeps the task
    w.approve(deal, "boss")
    assert "rep" in w.open_tasks(deal)  # rep's turn again: waiting for boss, who took rep2's task
    w.approve(deal, "rep")
    w.approve(deal, "fin1")
    assert w.flow(deal)["status"] == "approved"


def test_a_record_under_approval_is_not_deleted_by_a_cascade(flow_world):
    w = flow_world(TWO)
    account = w.service.create("account", {"title": "Parent"}, Context())
    deal = w.new(parent=account["id"])
    w.submit(deal)
    with pytest.raises(ValidationError):
        w.service.delete("account", account["id"], context=w["root"])
    assert w.get(deal)["status"] == "pending"
    w.flows.withdraw(w.flow(deal)["id"], w["rep"])
    w.service.delete("account", account["id"], context=w["root"])  # withdrawn: the cascade may go ahead


def test_fields_a_step_hides_are_left_out_of_the_timeline_too(flow_world):
    w = flow_world("""
        nodes:
          manager: {type: approval, approvers: [{manager: submitter}], fields: {cost: hidden}}
        """)
    deal = w.new(cost=1)
    record = w.get(deal)
    w.service.update("deal", deal["id"], {"cost": 700}, version=record["version"], context=w["rep"])
    w.submit(deal)
    w.reload()
    changes = [e["changes"] for e in w.service.history("deal", deal["id"], w["boss"])]
    assert all("cost" not in c for c in changes)
    assert any("cost" in e["changes"] for e in w.service.history("deal", deal["id"], w["rep"]))
    with w.engine.connect() as conn:  # the audit log itself keeps everything
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar() >= 3


def test_bad_versions_and_ids_are_4xx_not_500(flow_world):
    w = flow_world(TWO)
    deal = w.new()
    for bad in ("abc", "²"):
        with pytest.raises(ValidationError):
            w.flows.run_transition("deal", deal["id"], "submit", w["rep"], version=bad)
    assert w.state(deal) == "draft"
    with pytest.raises(NotFound):
        w.flows.resubmit(999999, w["rep"])
    with pytest.raises(NotFound):
        w.flows.approve("x", w["boss"])
