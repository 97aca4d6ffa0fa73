"""Searching ignores case and accents on SQLite and PostgreSQL alike (engine/model/search.py),
never finds a record by a field the user may not see, and follows the searchable fields as
they change."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.fields.phone import phone_digits
from engine.migrate import apply_plan, plan_migration
from engine.model import load_model
from engine.model.search import fold
from engine.permissions.org import load_actor, set_roles
from engine.records import Context, Query, RecordService
from engine.storage import users, write_engine
from engine.users import create_user

PEOPLE = """
entity: person
fields:
  name: {type: string}
  city: {type: string}
  note: {type: text}
list:
  search: [name, city]
"""

ROLES = """
roles:
  clerk:
    entities:
      person: {actions: [read], scope: all, fields: {city: hidden}}
"""

NAMES = [("Tomás García", "Málaga"), ("TOMÁS PÉREZ", "Sevilla"), ("Zoë Ørsted", "Århus"), ("Łukasz Wałęsa", "Gdańsk"),
         ("张伟", "青岛"), ("Anne-Marie O'Neil", "Dún Laoghaire"), ("100% Cotton_Co", "Berlin"),
         ("Ｆｕｌｌ Ｗｉｄｔｈ", "Tokyo")]


def names(service, term, context=None, **kwargs):
    rows = service.list("person", Query(search=term, limit=50, **kwargs), context)
    return sorted(r["name"] for r in rows)


def test_folding():
    assert fold("  TOMÁS\tGarcía ") == "tomas garcia"
    assert fold("Ｆｕｌｌ") == "full" and fold("Straße") == "strasse" and fold("Łódź") == "lodz"
    assert fold("张伟") == "张伟"
    assert phone_digits("+1 (415) 555-0188") == "14155550188"
    assert phone_digits("Tomás") is None and phone_digits("12") is None


def test_search_ignores_case_and_accents(service_for):
    service = service_for({"entities/person.yaml": PEOPLE})
    for name, city in NAMES:
        service.create("person", {"name": name, "city": city})
    assert names(service, "tomas") == ["TOMÁS PÉREZ", "Tomás García"]
    assert names(service, "TOMÁS") == ["TOMÁS PÉREZ", "Tomás García"]
    assert names(service, "garcia") == ["Tomás García"]
    assert names(service, "Perez Sevilla") == ["TOMÁS PÉREZ"]  # every word, in any searchable field
    assert names(service, "perez malaga") == []
    assert names(service, "zoe orsted") == ["Zoë Ørsted"]
    assert names(service, "LUKASZ walesa") == ["Łukasz Wałęsa"]
    assert names(service, "gdansk") == ["Łukasz Wałęsa"]
    assert names(service, "张") == ["张伟"] and names(service, "青岛") == ["张伟"]
    assert names(service, "o'neil") == ["Anne-Marie O'Neil"] and names(service, "dun laoghaire") != []
    assert names(service, "full width") == ["Ｆｕｌｌ Ｗｉｄｔｈ"]
    assert names(service, "100%") == ["100% Cotton_Co"] and names(service, "t_n") == []  # no wildcards (t_n would match "ton")
    assert names(service, "   ") == sorted(n for n, _c in NAMES)


def test_the_key_follows_every_change_of_the_record(service_for):
    service = service_for({"entities/person.yaml": PEOPLE})
    person = service.create("person", {"name": "Renée", "city": "Lyon"})
    assert names(service, "renee") == ["Renée"]
    service.update("person", person["id"], {"city": "Besançon"}, version=person["version"])
    assert names(service, "besancon") == ["Renée"] and names(service, "lyon") == []


def test_contains_filters_ignore_case_and_accents_too(service_for):
    service = service_for({"entities/person.yaml": PEOPLE})
    for name, city in NAMES:
        service.create("person", {"name": name, "city": city})
    rows = service.list("person", Query(filters=[("city", "contains", "MALAGA")], limit=10))
    assert [r["name"] for r in rows] == ["Tomás García"]


def test_a_hidden_field_is_never_searched(service_for):
    service = service_for({"entities/person.yaml": PEOPLE, "roles.yaml": ROLES})
    for name, city in NAMES:
        service.create("person", {"name": name, "city": city})
    with write_engine(service.engine).begin() as conn:
        user_id = create_user(conn, "clerk", None)
        set_roles(conn, user_id, ("clerk",), service.model.roles)
    with service.engine.connect() as conn:
        clerk = Context(actor=load_actor(conn, conn.execute(sa.select(users).where(users.c.id == user_id))
                                         .mappings().one()))
    assert names(service, "sevilla") == ["TOMÁS PÉREZ"]  # the admin finds it by the city
    assert names(service, "sevilla", clerk) == []  # the clerk may not see cities: not by them
    assert names(service, "perez", clerk) == ["TOMÁS PÉREZ"]  # and still folds the visible fields
    assert names(service, "GARCÍA", clerk) == ["Tomás García"]


def test_fields_made_searchable_later_are_searched_in_existing_records(make_project, db_engine):
    first = load_model(make_project({"entities/person.yaml": PEOPLE}), entry_points=False)
    apply_plan(db_engine, plan_migration(db_engine, first.metadata, project="test", metadata_version="1"))
    service = RecordService(first, db_engine)
    service.create("person", {"name": "Ana", "city": "Cádiz", "note": "Prefers WhatsApp"})
    assert names(service, "whatsapp") == []
    second = load_model(make_project({"entities/person.yaml": PEOPLE.replace("[name, city]", "[name, city, note]")}),
                        entry_points=False)
    plan = plan_migration(db_engine, second.metadata, project="test", metadata_version="2")
    [op] = [op for op in plan.operations if op.kind == "recompute"]
    assert "tailor_search (search key of name, city, note; changed)" in op.detail and op.affected == 1
    apply_plan(db_engine, plan)
    assert names(RecordService(second, db_engine), "whatsapp") == ["Ana"]


def test_adding_a_new_field_to_the_search_does_not_rebuild_every_key(make_project, db_engine):
    """The new column is empty in every record: keys built without it are still right, so a
    text field added to a big table stays a constant-time migration."""
    first = load_model(make_project({"entities/person.yaml": PEOPLE}), entry_points=False)
    apply_plan(db_engine, plan_migration(db_engine, first.metadata, project="test", metadata_version="1"))
    RecordService(first, db_engine).create("person", {"name": "Ana", "city": "Cádiz"})
    added = PEOPLE.replace("  note: {type: text}", "  note: {type: text}\n  nickname: {type: string}").replace(
        "[name, city]", "[name, city, nickname]")
    second = load_model(make_project({"entities/person.yaml": added}), entry_points=False)
    plan = plan_migration(db_engine, second.metadata, project="test", metadata_version="2")
    assert [op.kind for op in plan.operations] == ["add_column"]
    apply_plan(db_engine, plan)
    service = RecordService(second, db_engine)
    assert names(service, "cadiz") == ["Ana"]
    person = service.list("person", limit=1)[0]
    service.update("person", person["id"], {"nickname": "Anita"}, version=person["version"])
    assert names(service, "anita") == ["Ana"]
    fewer = load_model(make_project({"entities/person.yaml": added.replace("[name, city, nickname]", "[name]")}),
                       entry_points=False)
    plan = plan_migration(db_engine, fewer.metadata, project="test", metadata_version="3")
    assert [op.kind for op in plan.operations] == ["recompute"]  # a field left the search: keys rebuilt
    apply_plan(db_engine, plan)
    assert names(RecordService(fewer, db_engine), "anita") == []


def test_phone_numbers_are_found_however_they_are_written(service_for):
    service = service_for({"entities/person.yaml": PEOPLE.replace("  note: {type: text}", "  note: {type: text}\n"
                                                                  "  phone: {type: phone}").replace(
        "[name, city]", "[name, city, phone]")})
    service.create("person", {"name": "Ana", "phone": "(415) 555-0188"})
    service.create("person", {"name": "Bo", "phone": "+44 20 7946 0958"})
    service.create("person", {"name": "Chen", "phone": "０５３２-８８８８ ６６６６"})
    assert names(service, "4155550188") == ["Ana"] and names(service, "415.555.0188") == ["Ana"]
    assert names(service, "020 7946 0958") == ["Bo"]  # the national form of an international number
    assert names(service, "+44 20 7946 0958") == ["Bo"] and names(service, "442079460958") == ["Bo"]
    assert names(service, "0532 88886666") == ["Chen"]  # full-width digits stored as ASCII
    assert names(service, "555") == ["Ana"]  # a short term is an ordinary word


def test_text_typed_as_stored_is_found_field_by_field_on_both_databases(service_for):
    """`contains` filters, and searches of users who may not see every searchable field,
    fold in SQL: both sides the same way, whatever the letters."""
    service = service_for({"entities/person.yaml": PEOPLE, "roles.yaml": ROLES})
    written = ["Straße", "Nguyễn Văn An", "ＡＢＣ", "Æsir", "Йорк", "ﬁne", "Øre"]
    for text in written:
        service.create("person", {"name": text, "city": text})
    with write_engine(service.engine).begin() as conn:
        user_id = create_user(conn, "clerk", None)
        set_roles(conn, user_id, ("clerk",), service.model.roles)
    with service.engine.connect() as conn:
        clerk = Context(actor=load_actor(conn, conn.execute(sa.select(users).where(users.c.id == user_id))
                                         .mappings().one()))
    for text in written:
        rows = service.list("person", Query(filters=[("city", "contains", text)], limit=5))
        assert [r["name"] for r in rows] == [text], text
        assert names(service, text, clerk) == [text], text  # the clerk's search: name only, folded in SQL
    assert names(service, "nguyen van", clerk) == ["Nguyễn Văn An"] and names(service, "ore", clerk) == ["Øre"]


def test_a_search_with_a_nul_character_is_a_clear_error(service_for):
    from engine.records import ValidationError

    service = service_for({"entities/person.yaml": PEOPLE})
    for query in (Query(search="a\x00b", limit=5), Query(filters=[("city", "contains", "a\x00b")], limit=5)):
        with pytest.raises(ValidationError):
            service.list("person", query)


def test_a_new_record_is_found_by_its_autonumber_at_once(service_for):
    """The number is given when the record is saved: its search key has it from the start,
    one record at a time and in a batch (an import), not only after the next edit."""
    service = service_for({"entities/person.yaml": PEOPLE.replace("  note: {type: text}", "  note: {type: text}\n"
                                                                  "  code: {type: autonumber, format: 'P-{####}'}")
                           .replace("[name, city]", "[name, city, code]")})
    one = service.create("person", {"name": "Ana"})
    batch = [({}, {"name": "Bo"}), ({}, {"name": "Chen"})]  # (result, input), as an import's rows
    service._create_many(service.model.entity("person"), batch, Context())
    assert one["code"] == "P-0001" and names(service, "P-0001") == ["Ana"]
    assert [service.get("person", result["id"])["code"] for result, _data in batch] == ["P-0002", "P-0003"]
    assert names(service, "p-0003") == ["Chen"]
