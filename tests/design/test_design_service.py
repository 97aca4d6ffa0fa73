"""The designer service on both databases: add, rename (data kept), hide, restore, revert;
bad input gets the checker's code and changes nothing; audit entries."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from designutil import ADMIN, DESIGNER, FILES, REP, WECHAT, add_wechat, columns, latest, migrate, snapshot

from engine import design
from engine.records import RecordService
from engine.storage import admin_audit


@pytest.fixture
def shop(make_project, db_url):
    root = make_project(FILES)
    model, engine = migrate(root, db_url)
    yield root, engine, model
    engine.dispose()


def test_preview_shows_checks_plan_sql_rows_and_forms_and_changes_nothing(shop):
    root, engine, model = shop
    RecordService(model, engine).create("customer", {"name": "Acme"})
    before = snapshot(engine)
    ops = [*add_wechat(), {"path": "entities.customer.form", "value": {"sections": [
        {"section": {"en": "Main", "zh": "主要"}, "fields": ["name", "phone", "wechat_id", "level"]}]}}]
    result = design.preview(root, engine, ops, user=ADMIN, version=model.version)
    assert result.ok and not result.problems and not result.destructive and not result.stale
    assert any("ADD COLUMN wechat_id" in s for s in result.sql)
    assert [op.kind for op in result.plan.applying_operations] == ["add_column"]
    assert result.rows_affected == {"customer": 1}
    assert result.forms["customer"]["new_fields"] == ["wechat_id"]
    assert result.forms["customer"]["form"]["sections"][0]["fields"][2] == "wechat_id"
    assert result.model.version != model.version
    assert result.diff.find("field.added", "customer.wechat_id") is not None  # the impact, as tailor diff says it
    assert snapshot(engine) == before
    assert design.preview(root, engine, ops, user=ADMIN, version="0" * 16).stale


def test_add_rename_hide_restore_revert_keep_the_data(shop):
    root, engine, model = shop
    change = design.apply(root, engine, add_wechat(), user=ADMIN, comment="WeChat", expected_version=model.version)
    assert change.id and change.base_version == model.version and change.author == "boss"
    live = design.load_project_model(root, engine)
    assert live.version == change.version == latest(engine)
    assert "wechat_id" in columns(engine)
    field = live.entities["customer"].fields["wechat_id"]
    assert field.label["zh"] == "微信号" and field.origin.defined_in == "designer"
    service = RecordService(live, engine)
    acme = service.create("customer", {"name": "Acme", "wechat_id": "acme88"})["id"]

    rename_ops = [{"path": "entities.customer.fields.wechat_id", "delete": True},
                  {"path": "entities.customer.fields.wechat", "value": {**WECHAT, "renamed_from": "wechat_id"}}]
    told = design.preview(root, engine, rename_ops, user=ADMIN, version=live.version).forms.get("customer") or {}
    assert told.get("new_fields") == [] and told.get("renamed_fields") == [["wechat_id", "wechat"]], told
    renamed = design.apply(root, engine, [
        {"path": "entities.customer.fields.wechat_id", "delete": True},
        {"path": "entities.customer.fields.wechat", "value": {**WECHAT, "renamed_from": "wechat_id"}},
    ], user=ADMIN, comment="shorter", expected_version=live.version)
    live = design.load_project_model(root, engine)
    assert "wechat" in columns(engine) and "wechat_id" not in columns(engine)
    assert RecordService(live, engine).get("customer", acme)["wechat"] == "acme88"
    # the history written before the rename names the field as it is called now
    created = RecordService(live, engine).history("customer", acme)[0]["changes"]
    assert "wechat" in created and "wechat_id" not in created, created

    hidden = design.apply(root, engine, [{"path": "entities.customer.fields.wechat.hidden", "value": True}],
                          user=ADMIN, expected_version=renamed.version)
    live = design.load_project_model(root, engine)
    assert live.entities["customer"].fields["wechat"].hidden and "wechat" in columns(engine)
    assert design.count_nonempty(engine, live, "customer", "wechat") == 1

    restored = design.apply(root, engine, [{"path": "entities.customer.fields.wechat.hidden", "value": False}],
                            user=ADMIN, expected_version=hidden.version)
    live = design.load_project_model(root, engine)
    assert not live.entities["customer"].fields["wechat"].hidden
    assert RecordService(live, engine).get("customer", acme)["wechat"] == "acme88"

    back = design.revert(root, engine, restored.id, user=ADMIN, expected_version=restored.version)
    assert back.reverts == restored.id and back.version == hidden.version == latest(engine)
    changes = {c.id: c for c in design.list_changes(engine)}
    assert changes[restored.id].reverted_at is not None and changes[restored.id].reverted_by == "boss"
    assert not changes[restored.id].active and changes[hidden.id].active
    assert design.load_project_model(root, engine).entities["customer"].fields["wechat"].hidden
    with pytest.raises(design.DesignRefused, match="not active"):
        design.revert(root, engine, restored.id, user=ADMIN, expected_version=back.version)
    # every change is in the admin audit log, with its change set
    with engine.connect() as conn:
        entries = conn.execute(sa.select(admin_audit.c.action, admin_audit.c.actor, admin_audit.c.details)
                               .order_by(admin_audit.c.id)).all()
    assert [e.action for e in entries] == ["design_apply"] * 4 + ["design_revert"]
    assert entries[0].actor == "boss" and entries[0].details["change"] == change.id
    assert entries[-1].details["reverts"] == restored.id


def test_a_rename_is_not_reverted_but_renamed_back(shop):
    root, engine, model = shop
    change = design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
    live = design.load_project_model(root, engine)
    acme = RecordService(live, engine).create("customer", {"name": "Acme", "wechat_id": "acme88"})["id"]
    rename_ops = [{"path": "entities.customer.fields.wechat_id", "delete": True},
                  {"path": "entities.customer.fields.wechat", "value": {**WECHAT, "renamed_from": "wechat_id"}}]
    told = design.preview(root, engine, rename_ops, user=ADMIN, version=live.version).forms.get("customer") or {}
    assert told.get("new_fields") == [] and told.get("renamed_fields") == [["wechat_id", "wechat"]], told
    renamed = design.apply(root, engine, [
        {"path": "entities.customer.fields.wechat_id", "delete": True},
        {"path": "entities.customer.fields.wechat", "value": {**WECHAT, "renamed_from": "wechat_id"}},
    ], user=ADMIN, expected_version=change.version)
    before = snapshot(engine)
    with pytest.raises(design.DesignRefused, match="rename the field back to 'wechat_id'") as info:
        design.revert(root, engine, renamed.id, user=ADMIN, expected_version=renamed.version)
    assert "重命名回 'wechat_id'" in info.value.text["zh"]
    assert snapshot(engine) == before  # nothing changed: the values stay where users see them
    live = design.load_project_model(root, engine)
    assert RecordService(live, engine).get("customer", acme)["wechat"] == "acme88"


def test_a_field_a_revert_took_away_keeps_its_column_and_comes_back_with_its_data(shop):
    root, engine, model = shop
    change = design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
    live = design.load_project_model(root, engine)
    acme = RecordService(live, engine).create("customer", {"name": "Acme", "wechat_id": "w1"})["id"]
    design.revert(root, engine, change.id, user=ADMIN, expected_version=change.version)
    assert latest(engine) == model.version
    assert "wechat_id" in columns(engine)  # kept: a revert never destroys data
    assert "wechat_id" not in design.load_project_model(root, engine).entities["customer"].fields
    again = design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
    live = design.load_project_model(root, engine)
    assert again.version == change.version
    assert RecordService(live, engine).get("customer", acme)["wechat_id"] == "w1"


BAD = {
    "duplicate name": ([{"path": "entities.customer.fields.phone", "value": {"type": "integer"}}], "E606"),
    "name used twice": ([{"path": "entities.customer.fields.mobile", "value": {"type": "money"}},
                         {"path": "entities.customer.fields.mobile_currency", "value": {"type": "string"}}], "E605"),
    "reserved name": ([{"path": "entities.customer.fields.created_at", "value": {"type": "string"}}], "E302"),
    "bad expression": ([{"path": "entities.customer.fields.shout", "value": {
        "type": "computed", "expression": "upper(nmae)", "returns": "string"}}], "E502"),
    "default not in options": ([{"path": "entities.customer.fields.tier", "value": {
        "type": "choice", "options": ["gold", "silver"], "default": "bronze"}}], "E401"),
    "link to nothing": ([{"path": "entities.customer.fields.partner", "value": {"type": "link", "to": "partner"}}],
                        "E306"),
    "unknown entity": ([{"path": "entities.custmer.fields.x", "value": {"type": "string"}}], "E306"),
    "unknown type": ([{"path": "entities.customer.fields.x", "value": {"type": "strng"}}], "E301"),
    "unknown key": ([{"path": "entities.customer.fields.x", "value": {"type": "string", "colour": "red"}}], "E201"),
    "malformed op": ([{"path": "customers.x", "value": 1}], "E607"),
    "delete a YAML field": ([{"path": "entities.customer.fields.phone", "delete": True}], "E607"),
    "empty change set": ([], "E607"),
    "a key of a field nobody defines": ([{"path": "entities.customer.fields.nope.label", "value": "Nope"}], "E604"),
    "a new entity's field without a type": ([{"path": "entities.visit", "value": {
        "fields": {"notes": {"label": "Notes"}}}}], "E604"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gets_the_checkers_code_and_changes_nothing(shop, case):
    root, engine, model = shop
    ops, code = BAD[case]
    before = snapshot(engine)
    result = design.preview(root, engine, ops, user=ADMIN)
    assert not result.ok and code in {p.code for p in result.problems}, [str(p) for p in result.problems]
    assert all(p.position.file.startswith("designer:change-new") for p in result.problems)
    with pytest.raises(design.DesignRefused) as info:
        design.apply(root, engine, ops, user=ADMIN, comment=case, expected_version=model.version)
    assert code in {p.code for p in info.value.problems}
    assert "nothing was changed" in info.value.text["en"] and "未做任何更改" in info.value.text["zh"]
    assert snapshot(engine) == before


def test_a_stale_version_is_refused_and_changes_nothing(shop):
    root, engine, model = shop
    first = design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
    before = snapshot(engine)
    other = [{"path": "entities.customer.fields.qq", "value": {"type": "string"}}]
    with pytest.raises(design.DesignConflict) as info:  # another admin applied on the same version first
        design.apply(root, engine, other, user=ADMIN, expected_version=model.version)
    assert info.value.current == first.version and info.value.expected == model.version
    assert "未做任何更改" in info.value.text["zh"]
    assert snapshot(engine) == before
    with pytest.raises(design.DesignConflict):
        design.revert(root, engine, first.id, user=ADMIN, expected_version=model.version)
    assert snapshot(engine) == before


def test_who_may_design(shop):
    root, engine, model = shop
    assert design.can_design(ADMIN, model) and design.can_design(DESIGNER, model)
    assert not design.can_design(REP, model) and not design.can_design(None, model)
    assert design.can_design({"id": 3, "username": "x", "is_admin": False, "roles": ["designer"]}, model)
    before = snapshot(engine)
    with pytest.raises(design.DesignDenied):
        design.preview(root, engine, add_wechat(), user=REP)
    with pytest.raises(design.DesignDenied):
        design.apply(root, engine, add_wechat(), user=REP, expected_version=model.version)
    assert snapshot(engine) == before
    change = design.apply(root, engine, add_wechat(), user=DESIGNER, expected_version=model.version)
    assert change.author == "dora"
    # roles and field permissions are the administrators': a designer could widen their own
    widen = [{"path": "roles.designer.entities.deal", "value": {"actions": ["read", "delete"], "scope": "all"}}]
    before = snapshot(engine)
    for ops in (widen, [{"path": "roles.rep.actions", "value": ["design"]}],
                [{"path": "roles.rep.entities.customer.fields.wechat_id", "value": "read"}]):
        with pytest.raises(design.DesignDenied, match="only administrators"):
            design.preview(root, engine, ops, user=DESIGNER)
        with pytest.raises(design.DesignDenied, match="only administrators"):
            design.apply(root, engine, ops, user=DESIGNER, expected_version=change.version)
    assert snapshot(engine) == before
    rule = design.apply(root, engine, widen, user=ADMIN, expected_version=change.version)
    with pytest.raises(design.DesignDenied):  # nor take an administrator's rule back
        design.revert(root, engine, rule.id, user=DESIGNER, expected_version=rule.version)


def test_role_field_rules_and_layouts(shop):
    root, engine, model = shop
    ops = [*add_wechat(),
           {"path": "roles.rep.entities.customer.fields.wechat_id", "value": "read"},
           {"path": "entities.customer.list", "value": {"columns": ["name", "wechat_id"], "sort": "-created_at"}},
           {"path": "entities.customer.fields.level.options", "value": [
               {"value": "d", "label": {"en": "D", "zh": "丁"}, "color": "red"}, {"value": "c", "hidden": True}]}]
    change = design.apply(root, engine, ops, user=ADMIN, expected_version=model.version)
    live = design.load_project_model(root, engine)
    rule = live.roles["rep"].rules["customer"]
    assert rule.fields["wechat_id"] == "read" and rule.actions == {"read", "create", "update"}  # merged key by key
    customer = live.entities["customer"]
    assert customer.list.columns[:2] == ("name", "wechat_id")
    assert [o.value for o in customer.fields["level"].options] == ["a", "b", "c", "d"]
    assert change.version == live.version


def test_a_new_entity_is_created_with_its_table(shop):
    root, engine, model = shop
    visit = {"label": {"en": "Visit", "zh": "拜访"}, "plural": {"en": "Visits", "zh": "拜访"}, "icon": "map",
             "fields": {"customer": {"type": "link", "to": "customer", "required": True},
                        "notes": {"type": "text"}}}
    design.apply(root, engine, [{"path": "entities.visit", "value": visit}], user=ADMIN,
                 expected_version=model.version)
    live = design.load_project_model(root, engine)
    assert live.entities["visit"].label["zh"] == "拜访" and "notes" in columns(engine, "visit")
    assert live.entities["visit"].origin.defined_in == "designer"


def test_the_migration_the_change_set_and_the_version_commit_together(shop, monkeypatch):
    root, engine, model = shop
    before = snapshot(engine)

    def broken(*args, **kwargs):
        raise RuntimeError("the audit log is full")

    monkeypatch.setattr("engine.admin_audit.record", broken)  # the last step of the transaction fails
    with pytest.raises(RuntimeError):
        design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
    assert snapshot(engine) == before  # no column, no change set, no version: all rolled back


def test_two_admins_applying_on_the_same_version_at_once_one_wins(shop):
    import threading

    root, engine, model = shop
    outcomes: list[object] = []
    start = threading.Barrier(2)

    def admin(name: str) -> None:
        start.wait()
        try:
            outcomes.append(design.apply(root, engine, [{"path": f"entities.customer.fields.{name}",
                                                         "value": {"type": "string"}}],
                                         user=ADMIN, expected_version=model.version))
        except design.DesignConflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=admin, args=(name,)) for name in ("qq", "line_id")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [o for o in outcomes if isinstance(o, design.DesignChange)]
    lost = [o for o in outcomes if isinstance(o, design.DesignConflict)]
    assert len(won) == 1 and len(lost) == 1
    assert len(design.list_changes(engine)) == 1 and latest(engine) == won[0].version
    added = {"qq", "line_id"} & set(columns(engine))
    assert len(added) == 1  # the loser's column was never added
