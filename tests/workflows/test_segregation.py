"""Segregation of duties (engine/workflows/duties.py): the submitter never decides their own
request and an approver can always read what they approve, whichever path puts them on the
task: resolving, passing on, adding an approver, escalating, picking, or an administrator
acting for someone."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from engine.records import ValidationError
from engine.records.errors import PermissionDenied
from engine.storage import flow_tasks, write_engine
from engine.users import create_user
from engine.workflows import duties

BOSS_DECIDES = """
    outcomes: {approved: approved, rejected: rejected}
    nodes:
      check: {type: approval, approvers: [{user: boss}]}
    """


def with_outsider(w):
    """A user whose roles do not let them read deals at all."""
    with write_engine(w.engine).begin() as conn:
        create_user(conn, "outsider", None)
    w.reload()
    return w


def open_count(w, deal) -> int:
    return len(w.open_tasks(deal))


def test_a_task_cannot_be_passed_on_to_the_submitter(flow_world):
    w = flow_world(BOSS_DECIDES)
    deal = w.new()
    w.submit(deal)
    before = w.history(deal)
    with pytest.raises(ValidationError) as caught:
        w.flows.transfer(w.task(deal, "boss"), w["boss"], "rep", "yours")
    assert caught.value.errors == {"to": [duties.SELF_TARGET]}
    assert w.open_tasks(deal) == ["boss"] and w.history(deal) == before  # nothing changed
    w.approve(deal, "boss")
    assert w.flow(deal)["status"] == "approved"


@pytest.mark.parametrize("position", ["after", "before"])
def test_the_submitter_cannot_be_added_as_an_approver(flow_world, position):
    w = flow_world(BOSS_DECIDES)
    deal = w.new()
    w.submit(deal)
    with pytest.raises(ValidationError) as caught:
        w.flows.add_approver(w.task(deal, "boss"), w["boss"], "rep", position, "also")
    assert caught.value.errors == {"user": [duties.SELF_TARGET]}
    assert w.open_tasks(deal) == ["boss"] and w.flow(deal)["status"] == "running"


def test_a_task_cannot_go_to_someone_who_may_not_read_the_record(flow_world):
    w = with_outsider(flow_world(BOSS_DECIDES))
    deal = w.new()
    w.submit(deal)
    for operation in (lambda task: w.flows.transfer(task, w["boss"], "outsider", "yours"),
                      lambda task: w.flows.add_approver(task, w["boss"], "outsider", "after", "also"),
                      lambda task: w.flows.add_approver(task, w["root"], "outsider", "before", "also")):
        with pytest.raises(ValidationError) as caught:
            operation(w.task(deal, "boss"))
        assert list(caught.value.errors.values()) == [[duties.NOT_A_READER]]
    assert w.open_tasks(deal) == ["boss"]
    assert w.notified("outsider") == []
    # someone who can read it may take it
    w.flows.transfer(w.task(deal, "boss"), w["boss"], "legal", "yours")
    assert w.open_tasks(deal) == ["legal"]


def test_approvers_resolved_to_someone_who_may_not_read_are_skipped(flow_world):
    w = with_outsider(flow_world("""
        nodes:
          check: {type: approval, approvers: [{user: [outsider, legal]}]}
        """))
    deal = w.new()
    w.submit(deal)
    assert w.open_tasks(deal) == ["legal"]
    assert "skip_duties" in w.history(deal)


def test_a_manager_chain_reaching_the_submitter_skips_them(flow_world):
    w = flow_world("""
        nodes:
          check: {type: approval, approvers: [{manager_chain: owner, levels: 2}], mode: sequential}
        """)
    deal = w.new(owner="rep")
    w.submit(deal, "boss")  # the rep's manager submits the rep's deal: boss is in the owner's chain
    assert w.open_tasks(deal) == ["ceo"]
    assert [u for u, _ in w.tasks(deal)] == ["ceo"]
    w.approve(deal, "ceo")
    assert w.flow(deal)["status"] == "approved"


def test_when_the_submitter_was_the_only_approver_the_node_falls_to_when_nobody(flow_world):
    w = flow_world("""
        nodes:
          check: {type: approval, approvers: [{manager: owner}], when_nobody: legal}
        """)
    deal = w.new(owner="rep")
    w.submit(deal, "boss")
    assert w.open_tasks(deal) == ["legal"]
    assert "no_approver" in w.history(deal)


def test_when_nobody_never_names_the_submitter(flow_world):
    w = flow_world("""
        nodes:
          check: {type: approval, approvers: [{manager: owner}], when_nobody: boss}
        """)
    deal = w.new(owner="rep")
    w.submit(deal, "boss")
    assert w.open_tasks(deal) == ["root"]  # the administrators decide instead


def test_allow_self_approval_on_the_flow_is_honoured(flow_world):
    w = flow_world("""
        allow_self_approval: true
        nodes:
          check: {type: approval, approvers: [{manager: owner}]}
        """)
    deal = w.new(owner="rep")
    w.submit(deal, "boss")
    assert w.open_tasks(deal) == ["boss"]
    w.approve(deal, "boss")
    assert w.flow(deal)["status"] == "approved"


def test_allow_self_approval_on_a_node_is_honoured_and_wins_over_the_flow(flow_world):
    w = flow_world("""
        allow_self_approval: true
        nodes:
          mine: {type: approval, approvers: [{manager: owner}]}
          strict: {type: approval, approvers: [{manager: owner}, {user: legal}], allow_self_approval: false}
        """)
    deal = w.new(owner="rep")
    w.submit(deal, "boss")
    w.approve(deal, "boss")
    assert w.open_tasks(deal) == ["legal"]  # the second node does not let boss decide


def test_allow_self_approval_lets_a_task_be_passed_to_the_submitter(flow_world):
    w = flow_world("""
        nodes:
          check: {type: approval, approvers: [{user: legal}], allow_self_approval: true}
        """)
    deal = w.new()
    w.submit(deal)
    w.flows.transfer(w.task(deal, "legal"), w["legal"], "rep", "yours")
    w.approve(deal, "rep")
    assert w.flow(deal)["status"] == "approved"


def test_an_administrator_who_submitted_cannot_decide_for_the_approver(flow_world):
    w = flow_world(BOSS_DECIDES)
    deal = w.new(owner="rep")
    w.submit(deal, "root")
    task = w.task(deal, "boss")
    for operation in (lambda: w.flows.approve(task, w["root"], "ok"),
                      lambda: w.flows.reject(task, w["root"], "no"),
                      lambda: w.flows.send_back(task, w["root"], "no"),
                      lambda: w.flows.transfer(task, w["root"], "legal", "yours"),
                      lambda: w.flows.add_approver(task, w["root"], "legal", "after", "ok")):
        with pytest.raises(PermissionDenied) as caught:
            operation()
        assert str(caught.value) == duties.SELF_DECISION
    assert w.open_tasks(deal) == ["boss"] and w.flow(deal)["status"] == "running"
    # another administrator may still act for boss (audited): only the submitter is held back
    w.approve(deal, "boss")
    assert w.flow(deal)["status"] == "approved"


def test_an_administrator_cannot_pass_a_task_to_themselves_as_submitter(flow_world):
    w = flow_world(BOSS_DECIDES)
    deal = w.new(owner="rep")
    w.submit(deal, "root")
    with pytest.raises(ValidationError) as caught:
        w.flows.transfer(w.task(deal, "boss"), w["boss"], "root", "yours")  # boss may not hand it to root
    assert caught.value.errors == {"to": [duties.SELF_TARGET]}
    assert w.open_tasks(deal) == ["boss"]


def test_a_task_held_by_the_submitter_cannot_be_decided_but_can_be_repaired(flow_world):
    """Defence in depth: a task that reached the submitter anyway (a flow started before the
    rule, a plugin's resolver) is refused when decided; an administrator passes it on."""
    w = flow_world(BOSS_DECIDES)
    deal = w.new()
    w.submit(deal)
    task = w.task(deal, "boss")
    with write_engine(w.engine).begin() as conn:
        conn.execute(flow_tasks.update().where(flow_tasks.c.id == task).values(user_id=w.uid("rep")))
    for who in ("rep", "root"):
        with pytest.raises(PermissionDenied) as caught:
            w.flows.approve(task, w[who], "mine")
        assert str(caught.value) == duties.SELF_DECISION
    assert w.flow(deal)["status"] == "running"
    w.flows.transfer(task, w["root"], "legal", "repaired")
    w.approve(deal, "legal")
    assert w.flow(deal)["status"] == "approved"


def test_a_task_held_by_someone_who_may_not_read_cannot_be_decided(flow_world):
    w = with_outsider(flow_world(BOSS_DECIDES))
    deal = w.new()
    w.submit(deal)
    task = w.task(deal, "boss")
    with write_engine(w.engine).begin() as conn:
        conn.execute(flow_tasks.update().where(flow_tasks.c.id == task).values(user_id=w.uid("outsider")))
    with pytest.raises(PermissionDenied) as caught:
        w.flows.approve(task, w["outsider"], "blind")
    assert str(caught.value) == duties.NOT_A_READER_TASK
    with w.engine.connect() as conn:
        assert conn.execute(sa.select(flow_tasks.c.status).where(flow_tasks.c.id == task)).scalar_one() == "open"


def test_escalation_skips_a_manager_who_submitted(flow_world):
    w = flow_world("""
        nodes:
          check: {type: approval, approvers: [{user: rep2}], timeouts: [{after: 1h, action: escalate}]}
        """)
    deal = w.new(owner="rep")
    w.submit(deal, "boss")  # rep2's manager is boss, the submitter
    w.run_jobs(timedelta(hours=2))
    assert w.open_tasks(deal) == ["rep2"]  # reminded instead
    assert "escalate" not in w.history(deal)


def test_the_submitter_cannot_pick_themselves(flow_world):
    w = flow_world("""
        nodes:
          check: {type: approval, approvers: [{picked: submitter, role: manager}]}
        """)
    deal = w.new(owner="boss")
    with pytest.raises(ValidationError) as caught:
        w.submit(deal, "boss", picked={"check": [w.uid("boss")]})
    assert caught.value.errors == {"picked.check": [duties.SELF_TARGET]}
    assert w.state(deal) == "draft"


def test_the_only_administrator_submitting_with_nobody_else_is_refused(flow_world):
    w = flow_world("""
        nodes:
          check: {type: approval, approvers: [{manager: owner, level: 3}]}
        """)
    deal = w.new(owner="rep")
    with pytest.raises(ValidationError) as caught:
        w.submit(deal, "root")
    assert caught.value.errors == {"": [duties.NOBODY_ELSE]}
    assert w.state(deal) == "draft"
