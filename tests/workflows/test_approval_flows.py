"""Approval flows through the records service: every node type, resolver, mode, operation
and timeout action, version pinning and locking (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from engine.records import Context, NotFound, PermissionDenied, ValidationError
from engine.storage import audit_log, flow_history, jobs
from engine.workflows.runtime import FlowConflict

MANAGER = """
    outcomes: {approved: approved, rejected: rejected, returned: draft}
    nodes:
      manager: {type: approval, approvers: [{manager: submitter}]}
    """


def test_a_simple_approval_moves_the_state_and_notifies(flow_world):
    w = flow_world(MANAGER)
    deal = w.new()
    assert w.submit(deal, comment="please")["status"] == "pending"
    assert w.open_tasks(deal) == ["boss"]
    assert w.notified("boss") == ["task"]
    w.approve(deal, "boss", "fine")
    assert w.state(deal) == "approved" and w.flow(deal)["status"] == "approved"
    assert w.history(deal) == ["submit", "assign", "approve", "approved"]
    assert w.notified("rep") == ["approved"]
    with w.engine.connect() as conn:
        comments = conn.execute(sa.select(flow_history.c.comment).where(flow_history.c.comment.is_not(None))
                                .order_by(flow_history.c.id)).scalars().all()
    assert comments == ["please", "fine"]


def test_reject_needs_a_comment_and_ends_the_flow(flow_world):
    w = flow_world(MANAGER)
    deal = w.new()
    w.submit(deal)
    with pytest.raises(ValidationError):
        w.reject(deal, "boss", comment="")
    assert w.open_tasks(deal) == ["boss"]  # nothing changed
    w.reject(deal, "boss", "too cheap")
    assert w.state(deal) == "rejected" and w.flow(deal)["status"] == "rejected"
    assert w.open_tasks(deal) == []
    w.submit(deal)  # rejected deals may be submitted again: a new flow
    assert w.open_tasks(deal) == ["boss"]


def test_only_the_assignee_or_an_admin_acts_and_an_admin_is_recorded(flow_world):
    w = flow_world(MANAGER)
    deal = w.new()
    w.submit(deal)
    task = w.task(deal, "boss")
    with pytest.raises(NotFound):
        w.flows.approve(task, w["rep2"], "me?")
    w.flows.approve(task, w["root"], "on behalf")
    with w.engine.connect() as conn:
        details = conn.execute(sa.select(flow_history.c.details).where(flow_history.c.action == "approve")).scalar()
    assert details == {"on_behalf_of": w.uid("boss")}
    assert w.state(deal) == "approved"


def test_a_double_click_is_one_decision(flow_world):
    w = flow_world(MANAGER)
    deal = w.new()
    w.submit(deal)
    task = w.task(deal, "boss")
    w.flows.approve(task, w["boss"], "ok")
    with pytest.raises(FlowConflict):
        w.flows.approve(task, w["boss"], "ok")
    assert w.history(deal).count("approve") == 1


MODES = """
    outcomes: {{approved: approved, rejected: rejected}}
    nodes:
      money: {{type: approval, approvers: [{{role: finance}}], mode: {mode}}}
    """


def test_mode_any_first_decision_wins(flow_world):
    w = flow_world(MODES.format(mode="any"))
    deal = w.new()
    w.submit(deal)
    assert w.open_tasks(deal) == ["fin1", "fin2"]
    task2 = w.task(deal, "fin2")
    w.approve(deal, "fin1")
    assert w.state(deal) == "approved"
    with pytest.raises(FlowConflict):  # the other approver came second
        w.flows.approve(task2, w["fin2"], "me too")
    assert ("fin2", "cancelled") in w.tasks(deal)


def test_mode_all_needs_everyone(flow_world):
    w = flow_world(MODES.format(mode="all"))
    deal = w.new()
    w.submit(deal)
    w.approve(deal, "fin2")
    assert w.state(deal) == "pending" and w.open_tasks(deal) == ["fin1"]
    w.approve(deal, "fin1")
    assert w.state(deal) == "approved"


def test_mode_all_one_rejection_rejects(flow_world):
    w = flow_world(MODES.format(mode="all"))
    deal = w.new()
    w.submit(deal)
    w.approve(deal, "fin1")
    w.reject(deal, "fin2")
    assert w.state(deal) == "rejected" and w.open_tasks(deal) == []
    assert w.tasks(deal) == [("fin1", "approved"), ("fin2", "rejected")]


def test_mode_sequential_one_after_another(flow_world):
    w = flow_world(MODES.format(mode="sequential"))
    deal = w.new()
    w.submit(deal)
    assert w.open_tasks(deal) == ["fin1"] and ("fin2", "pending") in w.tasks(deal)
    assert w.notified("fin2") == []  # not their turn yet
    w.approve(deal, "fin1")
    assert w.open_tasks(deal) == ["fin2"] and w.notified("fin2") == ["task"]
    w.approve(deal, "fin2")
    assert w.state(deal) == "approved"


RESOLVERS = """
    nodes:
      a: {{type: approval, approvers: [{approver}], when_nobody: approve}}
    """


@pytest.mark.parametrize("approver, expected", [
    ("{user: legal}", ["legal"]),
    ("{user: [legal, fin2]}", ["legal", "fin2"]),
    ("{role: finance}", ["fin1", "fin2"]),
    ("{role: manager, department_of: submitter}", []),  # boss is above the rep's department
    ("{role: manager, department_of: owner}", []),
    ("{field: reviewer}", ["legal"]),
    ("{manager: submitter}", ["boss"]),
    ("{manager: owner, level: 2}", ["ceo"]),
    ("{manager: owner, level: 3}", []),
    ("{manager_chain: submitter, levels: 2}", ["boss", "ceo"]),
    ("{manager_chain: submitter, until_role: manager}", ["boss"]),
    ("{department_head: owner}", ["boss"]),  # East has no head: the nearest above has
    ("{department_head: owner, level: 2}", ["ceo"]),
])
def test_resolvers(flow_world, approver, expected):
    w = flow_world(RESOLVERS.format(approver=approver))
    deal = w.new(reviewer=w.uid("legal"))
    w.submit(deal)
    if expected:
        assert [u for u, _ in w.tasks(deal)] == expected
    else:  # nobody: when_nobody approve passes the node
        assert w.flow(deal)["status"] == "approved" and "auto_approve" in w.history(deal)


def test_a_role_within_the_submitters_department(flow_world):
    w = flow_world(RESOLVERS.format(approver="{role: rep, department_of: submitter}"))
    deal = w.new()
    w.submit(deal)
    assert [u for u, _ in w.tasks(deal)] == ["rep2"]  # rep holds the role too, but submitted it
    assert "skip_duties" in w.history(deal)


def test_when_nobody_resolves_admin_or_a_named_user(flow_world):
    w = flow_world("""
        nodes:
          a: {type: approval, approvers: [{field: reviewer}]}
          b: {type: approval, approvers: [{field: reviewer}], when_nobody: legal}
        """)
    deal = w.new()  # no reviewer
    w.submit(deal)
    assert w.open_tasks(deal) == ["root"] and "no_approver" in w.history(deal)
    w.approve(deal, "root")
    assert w.open_tasks(deal) == ["legal"]


def test_picked_approvers_within_the_allowed_range(flow_world):
    w = flow_world("""
        nodes:
          pick: {type: approval, approvers: [{picked: submitter, role: finance, max: 1}]}
        """)
    deal = w.new()
    with pytest.raises(ValidationError):
        w.submit(deal, picked={"pick": [w.uid("legal")]})  # not in finance
    with pytest.raises(ValidationError):
        w.submit(deal, picked={"pick": [w.uid("fin1"), w.uid("fin2")]})  # at most one
    assert w.state(deal) == "draft"  # the refused submits changed nothing
    w.submit(deal, picked={"pick": [w.uid("fin2")]})
    assert w.open_tasks(deal) == ["fin2"]


def test_skip_an_approver_who_already_approved(flow_world):
    w = flow_world("""
        nodes:
          first: {type: approval, approvers: [{manager: submitter}]}
          again: {type: approval, approvers: [{department_head: owner}]}
          keep: {type: approval, approvers: [{department_head: owner}], skip_approved: false}
        """)
    deal = w.new()
    w.submit(deal)
    w.approve(deal, "boss")
    assert "skip" in w.history(deal)  # boss heads Sales: already approved
    assert w.open_tasks(deal) == ["boss"]  # but `keep` asks again
    w.approve(deal, "boss")
    assert w.flow(deal)["status"] == "approved"


CONDITION = """
    nodes:
      route:
        type: condition
        cases:
          - {when: "amount > 100000", next: big}
          - {when: "discount > 20", next: deep}
        default: small
      big: {type: approval, approvers: [{user: ceo}], next: end}
      deep: {type: approval, approvers: [{user: legal}], next: end}
      small: {type: approval, approvers: [{user: boss}]}
    """


@pytest.mark.parametrize("values, approver", [
    ({"amount": 200000, "discount": 30}, "ceo"),  # cases in order: the first that holds
    ({"amount": 500, "discount": 30}, "legal"),
    ({"amount": 500, "discount": 5}, "boss"),
])
def test_condition_cases_and_default(flow_world, values, approver):
    w = flow_world(CONDITION)
    deal = w.new(**values)
    w.submit(deal)
    assert w.open_tasks(deal) == [approver]
    w.approve(deal, approver)
    assert w.flow(deal)["status"] == "approved"
    taken = [node for node, status, _ in w.steps(deal) if status == "done"]
    assert taken == ["route", approver_node(approver)]


def approver_node(approver: str) -> str:
    return {"ceo": "big", "legal": "deep", "boss": "small"}[approver]


def test_cc_notifies_and_grants_read_without_a_decision(flow_world):
    w = flow_world("""
        nodes:
          tell: {type: cc, to: [{user: legal}]}
          manager: {type: approval, approvers: [{manager: submitter}]}
        """)
    deal = w.new()
    with pytest.raises(NotFound):
        w.service.get("deal", deal["id"], w["rep2"])  # rep2 sees only their own
    w.submit(deal)
    assert w.tasks(deal, "cc") == [("legal", "unread")] and w.notified("legal") == ["cc"]
    assert w.open_tasks(deal) == ["boss"]
    w.reload()
    assert w.service.get("deal", deal["id"], w["legal"])["name"] == "Deal"


PARALLEL = """
    nodes:
      split: {{type: parallel, branches: [money, law], join: {join}, next: final}}
      money: {{type: approval, approvers: [{{user: fin1}}], next: final}}
      law: {{type: approval, approvers: [{{user: legal}}], next: final}}
      final: {{type: approval, approvers: [{{user: ceo}}]}}
    """


def test_parallel_branches_join_when_all_finish(flow_world):
    w = flow_world(PARALLEL.format(join="all"))
    deal = w.new()
    w.submit(deal)
    assert sorted(w.open_tasks(deal)) == ["fin1", "legal"]
    w.approve(deal, "legal")
    assert w.open_tasks(deal) == ["fin1"]
    w.approve(deal, "fin1")
    assert w.open_tasks(deal) == ["ceo"]
    w.approve(deal, "ceo")
    assert w.flow(deal)["status"] == "approved"


def test_parallel_join_any_cancels_the_other_branch(flow_world):
    w = flow_world(PARALLEL.format(join="any"))
    deal = w.new()
    w.submit(deal)
    w.approve(deal, "fin1")
    assert w.open_tasks(deal) == ["ceo"] and ("legal", "cancelled") in w.tasks(deal)


def test_a_rejection_in_a_branch_rejects_the_flow(flow_world):
    w = flow_world(PARALLEL.format(join="all"))
    deal = w.new()
    w.submit(deal)
    w.reject(deal, "legal")
    assert w.flow(deal)["status"] == "rejected" and w.open_tasks(deal) == []


TWO_STEPS = """
    outcomes: {{approved: approved, rejected: rejected, returned: draft, withdrawn: draft}}
    {resubmit}
    nodes:
      manager: {{type: approval, approvers: [{{manager: submitter}}]}}
      director: {{type: approval, approvers: [{{user: ceo}}]}}
    """


def test_send_back_to_the_submitter_then_resubmit_resumes_at_the_returner(flow_world):
    w = flow_world(TWO_STEPS.format(resubmit=""))
    deal = w.new()
    w.submit(deal)
    w.approve(deal, "boss")
    w.flows.send_back(w.task(deal, "ceo"), w["ceo"], "add the cost", "submitter")
    assert w.state(deal) == "draft" and w.flow(deal)["status"] == "returned"
    assert w.notified("rep")[-1] == "returned"
    record = w.get(deal)
    w.service.update("deal", deal["id"], {"cost": 10}, version=record["version"], context=w["rep"])  # editable again
    w.flows.resubmit(w.flow(deal)["id"], w["rep"], "cost added")
    assert w.state(deal) == "pending" and w.open_tasks(deal) == ["ceo"]


def test_resubmit_from_the_start(flow_world):
    w = flow_world(TWO_STEPS.format(resubmit="resubmit: from_start"))
    deal = w.new()
    w.submit(deal)
    w.approve(deal, "boss")
    w.flows.send_back(w.task(deal, "ceo"), w["ceo"], "again", "submitter")
    w.flows.resubmit(w.flow(deal)["id"], w["rep"])
    assert w.open_tasks(deal) == ["boss"]


def test_send_back_to_an_earlier_node(flow_world):
    w = flow_world(TWO_STEPS.format(resubmit=""))
    deal = w.new()
    w.submit(deal)
    with pytest.raises(ValidationError):  # not passed yet
        w.flows.send_back(w.task(deal, "boss"), w["boss"], "x", "director")
    w.approve(deal, "boss")
    w.flows.send_back(w.task(deal, "ceo"), w["ceo"], "check the margin", "manager")
    assert w.open_tasks(deal) == ["boss"] and w.state(deal) == "pending"
    w.approve(deal, "boss")
    w.approve(deal, "ceo")
    assert w.flow(deal)["status"] == "approved"


def test_transfer_hands_the_task_on(flow_world):
    w = flow_world(MANAGER)
    deal = w.new()
    w.submit(deal)
    task = w.task(deal, "boss")
    with pytest.raises(ValidationError):
        w.flows.transfer(task, w["boss"], "boss")  # to oneself
    with pytest.raises(ValidationError):
        w.flows.transfer(task, w["boss"], "nobody-such")
    w.flows.transfer(task, w["boss"], "ceo", "you decide")
    assert w.open_tasks(deal) == ["ceo"] and ("boss", "transferred") in w.tasks(deal)
    assert w.notified("ceo") == ["transferred"]
    w.approve(deal, "ceo")
    assert w.state(deal) == "approved"


def test_add_an_approver_before_oneself(flow_world):
    w = flow_world(MANAGER)
    deal = w.new()
    w.submit(deal)
    w.flows.add_approver(w.task(deal, "boss"), w["boss"], "legal", "before", "legal first")
    assert w.open_tasks(deal) == ["legal"] and ("boss", "waiting") in w.tasks(deal)
    w.approve(deal, "legal")
    assert w.open_tasks(deal) == ["boss"] and w.state(deal) == "pending"
    w.approve(deal, "boss")
    assert w.state(deal) == "approved"


def test_add_an_approver_after_oneself_even_on_a_first_decision_node(flow_world):
    w = flow_world(MODES.format(mode="any"))
    deal = w.new()
    w.submit(deal)
    w.flows.add_approver(w.task(deal, "fin1"), w["fin1"], w.uid("legal"), "after", "legal too")
    assert w.state(deal) == "pending" and "legal" in w.open_tasks(deal)
    w.approve(deal, "legal")
    assert w.state(deal) == "approved"


def test_withdraw_only_before_anyone_acts(flow_world):
    w = flow_world(TWO_STEPS.format(resubmit=""))
    deal = w.new()
    w.submit(deal)
    with pytest.raises(NotFound):  # rep2 cannot read rep's deal: its flow is not revealed either
        w.flows.withdraw(w.flow(deal)["id"], w["rep2"])
    with pytest.raises(PermissionDenied):  # legal reads every deal, but did not submit this one
        w.flows.withdraw(w.flow(deal)["id"], w["legal"])
    w.flows.withdraw(w.flow(deal)["id"], w["rep"], "wrong amount")
    assert w.state(deal) == "draft" and w.flow(deal)["status"] == "withdrawn" and w.open_tasks(deal) == []
    w.submit(deal)
    w.approve(deal, "boss")
    with pytest.raises(FlowConflict):
        w.flows.withdraw(w.flow(deal)["id"], w["rep"])
    assert w.flow(deal)["status"] == "running"


def test_urge_reminds_at_most_once_an_hour(flow_world):
    w = flow_world(MANAGER)
    deal = w.new()
    w.submit(deal)
    assert w.flows.urge(w.flow(deal)["id"], w["rep"]) == 1
    assert w.notified("boss") == ["task", "urge"]
    with pytest.raises(FlowConflict):
        w.flows.urge(w.flow(deal)["id"], w["rep"])
    later = Context(actor=w["rep"].actor, now=Context().now + timedelta(hours=2))
    w.flows.urge(w.flow(deal)["id"], later)
    assert w.notified("boss").count("urge") == 2


TIMEOUT = """
    outcomes: {{approved: approved, rejected: rejected, returned: draft}}
    nodes:
      manager:
        type: approval
        approvers: [{{manager: submitter}}]
        timeouts:
          - {{after: 1h, action: remind}}
          - {{after: 2h, action: {action}}}
    """


@pytest.mark.parametrize("action, state, tasks", [
    ("approve", "approved", []),
    ("reject", "rejected", []),
    ("send_back", "draft", []),
    ("escalate", "pending", ["ceo"]),
    ("remind", "pending", ["boss"]),
])
def test_timeouts(flow_world, action, state, tasks):
    w = flow_world(TIMEOUT.format(action=action))
    deal = w.new()
    w.submit(deal)
    assert w.run_jobs(timedelta(minutes=30)) == 0  # nothing due yet
    assert w.run_jobs(timedelta(minutes=61)) == 1
    assert w.notified("boss") == ["task", "remind"] and w.state(deal) == "pending"
    assert w.run_jobs(timedelta(minutes=121)) == 1
    assert w.state(deal) == state and w.open_tasks(deal) == tasks
    assert w.run_jobs(timedelta(hours=5)) == 0  # each timeout runs once
    if action == "escalate":
        assert ("boss", "escalated") in w.tasks(deal) and w.notified("ceo") == ["escalated"]


def test_a_decided_node_cancels_its_timeouts(flow_world):
    w = flow_world(TIMEOUT.format(action="reject"))
    deal = w.new()
    w.submit(deal)
    w.approve(deal, "boss")
    assert w.run_jobs(timedelta(hours=3)) == 0
    with w.engine.connect() as conn:
        assert set(conn.execute(sa.select(jobs.c.status)).scalars()) == {"cancelled"}
    assert w.state(deal) == "approved"


def test_a_timeout_relative_to_a_date_field(flow_world):
    w = flow_world("""
        nodes:
          manager:
            type: approval
            approvers: [{manager: submitter}]
            timeouts: [{field: due, offset: -1d, action: approve}]
        """)
    due = Context().now.date() + timedelta(days=3)
    deal = w.new(due=due)
    w.submit(deal)
    assert w.run_jobs(timedelta(days=1)) == 0
    assert w.run_jobs(timedelta(days=2, hours=1)) == 1
    assert w.flow(deal)["status"] == "approved"
    assert isinstance(due, date)


def test_a_running_flow_keeps_the_definition_it_started_with(flow_world, build_model):
    from flowutil import ACCOUNT, DEAL, NOTE, ROLES, workflow_yaml

    from engine.records import RecordService

    w = flow_world(MANAGER)
    old = w.new(name="Old")
    w.submit(old)
    # the implementer adds a director step and restarts: the running flow does not get it
    model = build_model({"entities/deal.yaml": DEAL, "entities/memo.yaml": NOTE, "entities/account.yaml": ACCOUNT, "roles.yaml": ROLES,
                         "workflows/deal.yaml": workflow_yaml(MANAGER.rstrip() + "\n      director: {type: approval, "
                                                                                  "approvers: [{user: ceo}]}\n")})
    w.service = RecordService(model, w.engine)
    w.flows = w.service.flows
    assert "director" in model.workflows["deal"].flows["check"].nodes
    w.approve(old, "boss")
    assert w.state(old) == "approved"  # pinned: manager only
    new = w.new(name="New")
    w.submit(new)
    w.approve(new, "boss")
    assert w.state(new) == "pending" and w.open_tasks(new) == ["ceo"]


def test_state_changes_only_through_transitions(flow_world):
    w = flow_world(MANAGER)
    deal = w.new()
    record = w.get(deal)
    with pytest.raises(ValidationError) as info:
        w.service.update("deal", deal["id"], {"status": "approved"}, version=record["version"], context=w["rep"])
    assert "status" in info.value.errors
    with pytest.raises(ValidationError):
        w.service.create("deal", {"name": "Sneaky", "status": "approved"}, w["rep"])
    with pytest.raises(ValidationError):  # an import (trusted values) by a user: the same rule
        w.service.create("deal", {"name": "Imported", "status": "approved"}, w["rep"], trusted=True)
    with pytest.raises(FlowConflict):  # not from draft
        w.flows.run_transition("deal", deal["id"], "finish", w["boss"])
    w.submit(deal)
    w.approve(deal, "boss")
    with pytest.raises(PermissionDenied):  # finish is for managers
        w.flows.run_transition("deal", deal["id"], "finish", w["rep"])
    assert [t.name for t in w.flows.transitions("deal", w.get(deal), w["rep"])] == []
    assert [t.name for t in w.flows.transitions("deal", w.get(deal), w["boss"])] == ["finish"]
    assert w.flows.run_transition("deal", deal["id"], "finish", w["boss"])["status"] == "done"


def test_locked_while_running_approvers_edit_only_their_fields(flow_world):
    w = flow_world("""
        outcomes: {approved: approved}
        nodes:
          manager:
            type: approval
            approvers: [{manager: submitter}]
            fields: {discount: edit, cost: hidden}
        """)
    deal = w.new(cost=50)
    w.submit(deal)
    record = w.get(deal)
    with pytest.raises(PermissionDenied):  # the submitter: locked
        w.service.update("deal", deal["id"], {"notes": "x"}, version=record["version"], context=w["rep"])
    with pytest.raises(ValidationError):  # the approver: not this field
        w.service.update("deal", deal["id"], {"notes": "x"}, version=record["version"], context=w["boss"])
    saved = w.service.update("deal", deal["id"], {"discount": 5}, version=record["version"], context=w["boss"])
    assert saved["discount"] == 5
    w.reload()
    assert "cost" not in w.service.get("deal", deal["id"], w["boss"])  # hidden from the approver now
    assert w.service.get("deal", deal["id"], w["rep"])["cost"] == 50  # not from the rep
    with pytest.raises(ValidationError):  # edits at approval time follow the same rules
        w.approve(deal, "boss", data={"notes": "x"})
    with pytest.raises(ValidationError):  # under approval: no delete
        w.service.delete("deal", deal["id"], context=w["boss"])
    w.approve(deal, "boss", data={"discount": 7})
    assert w.get(deal)["discount"] == 7 and w.state(deal) == "approved"
    w.reload()
    assert w.service.get("deal", deal["id"], w["boss"])["cost"] == 50  # decided: no longer hidden


def test_an_admin_edit_of_a_locked_record_is_an_audited_bypass(flow_world):
    w = flow_world(MANAGER)
    deal = w.new()
    w.submit(deal)
    record = w.get(deal)
    w.service.update("deal", deal["id"], {"notes": "fixed"}, version=record["version"], context=w["root"])
    with w.engine.connect() as conn:
        assert conn.execute(sa.select(audit_log.c.bypass).order_by(audit_log.c.id.desc()).limit(1)).scalar() is True


def test_state_field_rules(flow_world):
    w = flow_world(MANAGER, states="""
        approved: {editable: false, fields: {notes: edit}, roles: {director: {amount: edit}}}
        """)
    deal = w.new()
    w.submit(deal)
    w.approve(deal, "boss")
    record = w.get(deal)
    with pytest.raises(ValidationError):
        w.service.update("deal", deal["id"], {"amount": 1}, version=record["version"], context=w["boss"])
    record = w.service.update("deal", deal["id"], {"notes": "shipped"}, version=record["version"], context=w["boss"])
    assert w.service.update("deal", deal["id"], {"amount": 2}, version=record["version"],
                            context=w["ceo"])["amount"] == 2


def test_history_is_append_only_in_the_database(flow_world):
    w = flow_world(MANAGER)
    deal = w.new()
    w.submit(deal)
    for statement in (flow_history.update().values(comment="rewritten"), flow_history.delete()):
        with pytest.raises(sa.exc.DatabaseError):
            with w.engine.begin() as conn:
                conn.execute(statement)
    assert w.history(deal) == ["submit", "assign"]
