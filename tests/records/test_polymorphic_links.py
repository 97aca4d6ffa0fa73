"""Polymorphic links: a record of one of several entities (an activity's parent may be a
customer, a contact or a deal), through the records service, queries and migrations."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.errors import ProjectError
from engine.migrate import apply_plan, plan_migration
from engine.model import load_model
from engine.permissions.org import load_actor, set_roles
from engine.records import Context, Query, RecordService, ValidationError
from engine.storage import users, write_engine
from engine.users import create_user

FILES = {
    "entities/customer.yaml": "entity: customer\nfields:\n  name: {type: string}\n  region: {type: string}\n",
    "entities/deal.yaml": "entity: deal\nfields:\n  name: {type: string}\n",
    "entities/activity.yaml": """
        entity: activity
        fields:
          subject: {type: string}
          parent: {type: polymorphic_link, to: [customer, deal], label: {en: Regarding, zh: 相关}}
          about_customer: {type: computed, returns: boolean, stored: false, expression: "parent_entity == 'customer'"}
        """,
    "roles.yaml": """
        roles:
          east:
            entities:
              customer: {actions: [read], scope: "region == 'east'"}
              deal: {actions: [read]}
              activity: {actions: [read, create, update], scope: all}
        """,
}


@pytest.fixture
def world(service_for):
    service = service_for(FILES)
    acme = service.create("customer", {"name": "Acme", "region": "east"})
    west = service.create("customer", {"name": "Westco", "region": "west"})
    deal = service.create("deal", {"name": "Big deal"})
    return service, acme, west, deal


def _user(service, name, roles):
    with write_engine(service.engine).begin() as conn:
        user_id = create_user(conn, name, None)
        set_roles(conn, user_id, roles, service.model.roles)
    with service.engine.connect() as conn:
        return Context(actor=load_actor(conn, conn.execute(sa.select(users).where(users.c.id == user_id))
                                        .mappings().one()))


def test_every_way_of_naming_the_target(world):
    service, acme, _west, deal = world
    a = service.create("activity", {"subject": "call", "parent": {"entity": "customer", "id": acme["id"]}})
    b = service.create("activity", {"subject": "mail", "parent": f"deal:{deal['id']}"})
    c = service.create("activity", {"subject": "visit", "parent": acme["id"], "parent_entity": "customer"})
    assert (a["parent"], a["parent_entity"], a["about_customer"]) == (acme["id"], "customer", True)
    assert (b["parent"], b["parent_entity"], b["about_customer"]) == (deal["id"], "deal", False)
    assert (c["parent"], c["parent_entity"]) == (acme["id"], "customer")
    emptied = service.update("activity", a["id"], {"parent": None}, version=a["version"])
    assert (emptied["parent"], emptied["parent_entity"]) == (None, None)


@pytest.mark.parametrize("value, message", [
    ({"entity": "ticket", "id": 1}, "'ticket' is not one of customer, deal"),
    ("customer:999", "customer 999 does not exist"),
    (7, "say which kind of record 7 is"),
    ("customer:abc", "is not a record id"),
    ({"entity": "deal", "id": 2**70}, "is not a record id"),
])
def test_bad_targets_are_refused(world, value, message):
    service = world[0]
    with pytest.raises(ValidationError) as info:
        service.create("activity", {"subject": "x", "parent": value})
    assert message in " ".join(info.value.errors["parent"])
    assert service.count("activity") == 0


def test_a_target_the_user_may_not_read_cannot_be_set(world):
    service, acme, west, _deal = world
    east = _user(service, "eve", ("east",))
    assert service.create("activity", {"subject": "ok", "parent": f"customer:{acme['id']}"}, east)["parent"]
    with pytest.raises(ValidationError) as info:
        service.create("activity", {"subject": "no", "parent": f"customer:{west['id']}"}, east)
    assert f"customer {west['id']} does not exist" in info.value.errors["parent"][0]  # not even "exists"


def test_filters_by_record_and_by_kind(world):
    service, acme, west, deal = world
    for subject, parent in (("a", f"customer:{acme['id']}"), ("b", f"customer:{west['id']}"),
                            ("c", f"deal:{deal['id']}"), ("d", None)):
        service.create("activity", {"subject": subject, "parent": parent})

    def subjects(*filters, where=None):
        return sorted(r["subject"] for r in service.list("activity", Query(filters=filters, where=where, limit=9)))

    assert subjects(("parent", "eq", f"customer:{acme['id']}")) == ["a"]
    assert subjects(("parent", "eq", {"entity": "deal", "id": deal["id"]})) == ["c"]
    assert subjects(("parent", "eq", "customer")) == ["a", "b"]
    assert subjects(("parent", "in", [f"customer:{west['id']}", "deal"])) == ["b", "c"]
    assert subjects(("parent", "ne", f"customer:{acme['id']}")) == ["b", "c", "d"]
    assert subjects(("parent", "empty", None)) == ["d"]
    assert subjects(where="parent_entity == 'deal'") == ["c"]  # expressions see the entity, in SQL too
    with pytest.raises(ValidationError):
        service.list("activity", Query(filters=[("parent", "eq", "ticket:1")], limit=5))


@pytest.mark.parametrize("on_delete", ["set_null", "restrict", "cascade"])
def test_deleting_a_target_follows_on_delete(service_for, on_delete):
    files = dict(FILES)
    files["entities/activity.yaml"] = files["entities/activity.yaml"].replace(
        "to: [customer, deal],", f"to: [customer, deal], on_delete: {on_delete},")
    service = service_for(files)
    acme = service.create("customer", {"name": "Acme"})
    deal = service.create("deal", {"name": "Same id as Acme, other entity"})
    assert deal["id"] == acme["id"]  # the same id in another entity: it must not be touched
    on_acme = service.create("activity", {"subject": "a", "parent": f"customer:{acme['id']}"})
    on_deal = service.create("activity", {"subject": "b", "parent": f"deal:{deal['id']}"})
    if on_delete == "restrict":
        with pytest.raises(ValidationError, match="still used by 1 activity"):
            service.delete("customer", acme["id"])
        return
    service.delete("customer", acme["id"])
    left = {r["subject"]: r for r in service.list("activity", limit=5)}
    if on_delete == "cascade":
        assert set(left) == {"b"}
    else:
        assert (left["a"]["parent"], left["a"]["parent_entity"]) == (None, None)
        assert [e["action"] for e in service.history("activity", on_acme["id"])] == ["create", "update"]
    assert (left["b"]["parent"], left["b"]["parent_entity"]) == (deal["id"], "deal")  # another entity's record
    assert on_deal["id"] in {r["id"] for r in left.values()}


def test_checks_name_the_place(build_model):
    with pytest.raises(ProjectError) as info:
        build_model({"entities/a.yaml": "entity: a\nfields:\n  p: {type: polymorphic_link, to: [a, nothere, a]}\n",
                     "entities/b.yaml": "entity: b\nfields:\n  q: {type: polymorphic_link, to: a}\n"})
    found = {(p.code, p.position.line, p.position.column) for p in info.value.problems}
    assert ("E306", 3, 39) in found and ("E406", 3, 48) in found
    assert any(p.code == "E202" and p.position.file.endswith("b.yaml") for p in info.value.problems)


def test_migrations_add_it_turn_a_link_into_one_and_follow_renames(make_project, db_engine):
    def migrate(files):
        model = load_model(make_project(files), entry_points=False)
        plan = plan_migration(db_engine, model.metadata, project="t", metadata_version=model.version)
        apply_plan(db_engine, plan)
        return model, plan

    base = {"entities/customer.yaml": "entity: customer\nfields:\n  name: {type: string}\n",
            "entities/deal.yaml": "entity: deal\nfields:\n  name: {type: string}\n"}
    model, _ = migrate({**base, "entities/activity.yaml":
                        "entity: activity\nfields:\n  subject: {type: string}\n  parent: {type: link, to: customer}\n"})
    service = RecordService(model, db_engine)
    acme = service.create("customer", {"name": "Acme"})
    service.create("activity", {"subject": "a", "parent": acme["id"]})
    service.create("activity", {"subject": "b"})

    poly = {**base, "entities/activity.yaml": "entity: activity\nfields:\n  subject: {type: string}\n"
                                              "  parent: {type: polymorphic_link, to: [customer, deal]}\n"}
    model, plan = migrate(poly)
    assert any(op.kind == "map_values" and "1 record linked to customer" in op.detail for op in plan.operations)
    rows = {r["subject"]: (r["parent"], r["parent_entity"]) for r in RecordService(model, db_engine).list(
        "activity", limit=5)}
    assert rows == {"a": (acme["id"], "customer"), "b": (None, None)}

    renamed = {"entities/account.yaml": "entity: account\nrenamed_from: customer\nfields:\n  name: {type: string}\n",
               "entities/deal.yaml": base["entities/deal.yaml"],
               "entities/activity.yaml": poly["entities/activity.yaml"].replace("[customer, deal]", "[account, deal]")}
    model, plan = migrate(renamed)
    assert any(op.kind == "map_values" and "entity 'customer' renamed to 'account'" in op.detail
               for op in plan.operations)
    [a] = RecordService(model, db_engine).list("activity", where="subject == 'a'", limit=1)
    assert (a["parent"], a["parent_entity"]) == (acme["id"], "account")


def test_links_to_entities_a_migration_takes_out_of_to_are_emptied_only_when_allowed(make_project, db_engine):
    from engine.migrate import DestructiveChangeRefused

    def migrate(to, **kwargs):
        files = {**FILES, "entities/activity.yaml": FILES["entities/activity.yaml"].replace("[customer, deal]", to)}
        files.pop("roles.yaml")
        model = load_model(make_project(files), entry_points=False)
        apply_plan(db_engine, plan_migration(db_engine, model.metadata, project="t", metadata_version=model.version,
                                             **kwargs), **kwargs)
        return model

    model = migrate("[customer, deal]")
    service = RecordService(model, db_engine)
    acme = service.create("customer", {"name": "Acme"})
    deal = service.create("deal", {"name": "d"})
    service.create("activity", {"subject": "a", "parent": f"customer:{acme['id']}"})
    service.create("activity", {"subject": "b", "parent": f"deal:{deal['id']}"})
    with pytest.raises(DestructiveChangeRefused) as info:
        migrate("[deal]")
    assert "1 link emptied: customer (1)" in str(info.value)
    model = migrate("[deal]", allow_destructive=True)
    rows = {r["subject"]: (r["parent"], r["parent_entity"]) for r in RecordService(model, db_engine).list(
        "activity", limit=5)}
    assert rows == {"a": (None, None), "b": (deal["id"], "deal")}


def test_a_polymorphic_link_made_a_plain_link_never_points_at_other_records(make_project, db_engine):
    from engine.migrate import DestructiveChangeRefused

    def migrate(parent, **kwargs):
        files = {**FILES, "entities/activity.yaml": "entity: activity\nfields:\n  subject: {type: string}\n"
                                                    f"  parent: {parent}\n"}
        files.pop("roles.yaml")
        model = load_model(make_project(files), entry_points=False)
        apply_plan(db_engine, plan_migration(db_engine, model.metadata, project="t", metadata_version=model.version,
                                             **kwargs), **kwargs)
        return model

    model = migrate("{type: polymorphic_link, to: [customer, deal]}")
    service = RecordService(model, db_engine)
    acme = service.create("customer", {"name": "Acme"})
    deal = service.create("deal", {"name": "d"})
    assert acme["id"] == deal["id"]  # deal 1 and customer 1: the same id
    service.create("activity", {"subject": "on the customer", "parent": f"customer:{acme['id']}"})
    service.create("activity", {"subject": "on the deal", "parent": f"deal:{deal['id']}"})
    with pytest.raises(DestructiveChangeRefused) as info:
        migrate("{type: link, to: customer}")
    assert "deal (1)" in str(info.value)
    model = migrate("{type: link, to: customer}", allow_destructive=True)
    rows = {r["subject"]: r["parent"] for r in RecordService(model, db_engine).list("activity", limit=5)}
    assert rows == {"on the customer": acme["id"], "on the deal": None}  # never re-pointed at customer 1


def test_the_kind_alone_is_not_a_link(world):
    service, acme, _west, _deal = world
    a = service.create("activity", {"subject": "a", "parent": f"customer:{acme['id']}"})
    with pytest.raises(ValidationError) as info:
        service.update("activity", a["id"], {"parent_entity": "deal"}, version=a["version"])
    assert "give the record too" in info.value.errors["parent"][0]
    assert service.get("activity", a["id"])["parent"] == acme["id"]
