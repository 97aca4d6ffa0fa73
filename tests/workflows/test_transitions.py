"""Transitions: who may run them (roles, roles.yaml grants, `when`), their condition,
required fields and comment, their actions (set, create, notify, a plugin's), flows that
start by a condition, and the workflow YAML itself: bad files reported all at once, and a
layer changing a base flow (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.errors import ProjectError
from engine.records import Context, PermissionDenied, Query, ValidationError
from engine.storage import flow_history, flows
from engine.workflows.runtime import FlowConflict

MANAGER = """
    outcomes: {approved: approved, rejected: rejected}
    nodes:
      manager: {type: approval, approvers: [{manager: submitter}]}
    """


def test_who_may_run_a_transition(flow_world):
    w = flow_world(MANAGER, transitions="""
        close: {from: draft, to: done, when: "owner == user.id", comment: required}
        archive: {from: draft, to: done, roles: [legal]}
        """)
    deal = w.new()
    names = {who: [t.name for t in w.flows.transitions("deal", w.get(deal), w[who])]
             for who in ("rep", "rep2", "boss", "legal", "root")}
    assert names["rep"] == ["submit", "close"]  # may update it, and owns it
    assert names["rep2"] == []  # cannot even see it
    assert names["boss"] == ["submit"]  # may update it (department), but `when` wants the owner
    assert names["legal"] == ["archive"]  # by role only
    assert names["root"] == ["submit", "close", "archive"]  # admins may run any
    with pytest.raises(ValidationError) as info:  # a comment is required
        w.flows.run_transition("deal", deal["id"], "close", w["rep"])
    assert "comment" in info.value.errors and w.state(deal) == "draft"
    assert w.flows.run_transition("deal", deal["id"], "close", w["rep"], comment="lost")["status"] == "done"


def test_roles_yaml_may_grant_a_transition_as_an_action(flow_world):
    roles = """
        roles:
          rep: {entities: {deal: {actions: [read, create, update], scope: own}}}
          legal: {entities: {deal: {actions: [read, archive], scope: all}}}
          manager: {entities: {deal: {actions: [read], scope: all, deny: [archive]}}}
          finance: {entities: {deal: {actions: [read], scope: all}}}
          director: {entities: {deal: {actions: [read], scope: all}}}
        """
    w = flow_world(MANAGER, transitions="archive: {from: draft, to: done}", files={"roles.yaml": roles})
    deal = w.new()
    assert [t.name for t in w.flows.transitions("deal", w.get(deal), w["legal"])] == ["archive"]
    assert [t.name for t in w.flows.transitions("deal", w.get(deal), w["boss"])] == []
    with pytest.raises(PermissionDenied):
        w.flows.run_transition("deal", deal["id"], "archive", w["boss"])
    w.flows.run_transition("deal", deal["id"], "archive", w["legal"])
    assert w.state(deal) == "done"


def test_condition_and_required_fields(flow_world):
    w = flow_world(MANAGER, transitions="""
        close:
          from: draft
          to: done
          condition: "amount > 0"
          message: {en: A deal needs an amount, zh: 需要金额}
          requires: [due, notes]
        """)
    deal = w.new(amount=0)
    with pytest.raises(ValidationError) as info:
        w.flows.run_transition("deal", deal["id"], "close", w["rep"])
    assert info.value.errors[""] == ["A deal needs an amount"] and {"due", "notes"} <= set(info.value.errors)
    assert w.state(deal) == "draft"
    w.service.update("deal", deal["id"], {"amount": 5}, version=w.get(deal)["version"], context=w["rep"])
    with pytest.raises(ValidationError):  # a field the user may not edit is refused, not ignored
        w.flows.run_transition("deal", deal["id"], "close", w["rep"], data={"due": "not a date", "notes": "n"})
    done = w.flows.run_transition("deal", deal["id"], "close", w["rep"], data={"due": "2026-12-01", "notes": "won"})
    assert done["status"] == "done" and done["notes"] == "won" and str(done["due"]) == "2026-12-01"
    with pytest.raises(FlowConflict):  # not from done
        w.flows.run_transition("deal", deal["id"], "close", w["rep"])


def test_actions_set_create_and_notify_in_one_transaction(flow_world):
    w = flow_world(MANAGER, transitions="""
        close:
          from: draft
          to: done
          actions:
            - set: {notes: "'closed at ' + name", discount: 0}
            - create: {entity: memo, values: {subject: "'Closed: ' + name", deal: id}}
            - notify: {to: [{manager: owner}], message: {en: a deal was closed, zh: 交易已关闭}}
        broken:
          from: draft
          to: done
          actions:
            - set: {notes: "'will be undone'"}
            - create: {entity: memo, values: {deal: id}}
        """)
    deal = w.new(name="Acme")
    closed = w.flows.run_transition("deal", deal["id"], "close", w["rep"])
    assert closed["notes"] == "closed at Acme" and closed["discount"] == 0
    memos = w.service.list("memo", Query(limit=5), Context())
    assert [m["subject"] for m in memos] == ["Closed: Acme"] and memos[0]["owner"] == w.uid("rep")
    assert w.notified("boss") == ["message"]
    other = w.new(name="Other")
    with pytest.raises(ValidationError):  # the memo needs a subject: nothing of the transition is kept
        w.flows.run_transition("deal", other["id"], "broken", w["rep"])
    assert w.get(other)["notes"] is None and w.state(other) == "draft"


def test_a_plugin_action_and_resolver(flow_world):
    plugin = '''
from engine.workflows import Argument, Resolver, WorkflowAction

CALLS = []

def _stamp(run, args):
    run.flows.set_fields(run.entity.name, run.record, {"notes": args["text"]}, run.context)

def _everyone_in_finance_but_fin1(resolution, args):
    import sqlalchemy as sa
    from engine.storage import users
    return list(resolution.conn.execute(sa.select(users.c.id).where(users.c.username == "fin2")).scalars())

def tailor_workflow_actions():
    return [WorkflowAction("stamp", _stamp)]

def tailor_approver_resolvers():
    return [Resolver("second_finance", Argument("person", True), _everyone_in_finance_but_fin1)]
'''
    w = flow_world("""
        outcomes: {approved: approved}
        on_approve: [{stamp: {text: approved by plugin}}]
        nodes:
          money: {type: approval, approvers: [{second_finance: submitter}]}
        """, files={"tailor.yaml": "name: test\nlanguages: [en, zh]\nplugins: [./flowplugin.py]\n",
                    "flowplugin.py": plugin})
    deal = w.new()
    w.submit(deal)
    assert w.open_tasks(deal) == ["fin2"]
    w.approve(deal, "fin2")
    assert w.get(deal)["notes"] == "approved by plugin"


def test_a_flow_started_by_a_condition(flow_world):
    w = flow_world("""
        start_when: "amount > 50000"
        nodes:
          money: {type: approval, approvers: [{user: fin1}]}
        """)
    small = w.new(amount=100)
    with w.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(flows)).scalar() == 0
    saved = w.service.update("deal", small["id"], {"amount": 60000}, version=w.get(small)["version"],
                             context=w["rep"])
    assert saved["amount"] == 60000 and w.open_tasks(small) == ["fin1"]
    assert w.flow(small)["submitter_id"] == w.uid("rep")
    big = w.service.create("deal", {"name": "Big", "amount": 90000}, w["rep"])
    assert w.open_tasks(big) == ["fin1"]
    w.approve(small, "fin1")
    with w.engine.connect() as conn:  # still over: no second flow for the same condition
        assert conn.execute(sa.select(sa.func.count()).select_from(flows)
                            .where(flows.c.record_id == small["id"])).scalar() == 1


BAD = """
    workflow: deal
    entity: deal
    field: status
    transitions:
      submit: {from: [draft, lost], to: pending, approval: check}
    approvals:
      check:
        nodes:
          a: {type: approval, approvers: [{manager: submitter, levle: 2}]}
          loop:
            type: condition
            cases: [{when: "amont > 10", next: loop}]
            default: loop
          orphan: {type: approval, approvers: [{manager_chain: owner}], next: end}
    """


def test_bad_workflow_yaml_is_reported_all_at_once(build_model):
    from flowutil import ACCOUNT, DEAL, NOTE, ROLES

    with pytest.raises(ProjectError) as info:
        build_model({"entities/deal.yaml": DEAL, "entities/memo.yaml": NOTE, "entities/account.yaml": ACCOUNT, "roles.yaml": ROLES,
                     "workflows/deal.yaml": BAD})
    found = {(p.code, p.position.line) for p in info.value.problems}
    assert ("E901", 5) in found  # unknown state 'lost'
    assert ("E904", 9) in found  # resolver argument 'levle'
    assert ("E502", 12) in found  # condition on unknown field 'amont'
    assert ("E904", 14) in found  # manager_chain needs levels or until_role
    assert ("E903", 14) in found  # orphan cannot be reached
    assert ("E905", 10) in found  # loop never ends
    assert all(p.position.file.endswith("workflows/deal.yaml") for p in info.value.problems)


def test_the_trade_layer_changes_thresholds_and_adds_a_compliance_step():
    from engine.model import load_model
    from engine.paths import EXAMPLES

    base = load_model(EXAMPLES / "crm", entry_points=False).workflows["order"].flows["order_approval"]
    trade = load_model(EXAMPLES / "trade", entry_points=False).workflows["order"].flows["order_approval"]
    assert base.nodes["big_order"]["cases"][0]["when"] == "total > 100000"
    assert trade.nodes["big_order"]["cases"][0]["when"] == "total > 50000"
    assert "compliance" not in base.nodes and trade.nodes["compliance"]["next"] == "copy_head"
    assert base.nodes["director"]["next"] == "copy_head" and trade.nodes["director"]["next"] == "compliance"
    assert trade.nodes["manager"] == base.nodes["manager"]  # what the layer does not state stays the base's
    assert base.hash != trade.hash


def test_history_records_who_what_when_and_from_which_node(flow_world):
    w = flow_world(MANAGER)
    deal = w.new()
    w.submit(deal, comment="first")
    w.approve(deal, "boss", "fine")
    with w.engine.connect() as conn:
        rows = conn.execute(sa.select(flow_history.c.action, flow_history.c.user_id, flow_history.c.node,
                                      flow_history.c.comment, flow_history.c.at)
                            .order_by(flow_history.c.id)).all()
    assert [(r.action, r.node, r.comment) for r in rows] == [
        ("submit", None, "first"), ("assign", "manager", None), ("approve", "manager", "fine"),
        ("approved", None, None)]
    assert rows[2].user_id == w.uid("boss") and all(r.at is not None for r in rows)
