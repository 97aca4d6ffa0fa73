"""Defaults that fit an unpolished model: titles, labels, plurals, search, filters, menu.

Each test states a model as a hurried implementer would write it and checks that the
compiled model reads like a CRM (issue 10: translated models looked broken by defaults).
"""

from __future__ import annotations

import pytest

from engine.errors import ProjectError
from engine.labels import english_plural, readable
from engine.model import load_model


def entity_of(make_project, text: str, name: str = "a", files: dict | None = None):
    model = load_model(make_project({f"entities/{name}.yaml": text, **(files or {})}), entry_points=False)
    return model.entities[name]


def problems(make_project, text: str) -> list:
    with pytest.raises(ProjectError) as info:
        load_model(make_project({"entities/a.yaml": text}), entry_points=False)
    return info.value.problems


# -- titles -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("fields", "parts"), [
    # a salutation first in the file is never the title
    ("salutation: {type: string}\n  name: {type: string}", ("name",)),
    ("salutation: {type: string}\n  full_name: {type: string}\n  email: {type: email}", ("full_name",)),
    ("title: {type: string}\n  display_name: {type: string}", ("display_name",)),
    # first and last name together, when nothing better
    ("salutation: {type: string}\n  first_name: {type: string}\n  last_name: {type: string}\n"
     "  company_name: {type: string}", ("first_name", "last_name")),
    ("prefix: {type: string}\n  account_name: {type: string}", ("account_name",)),
    ("gender: {type: string}\n  notes: {type: text}\n  subject: {type: string}", ("subject",)),
    # a deal's or a task's `title` is its name when there is no person name
    ("code: {type: string}\n  title: {type: string}", ("title",)),
    ("kind: {type: choice, options: [a, b]}\n  number: {type: autonumber, format: 'SO-{####}'}\n"
     "  ref: {type: string}", ("number",)),
    ("honorific: {type: string}\n  email: {type: email}\n  city: {type: string}", ("email",)),
    # the first string field that is not salutation-like, never a choice
    ("salutation: {type: string}\n  status: {type: choice, options: [a]}\n  city: {type: string}", ("city",)),
    ("salutation: {type: choice, options: [mr, ms]}\n  phone: {type: phone}", ("phone",)),
])
def test_default_title_is_name_like_never_a_salutation(make_project, fields, parts):
    entity = entity_of(make_project, f"entity: a\nfields:\n  {fields}\n")
    assert entity.title.parts == parts
    assert entity.title_field == (parts[0] if len(parts) == 1 else None)
    assert not entity.title.declared


def test_person_name_type_is_the_default_title_by_type_name(make_project):
    entity = entity_of(make_project, """
        entity: a
        fields:
          name: {type: string}
          contact: {type: person_name}
        """)
    assert entity.title.parts == ("contact",)
    assert ("name",) in entity.title.fallbacks


def test_title_fallbacks_are_other_name_like_fields(make_project):
    entity = entity_of(make_project, """
        entity: a
        fields:
          salutation: {type: string}
          name: {type: string}
          city: {type: string}
          email: {type: email}
          mobile: {type: phone}
        """)
    assert entity.title.parts == ("name",)
    assert entity.title.fallbacks == (("email",), ("mobile",))  # never the city, never the salutation


def test_title_expression_compiles_and_is_not_a_field(make_project):
    entity = entity_of(make_project, """
        entity: a
        fields:
          salutation: {type: string}
          first_name: {type: string}
          last_name: {type: string}
        title: "first_name + ' ' + last_name"
        """)
    assert entity.title.expression.source == "first_name + ' ' + last_name"
    assert entity.title.fields == ("first_name", "last_name") and entity.title.declared
    assert entity.title_field is None
    assert set(entity.fields) == {"salutation", "first_name", "last_name"}  # nothing added to forms or lists
    assert entity.list.columns[:2] == ("first_name", "last_name")  # the title's fields lead the list


@pytest.mark.parametrize(("title", "code", "column", "needle"), [
    ("\"amount + 1\"", "E504", 9, "expected a string result"),
    ("\"first_nam + ' x'\"", "E502", 9, "first_nam"),
    ("\"user.username + first_name\"", "E502", 9, "user"),  # a title names a record alike for everyone
    ("\"first_name +\"", "E501", None, "syntax"),
])
def test_title_expression_errors_point_into_the_yaml_value(make_project, title, code, column, needle):
    found = problems(make_project, f"""
        entity: a
        fields:
          first_name: {{type: string}}
          amount: {{type: integer}}
        title: {title}
        """)
    matching = [p for p in found if p.code == code]
    assert matching, [str(p) for p in found]
    assert matching[0].position.line == 5 and needle in str(matching[0])
    if column is not None:
        assert matching[0].position.column == column, str(matching[0])


def test_title_naming_a_missing_or_multi_row_field_is_an_error(make_project):
    assert [p.code for p in problems(make_project, "entity: a\nfields:\n  name: {type: string}\ntitle: nmae\n")] \
        == ["E307"]
    found = problems(make_project, """
        entity: a
        fields:
          items: {type: lines, fields: {x: {type: string}}}
        title: items
        """)
    assert [p.code for p in found] == ["E407"] and found[0].position.line == 4


# -- labels ------------------------------------------------------------------------------------
def test_option_labels_default_to_readable_english_only_when_none_is_given(make_project):
    field = entity_of(make_project, """
        entity: a
        fields:
          stage:
            type: choice
            options: [closed_won, in_progress, CNY, {value: lost, label: {en: Lost it, zh: 输单}}, {value: net_30}]
        """).fields["stage"]
    labels = {o.value: dict(o.label) for o in field.options}
    assert labels == {"closed_won": {"en": "Closed won"}, "in_progress": {"en": "In progress"}, "CNY": {"en": "CNY"},
                      "lost": {"en": "Lost it", "zh": "输单"}, "net_30": {"en": "Net 30"}}


def test_entity_and_field_labels_and_plurals_have_readable_defaults(make_project):
    entity = entity_of(make_project, """
        entity: sales_opportunity
        fields:
          first_name: {type: string}
        """, name="sales_opportunity")
    assert dict(entity.label) == {"en": "Sales opportunity"}
    assert dict(entity.plural) == {"en": "Sales opportunities"}
    assert dict(entity.fields["first_name"].label) == {"en": "First name"}
    labelled = entity_of(make_project, "entity: b\nlabel: {en: Person, zh: 人员}\nfields:\n  x: {type: string}\n",
                         name="b")
    assert dict(labelled.plural) == {"en": "People", "zh": "人员"}  # Chinese has no plural form
    given = entity_of(make_project, "entity: c\nlabel: {en: Box}\nplural: {en: Crates}\nfields:\n  x: {type: string}\n",
                      name="c")
    assert dict(given.plural) == {"en": "Crates"}


@pytest.mark.parametrize(("singular", "plural"), [
    ("Sales order", "Sales orders"), ("Opportunity", "Opportunities"), ("Address", "Addresses"),
    ("Key", "Keys"), ("Branch", "Branches"), ("Person", "People"), ("SKU", "SKUs"), ("客户", "客户"),
    ("Customer (B2B)", "Customer (B2B)"), ("<b>Customer</b>", "<b>Customer</b>"), ("Q&A", "Q&A"),
])
def test_english_plural(singular, plural):
    assert english_plural(singular) == plural


def test_readable_keeps_codes():
    assert [readable(v) for v in ("closed_won", "in_progress", "CNY", "iPhone", "5")] == \
        ["Closed won", "In progress", "CNY", "iPhone", "5"]


# -- warnings ------------------------------------------------------------------------------------
def test_missing_project_language_labels_are_warnings_not_errors(make_project):
    model = load_model(make_project({"entities/a.yaml": """
        entity: a
        label: {en: Deal, zh: 交易}
        fields:
          name: {type: string, label: {en: Name}}
          code: {type: string, label: Code}
          stage: {type: choice, label: {en: Stage, zh: 阶段}, options: [closed_won, in_progress, CNY]}
          kind: {type: choice, label: {en: Kind, zh: 类型}, options: [{value: a, label: {en: A, zh: 甲}}, {value: b, label: B}]}
          retired: {type: choice, options: [x], hidden: true}
        """}), entry_points=False)
    found = [(w.code, w.position.line, w.message) for w in model.warnings]
    assert found == [("W302", 4, "field 'name' has no zh label"),
                     ("W301", 6, "options of field 'stage' have no zh label: closed_won, in_progress")]


def test_a_project_in_one_language_has_no_warnings_for_defaults(make_project):
    model = load_model(make_project({"tailor.yaml": "name: t\nlanguages: [en]\n",
                                     "entities/a.yaml": "entity: a\nfields:\n  stage: {type: choice, options: [a_b]}\n"}),
                       entry_points=False)
    assert model.warnings == ()


def test_warnings_ride_along_with_errors(make_project):
    with pytest.raises(ProjectError) as info:
        load_model(make_project({"entities/a.yaml": "entity: a\nfields:\n  x: {type: strng}\n  y: {type: string}\n"}),
                   entry_points=False)
    assert [p.code for p in info.value.problems] == ["E301"]
    assert {w.code for w in info.value.warnings} == {"W302", "W303"}


# -- list defaults ---------------------------------------------------------------------------------
FIELDS_FOR_LISTS = """
    entity: a
    fields:
      name: {type: string}
      secret: {type: string, hidden: true}
      email: {type: email}
      mobile: {type: phone}
      number: {type: autonumber, format: "A-{###}"}
      notes: {type: text}
      size: {type: integer}
      stage: {type: choice, options: [a, b]}
      company: {type: link, to: a}
      rep: {type: user}
      since: {type: date}
      seen_at: {type: datetime}
      vip: {type: boolean}
      hidden_kind: {type: choice, options: [x], hidden: true}
      tags: {type: tags}
    """


def test_default_search_looks_in_every_name_like_text_field(make_project):
    entity = entity_of(make_project, FIELDS_FOR_LISTS)
    assert entity.list.search == ("name", "email", "mobile", "number")
    declared = entity_of(make_project, FIELDS_FOR_LISTS + "list: {search: [email]}\n", name="a")
    assert declared.list.search == ("email",)


def test_default_filters_are_a_handful_and_add_no_index(make_project):
    entity = entity_of(make_project, FIELDS_FOR_LISTS)
    assert entity.list.filters == ("stage", "company", "rep", "since", "seen_at")
    indexed = {tuple(c.name for c in ix.columns) for ix in entity.table.indexes}
    assert ("stage",) not in indexed and ("since",) not in indexed and ("seen_at",) not in indexed
    declared = entity_of(make_project, FIELDS_FOR_LISTS + "list: {filters: [stage, vip]}\n")
    assert declared.list.filters == ("stage", "vip")
    assert {("stage",), ("vip",)} <= {tuple(c.name for c in ix.columns) for ix in declared.table.indexes}
    none = entity_of(make_project, FIELDS_FOR_LISTS + "list: {filters: []}\n")
    assert none.list.filters == ()


def test_default_filters_leave_the_indexes_as_they_were(make_project):
    """A project that declares no filters gets no index from the default ones, so upgrading
    the engine does not make its next migration create any (only the title's and the
    owner's, as before)."""
    entity = entity_of(make_project, "entity: a\nfields:\n  name: {type: string}\n  stage: {type: choice, options: [x]}\n")
    assert entity.list.filters == ("stage",)
    assert sorted(ix.name for ix in entity.table.indexes) == ["ix_a_name", "ix_a_owner"]


# -- menu ------------------------------------------------------------------------------------------
def test_menu_follows_the_yaml_not_the_alphabet(make_project):
    root = make_project({
        "tailor.yaml": """
            name: t
            languages: [en, zh]
            menu:
              - group: {en: People, zh: 人员}
                entities: [person]
              - group: Sales
                entities: [deal]
            """,
        "entities/person.yaml": "entity: person\nfields: {name: {type: string}}\n",
        "entities/deal.yaml": "entity: deal\nfields: {name: {type: string}}\n",
        "entities/ticket.yaml": "entity: ticket\nmenu: People\nfields: {name: {type: string}}\n",
        "entities/call.yaml": "entity: call\nmenu: 人员\nmenu_order: 1\nfields: {name: {type: string}}\n",
        "entities/quote.yaml": "entity: quote\nmenu: Service\nfields: {name: {type: string}}\n",
        "entities/zebra.yaml": "entity: zebra\nmenu_order: 1\nfields: {name: {type: string}}\n",
        "entities/apple.yaml": "entity: apple\nmenu_order: 2\nfields: {name: {type: string}}\n",
        "entities/mango.yaml": "entity: mango\nfields: {name: {type: string}}\n",
        "entities/kiwi.yaml": "entity: kiwi\nmenu_order: -5\nfields: {name: {type: string}}\n",
    })
    model = load_model(root, entry_points=False)
    assert [(dict(label), names) for label, names in model.menu] == [
        ({"en": "People", "zh": "人员"}, ("person", "call", "ticket")),
        ({"en": "Sales"}, ("deal",)),
        ({"en": "Service"}, ("quote",)),
        ({}, ("kiwi", "zebra", "apple", "mango")),
    ]


def test_title_expression_cannot_read_child_rows(make_project):
    found = problems(make_project, """
        entity: a
        fields:
          name: {type: string}
          items: {type: lines, fields: {x: {type: string}}}
        title: "name if len(items) > 0 else 'empty'"
        """)
    assert [(p.code, p.position.line) for p in found] == [("E506", 5)], [str(p) for p in found]
