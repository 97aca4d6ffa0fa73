"""Entities that link to each other (a customer's main contact, a contact's customer): the
tables are created with those references added after both exist, on every database."""

from __future__ import annotations

import sqlalchemy as sa

from engine.migrate import apply_plan, plan_migration

CUSTOMER = """
entity: customer
fields:
  name: {type: string, required: true}
  main_contact: {type: link, to: contact}
"""
CONTACT = """
entity: contact
fields:
  name: {type: string, required: true}
  customer: {type: link, to: customer, on_delete: cascade}
"""
NOTE = """
entity: note
fields:
  text: {type: string}
  parent: {type: link, to: note}
  about: {type: link, to: customer}
"""


def references(engine, table: str) -> set[tuple[str, str]]:
    return {(fk["constrained_columns"][0], fk["referred_table"]) for fk in sa.inspect(engine).get_foreign_keys(table)}


def test_two_entities_linking_to_each_other_are_created_and_enforced(service_for, build_model):
    service = service_for({"entities/customer.yaml": CUSTOMER, "entities/contact.yaml": CONTACT,
                           "entities/note.yaml": NOTE})
    engine = service.engine
    assert ("main_contact", "contact") in references(engine, "customer")
    assert ("customer", "customer") in references(engine, "contact")
    assert ("parent", "note") in references(engine, "note")
    acme = service.create("customer", {"name": "Acme"})
    ann = service.create("contact", {"name": "Ann", "customer": acme["id"]})
    acme = service.update("customer", acme["id"], {"main_contact": ann["id"]}, version=acme["version"])
    assert service.get("customer", acme["id"])["main_contact"] == ann["id"]
    # the references hold in the database: deleting the customer deletes its contacts (cascade)
    service.delete("customer", acme["id"])
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM contact")).scalar() == 0
    # planned again: nothing left to do (the references added after the tables are seen)
    model = build_model({"entities/customer.yaml": CUSTOMER, "entities/contact.yaml": CONTACT,
                         "entities/note.yaml": NOTE})
    assert plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version).operations == []


def test_a_new_pair_of_linked_entities_joins_an_existing_database(service_for, build_model):
    service = service_for({"entities/note.yaml": NOTE.replace("  about: {type: link, to: customer}\n", "")})
    engine = service.engine
    service.create("note", {"text": "kept"})
    model = build_model({"entities/customer.yaml": CUSTOMER, "entities/contact.yaml": CONTACT,
                         "entities/note.yaml": NOTE})
    plan = plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version)
    kinds = [(op.kind, op.table) for op in plan.operations]
    assert ("create_table", "customer") in kinds and ("create_table", "contact") in kinds
    assert not plan.blocked_operations and not plan.destructive_operations
    apply_plan(engine, plan)
    assert ("main_contact", "contact") in references(engine, "customer")
    assert ("about", "customer") in references(engine, "note")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT text FROM note")).scalars().all() == ["kept"]
    assert plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version).operations == []
