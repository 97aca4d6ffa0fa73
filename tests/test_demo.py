"""`tailor demo-data`: a malformed demo file is a DemoError naming the file, the line and the
key, never a traceback; and a failed load saves nothing (users included). Both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.cli import cli
from engine.demo import DemoError, load_demo
from engine.migrate import apply_plan, plan_migration
from engine.model import load_model
from engine.records import RecordService
from engine.storage import make_engine, users

CUSTOMER = """
entity: customer
fields:
  name: {type: string, required: true}
  level: {type: choice, options: [low, high]}
"""

# loaded before the bad file in every case, so "nothing was saved" is not vacuous
GOOD = """
users:
  - {username: rep1, display_name: Rep One, password: demo-pass-1, email: rep1@example.com, language: zh}
customer:
  good: {name: Good, owner: "@user:rep1"}
"""

# a plugin that refuses every save with a records-service error other than ValidationError
REFUSING_PLUGIN = """
from engine.records import ConflictError, NotFound


def tailor_after_save(entity, record, old, context):
    if record.get("name") == "missing":
        raise NotFound("customer", 999)
    if record.get("name") == "conflict":
        raise ConflictError("customer", record["id"], 1, {"version": 2})
"""

# (id, bad demo/10.yaml, substrings the message must hold besides the file name)
BAD_FILES = [
    ("file-is-a-list", "- a\n", ["10.yaml:1:1", "a demo file is a mapping", "not a list"]),
    ("file-is-text", "just text\n", ["a demo file is a mapping", "not the text 'just text'"]),
    ("entity-is-a-list", "customer: [x]\n", ["10.yaml:1:11", "customer: records are a mapping", "not a list"]),
    ("entity-is-text", "customer: x\n", ["customer: records are a mapping", "not the text 'x'"]),
    ("record-is-text", "customer: {a: x}\n", ["10.yaml:1:12", "customer 'a'", "a record is a mapping",
                                             "not the text 'x'"]),
    ("record-is-a-list", "customer:\n  a: [1, 2]\n", ["10.yaml:2:3", "customer 'a'", "not a list"]),
    ("unknown-entity", "custmer:\n  a: {name: A}\n", ["10.yaml:1:1", "unknown entity 'custmer'",
                                                       "did you mean 'customer'"]),
    ("invalid-record", "customer:\n  b: {level: medium}\n", ["10.yaml:2:3", "customer 'b'", "name: is required"]),
    ("unknown-field", "customer:\n  b: {name: B, colour: red}\n", ["customer 'b'", "colour: unknown field"]),
    ("duplicate-key", "customer:\n  good: {name: Again}\n", ["10.yaml:2:3", "customer 'good'", "used twice"]),
    ("bad-reference", "customer:\n  b: {name: B, owner: '@user:nobody'}\n",
     ["10.yaml:2:23", "customer 'b': owner", "@user:nobody names nothing loaded"]),
    ("bad-owner", "customer:\n  b: {name: B, owner: somebody}\n", ["customer 'b'", "owner"]),
    ("owner-not-a-user", "customer:\n  b: {name: B, owner: 99999}\n", ["customer 'b'"]),
    ("users-not-a-list", "users: {username: bob}\n", ["10.yaml:1:8", "users: a list of users", "not a mapping"]),
    ("users-is-text", "users: bob\n", ["users: a list of users", "not the text 'bob'"]),
    ("user-is-text", "users:\n  - bob\n", ["10.yaml:2:5", "users item 1", "a user is a mapping"]),
    ("user-without-username", "users:\n  - {display_name: Bob, password: demo-pass-1}\n",
     ["10.yaml:2:5", "users item 1", "needs a username"]),
    ("username-empty", "users:\n  - {username: '', password: demo-pass-1}\n", ["needs a username"]),
    ("username-a-number", "users:\n  - {username: 12345, password: demo-pass-1}\n",
     ["10.yaml:2:16", "users item 1", "username must be text", "quote it"]),
    ("username-invalid", "users:\n  - {username: 'bob smith', password: demo-pass-1}\n",
     ["user 'bob smith'", "a username is"]),
    ("password-too-short", "users:\n  - {username: bob, password: short}\n",
     ["10.yaml:2:5", "user 'bob'", "at least 8 characters"]),
    ("password-a-number", "users:\n  - {username: bob, password: 12345678}\n", ["user 'bob'", "password must be text"]),
    ("is-admin-not-boolean", "users:\n  - {username: bob, password: demo-pass-1, is_admin: yes}\n",
     ["user 'bob'", "is_admin must be true or false"]),
    ("unknown-language", "users:\n  - {username: bob, password: demo-pass-1, language: fr}\n",
     ["user 'bob'", "language 'fr' is not one of the project's languages (en, zh)"]),
    ("unknown-user-key", "users:\n  - {username: bob, pasword: demo-pass-1}\n",
     ["10.yaml:2:21", "user 'bob'", "unknown key 'pasword'", "allowed: username, display_name, email, password",
      "did you mean 'password'"]),
    ("not-found-from-a-hook", "customer:\n  b: {name: missing}\n", ["customer 'b'", "customer 999 not found"]),
    ("conflict-from-a-hook", "customer:\n  b: {name: conflict}\n", ["customer 'b'", "changed by someone else"]),
]


def _project(make_project, bad: str):
    return make_project({
        "tailor.yaml": "name: test\nlanguages: [en, zh]\nplugins: [./refusing.py]\n",
        "refusing.py": REFUSING_PLUGIN,
        "entities/customer.yaml": CUSTOMER,
        "demo/00.yaml": GOOD,
        "demo/10.yaml": bad,
    })


def _migrated(root, db_url):
    model = load_model(root, entry_points=False)
    engine = make_engine(db_url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    return model, engine


def _saved(model, engine) -> tuple[int, int]:
    with engine.connect() as conn:
        user_count = conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()
    return RecordService(model, engine).count("customer"), user_count


@pytest.mark.parametrize(("bad", "expected"), [pytest.param(b, e, id=i) for i, b, e in BAD_FILES])
def test_malformed_demo_file_is_a_clear_error_and_saves_nothing(make_project, db_url, bad, expected):
    root = _project(make_project, bad)
    model, engine = _migrated(root, db_url)
    try:
        with pytest.raises(DemoError) as info:
            load_demo(model, engine, root)
        message = str(info.value)
        assert str(root / "demo" / "10.yaml") in message
        for part in expected:
            assert part in message
        assert "Traceback" not in message
        assert _saved(model, engine) == (0, 0)
        # fixed, the same load now succeeds: the failed one left nothing behind
        (root / "demo" / "10.yaml").write_text("customer:\n  fixed: {name: Fixed}\n", encoding="utf-8")
        assert load_demo(model, engine, root) == "loaded demo data: 1 users, 2 customer"
        assert _saved(model, engine) == (2, 1)
    finally:
        engine.dispose()


def test_good_demo_file_loads_everything(make_project, db_url):
    root = _project(make_project, "customer:\n  other: {name: Other, level: high}\n"
                                  "users:\n  - {username: boss, password: demo-pass-2, is_admin: true}\n")
    model, engine = _migrated(root, db_url)
    try:
        assert load_demo(model, engine, root) == "loaded demo data: 2 users, 2 customer"
        rows = {r["name"]: r for r in RecordService(model, engine).list("customer")}
        with engine.connect() as conn:
            people = {r.username: r for r in conn.execute(sa.select(users))}
        assert rows["Good"]["owner"] == people["rep1"].id
        assert people["rep1"].language == "zh" and people["rep1"].display_name == "Rep One"
        assert people["boss"].is_admin and people["boss"].language == "en"
    finally:
        engine.dispose()


def test_unmigrated_database_is_a_clear_error(make_project, db_url):
    root = _project(make_project, "customer: {}\n")
    model = load_model(root, entry_points=False)
    engine = make_engine(db_url)
    try:
        with pytest.raises(DemoError, match="run `tailor migrate` first"):
            load_demo(model, engine, root)
    finally:
        engine.dispose()


def test_cli_reports_a_bad_demo_file_without_a_traceback(make_project, db_url):
    root = _project(make_project, "customer: [x]\n")
    model, engine = _migrated(root, db_url)
    engine.dispose()
    result = CliRunner().invoke(cli, ["demo-data", str(root), "--database", db_url])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert f"error: {root / 'demo' / '10.yaml'}:1:11: customer: records are a mapping" in result.output
