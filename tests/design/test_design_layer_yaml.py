"""The designer layer and the YAML: an upgraded base re-applies it or reports conflicts
with both positions; export -> tailor check -> same metadata hash -> clear -> same model;
explain names the change set."""

from __future__ import annotations

import io
import zipfile

import pytest
import yaml
from click.testing import CliRunner
from designutil import ADMIN, FILES, add_wechat, latest, migrate, snapshot

from engine import design
from engine.cli import cli
from engine.errors import ProjectError
from engine.model import load_model
from engine.records import RecordService


@pytest.fixture
def shop(make_project, db_url):
    root = make_project(FILES)
    model, engine = migrate(root, db_url)
    yield root, engine, model, db_url
    engine.dispose()


def test_a_newer_yaml_base_gets_the_designer_layer_reapplied(shop):
    root, engine, model, url = shop
    design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
    # the implementer upgrades the base: a new field in the YAML
    path = root / "entities" / "customer.yaml"
    path.write_text(path.read_text().replace("  level:", "  email: {type: email}\n  level:"))
    result = CliRunner().invoke(cli, ["migrate", str(root), "--database", url])
    assert result.exit_code == 0, result.output
    live = design.load_project_model(root, engine)
    assert {"email", "wechat_id"} <= set(live.entities["customer"].fields)
    assert latest(engine) == live.version


def test_a_base_that_now_defines_the_designers_field_with_another_type_is_a_conflict(shop):
    root, engine, model, url = shop
    change = design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
    path = root / "entities" / "customer.yaml"
    path.write_text(path.read_text().replace("  level:", "  wechat_id: {type: integer}\n  level:"))
    with pytest.raises(ProjectError) as info:
        design.load_project_model(root, engine)
    problem = next(p for p in info.value.problems if p.code == "E606")
    assert str(problem.position) == f"designer:change-{change.id}:entities.customer.fields.wechat_id"
    assert "customer.yaml:6:3" in problem.message and "integer" in problem.message
    before = snapshot(engine)
    result = CliRunner().invoke(cli, ["migrate", str(root), "--database", url])  # start-up: reported, not applied
    assert result.exit_code == 2 and "E606" in result.output and "customer.yaml:6:3" in result.output
    assert "Traceback" not in result.output
    assert snapshot(engine) == before
    # the admin takes the change set back; the base's field wins
    design.revert(root, engine, change.id, user=ADMIN, expected_version=latest(engine))
    assert design.load_project_model(root, engine).entities["customer"].fields["wechat_id"].type.name == "integer"


def test_a_designer_link_to_an_entity_the_base_removed_is_a_conflict(shop):
    root, engine, model, url = shop
    change = design.apply(root, engine, [{"path": "entities.customer.fields.main_deal",
                                          "value": {"type": "link", "to": "deal"}}],
                          user=ADMIN, expected_version=model.version)
    (root / "entities" / "deal.yaml").unlink()
    (root / "roles.yaml").write_text((root / "roles.yaml").read_text().replace(
        "      deal: {actions: [read], scope: all}\n", ""))
    with pytest.raises(ProjectError) as info:
        design.load_project_model(root, engine)
    problem = next(p for p in info.value.problems if p.code == "E606")
    assert str(problem.position) == f"designer:change-{change.id}:entities.customer.fields.main_deal.to"
    assert "'deal'" in problem.message


def test_a_designer_change_to_a_field_the_base_removed_is_a_conflict(shop):
    root, engine, model, url = shop
    change = design.apply(root, engine, [{"path": "entities.customer.fields.phone.label",
                                          "value": {"en": "Mobile", "zh": "手机"}}],
                          user=ADMIN, expected_version=model.version)
    path = root / "entities" / "customer.yaml"
    path.write_text(path.read_text().replace("  phone: {type: string, label: {en: Phone, zh: 电话}}\n", "")
                    .replace("[name, phone, level]", "[name, level]").replace("[name, phone]", "[name]"))
    with pytest.raises(ProjectError) as info:
        design.load_project_model(root, engine)
    assert [p.code for p in info.value.problems] == ["E606"]
    assert str(info.value.problems[0].position) == f"designer:change-{change.id}:entities.customer.fields.phone"


def test_explain_names_the_designer_layer(shop):
    root, engine, model, url = shop
    change = design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
    result = CliRunner().invoke(cli, ["explain", str(root), "customer.wechat_id", "--database", url])
    assert result.exit_code == 0, result.output
    assert (f"defined in layer 'designer' at designer:change-{change.id}:entities.customer.fields.wechat_id "
            f"(designer change set {change.id} by boss)") in result.output


def _designed(root, engine, model):
    """A field, a role rule, a form, relabels, a new entity with a menu group."""
    visit = {"label": {"en": "Visit", "zh": "拜访"}, "menu": "Sales",
             "fields": {"customer": {"type": "link", "to": "customer"}, "visited_at": {"type": "datetime"}}}
    first = design.apply(root, engine, [
        *add_wechat(),
        {"path": "roles.rep.entities.customer.fields.wechat_id", "value": "read"},
        {"path": "entities.customer.form", "value": {"sections": [
            {"section": {"en": "Main", "zh": "主要"}, "fields": ["name", "wechat_id", "phone", "level"]}]}},
        {"path": "entities.customer.fields.phone.label", "value": {"en": "Mobile", "zh": "手机"}},
        {"path": "entities.customer.fields.level.options", "value": [{"value": "d", "label": "D"}]},
        {"path": "project.label", "value": {"en": "Shop CRM", "zh": "商店客户管理"}},
    ], user=ADMIN, comment="WeChat", expected_version=model.version)
    return design.apply(root, engine, [{"path": "entities.visit", "value": visit}], user=ADMIN,
                        expected_version=first.version)


def test_export_check_same_hash_then_clear_changes_nothing(shop, tmp_path):
    root, engine, model, url = shop
    last = _designed(root, engine, model)
    live = design.load_project_model(root, engine)
    assert live.version == last.version
    out = tmp_path / "client" / "shop_designer"
    result = CliRunner().invoke(cli, ["design", "export", str(root), "--to", str(out), "--database", url])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "entities").iterdir()) == ["customer.yaml", "visit.yaml"]
    settings = yaml.safe_load((out / "tailor.yaml").read_text())
    assert settings["name"] == "shop" and (out / settings["extends"]).resolve() == root.resolve()
    assert settings["label"] == {"en": "Shop CRM", "zh": "商店客户管理"} and live.label["zh"] == "商店客户管理"
    roles = yaml.safe_load((out / "roles.yaml").read_text())
    assert roles["roles"]["rep"]["entities"]["customer"]["fields"] == {"wechat_id": "read"}
    assert roles["roles"]["rep"]["entities"]["customer"]["actions"] == ["read", "create", "update"]
    check = CliRunner().invoke(cli, ["check", str(out)])
    assert check.exit_code == 0 and "ok" in check.output and "layers: designer" not in check.output, check.output
    assert load_model(out, entry_points=False).version == live.version

    # clearing against the original project would change the model: refused
    before = snapshot(engine)
    refused = CliRunner().invoke(cli, ["design", "clear", str(root), "--database", url])
    assert refused.exit_code == 2 and "does not hold the designer layer" in refused.output
    assert snapshot(engine) == before
    # the exported layer is the project now: clear, and nothing changes for users
    RecordService(live, engine).create("customer", {"name": "Acme", "wechat_id": "w"})
    cleared = CliRunner().invoke(cli, ["design", "clear", str(out), "--database", url])
    assert cleared.exit_code == 0, cleared.output
    assert all(c.cleared_at is not None for c in design.list_changes(engine))
    after = design.load_project_model(out, engine)
    assert after.version == live.version == latest(engine)
    assert RecordService(after, engine).list("customer")[0]["wechat_id"] == "w"


def test_the_export_zip_holds_the_same_layer(shop):
    root, engine, model, url = shop
    _designed(root, engine, model)
    data = design.export_layer_zip(root, engine)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = sorted(archive.namelist())
        settings = yaml.safe_load(archive.read(f"{root.name}_designer/tailor.yaml"))
    assert names == [f"{root.name}_designer/{n}" for n in
                     ("entities/customer.yaml", "entities/visit.yaml", "roles.yaml", "tailor.yaml")]
    assert settings["extends"] == f"../{root.name}"


def test_export_refuses_a_folder_that_is_not_empty(shop, tmp_path):
    root, engine, model, url = shop
    design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("x")
    with pytest.raises(design.DesignRefused, match="not an empty folder"):
        design.export_layer(root, engine, tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "x"


def test_a_designer_change_to_an_entity_the_base_removed_is_a_conflict(shop):
    root, engine, model, url = shop
    change = design.apply(root, engine, [{"path": "entities.deal.label", "value": {"en": "Deal", "zh": "交易"}}],
                          user=ADMIN, expected_version=model.version)
    (root / "entities" / "deal.yaml").unlink()
    (root / "roles.yaml").write_text((root / "roles.yaml").read_text().replace(
        "      deal: {actions: [read], scope: all}\n", ""))
    with pytest.raises(ProjectError) as info:
        design.load_project_model(root, engine)
    assert [(p.code, str(p.position)) for p in info.value.problems] == [
        ("E606", f"designer:change-{change.id}:entities.deal")]
