"""diff_models on two small projects that differ in every category (tests/diff/projects.py)."""

from __future__ import annotations

import pytest

from engine.diff import diff_models, from_json, render, to_json
from engine.model import load_model


@pytest.fixture
def diff(pair):
    old, new = pair
    return diff_models(load_model(old, entry_points=False), load_model(new, entry_points=False))


def kinds(diff, category):
    return {(c.kind, c.target, c.key) for c in diff.of(category)}


def test_project_and_entities(diff):
    assert diff.find("project.changed", "shop", "currency").old == "CNY"
    assert diff.find("project.changed", "shop", "currency").new == "USD"
    assert diff.find("entity.added", "ticket").new == {"en": "Ticket", "zh": "工单"}
    assert diff.find("entity.removed", "legacy") is not None
    assert diff.find("entity.hidden", "archive") is not None
    assert diff.find("entity.removed", "archive") is None  # hidden is not removed
    label = diff.find("entity.label", "customer")
    assert (label.old["en"], label.new["en"]) == ("Customer", "Client")


def test_fields(diff):
    assert diff.find("field.added", "customer.website").new["type"] == "string"
    assert diff.find("field.removed", "customer.notes").old["type"] == "text"
    assert diff.find("field.hidden", "customer.phone") is not None
    renamed = diff.find("field.renamed", "customer.code")
    assert (renamed.old, renamed.new) == ("old_code", "code")
    # a rename is not a removal and an addition
    assert diff.find("field.removed", "customer.old_code") is None
    assert diff.find("field.added", "customer.code") is None
    assert (diff.find("field.type", "customer.score").old, diff.find("field.type", "customer.score").new) == \
        ("integer", "decimal")
    required = diff.find("field.required", "customer.name")
    assert (required.old, required.new) == (True, False)


def test_options(diff):
    assert kinds(diff, "option") == {("option.relabelled", "customer.level=b", "b"),
                                     ("option.added", "customer.level=d", "d"),
                                     ("option.removed", "customer.level=c", "c")}
    relabelled = diff.find("option.relabelled", "customer.level=b")
    assert (relabelled.old["zh"], relabelled.new["zh"]) == ("乙", "较好")


def test_indexes_and_rules(diff):
    assert kinds(diff, "index") == {("index.added", "customer:ix_customer_website", "ix_customer_website"),
                                    ("index.removed", "customer:ix_customer_email_addr", "ix_customer_email_addr")}
    assert diff.find("index.added", "customer:ix_customer_website").new["columns"] == ["website"]
    assert kinds(diff, "rule") == {("rule.added", "customer.name_or_code", None)}


def test_roles_and_field_permissions(diff):
    assert diff.find("role.added", "support") is not None
    assert diff.find("role.removed", "temp") is not None
    actions = diff.find("role.actions", "sales:customer")
    assert (actions.old, actions.new) == (["read", "update"], ["create", "read", "update"])
    scope = diff.find("role.scope", "sales:deal")
    assert (scope.old, scope.new) == ("own", "all")
    assert diff.find("role.granted", "sales:ticket").new == {"actions": ["read"], "deny": [], "scope": "all"}
    permission = diff.find("field_permission.changed", "sales:customer.phone")
    assert (permission.old, permission.new, permission.key) == ("read", "hidden", "sales")
    assert diff.find("role.granted", "manager:deal") is None  # unchanged roles report nothing


def test_workflows_and_approvals(diff):
    assert diff.find("workflow.transition_added", "deal.reopen").new["from"] == ["rejected"]
    state = diff.find("workflow.state_changed", "deal.approved", "fields")
    assert (state.old, state.new) == ({}, {"title": "edit"})
    node = diff.find("approval.node_added", "deal.deal_approval.big")
    assert node.new["cases"] == [{"when": "amount > 10000", "next": "check"}]
    comment = diff.find("approval.node_changed", "deal.deal_approval.check", "comment")
    assert (comment.old, comment.new) == (None, "required")
    assert diff.find("workflow.transition_changed", "deal.submit") is None


def test_migration_marks_destructive_steps(diff):
    migration = diff.migration
    assert migration.source == "scratch" and not migration.database
    destructive = {(s.kind, s.target) for s in migration.destructive}
    assert destructive == {("drop_column", "customer.notes"), ("drop_table", "legacy")}
    safe = {(s.kind, s.target) for s in migration.safe}
    assert {("rename_column", "customer.code"), ("create_table", "ticket"), ("add_column", "customer.website"),
            ("drop_index", "customer.email_addr"), ("add_index", "customer.website")} <= safe
    assert not any(s.target.startswith("archive") for s in migration.steps)  # hidden: its table stays
    touched = {t.table: t for t in migration.touched}
    assert "notes" in touched["customer"].columns and "website" in touched["customer"].columns
    assert touched["ticket"].new and touched["ticket"].columns == ()
    assert not touched["legacy"].new and touched["legacy"].columns == ()  # dropped whole
    assert all(t.rows is None for t in migration.touched)  # nothing counted without a database
    assert "ALTER TABLE customer ADD COLUMN website VARCHAR(255)" in migration.sql
    assert "DROP TABLE legacy" in migration.sql and "NEEDS --allow-destructive" in migration.sql


def test_text_shows_destructive_steps_as_such(diff):
    text = render(diff)
    destructive = text.split("Destructive, applied only with --allow-destructive (2):", 1)[1]
    assert "! drop column customer.notes" in destructive and "! drop table legacy" in destructive
    assert "- customer.notes “Notes” removed" in text
    assert "~ customer.code renamed from old_code (values kept)" in text
    assert "- role temp “Temporary” removed" in text


def test_chinese_rendering(diff):
    text = render(diff, "zh")
    assert "破坏性变更，仅在 --allow-destructive 时执行（2）：" in text
    assert "! 删列 customer.notes" in text
    assert "~ customer.level=b：标签 “乙” → “较好”" in text
    assert "隐藏 customer.phone “电话”（取值保留）" in text
    assert "新增角色 support “客服”" in text
    assert "Destructive" not in text and "renamed from old_code (values" not in text


def test_json_round_trip(diff):
    import json

    data = json.loads(json.dumps(to_json(diff), ensure_ascii=False))
    assert data["format"] == 1 and data["different"] is True
    assert set(data) == {"format", "different", "old", "new", "counts", "changes", "migration"}
    assert data["counts"]["option"] == 3 and data["counts"]["approval"] == 2
    change = next(c for c in data["changes"] if c["kind"] == "field.renamed")
    assert change == {"category": "field", "kind": "field.renamed", "target": "customer.code", "entity": "customer",
                      "key": None, "old": "old_code", "new": "code"}
    step = next(s for s in data["migration"]["steps"] if s["kind"] == "drop_column")
    assert step["destructive"] is True and step["target"] == "customer.notes"
    back = from_json(data)
    assert back.changes == diff.changes
    assert back.migration == diff.migration
    assert to_json(back) == data


def test_same_model_has_no_differences(pair):
    model = load_model(pair[0], entry_points=False)
    same = diff_models(model, load_model(pair[0], entry_points=False))
    assert same.changes == () and not same.different
    assert same.migration.steps == ()
    assert render(same).startswith("No differences between shop")


def test_a_renamed_entity_is_one_change(make_project):
    files = {"entities/note.yaml": "entity: memo\nfields:\n  body: {type: string, label: {en: Body, zh: 内容}}\n"}
    renamed = {"entities/note.yaml": "entity: note\nrenamed_from: memo\n"
                                     "fields:\n  body: {type: string, label: {en: Text, zh: 内容}}\n"}
    old = load_model(make_project(files), entry_points=False)
    new = load_model(make_project(renamed), entry_points=False)
    diff = diff_models(old, new)
    kinds_ = [c.kind for c in diff.of("entity")]
    assert kinds_[0] == "entity.renamed" and diff.find("entity.renamed", "note").old == "memo"
    assert "entity.added" not in kinds_ and "entity.removed" not in kinds_
    assert diff.find("field.label", "note.body").new["en"] == "Text"  # compared with memo.body
    steps = [(s.kind, s.target) for s in diff.migration.steps]
    assert steps[0] == ("rename_table", "note") and ("add_index", "note.body") in steps  # indexes renamed too
    assert not [s for s in diff.migration.steps if s.kind in ("create_table", "drop_table", "keep_table")]


def test_a_given_plan_is_used_and_the_migration_can_be_left_out(pair, db_engine):
    from engine.migrate import apply_plan, plan_migration

    old, new = (load_model(p, entry_points=False) for p in pair)
    apply_plan(db_engine, plan_migration(db_engine, old.metadata, project=old.project, metadata_version=old.version))
    plan = plan_migration(db_engine, new.metadata, project=new.project, metadata_version=new.version)
    diff = diff_models(old, new, plan=plan)
    assert diff.migration.source == "given" and diff.migration.dialect == db_engine.dialect.name
    # made without allow_destructive: the removed column and table are kept, not dropped
    kept = {(s.kind, s.target) for s in diff.migration.kept}
    assert kept == {("keep_column", "customer.notes"), ("keep_table", "legacy")}
    assert diff.migration.destructive == ()
    assert diff_models(old, new, migrate=False).migration is None
