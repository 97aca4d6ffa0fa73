"""`tailor design ...` commands, and dropping a hidden field's column (explicit, counted)."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner
from designutil import ADMIN, FILES, add_wechat, columns, latest, migrate, snapshot

from engine import design
from engine.cli import cli
from engine.records import RecordService


@pytest.fixture
def shop(make_project, db_url):
    root = make_project(FILES)
    model, engine = migrate(root, db_url)
    yield root, engine, model, db_url
    engine.dispose()


def run(*args: str):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def test_design_commands(shop, tmp_path):
    root, engine, model, url = shop
    change_file = tmp_path / "wechat.yaml"
    change_file.write_text(yaml.safe_dump({"comment": "WeChat", "ops": add_wechat()}, allow_unicode=True))
    assert "the designer layer is empty" in run("design", "list", root, "--database", url).output

    preview = run("design", "apply", root, change_file, "--preview", "--database", url)
    assert preview.exit_code == 0 and "add_column customer.wechat_id" in preview.output
    assert "ALTER TABLE customer ADD COLUMN wechat_id" in preview.output and "nothing was changed" in preview.output
    assert "wechat_id" not in columns(engine)

    applied = run("design", "apply", root, change_file, "--database", url)
    assert applied.exit_code == 0 and "applied change set 1" in applied.output, applied.output
    listed = run("design", "list", root, "--database", url).output
    assert "boss" not in listed and "cli" in listed and "active" in listed and '"WeChat"' in listed
    assert "entities.customer.fields.wechat_id" in listed

    reverted = run("design", "revert", root, "1", "--database", url)
    assert reverted.exit_code == 0 and "reverted change set 1" in reverted.output
    assert "reverts 1" in run("design", "list", root, "--database", url).output
    again = run("design", "revert", root, "1", "--database", url)
    assert again.exit_code == 2 and "not active" in again.output and "nothing was changed" in again.output


def test_bad_change_files_print_problems_without_a_traceback(shop, tmp_path):
    root, engine, model, url = shop
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump([{"path": "entities.customer.fields.tier",
                                    "value": {"type": "choice", "options": ["a"], "default": "z"}}]))
    before = snapshot(engine)
    for extra in ((), ("--preview",)):
        result = run("design", "apply", root, bad, *extra, "--database", url)
        assert result.exit_code == 2 and "designer:change-new:entities.customer.fields.tier.default: E401" in result.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("- {path: [\n")
    result = run("design", "apply", root, broken, "--database", url)
    assert result.exit_code == 2 and "cannot read" in result.output
    assert run("design", "apply", root, tmp_path / "missing.yaml", "--database", url).exit_code == 2
    assert snapshot(engine) == before


def test_drop_column_needs_the_count_and_takes_the_field_out_of_form_list_and_roles(shop):
    root, engine, model, url = shop
    made = design.apply(root, engine, [
        *add_wechat(),
        {"path": "entities.customer.form", "value": {"sections": [
            {"section": {"en": "Main", "zh": "主要"}, "fields": ["name", "wechat_id", "phone", "level"]}]}},
        {"path": "entities.customer.list.columns", "value": ["name", "wechat_id"]},
        {"path": "roles.rep.entities.customer.fields.wechat_id", "value": "read"},
    ], user=ADMIN, expected_version=model.version)
    live = design.load_project_model(root, engine)
    service = RecordService(live, engine)
    for i in range(3):
        service.create("customer", {"name": f"C{i}", "wechat_id": f"w{i}" if i else None})
    target = "customer.wechat_id"
    not_hidden = run("design", "drop-column", root, target, "--confirm", "2", "--database", url)
    assert not_hidden.exit_code == 2 and "hide 'customer.wechat_id' first" in not_hidden.output
    hidden = design.apply(root, engine, [{"path": "entities.customer.fields.wechat_id.hidden", "value": True}],
                          user=ADMIN, expected_version=made.version)
    asked = run("design", "drop-column", root, target, "--database", url)
    assert asked.exit_code == 2 and "holds 2 non-empty value(s)" in asked.output and "--confirm 2" in asked.output
    before = snapshot(engine)
    wrong = run("design", "drop-column", root, target, "--confirm", "3", "--database", url)
    assert wrong.exit_code == 2 and "destroys 2 non-empty value(s)" in wrong.output
    assert snapshot(engine) == before
    yaml_field = run("design", "drop-column", root, "customer.phone", "--confirm", "0", "--database", url)
    assert yaml_field.exit_code == 2 and "defined in the YAML" in yaml_field.output

    dropped = run("design", "drop-column", root, target, "--confirm", "2", "--database", url)
    assert dropped.exit_code == 0, dropped.output
    assert "wechat_id" not in columns(engine) and "phone" in columns(engine)
    live = design.load_project_model(root, engine)
    customer = live.entities["customer"]
    assert "wechat_id" not in customer.fields and "wechat_id" not in customer.list.columns
    assert "wechat_id" not in str(live.spec["entities"]["customer"]["form"])
    assert "wechat_id" not in live.roles["rep"].rules["customer"].fields
    assert latest(engine) == live.version != hidden.version
    audit = [c for c in design.list_changes(engine)][-1]
    assert audit.comment.startswith("drop column customer.wechat_id (2 values)")


def test_commands_on_the_data_use_the_designer_layer(shop, tmp_path):
    """import and export see what the designer changed: its fields and its field rules."""
    root, engine, model, url = shop
    change = design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
    data = tmp_path / "c.csv"
    data.write_text("Name,WeChat ID\nAcme,acme88\n", encoding="utf-8")
    imported = run("import", "customer", data, "--project", root, "--database", url, "--json")
    assert imported.exit_code == 0, imported.output
    live = design.load_project_model(root, engine)
    rows = RecordService(live, engine).list("customer")
    assert [(r["name"], r["wechat_id"]) for r in rows] == [("Acme", "acme88")]
    out = tmp_path / "c-out.csv"
    exported = run("export", "customer", "--format", "csv", "--project", root, "--database", url, "-o", out)
    assert exported.exit_code == 0, exported.output
    assert "WeChat ID" in out.read_text(encoding="utf-8-sig") and "acme88" in out.read_text(encoding="utf-8-sig")
    design.apply(root, engine, [{"path": "entities.customer.fields.wechat_id.hidden", "value": True}],
                 user=ADMIN, expected_version=change.version)
    out.unlink()
    assert run("export", "customer", "--format", "csv", "--project", root, "--database", url, "-o", out).exit_code == 0
    assert "acme88" not in out.read_text(encoding="utf-8-sig")
