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
    assert "ok" in result.output and "9 entities" in result.output


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
