"""The `tailor` command line: exit codes, summaries, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner

from engine.cli import cli
from engine.paths import EXAMPLES, ROOT


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def test_check_ok_prints_summary():
    result = run("check", EXAMPLES / "crm")
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "11 entities" in result.output


def test_check_reports_every_problem_with_exit_2(make_project):
    root = make_project({"entities/c.yaml": "entity: c\nfields:\n  a: {type: strng}\n  b: {type: link, to: zz}\n"})
    result = run("check", root)
    assert result.exit_code == 2
    assert "E301" in result.output and "E306" in result.output
    assert "did you mean 'string'?" in result.output
    assert "2 problem(s)" in result.output


def test_check_without_traceback_in_a_real_process(make_project):
    root = make_project({"entities/c.yaml": "entity: c\nfields: [oops\n"})
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "check", str(root)], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "E101" in proc.stderr


def test_explain_shows_layers():
    result = run("explain", EXAMPLES / "trade", "customer.name")
    assert result.exit_code == 0, result.output
    assert "defined in layer 'crm'" in result.output
    assert "changed in layer 'trade'" in result.output and "label" in result.output
    result = run("explain", EXAMPLES / "trade", "shipment")
    assert "defined in layer 'trade'" in result.output
    assert run("explain", EXAMPLES / "trade", "customer.nmae").exit_code == 2


def test_migrate_plan_then_apply_then_empty(tmp_path, make_project):
    root = make_project({"entities/c.yaml": "entity: c\nfields:\n  name: {type: string}\n"})
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    plan = run("migrate", root, "--database", url, "--plan")
    assert plan.exit_code == 0 and "create" in plan.output.lower()
    applied = run("migrate", root, "--database", url)
    assert applied.exit_code == 0, applied.output
    again = run("migrate", root, "--database", url)
    assert again.exit_code == 0 and "applied 0 change" in again.output


def test_migrate_uses_tailor_database_url(tmp_path, make_project):
    root = make_project({"entities/c.yaml": "entity: c\nfields:\n  name: {type: string}\n"})
    db = tmp_path / "env.sqlite"
    result = run("migrate", root, env={"TAILOR_DATABASE_URL": f"sqlite:///{db}"})
    assert result.exit_code == 0, result.output
    assert db.exists() and not (root / "instance").exists()


def test_default_database_is_in_instance_folder(make_project):
    root = make_project({"entities/c.yaml": "entity: c\nfields:\n  name: {type: string}\n"})
    result = run("migrate", root, env={"TAILOR_DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    assert (root / "instance" / "tailor.sqlite").exists()


def test_user_create(tmp_path):
    url = f"sqlite:///{tmp_path / 'u.sqlite'}"
    result = run("user", "create", "alice", "--database", url, "--password", "secret-123", "--admin")
    assert result.exit_code == 0, result.output
    again = run("user", "create", "alice", "--database", url, "--password", "secret-123")
    assert again.exit_code == 2 and "already exists" in again.output
    short = run("user", "create", "bob", "--database", url, "--password", "short")
    assert short.exit_code == 2


def test_user_create_with_roles_department_and_manager(tmp_path):
    import sqlalchemy as sa

    from engine.storage import departments, make_engine, user_roles, users

    url = f"sqlite:///{tmp_path / 'u.sqlite'}"
    crm = EXAMPLES / "crm"
    boss = run("user", "create", "boss", "--project", crm, "--database", url, "--password", "secret-123",
               "--role", "sales_manager", "--department", "Sales")
    assert boss.exit_code == 0, boss.output
    rep = run("user", "create", "rep", "--project", crm, "--database", url, "--password", "secret-123",
              "--role", "sales_rep", "--department", "Sales/East", "--manager", "boss")
    assert rep.exit_code == 0 and "sales_rep" in rep.output, rep.output
    bad = run("user", "create", "xx", "--project", crm, "--database", url, "--password", "secret-123",
              "--role", "wizard")
    assert bad.exit_code == 2 and "unknown role" in bad.output
    engine = make_engine(url)
    with engine.connect() as conn:
        row = conn.execute(sa.select(users.c.id, users.c.manager_id, users.c.department_id)
                           .where(users.c.username == "rep")).one()
        boss_id = conn.execute(sa.select(users.c.id).where(users.c.username == "boss")).scalar()
        assert row.manager_id == boss_id
        assert conn.execute(sa.select(departments.c.name).where(departments.c.id == row.department_id)).scalar() == "East"
        assert conn.execute(sa.select(user_roles.c.role).where(user_roles.c.user_id == row.id)).scalar() == "sales_rep"
        assert conn.execute(sa.select(sa.func.count()).select_from(users).where(users.c.username == "xx")).scalar() == 0
    engine.dispose()


def test_org_import(tmp_path):
    import sqlalchemy as sa

    from engine.storage import admin_audit, make_engine

    url = f"sqlite:///{tmp_path / 'o.sqlite'}"
    crm = EXAMPLES / "crm"
    good = tmp_path / "staff.csv"
    good.write_text("username,display_name,department,manager,roles,teams,head\n"
                    "li.ming,李明,销售部,,sales_manager,,是\n"
                    "zhou.jie,周杰,销售部/华东,li.ming,sales_rep,大客户,否\n", encoding="utf-8-sig")
    result = run("org", "import", good, "--project", crm, "--database", url)
    assert result.exit_code == 0 and "2 users created" in result.output, result.output
    again = run("org", "import", good, "--project", crm, "--database", url)
    assert "0 users created, 2 updated" in again.output
    moved = tmp_path / "moved.csv"
    moved.write_text("username,department,roles\nzhou.jie,销售部,sales_rep;finance\n", encoding="utf-8")
    assert run("org", "import", moved, "--project", crm, "--database", url).exit_code == 0
    engine = make_engine(url)
    with engine.connect() as conn:  # the admin audit log: who was made, then only what changed
        log = [dict(r) for r in conn.execute(sa.select(admin_audit).order_by(admin_audit.c.id)).mappings()]
    engine.dispose()
    assert [(e["action"], e["target"], e["actor"]) for e in log] == [
        ("import_create", "li.ming", "cli"), ("import_create", "zhou.jie", "cli"),
        ("import_update", "zhou.jie", "cli")]  # the unchanged second run wrote nothing
    assert log[1]["details"]["department"] == "销售部 / 华东" and log[1]["details"]["manager"] == "li.ming"
    assert log[2]["details"] == {"department": ["销售部 / 华东", "销售部"], "roles": [["sales_rep"],
                                 ["finance", "sales_rep"]], "file": "moved.csv"}
    bad = tmp_path / "bad.csv"
    bad.write_text("username,manager,roles\nnew.one,nobody,sales_rep\n", encoding="utf-8")
    result = run("org", "import", bad, "--project", crm, "--database", url)
    assert result.exit_code == 2 and "line 2" in result.output and "nothing was imported" in result.output
    binary = tmp_path / "staff.xlsx"
    binary.write_bytes(b"PK\x03\x04\xff\xfe")
    result = run("org", "import", binary, "--project", crm, "--database", url)
    assert result.exit_code == 2 and "not UTF-8" in result.output


def test_bad_database_urls_are_messages(make_project):
    root = make_project({"entities/c.yaml": "entity: c\nfields:\n  name: {type: string}\n"})
    for url in ("nonsense", "mysql://u@localhost/db", "nosuchdialect://x"):
        result = CliRunner().invoke(cli, ["migrate", str(root), "--database", url])
        assert result.exit_code == 2, (url, result.output)
        assert "error:" in result.output
        assert isinstance(result.exception, SystemExit)  # a message and exit code, no traceback


def test_write_revision_when_up_to_date(tmp_path, make_project):
    root = make_project({"entities/c.yaml": "entity: c\nfields:\n  name: {type: string}\n"})
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert run("migrate", root, "--database", url).exit_code == 0
    result = run("migrate", root, "--database", url, "--write-revision", tmp_path / "rev")
    assert result.exit_code == 0 and "nothing to write" in result.output
    assert not list((tmp_path / "rev").glob("*.py"))


def test_serve_says_when_its_port_is_taken(tmp_path):
    """`make demo` on a machine where port 5000 is in use: a plain message naming the way
    out (PORT=…), exit 2, not a traceback from the server."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        before = runners()
        result = CliRunner().invoke(cli, ["serve", str(EXAMPLES / "crm"), "--database",
                                          f"sqlite:///{tmp_path / 'x.sqlite'}", "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert f"port {port} on 127.0.0.1 is in use" in result.output and "PORT=5050" in result.output
    # refused before the app was made: no job runner left polling a database nobody migrated
    assert runners() <= before, "serve started a job runner, then refused to serve"


def test_check_strict_fails_on_a_missing_translation_with_its_position(tmp_path):
    """The examples pass `tailor check --strict`; a copy with one zh option label removed
    fails it, naming file, line and column (issue 15)."""
    import shutil

    env = {"TAILOR_ENCRYPTION_KEY": "A" * 43 + "="}
    for example in ("crm", "trade"):
        result = CliRunner().invoke(cli, ["check", "--strict", str(EXAMPLES / example)], env=env)
        assert result.exit_code == 0, result.output
    copy = tmp_path / "crm"
    shutil.copytree(EXAMPLES / "crm", copy, ignore=shutil.ignore_patterns("instance"))
    entity = copy / "entities" / "ticket.yaml"
    text = entity.read_text(encoding="utf-8")
    assert ", zh: 高}" in text
    entity.write_text(text.replace(", zh: 高}", "}", 1), encoding="utf-8")
    rows = entity.read_text(encoding="utf-8").splitlines()
    high = next(i for i, row in enumerate(rows) if "value: high" in row)
    options = max(i for i in range(high) if rows[i].strip() == "options:") + 1  # W301 points at the options key
    assert CliRunner().invoke(cli, ["check", str(copy)], env=env).exit_code == 0  # a warning only
    result = CliRunner().invoke(cli, ["check", "--strict", str(copy)], env=env)
    assert result.exit_code == 2, result.output
    warning = next(line for line in result.output.splitlines() if "W301" in line)
    assert f"ticket.yaml:{options}:" in warning and "no zh label: high" in warning, warning
    assert "--strict" in result.output


def runners() -> set:
    """The in-process job runners' threads alive now (engine.jobs.start_in_process)."""
    import threading

    return {t for t in threading.enumerate() if t.name == "tailor-jobs" and t.is_alive()}
