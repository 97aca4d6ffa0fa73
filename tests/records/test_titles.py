"""What names a record (engine/records/titles.py), on SQLite and PostgreSQL: title
expressions, fallbacks, "<label> #id", fields a reader may not see, search by name-like
fields the title does not hold."""

from __future__ import annotations

from engine.records import Actor, Context, Query
from engine.records.titles import read_titles, title_columns, title_of

FILES = {
    "tailor.yaml": "name: titles\nlanguages: [en, zh]\n",
    "entities/person.yaml": """
        entity: person
        label: {en: Person, zh: 人员}
        title: "first_name + ' ' + last_name"
        fields:
          salutation: {type: string}
          first_name: {type: string}
          last_name: {type: string}
          email: {type: email}
          city: {type: string}
        """,
    "entities/company.yaml": """
        entity: company
        label: {en: Company, zh: 公司}
        fields:
          code: {type: string}
          name: {type: string}
          city: {type: string}
        """,
    "roles.yaml": """
        roles:
          admin:
            entities:
              person: {actions: [read, create, update, delete], scope: all}
              company: {actions: [read, create, update, delete], scope: all}
          clerk:
            entities:
              person: {actions: [read], scope: all, fields: {last_name: hidden}}
        """,
}


def people(service):
    made = {}
    for key, data in {
        "full": {"salutation": "Dr.", "first_name": "Jane", "last_name": "Doe", "email": "jane@example.com"},
        "first_only": {"first_name": "Ann", "email": "ann@example.com"},
        "email_only": {"salutation": "Mr.", "email": "bob@example.com", "city": "Suzhou"},
        "nothing": {"salutation": "Ms.", "city": "Wuxi"},
    }.items():
        made[key] = service.create("person", data)
    return made


def test_titles_use_the_expression_then_fallbacks_then_label_and_number(service_for):
    service = service_for(FILES)
    person = service.model.entities["person"]
    made = people(service)
    titles = {key: title_of(person, service.get("person", row["id"])) for key, row in made.items()}
    assert titles == {"full": "Jane Doe", "first_only": "Ann", "email_only": "bob@example.com",
                      "nothing": f"Person #{made['nothing']['id']}"}
    assert title_of(person, service.get("person", made["nothing"]["id"]), "zh") == f"人员 #{made['nothing']['id']}"
    # never the salutation, never the city
    assert all("Dr." not in t and "Suzhou" not in t for t in titles.values())


def test_read_titles_reads_only_what_titles_need(service_for):
    service = service_for(FILES)
    made = people(service)
    person = service.model.entities["person"]
    columns = title_columns(person)
    assert set(columns) == {"first_name", "last_name", "email"}
    rows = service.list("person", Query(columns=columns, limit=10))
    assert all("city" not in row for row in rows)
    ids = [row["id"] for row in made.values()]
    found = read_titles(service, person, [*ids, 999_999, -1, "x"], Context())
    assert found == {made["full"]["id"]: "Jane Doe", made["first_only"]["id"]: "Ann",
                     made["email_only"]["id"]: "bob@example.com", made["nothing"]["id"]: f"Person #{made['nothing']['id']}"}


def test_a_field_the_reader_may_not_see_never_names_a_record(service_for):
    service = service_for(FILES)
    made = people(service)
    person = service.model.entities["person"]
    clerk = Context(actor=Actor(id=42, username="clerk", roles=("clerk",)))
    assert "last_name" not in title_columns(person, service.access(person, clerk).visible)
    found = read_titles(service, person, [made["full"]["id"]], clerk)
    assert found == {made["full"]["id"]: "Jane"}  # the expression reads last_name: skipped whole
    assert "Doe" not in title_of(person, service.get("person", made["full"]["id"], clerk))


def test_search_finds_records_by_name_like_fields_the_title_does_not_hold(service_for):
    service = service_for(FILES)
    made = people(service)
    by_email = service.list("person", Query(search="BOB@example", limit=10))
    assert [r["id"] for r in by_email] == [made["email_only"]["id"]]
    by_last_name = service.list("person", Query(search="doe", limit=10))
    assert [r["id"] for r in by_last_name] == [made["full"]["id"]]
    company = service.create("company", {"code": "HX-001", "name": "Huaxin", "city": "Suzhou"})
    assert [r["id"] for r in service.list("company", Query(search="hx-00", limit=10))] == [company["id"]]


def test_notifications_name_records_by_their_title(service_for):
    service = service_for(FILES)
    made = people(service)
    person = service.model.entities["person"]
    what = service.flows._what(person, service.get("person", made["full"]["id"]))
    assert what["en"] == "Person Jane Doe" and what["zh"] == "人员 Jane Doe"
    nothing = service.flows._what(person, service.get("person", made["nothing"]["id"]))
    assert nothing["en"] == f"Person #{made['nothing']['id']}"
