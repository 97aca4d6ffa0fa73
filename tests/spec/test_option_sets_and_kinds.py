"""Shared option sets (declared once, merged by layers, resolved before the checks) and the
spec checks of the new kinds (duration, date_or_datetime, person_name, address), with their
positions; `tailor explain` names a field's set."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.cli import cli
from engine.errors import ProjectError
from engine.model import load_model

BASE = {
    "tailor.yaml": """
        name: base
        languages: [en, zh]
        option_sets:
          industry:
            - {value: tech, label: {en: Technology, zh: 科技}, color: blue}
            - retail
            - {value: mining, label: Mining}
          region: [east, west]
        """,
    "entities/account.yaml": """
        entity: account
        fields:
          name: {type: string}
          industry: {type: choice, option_set: industry, default: tech}
          markets: {type: multichoice, option_set: industry}
          region: {type: choice, options: [north, south]}
          lines:
            type: lines
            fields:
              sector: {type: choice, option_set: industry}
        """,
    "entities/lead.yaml": """
        entity: lead
        fields:
          industry: {type: choice, option_set: industry}
        """,
}

LAYER = {
    "tailor.yaml": """
        name: client
        extends: ../base
        option_sets:
          industry:
            - {value: tech, label: {en: IT, zh: 信息技术}}
            - {value: mining, hidden: true}
            - {value: energy, color: gold}
          channel: [web, fair]
        """,
    "entities/account.yaml": """
        entity: account
        fields:
          region: {option_set: region}
          channel: {type: choice, option_set: channel}
        """,
}


def options(field):
    return [(o.value, dict(o.label).get("en"), o.color, o.hidden) for o in field.options]


def test_a_set_is_used_by_several_fields_and_entities(make_project):
    model = load_model(make_project(BASE, name="base"), entry_points=False)
    account, lead = model.entities["account"], model.entities["lead"]
    expected = [("tech", "Technology", "blue", False), ("retail", "Retail", None, False),
                ("mining", "Mining", None, False)]
    assert options(account.fields["industry"]) == options(account.fields["markets"]) == expected
    assert options(lead.fields["industry"]) == expected
    assert options(account.fields["lines"].subfields["sector"]) == expected
    assert account.fields["industry"].default == "tech"


def test_a_layer_changes_a_set_in_one_place(make_project):
    make_project(BASE, name="base")
    root = make_project(LAYER, name="client")
    model = load_model(root, entry_points=False)
    account, lead = model.entities["account"], model.entities["lead"]
    expected = [("tech", "IT", "blue", False), ("retail", "Retail", None, False), ("mining", "Mining", None, True),
                ("energy", "Energy", "gold", False)]
    assert options(account.fields["industry"]) == options(lead.fields["industry"]) == expected
    assert account.fields["industry"].active_option_values == ("tech", "retail", "energy")
    # a layer stating option_set replaces the base's own options (and the other way round)
    assert [o.value for o in account.fields["region"].options] == ["east", "west"]
    assert [o.value for o in account.fields["channel"].options] == ["web", "fair"]
    result = CliRunner().invoke(cli, ["explain", str(root), "account.industry"])
    assert result.exit_code == 0, result.output
    assert "from option set 'industry'" in result.output


def test_the_version_follows_the_set(make_project):
    first = load_model(make_project(BASE, name="base"), entry_points=False).version
    changed = dict(BASE, **{"tailor.yaml": BASE["tailor.yaml"].replace("- retail", "- trade")})
    assert load_model(make_project(changed, name="other"), entry_points=False).version != first


def problems(make_project, files):
    with pytest.raises(ProjectError) as info:
        load_model(make_project(files), entry_points=False)
    return [(p.code, p.position.file.rsplit("/", 1)[-1], p.position.line, p.position.column, p.message,
             p.hint or "") for p in info.value.problems]


def test_set_problems_are_reported_where_they_are(make_project):
    files = {
        "tailor.yaml": "name: t\noption_sets:\n  industry: [tech, tech]\n  Bad-Name: [x]\n",
        "entities/account.yaml": """
            entity: account
            fields:
              a: {type: choice, option_set: industri}
              b: {type: choice, option_set: industry, options: [x]}
              c: {type: string, option_set: industry}
              d: {type: choice, option_set: industry, default: nope}
            """,
    }
    found = problems(make_project, files)
    codes = {(code, file, line) for code, file, line, *_ in found}
    assert ("E312", "account.yaml", 3) in codes
    assert ("E407", "account.yaml", 4) in codes  # both options and option_set
    assert ("E407", "account.yaml", 5) in codes  # not an option of a string
    assert ("E401", "account.yaml", 6) in codes  # the default checked against the set
    assert ("E406", "tailor.yaml", 3) in codes  # listed twice, at the set's line
    assert ("E304", "tailor.yaml", 4) in codes  # a set name is a name
    unknown = next(p for p in found if p[0] == "E312")
    assert unknown[3] == 33 and "did you mean 'industry'?" in unknown[5]
    assert not any(code == "E408" for code, *_ in found)  # no "needs options" on top of the E312


def test_sets_are_validated_by_the_schema(make_project):
    files = {"tailor.yaml": "name: t\noption_sets:\n  industry: tech\n  region: [{value: x, colour: red}]\n",
             "entities/account.yaml": "entity: account\nfields:\n  name: {type: string}\n"}
    found = problems(make_project, files)
    assert {(code, line) for code, _f, line, *_ in found} >= {("E202", 3), ("E202", 4)}  # an option's shape


@pytest.mark.parametrize("field, code, column, needle", [
    ("{type: duration, unit: weeks}", "E204", 29, "weeks"),
    ("{type: duration, max: soon}", "E402", 28, "is not a duration"),
    ("{type: duration, default: -5}", "E402", 32, "cannot be negative"),
    ("{type: duration, min: 2 h, max: 1 h}", "E403", None, "greater"),
    ("{type: date_or_datetime, default: 2026-02-30}", "E402", 40, "is not a date"),
    ("{type: person_name, default: Jane}", "E407", 35, "has no default"),
    ("{type: address, unique: true}", "E407", 22, "cannot be unique"),
    ("{type: person_name, max_length: 20}", "E407", 26, "not an option of a person_name"),
    ("{type: string, unit: hours}", "E407", 21, "not an option of a string"),
])
def test_kind_options_are_checked(make_project, field, code, column, needle):
    found = problems(make_project, {"entities/visit.yaml": f"entity: visit\nfields:\n  f: {field}\n"})
    matching = [p for p in found if p[0] == code]
    assert matching, found
    assert matching[0][2] == 3 and needle in matching[0][4], matching
    if column is not None:
        assert matching[0][3] == column, matching


def test_composites_are_not_allowed_in_rows_and_parts_do_not_clash(make_project):
    found = problems(make_project, {"entities/visit.yaml": """
        entity: visit
        fields:
          who: {type: person_name}
          who_first: {type: string}
          lines:
            type: lines
            fields:
              at: {type: date_or_datetime}
              place: {type: address}
              took: {type: duration}
        """})
    assert ("E605", 4) in {(p[0], p[2]) for p in found}  # who_first is the column of a part
    rows = [p for p in found if p[0] == "E407"]
    assert {p[2] for p in rows} == {8, 9} and all("cannot be inside the rows" in p[4] for p in rows)


def test_expressions_see_the_kinds_and_their_parts(make_project):
    model = load_model(make_project({"entities/visit.yaml": """
        entity: visit
        fields:
          who: {type: person_name}
          at: {type: address}
          took: {type: duration}
          due: {type: date_or_datetime}
          long: {type: computed, returns: boolean, expression: "took > hours(2) and due_time"}
          label: {type: computed, returns: string, expression: "who_last + ', ' + at_city"}
          day: {type: computed, returns: date, expression: "date(due)"}
        rules:
          - {check: "took == None or took < days(1)", message: less than a day}
        """}), entry_points=False)
    assert model.entities["visit"].fields["long"].expression.fields == {"took", "due_time"}
    found = problems(make_project, {"entities/visit.yaml": """
        entity: visit
        fields:
          took: {type: duration}
          bad: {type: computed, returns: boolean, expression: "took > 2"}
        """})
    assert found[0][0] == "E504" and found[0][2] == 4
