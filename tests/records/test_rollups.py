"""Rollups: aggregates over related records, kept correct on every write of those records,
worked out by migrations, and never telling a user about records they may not read."""

from __future__ import annotations

import threading
import time
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from engine.errors import ProjectError
from engine.migrate import apply_plan, plan_migration
from engine.model import load_model
from engine.permissions.org import load_actor, set_roles
from engine.records import ConflictError, Context, Query, RecordService, ValidationError
from engine.storage import users, write_engine
from engine.users import create_user

CUSTOMER = """
entity: customer
fields:
  name: {type: string}
  open_deals: {type: rollup, from: deal.customer, aggregate: count, where: "stage not in ['won', 'lost']"}
  open_amount: {type: rollup, from: deal.customer, aggregate: sum, field: amount, where: "stage not in ['won', 'lost']"}
  won_amount: {type: rollup, from: deal.customer, aggregate: sum, field: amount, where: "stage == 'won'"}
  average: {type: rollup, from: deal.customer, aggregate: avg, field: amount}
  next_close: {type: rollup, from: deal.customer, aggregate: min, field: close_date}
  activities: {type: rollup, from: activity.parent, aggregate: count}
  big: {type: computed, returns: boolean, expression: "open_amount >= 1000"}
"""
DEAL = """
entity: deal
fields:
  name: {type: string}
  customer: {type: link, to: customer, on_delete: cascade}
  amount: {type: money}
  stage: {type: choice, options: [open, won, lost], default: open}
  close_date: {type: date}
"""
ACTIVITY = """
entity: activity
fields:
  subject: {type: string}
  parent: {type: polymorphic_link, to: [customer, deal]}
"""
ROLES = """
roles:
  rep:
    entities:
      customer: {actions: [read, update], scope: all}
      deal: {actions: [read, create, update], scope: own}
      activity: {actions: [read], scope: all}
  manager:
    entities:
      customer: {actions: [read], scope: all}
      deal: {actions: [read], scope: all}
      activity: {actions: [read], scope: all}
  clerk:
    entities:
      customer: {actions: [read], scope: all}
      deal: {actions: [read], scope: all, fields: {amount: hidden}}
"""
FILES = {"entities/customer.yaml": CUSTOMER, "entities/deal.yaml": DEAL, "entities/activity.yaml": ACTIVITY}


def values(service, customer_id, context=None):
    record = service.get("customer", customer_id, context)
    return {k: record.get(k) for k in ("open_deals", "open_amount", "won_amount", "average", "next_close",
                                       "activities", "big") if k in record}


def test_every_write_of_a_related_record_keeps_the_rollups_right(service_for):
    service = service_for(FILES)
    acme = service.create("customer", {"name": "Acme"})
    beta = service.create("customer", {"name": "Beta"})
    assert values(service, acme["id"]) == {"open_deals": 0, "open_amount": Decimal(0), "won_amount": Decimal(0),
                                           "average": None, "next_close": None, "activities": 0, "big": False}
    a = service.create("deal", {"name": "a", "customer": acme["id"], "amount": "600", "close_date": "2026-03-01"})
    b = service.create("deal", {"name": "b", "customer": acme["id"], "amount": "500", "close_date": "2026-02-01"})
    assert values(service, acme["id"]) == {"open_deals": 2, "open_amount": Decimal(1100), "won_amount": Decimal(0),
                                           "average": Decimal(550), "next_close": date(2026, 2, 1), "activities": 0,
                                           "big": True}  # the computed field that reads it follows
    b = service.update("deal", b["id"], {"stage": "won"}, version=b["version"])  # leaves the condition
    assert values(service, acme["id"])["open_amount"] == Decimal(600)
    assert values(service, acme["id"])["won_amount"] == Decimal(500)
    assert values(service, acme["id"])["big"] is False
    service.update("deal", a["id"], {"customer": beta["id"]}, version=a["version"])  # moves: both change
    assert values(service, acme["id"])["open_deals"] == 0 and values(service, beta["id"])["open_deals"] == 1
    service.delete("deal", b["id"])
    assert values(service, acme["id"])["won_amount"] == Decimal(0)
    assert values(service, acme["id"])["average"] is None
    service.create("activity", {"subject": "call", "parent": f"customer:{beta['id']}"})
    service.create("activity", {"subject": "on a deal", "parent": f"deal:{a['id']}"})
    assert values(service, beta["id"])["activities"] == 1  # only those whose parent is this customer
    history = [e["action"] for e in service.history("customer", acme["id"])]
    assert history == ["create"]  # derived values are not edits: no audit entry, no new version
    assert service.get("customer", acme["id"])["version"] == 1


def test_rollups_cannot_be_written(service_for):
    service = service_for(FILES)
    with pytest.raises(ValidationError) as info:
        service.create("customer", {"name": "x", "open_deals": 5})
    assert "worked out from other records" in info.value.errors["open_deals"][0]


def test_sorting_and_filtering_on_a_rollup(service_for):
    service = service_for(FILES)
    ids = [service.create("customer", {"name": n})["id"] for n in ("a", "b", "c")]
    for i, customer in enumerate(ids):
        for _ in range(i):
            service.create("deal", {"name": "d", "customer": customer, "amount": "10"})
    rows = service.list("customer", Query(sort=("-open_deals",), limit=5))
    assert [r["name"] for r in rows] == ["c", "b", "a"]
    rows = service.list("customer", Query(filters=[("open_amount", "gte", "15")], limit=5))
    assert [r["name"] for r in rows] == ["c"]
    rows = service.list("customer", Query(where="open_deals >= 1 and open_amount < 15", limit=5))  # in SQL
    assert [r["name"] for r in rows] == ["b"]


def _people(service):
    found = {}
    with write_engine(service.engine).begin() as conn:
        for name in ("rep1", "rep2", "boss", "clerk"):
            user_id = create_user(conn, name, None)
            set_roles(conn, user_id, ("manager",) if name == "boss" else ("clerk",) if name == "clerk" else ("rep",),
                      service.model.roles)
    with service.engine.connect() as conn:
        for row in conn.execute(sa.select(users)).mappings():
            found[row["username"]] = Context(actor=load_actor(conn, row))
    return found


def test_a_user_sees_rollups_over_only_the_records_they_may_read(service_for):
    service = service_for({**FILES, "roles.yaml": ROLES})
    people = _people(service)
    acme = service.create("customer", {"name": "Acme"})
    for who, amount in (("rep1", "100"), ("rep1", "200"), ("rep2", "5000")):
        service.create("deal", {"name": who, "customer": acme["id"], "amount": amount}, people[who])
    assert values(service, acme["id"], people["boss"])["open_amount"] == Decimal(5300)  # every deal
    assert values(service, acme["id"], people["rep1"])["open_amount"] == Decimal(300)  # their own only
    assert values(service, acme["id"], people["rep1"])["open_deals"] == 2
    [row] = service.list("customer", Query(limit=5), people["rep1"])
    assert (row["open_deals"], row["open_amount"]) == (2, Decimal(300))
    [row] = service.list("customer", Query(columns=("name", "open_amount"), limit=5), people["rep1"])
    assert row["open_amount"] == Decimal(300)  # a page asking for the column gets their value
    assert "big" not in row  # computed from the total: it would give it away
    assert "open_amount" not in values(service, acme["id"], people["clerk"])  # may not see amounts at all
    assert "open_deals" in values(service, acme["id"], people["clerk"])
    for query in (Query(sort=("open_amount",), limit=5), Query(filters=[("open_amount", "gt", 1000)], limit=5),
                  Query(where="open_amount > 1000", limit=5)):
        with pytest.raises(ValidationError):  # an order or a filter would tell the total
            service.list("customer", query, people["rep1"])
    assert service.list("customer", Query(sort=("open_amount",), limit=5), people["boss"])


def test_chosen_columns_give_a_user_their_own_rollup(service_for):
    """Pages read only the columns they show (`Query.columns`): a rollup worked out for the
    user is among them like any field, never read from the row."""
    service = service_for({**FILES, "roles.yaml": ROLES})
    people = _people(service)
    acme = service.create("customer", {"name": "Acme"})
    for who, amount in (("rep1", "100"), ("rep2", "5000")):
        service.create("deal", {"name": who, "customer": acme["id"], "amount": amount}, people[who])
    query = Query(columns=("name", "open_amount", "open_deals"), limit=5)
    [row] = service.list("customer", query, people["rep1"])
    assert (row["name"], row["open_amount"], row["open_deals"]) == ("Acme", Decimal(100), 1)
    [row] = service.list("customer", query, people["boss"])
    assert (row["open_amount"], row["open_deals"]) == (Decimal(5100), 2)
    [row] = service.list("customer", Query(columns=("name",), limit=5), people["rep1"])
    assert "open_amount" not in row


def test_two_writes_at_once_both_count(service_for):
    """The second write waits for the first (the record holding the rollup is locked before
    counting), so its count includes the first one's record. Without the lock it would count
    only its own and overwrite the first's total."""
    service = service_for(FILES)
    acme = service.create("customer", {"name": "Acme"})
    first_written, second_started = threading.Event(), threading.Event()
    errors = []

    def first():
        try:
            with service.transaction():
                service.create("deal", {"name": "first", "customer": acme["id"], "amount": "1"})
                first_written.set()
                second_started.wait(10)
                time.sleep(0.5)  # the second is now waiting for the lock (or, without it, counting)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def second():
        try:
            first_written.wait(10)
            second_started.set()
            service.create("deal", {"name": "second", "customer": acme["id"], "amount": "2"})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert values(service, acme["id"])["open_deals"] == 2
    assert values(service, acme["id"])["open_amount"] == Decimal(3)


def test_migrations_work_rollups_out_for_existing_records(make_project, db_engine):
    plain = CUSTOMER.split("  open_deals:")[0]
    first = load_model(make_project({**FILES, "entities/customer.yaml": plain}), entry_points=False)
    apply_plan(db_engine, plan_migration(db_engine, first.metadata, project="t", metadata_version="1"))
    service = RecordService(first, db_engine)
    acme = service.create("customer", {"name": "Acme"})
    for amount in ("5", "7"):
        service.create("deal", {"name": "d", "customer": acme["id"], "amount": amount})
    second = load_model(make_project(FILES), entry_points=False)
    plan = plan_migration(db_engine, second.metadata, project="t", metadata_version="2")
    [op] = [op for op in plan.operations if op.kind == "recompute" and op.table == "customer"]
    assert "open_amount (sum of deal.amount where stage not in ['won', 'lost']; new column)" in op.detail
    apply_plan(db_engine, plan)
    assert values(RecordService(second, db_engine), acme["id"])["open_amount"] == Decimal(12)
    assert values(RecordService(second, db_engine), acme["id"])["big"] is False

    third = load_model(make_project({**FILES, "entities/customer.yaml": CUSTOMER.replace(
        "aggregate: sum, field: amount, where: \"stage not in ['won', 'lost']\"", "aggregate: max, field: amount")}),
        entry_points=False)
    plan = plan_migration(db_engine, third.metadata, project="t", metadata_version="3")
    assert any(op.kind == "recompute" and "open_amount (max of deal.amount; changed)" in op.detail
               for op in plan.operations)
    apply_plan(db_engine, plan)
    assert values(RecordService(third, db_engine), acme["id"])["open_amount"] == Decimal(7)


@pytest.mark.parametrize("line, message", [
    ("{type: rollup, from: nothing.customer, aggregate: count}", "unknown entity 'nothing'"),
    ("{type: rollup, from: deal.nope, aggregate: count}", "has no field 'nope'"),
    ("{type: rollup, from: deal.customer, aggregate: sum}", "needs the 'field'"),
    ("{type: rollup, from: deal.customer, aggregate: sum, field: name}", "applies to numbers"),
    ("{type: rollup, from: deal.customer, aggregate: count, field: amount}", "takes no 'field'"),
    ("{type: rollup, from: deal.customer, aggregate: count, where: \"close_date > today()\"}", "not on the user or"),
    ("{type: rollup, from: deal.customer, aggregate: count, where: \"stage == user.username\"}", "not on the user"),
])
def test_checks(build_model, line, message):
    with pytest.raises(ProjectError) as info:
        build_model({**FILES, "entities/customer.yaml": f"entity: customer\nfields:\n  name: {{type: string}}\n"
                                                        f"  r: {line}\n"})
    assert any(message in p.message and p.position.line == 4 for p in info.value.problems), \
        [str(p) for p in info.value.problems]


def test_a_default_order_by_a_rollup_never_orders_a_users_share_by_the_total(service_for):
    customer = CUSTOMER + "list:\n  sort: [-open_amount]\n"
    service = service_for({**FILES, "entities/customer.yaml": customer, "roles.yaml": ROLES})
    people = _people(service)
    big, small = service.create("customer", {"name": "big"}), service.create("customer", {"name": "small"})
    service.create("deal", {"name": "theirs", "customer": big["id"], "amount": "9000"}, people["rep2"])
    service.create("deal", {"name": "mine", "customer": small["id"], "amount": "5"}, people["rep1"])
    assert [r["name"] for r in service.list("customer", Query(limit=5), people["boss"])] == ["big", "small"]
    # rep1 sees 0 and 5: ordered by the stored totals (9000, 5) the list would give rep2's deal away
    assert [r["name"] for r in service.list("customer", Query(limit=5), people["rep1"])] == ["small", "big"]


# -- review fixes ----------------------------------------------------------------------------------
def test_rollups_over_each_other_and_over_their_own_entity_are_judged_for_every_user(service_for):
    files = {
        "entities/account.yaml": """
            entity: account
            fields:
              name: {type: string}
              parent: {type: link, to: account}
              primary_contact: {type: polymorphic_link, to: [contact]}  # no foreign key cycle
              contacts: {type: rollup, from: contact.account, aggregate: count}
              subsidiaries: {type: rollup, from: account.parent, aggregate: count}
            """,
        "entities/contact.yaml": """
            entity: contact
            fields:
              name: {type: string}
              account: {type: link, to: account}
              primary_of: {type: rollup, from: account.primary_contact, aggregate: count}
            """,
        "roles.yaml": "roles:\n  reader:\n    entities:\n      account: {actions: [read], scope: all}\n"
                      "      contact: {actions: [read], scope: all}\n",
    }
    service = service_for(files)
    with write_engine(service.engine).begin() as conn:
        set_roles(conn, create_user(conn, "reader", None), ("reader",), service.model.roles)
    with service.engine.connect() as conn:
        reader = Context(actor=load_actor(conn, conn.execute(sa.select(users)).mappings().first()))
    group = service.create("account", {"name": "group"})
    service.create("account", {"name": "sub", "parent": group["id"]})
    service.create("contact", {"name": "c", "account": group["id"]})
    seen = service.get("account", group["id"], reader)  # no endless recursion between the two
    assert (seen["contacts"], seen["subsidiaries"]) == (1, 1)


def test_a_rollup_depending_on_a_total_the_user_sees_a_share_of_is_hidden(service_for):
    region = "entity: region\nfields:\n  name: {type: string}\n" \
             "  big_customers: {type: rollup, from: customer.region, aggregate: count, where: \"open_amount > 1000\"}\n"
    customer = CUSTOMER.replace("  name: {type: string}\n", "  name: {type: string}\n  region: {type: link, to: region}\n")
    roles = ROLES.replace("      customer: {actions: [read, update], scope: all}",
                          "      customer: {actions: [read, update], scope: all}\n      region: {actions: [read], scope: all}")
    service = service_for({**FILES, "entities/customer.yaml": customer, "entities/region.yaml": region,
                           "roles.yaml": roles})
    people = _people(service)
    east = service.create("region", {"name": "east"})
    acme = service.create("customer", {"name": "Acme", "region": east["id"]})
    service.create("deal", {"name": "theirs", "customer": acme["id"], "amount": "5000"}, people["rep2"])
    assert service.get("region", east["id"])["big_customers"] == 1
    assert "big_customers" not in service.get("region", east["id"], people["rep1"])  # would tell rep2's total


def test_a_conflict_shows_the_user_only_their_share_of_a_rollup(service_for):
    service = service_for({**FILES, "roles.yaml": ROLES})
    people = _people(service)
    acme = service.create("customer", {"name": "Acme"})
    service.create("deal", {"name": "theirs", "customer": acme["id"], "amount": "5000"}, people["rep2"])
    service.create("deal", {"name": "mine", "customer": acme["id"], "amount": "1"}, people["rep1"])
    mine = service.get("customer", acme["id"], people["rep1"])
    service.update("customer", acme["id"], {"name": "Acme Ltd"}, version=mine["version"], context=people["rep2"])
    with pytest.raises(ConflictError) as info:
        service.update("customer", acme["id"], {"name": "Acme 2"}, version=mine["version"], context=people["rep1"])
    assert info.value.current["open_amount"] == Decimal(1)


def test_a_total_beyond_what_the_column_holds_refuses_the_write(service_for):
    files = {"entities/customer.yaml": "entity: customer\nfields:\n  name: {type: string}\n"
                                       "  total: {type: rollup, from: deal.customer, aggregate: sum, field: amount}\n",
             "entities/deal.yaml": "entity: deal\nfields:\n  customer: {type: link, to: customer}\n"
                                   "  amount: {type: decimal, precision: 38, scale: 0}\n"}
    service = service_for(files)
    acme = service.create("customer", {"name": "Acme"})
    huge = "9" + "0" * 37  # 38 digits, one of them significant: exact on SQLite too
    service.create("deal", {"customer": acme["id"], "amount": huge})
    with pytest.raises(ValidationError) as info:
        service.create("deal", {"customer": acme["id"], "amount": huge})  # the sum needs 39 digits
    assert "the total would be too large" in str(info.value)
    assert service.count("deal") == 1
