"""The YAML of emails and phones fields: their options, bad kinds, defaults, uniqueness, rows,
clashing part names and label warnings, each reported with its code and line; and what the
compiled model makes of them (columns, expression names, default search and title)."""

from __future__ import annotations

import pytest

from engine.errors import ProjectError
from engine.model import load_model


def problems_of(make_project, fields: str) -> list[tuple[str, int, str]]:
    root = make_project({"entities/c.yaml": "entity: c\nfields:\n  name: {type: string}\n" + fields})
    with pytest.raises(ProjectError) as info:
        load_model(root, entry_points=False)
    return [(p.code, p.position.line, p.message) for p in info.value.problems]


@pytest.mark.parametrize("fields, code, line, message", [
    ("  e: {type: emails, max_length: 80}\n", "E407", 4, "'max_length' is not an option of a emails field"),
    ("  e: {type: phones, options: [a]}\n", "E407", 4, "'options' is not an option of a phones field"),
    ("  e: {type: string, kinds: [work]}\n", "E407", 4, "'kinds' is not an option of a string field"),
    ("  e: {type: email, max_items: 3}\n", "E407", 4, "'max_items' is not an option of a email field"),
    ("  e:\n    type: phones\n    kinds: [work, mobile, work]\n", "E406", 6, "kind 'work' is listed twice"),
    ("  e:\n    type: phones\n    kinds: [work, {value: work, label: Job}]\n", "E406", 6, "listed twice"),
    ("  e:\n    type: phones\n    kinds: [{value: fax, hidden: true}]\n", "E407", 6, "every kind is hidden"),
    ("  e: {type: phones, kinds: [Work Phone]}\n", "E202", 4, "'Work Phone' is not allowed here"),
    ("  e: {type: phones, kinds: []}\n", "E204", 4, "should be non-empty"),
    ("  e: {type: phones, kinds: [{value: fax, colour: red}]}\n", "E202", 4, "wrong shape"),
    ("  e: {type: emails, max_items: 0}\n", "E204", 4, "less than the minimum of 1"),
    ("  e: {type: emails, max_items: 51}\n", "E204", 4, "greater than the maximum of 50"),
    ("  e: {type: emails, default: nope}\n", "E402", 4, "'nope' is not an e-mail address"),
    ("  e: {type: phones, default: [555-0100]}\n", "E402", 4, "default is one value"),
    ("  l:\n    type: lines\n    fields:\n      e: {type: emails}\n", "E407", 7,
     "a 'emails' field cannot be inside the rows of 'l'"),
    ("  e: {type: phones}\n  e_kinds: {type: string}\n", "E605", 5,
     "field 'e_kinds' clashes with the 'kinds' column of phones field 'e'"),
])
def test_bad_fields_are_reported_where_they_are(make_project, fields, code, line, message):
    found = problems_of(make_project, fields)
    assert any(c == code and n == line and message in m for c, n, m in found), found


def test_unknown_expression_names_of_the_items(make_project):
    found = problems_of(make_project, "  e: {type: emails}\n  x: {type: computed, expression: \"len(e_values)\"}\n")
    assert found and found[0][0].startswith("E5") and "e_values" in found[0][2]


def test_a_good_field_compiles(make_project):
    model = load_model(make_project({"tailor.yaml": "name: t\nlanguages: [en]\n", "entities/c.yaml": """
        entity: c
        fields:
          name: {type: string}
          emails: {type: emails, unique: true, index: true, required: true, default: Info@Acme.com}
          phones:
            type: phones
            max_items: 3
            kinds: [mobile, {value: fax, label: {en: Fax, zh: 传真}}, {value: old, label: Old, hidden: true}]
          has_mobile: {type: computed, returns: boolean, expression: "'mobile' in phones_kinds"}
          at_acme: {type: computed, returns: boolean, expression: "contains(emails, '@acme.com') and len(emails_items) > 1"}
        """}), entry_points=False)
    entity = model.entity("c")
    table = entity.table
    assert [c.name for c in table.c if c.name.startswith(("emails", "phones"))] == [
        "emails", "emails_items", "emails_kinds", "phones", "phones_items", "phones_kinds"]
    assert table.c.emails.unique and not table.c.emails.nullable and table.c.emails.type.length == 254
    assert table.c.phones.type.length == 40
    field = entity.fields["emails"]
    assert field.default == "info@acme.com"
    assert [str(entity.env.field_type(n)) for n in ("emails", "emails_items", "phones_kinds")] == \
        ["string", "list[string]", "list[string]"]
    phones = entity.fields["phones"]
    assert phones.type.offered(phones) == ["mobile", "fax"] and phones.type.default_kind(phones) == "mobile"
    assert phones.type.max_items(phones) == 3 and entity.fields["emails"].type.max_items(field) == 10
    assert [k.text("zh") for k in phones.type.kinds(phones)] == ["手机", "传真", "Old"]
    assert "emails" in entity.list.search and "phones" in entity.list.search
    assert model.warnings == ()


def test_kinds_lacking_a_language_warn(make_project):
    model = load_model(make_project({"entities/c.yaml": """
        entity: c
        label: {en: Contact, zh: 联系人}
        fields:
          phones: {type: phones, label: {en: Phones, zh: 电话}, kinds: [work, pager, {value: sat, label: {en: Satellite}}]}
        """}), entry_points=False)
    assert [(w.code, w.position.line, w.message) for w in model.warnings] == [
        ("W301", 4, "kinds of field 'phones' have no zh label: pager, sat")]


def test_an_emails_field_names_a_record_without_a_name(make_project):
    model = load_model(make_project({"entities/c.yaml": """
        entity: c
        fields:
          emails: {type: emails}
          phones: {type: phones}
          note: {type: text}
        """}), entry_points=False)
    title = model.entity("c").title
    assert title.parts == ("emails",) and ("phones",) in title.fallbacks
