"""emails and phones through the records service (SQLite and PostgreSQL): several items with
kinds and one primary, refusals by item number with nothing saved, the primary written
alone, search by any item (a phone by its digits), expressions on NAME and on the items in
Python and SQL, filters and sorting on the primary, validators on every item, uniqueness of
the primary, and a role that hides every part."""

from __future__ import annotations

import pytest

from engine.expr import compile_expression
from engine.records import Actor, Context, Query, ValidationError

FILES = {
    "tailor.yaml": "name: test\nlanguages: [en, zh]\nplugins: [cn_fields]\n",
    "entities/person.yaml": """
        entity: person
        fields:
          name: {type: string, required: true}
          emails: {type: emails, unique: true, max_items: 3}
          phones:
            type: phones
            kinds: [work, mobile, {value: fax, label: {en: Fax, zh: 传真}, hidden: true}, {value: pager, hidden: true}]
          mobiles: {type: phones, validators: [cn_mobile]}
          reachable: {type: computed, returns: boolean, expression: "'mobile' in phones_kinds"}
          at_acme: {type: computed, returns: boolean, stored: false, expression: "'ann@acme.com' in emails_items"}
        """,
    "roles.yaml": """
        roles:
          clerk:
            entities:
              person: {actions: [read, update, export], scope: all, fields: {phones: hidden}}
        """,
}


@pytest.fixture
def service(service_for):
    return service_for(FILES)


def create(service, **values):
    return service.create("person", {"name": "Ann", **values})


def errors_of(call) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as info:
        call()
    return info.value.errors


def test_several_items_with_kinds_and_one_primary(service):
    record = create(service, emails=["Ann@Acme.com", {"value": "ann@home.org", "kind": "personal"},
                                     {"value": "a.l@old.com", "kind": "other", "primary": True}])
    assert record["emails"] == "a.l@old.com"  # the one marked primary; stored in lower case
    assert record["emails_items"] == ["ann@acme.com", "ann@home.org", "a.l@old.com"]  # in the order given
    assert record["emails_kinds"] == ["work", "personal", "other"]  # no kind given: the first kind
    again = service.get("person", record["id"])
    assert (again["emails"], again["emails_items"], again["emails_kinds"]) == \
        (record["emails"], record["emails_items"], record["emails_kinds"])
    # none marked: the first is the primary; NAME_items with NAME_kinds is the same input
    other = create(service, phones_items=["+1 415 555 0188", "138 0013 8000"], phones_kinds=["work", "mobile"])
    assert other["phones"] == "+1 415 555 0188" and other["phones_kinds"] == ["work", "mobile"]
    # NAME naming the primary among NAME_items
    third = create(service, emails="z@acme.com", emails_items=["x@acme.com", "Z@acme.com"])
    assert third["emails"] == "z@acme.com" and third["emails_items"] == ["x@acme.com", "z@acme.com"]


@pytest.mark.parametrize("values, wanted", [
    ({"emails": ["a@b.com", "nope", "A@B.com"]},
     {"emails.2": "'nope' is not an e-mail address", "emails.3": "'a@b.com' is the same e-mail address as item 1"}),
    ({"phones": ["(415) 555-0188", "415.555.0188", "415-555-0188 ext. 2"]}, {"phones.2": "'415.555.0188' is the same phone number as item 1"}),
    ({"phones": ["call me"]}, {"phones.1": "letters are only allowed to mark an extension"}),
    ({"phones": [{"value": "555-0100", "kind": "boss"}]}, {"phones.1": "'boss' is not a kind of this field"}),
    ({"phones": [{"value": "555-0100", "kind": "fax"}]}, {"phones.1": "the kind 'fax' is no longer offered"}),
    ({"phones": [{"value": "555-0100", "kind": "Work Phone"}]}, {"phones.1": "is not a kind of this field"}),
    ({"emails": [{"value": "a@b.com", "primary": True}, {"value": "c@d.com", "primary": True}]},
     {"emails.2": "only one item can be the primary"}),
    ({"emails": [{"value": "a@b.com", "rank": 1}]}, {"emails.1": "unknown key(s): rank"}),
    ({"emails": [{"value": "a@b.com", "primary": "maybe"}]}, {"emails.1": "primary: 'maybe' is not yes or no"}),
    ({"emails": [["a@b.com"]]}, {"emails.1": "expected one e-mail address"}),
    ({"emails": [True]}, {"emails.1": "expected one e-mail address"}),
    ({"emails": ["a@b.com", "c@d.com", "e@f.com", "g@h.com"]}, {"emails": "at most 3 e-mail addresses (got 4)"}),
    ({"emails": {"value": "a@b.com"}}, {"emails": "expected an e-mail address, or a list of items"}),
    ({"emails_items": "a@b.com"}, {"emails": "expected a list of e-mail addresses"}),
    ({"emails_items": ["a@b.com"], "emails_kinds": ["work", "other"]}, {"emails": "one kind for each of the 1 items"}),
    ({"emails_kinds": ["work"]}, {"emails": "send the kinds with the items"}),
    ({"emails": "c@d.com", "emails_items": ["a@b.com"]}, {"emails": "'c@d.com' is not among the items"}),
    ({"emails": ["x@y.com", "@" * 300 + ".com"]}, {"emails.2": "is not an e-mail address"}),
    ({"emails": ["a" * 250 + "@b.com"]}, {"emails.1": "at most 254 characters"}),
    ({"phones": ["１" * 16]}, {"phones.1": "too many digits"}),
    ({"mobiles": ["+86 138 0013 8000", "12345678901"]}, {"mobiles.2": "not a mainland China mobile number"}),
])
def test_bad_items_are_refused_by_number_and_nothing_is_saved(service, values, wanted):
    found = errors_of(lambda: create(service, **values))
    for key, message in wanted.items():
        assert any(message in m for m in found.get(key, [])), (key, found)
    assert service.count("person") == 0


def test_empty_items_are_no_items_and_null_empties_the_field(service):
    record = create(service, emails=["", "  ", "a@b.com", None])
    assert record["emails_items"] == ["a@b.com"]
    for empty in (None, "", []):
        record = service.update("person", record["id"], {"emails": empty}, version=record["version"])
        assert (record["emails"], record["emails_items"], record["emails_kinds"]) == (None, None, None)
        record = service.update("person", record["id"], {"emails": ["a@b.com"]}, version=record["version"])


def test_the_primary_written_alone(service):
    record = create(service, phones=["+1 415 555 0188", {"value": "138 0013 8000", "kind": "mobile"}])
    # a new number replaces the primary, keeping its kind and the other items
    record = service.update("person", record["id"], {"phones": "+1 415 555 0199"}, version=record["version"])
    assert record["phones"] == "+1 415 555 0199"
    assert record["phones_items"] == ["+1 415 555 0199", "138 0013 8000"]
    assert record["phones_kinds"] == ["work", "mobile"]
    # a number that is already an item (however written) becomes the primary; nothing is lost
    record = service.update("person", record["id"], {"phones": "13800138000"}, version=record["version"])
    assert record["phones"] == "13800138000"
    assert record["phones_items"] == ["+1 415 555 0199", "13800138000"]
    assert record["phones_kinds"] == ["work", "mobile"]
    # on a record without items, and on create: one item of the first kind
    other = create(service, emails="Solo@Acme.com")
    assert (other["emails"], other["emails_items"], other["emails_kinds"]) == \
        ("solo@acme.com", ["solo@acme.com"], ["work"])
    errors = errors_of(lambda: service.update("person", other["id"], {"emails": "not-an-address"},
                                              version=other["version"]))
    assert errors == {"emails": ["'not-an-address' is not an e-mail address"]}
    assert service.get("person", other["id"])["emails"] == "solo@acme.com"


def test_a_primary_changed_outside_the_service_is_kept_with_every_item(service):
    """A NAME that is none of the items (a database edited by hand) loses nothing on the next
    save: it becomes the first item, the primary."""
    import sqlalchemy as sa

    from engine.storage import write_engine

    record = create(service, emails=["ann@acme.com", "ann@home.org"])
    with write_engine(service.engine).begin() as conn:
        conn.execute(sa.text("UPDATE person SET emails = 'boss@acme.com' WHERE id = :id"), {"id": record["id"]})
    saved = service.update("person", record["id"], {"name": "Ann L."}, version=record["version"])
    assert saved["emails"] == "boss@acme.com"
    assert saved["emails_items"] == ["boss@acme.com", "ann@acme.com", "ann@home.org"]
    assert saved["emails_kinds"] == ["work", "work", "work"]


def test_kinds_given_again_keep_theirs_and_hidden_kinds_stay_where_they_are(service_for):
    offered = {**FILES, "entities/person.yaml": FILES["entities/person.yaml"].replace(
        "label: {en: Fax, zh: 传真}, hidden: true", "label: {en: Fax, zh: 传真}")}
    before = service_for(offered).create("person", {"name": "Bo", "phones": [{"value": "555-0200", "kind": "fax"}]})
    service = service_for(FILES)  # the same database: fax is now hidden
    record = create(service, phones=[{"value": "555-0100", "kind": "mobile"}, "555-0101"])
    # plain strings again: each keeps the kind it had; a new one gets the first kind
    record = service.update("person", record["id"], {"phones": ["555-0101", "555-0100", "555-0102"]},
                            version=record["version"])
    assert record["phones_items"] == ["555-0101", "555-0100", "555-0102"]
    assert record["phones_kinds"] == ["work", "mobile", "work"]
    assert record["phones"] == "555-0101"
    # a record holding a kind that is hidden now keeps it; no other record gets it
    kept = service.update("person", before["id"], {"phones": [{"value": "555-0200", "kind": "fax"}, "555-0201"],
                                                   "name": "Bo B."}, version=before["version"])
    assert kept["phones_kinds"] == ["fax", "work"]
    errors = errors_of(lambda: service.update("person", record["id"], {"phones": [
        {"value": "555-0101", "kind": "fax"}]}, version=record["version"]))
    assert errors == {"phones.1": ["the kind 'fax' is no longer offered"]}
    errors = errors_of(lambda: service.update("person", kept["id"], {"phones": [
        {"value": "555-0200", "kind": "fax"}, {"value": "555-0201", "kind": "pager"}]}, version=kept["version"]))
    assert errors == {"phones.2": ["the kind 'pager' is no longer offered"]}


def test_search_finds_every_item(service):
    ann = create(service, emails=["ann@acme.com", "ann.lee@private.example"],
                 phones=["+1 (415) 555-0188", {"value": "+86 138 0013 8000", "kind": "mobile"}])
    create(service, name="Bob", emails=["bob@acme.com"], phones=["010-6552 9988"])

    def found(term):
        return [r["name"] for r in service.list("person", Query(search=term))]

    assert found("ann.lee@private") == ["Ann"]  # a secondary e-mail
    assert found("PRIVATE.EXAMPLE") == ["Ann"]
    assert found("13800138000") == ["Ann"]  # a secondary phone, by its digits
    assert found("138-0013-8000") == ["Ann"]
    assert found("+86 138 0013 8000") == ["Ann"]
    assert found("4155550188") == ["Ann"]
    assert found("65529988") == ["Bob"]
    assert sorted(found("acme.com")) == ["Ann", "Bob"]
    # after an update the old secondary is no longer found, the new one is
    service.update("person", ann["id"], {"emails": ["ann@acme.com", "ann@new.example"]}, version=ann["version"])
    assert found("private.example") == [] and found("ann@new") == ["Ann"]


def test_expressions_in_python_and_sql(service):
    create(service, emails=["ann@acme.com", "ann@home.org"], phones=[{"value": "138 0013 8000", "kind": "mobile"}])
    create(service, name="Bob", emails=["bob@home.org"], phones=["555-0100"])
    create(service, name="Cy")
    entity = service.model.entity("person")
    people = {r["name"]: r for r in service.list("person", Query(limit=10))}
    assert people["Ann"]["reachable"] is True and people["Bob"]["reachable"] is False
    assert people["Ann"]["at_acme"] is True and people["Bob"]["at_acme"] is False
    for source, wanted in [
        ("emails == 'ann@acme.com'", ["Ann"]),
        ("emails != None and contains(emails, 'home')", ["Bob"]),
        ("'ann@home.org' in emails_items", ["Ann"]),
        ("'mobile' in phones_kinds", ["Ann"]),
        ("reachable", ["Ann"]),
        ("emails == None", ["Cy"]),
        ("phones == '555-0100'", ["Bob"]),
    ]:
        in_sql = sorted(r["name"] for r in service.list("person", Query(where=source, limit=10)))
        expression = compile_expression(source, entity.env, expected="boolean")
        in_python = sorted(n for n, r in people.items() if expression.evaluate(r, {}))
        assert in_sql == in_python == wanted, (source, in_sql, in_python)


def test_filters_sort_and_uniqueness_work_on_the_primary(service):
    create(service, name="Ann", emails=["zed@acme.com", {"value": "ann@home.org", "primary": True}])
    create(service, name="Bob", emails=["bob@acme.com"])
    create(service, name="Cy")

    def names(**query):
        return [r["name"] for r in service.list("person", Query(limit=10, **query))]

    assert names(filters=[("emails", "eq", "ANN@home.org")]) == ["Ann"]
    assert names(filters=[("emails", "eq", "zed@acme.com")]) == []  # a secondary is not the primary
    assert names(filters=[("emails", "contains", "ACME")]) == ["Bob"]
    assert names(filters=[("emails", "empty", None)]) == ["Cy"]
    assert names(sort=("emails", "name"), filters=[("emails", "not_empty", None)]) == ["Ann", "Bob"]
    with pytest.raises(ValidationError) as info:
        service.list("person", Query(filters=[("emails", "eq", "not an address")]))
    assert "is not an e-mail address" in str(info.value)
    # unique means the primary: another record may hold the same address as a secondary
    errors = errors_of(lambda: create(service, name="Dee", emails=["bob@acme.com"]))
    assert errors == {"emails": ["'bob@acme.com' is already used by another record"]}
    assert create(service, name="Dee", emails=["dee@acme.com", "bob@acme.com"])["emails"] == "dee@acme.com"


def test_a_hidden_field_hides_every_part(service):
    owner = create(service, phones=["555-0100", {"value": "555-0101", "kind": "mobile"}], emails=["ann@acme.com"])
    clerk = Context(actor=Actor(id=None, username="clerk", roles=("clerk",)))
    keys = {"phones", "phones_items", "phones_kinds", "reachable"}  # and what is computed from them
    got = service.get("person", owner["id"], clerk)
    assert not keys & set(got) and got["emails_items"] == ["ann@acme.com"]
    listed = service.list("person", Query(limit=5), clerk)
    assert listed and not keys & set(listed[0])
    exported = service.list("person", Query(limit=5), clerk, action="export")
    assert exported and not keys & set(exported[0])
    assert service.list("person", Query(search="555-0101"), clerk) == []  # not found by a hidden number
    assert len(service.list("person", Query(search="555-0101"))) == 1
    for key, value in (("phones", "555-0199"), ("phones_items", ["555-0199"]), ("phones_kinds", ["work"])):
        errors = errors_of(lambda key=key, value=value: service.update("person", owner["id"], {key: value},
                                                                        version=owner["version"], context=clerk))
        assert errors == {key: ["unknown field"]}
    with pytest.raises(ValidationError):
        service.list("person", Query(where="'555-0100' in phones_items"), clerk)
    entry = service.history("person", owner["id"], clerk)[0]
    assert not keys & set(entry["changes"])


def test_audit_and_an_unchanged_write(service):
    record = create(service, emails=["ann@acme.com", "ann@home.org"])
    same = service.update("person", record["id"], {"emails": ["ANN@acme.com", "ann@home.org"]},
                          version=record["version"])
    assert len(service.history("person", record["id"])) == 1  # nothing changed: nothing audited
    changed = service.update("person", record["id"], {"emails": [
        "ann@acme.com", {"value": "ann@home.org", "kind": "personal"}]}, version=same["version"])
    last = service.history("person", record["id"])[-1]["changes"]
    assert last == {"emails_kinds": [["work", "work"], ["work", "personal"]]}
    assert changed["emails_kinds"] == ["work", "personal"]
