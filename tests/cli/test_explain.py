"""`tailor explain` for options and rules across layers, and warnings in `tailor check`."""

from __future__ import annotations

from click.testing import CliRunner

from engine.cli import cli
from engine.paths import EXAMPLES

BASE = {
    "tailor.yaml": "name: base\nlanguages: [en, zh]\n",
    "entities/deal.yaml": """
        entity: deal
        label: {en: Deal, zh: 交易}
        fields:
          name: {type: string, label: {en: Name, zh: 名称}}
          amount: {type: integer, label: {en: Amount, zh: 金额}}
          stage:
            type: choice
            label: {en: Stage, zh: 阶段}
            options:
              - {value: open, label: {en: Open, zh: 进行中}, color: blue}
              - {value: closed_won, color: green}
              - {value: dropped, label: {en: Dropped, zh: 放弃}}
        rules:
          - name: big_needs_name
            when: "amount > 1000"
            check: "name != None"
            field: name
            message: {en: A big deal needs a name., zh: 大额交易需要名称。}
          - name: positive
            check: "amount == None or amount >= 0"
            message: {en: Amounts are positive., zh: 金额不能为负。}
        """,
}

LAYER = {
    "tailor.yaml": "name: layer\nextends: ../base\n",
    "entities/deal.yaml": """
        entity: deal
        fields:
          stage:
            options:
              - {value: closed_won, label: {en: Won, zh: 赢单}}
              - {value: dropped, hidden: true}
              - {value: paused, label: {en: Paused, zh: 暂停}, color: gray}
        rules:
          - name: positive
            check: "amount == None or amount > 0"
            message: {en: Amounts are above zero., zh: 金额须大于零。}
        """,
}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def layered(make_project):
    make_project(BASE, name="base")
    return make_project(LAYER, name="layer")


def test_explain_field_shows_each_option_with_labels_colours_hidden_and_layers(make_project):
    result = run("explain", layered(make_project), "deal.stage")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "options (4, from the field's own `options:` list, merged by value across layers)" in out
    lines = out.splitlines()

    def block(value: str) -> str:
        start = lines.index(f"    {value}")
        end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("      ")), len(lines))
        return "\n".join(lines[start:end])

    assert 'label: en "Open", zh "进行中"' in block("open") and "colour: blue" in block("open")
    assert "defined in layer 'base'" in block("open") and "not changed by any other layer" in block("open")
    won = block("closed_won")
    assert 'label: en "Won", zh "赢单"' in won and "colour: green" in won
    assert "changed in layer 'layer'" in won and ": label" in won
    dropped = block("dropped")
    assert "hidden: kept on records that hold it" in dropped and "changed in layer 'layer'" in dropped
    assert "defined in layer 'layer'" in block("paused") and "colour: gray" in block("paused")


def test_explain_shows_default_option_labels_and_missing_languages(make_project):
    result = run("explain", make_project(BASE, name="base"), "deal.stage")
    assert 'label: en "Closed won" (default, from the value), zh missing (shows "Closed won")' in result.output


def test_explain_rule_shows_check_when_field_messages_and_layers(make_project):
    root = layered(make_project)
    result = run("explain", root, "deal.big_needs_name")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "deal.big_needs_name (a rule of entity 'deal')" in out
    assert "defined in layer 'base'" in out and "not changed by any other layer" in out
    assert "check: name != None" in out and "when: amount > 1000" in out
    assert "field: name (Name)" in out
    assert 'message: en "A big deal needs a name.", zh "大额交易需要名称。"' in out
    replaced = run("explain", root, "deal.rules.positive").output
    assert "defined in layer 'base'" in replaced and "changed in layer 'layer'" in replaced
    assert "check: amount == None or amount > 0" in replaced  # the merged rule: the layer's
    assert "when: — (always)" in replaced and "whole record" in replaced
    assert 'zh "金额须大于零。"' in replaced


def test_explain_entity_shows_what_the_defaults_chose(make_project):
    out = run("explain", layered(make_project), "deal").output
    assert "title: name (default: the most name-like field)" in out
    assert "list filters: stage (default)" in out and "list search: name (default)" in out
    assert "rules: big_needs_name, positive" in out


def test_explain_unknown_names_are_errors_with_hints(make_project):
    root = layered(make_project)
    result = run("explain", root, "deal.big_needs_nam")
    assert result.exit_code == 2 and "did you mean 'big_needs_name'?" in result.output
    assert run("explain", root, "dael").exit_code == 2


def test_check_prints_warnings_and_succeeds(make_project):
    root = make_project({"entities/a.yaml": "entity: a\nlabel: {en: A, zh: 甲}\n"
                                            "fields:\n  stage: {type: choice, label: {en: S, zh: 乙}, "
                                            "options: [closed_won]}\n"})
    result = run("check", root)
    assert result.exit_code == 0, result.output
    assert "W301 options of field 'stage' have no zh label: closed_won" in result.output
    assert "ok" in result.output and "1 warning(s)" in result.output


def test_migrate_does_not_stop_on_warnings(make_project, tmp_path):
    root = make_project({"entities/a.yaml": "entity: a\nfields:\n  stage: {type: choice, options: [closed_won]}\n"})
    result = run("migrate", root, "--database", f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert result.exit_code == 0, result.output
    assert "applied" in result.output


def test_examples_have_no_warnings():
    for project in ("crm", "trade"):
        result = run("check", EXAMPLES / project)
        assert result.exit_code == 0 and "warning" not in result.output, result.output
