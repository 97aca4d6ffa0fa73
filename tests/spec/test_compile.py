"""What the compiler makes of a spec: columns, constraints, indexes, names."""

from __future__ import annotations

from datetime import date

from engine.model import load_model


def model_of(make_project, text: str):
    return load_model(make_project({"entities/a.yaml": text}), entry_points=False)


def test_not_null_only_for_fields_required_on_every_record(make_project):
    table = model_of(make_project, """
        entity: a
        fields:
          kind: {type: choice, options: [x, y]}
          always: {type: string, required: true}
          sometimes: {type: string, required: true, visible_when: "kind == 'x'"}
          hidden: {type: string, required: true, hidden: true}
          ref: {type: autonumber, format: "A-{###}"}
        """).entities["a"].table
    assert table.c.always.nullable is False
    assert table.c.sometimes.nullable is True and table.c.hidden.nullable is True
    assert table.c.ref.unique is True


def test_required_links_default_to_restrict(make_project):
    entity = model_of(make_project, """
        entity: a
        fields:
          parent: {type: link, to: a, required: true}
          other: {type: link, to: a}
        """).entities["a"]
    assert entity.fields["parent"].on_delete == "restrict"
    assert entity.fields["other"].on_delete == "set_null"


def test_indexes_are_merged_and_unique_wins(make_project):
    table = model_of(make_project, """
        entity: a
        fields:
          x: {type: string}
          y: {type: string}
        indexes:
          - {fields: [x, y]}
          - {fields: [x, y], unique: true}
        """).entities["a"].table
    matching = [ix for ix in table.indexes if [c.name for c in ix.columns] == ["x", "y"]]
    assert len(matching) == 1 and matching[0].unique and matching[0].name.startswith("uq_")


def test_long_generated_names_fit_postgresql(make_project):
    long = "f" + "x" * 55
    table = model_of(make_project, f"""
        entity: an_entity_with_a_long_name
        fields:
          {long}: {{type: string}}
        list: {{sort: [{long}], filters: [{long}]}}
        """).entities["an_entity_with_a_long_name"].table
    assert all(len(ix.name) <= 63 for ix in table.indexes)
    assert len({ix.name for ix in table.indexes}) == len(table.indexes)


def test_required_field_with_constant_default_expression_can_be_backfilled(make_project):
    table = model_of(make_project, """
        entity: a
        fields:
          opened: {type: date, required: true, default: {expression: "today()"}}
        """).entities["a"].table
    assert isinstance(table.c.opened.info["backfill"], date)
