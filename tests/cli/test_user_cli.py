"""`tailor user password|deactivate|activate|sign-out`: each ends the user's sessions where it
should, is recorded in the admin audit log (by "cli"), and a mistake is a message with exit
code 2, not a traceback."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from engine.cli import cli
from engine.sessions import create_session
from engine.storage import admin_audit, make_engine, user_sessions, users, write_engine
from engine.users import verify_password


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def with_session(db_url, username="alice"):
    result = run("user", "create", username, "--database", db_url, "--password", "first-pass-1")
    assert result.exit_code == 0, result.output
    engine = make_engine(db_url)
    with write_engine(engine).begin() as conn:
        user_id = conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar_one()
        create_session(conn, user_id, "10.0.0.5", "test")
    return engine


def state(engine, username="alice"):
    with engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).mappings().one()
        revoked = [r for (r,) in conn.execute(sa.select(user_sessions.c.revoked_at)
                                              .where(user_sessions.c.user_id == row["id"]))]
    return row, revoked


def test_sign_out_ends_every_session(db_url):
    engine = with_session(db_url)
    result = run("user", "sign-out", "alice", "--database", db_url)
    assert result.exit_code == 0 and "1 session(s) of alice ended" in result.output
    row, revoked = state(engine)
    assert all(revoked) and row["is_active"]
    engine.dispose()


def test_deactivate_ends_sessions_and_activate_lets_in_again(db_url):
    engine = with_session(db_url)
    assert run("user", "deactivate", "alice", "--database", db_url).exit_code == 0
    row, revoked = state(engine)
    assert not row["is_active"] and all(revoked)
    assert run("user", "activate", "alice", "--database", db_url).exit_code == 0
    assert state(engine)[0]["is_active"]
    engine.dispose()


def test_password_changes_and_ends_sessions(db_url):
    engine = with_session(db_url)
    result = run("user", "password", "alice", "--database", db_url, "--password", "second-pass-2")
    assert result.exit_code == 0, result.output
    row, revoked = state(engine)
    assert verify_password(row["password_hash"], "second-pass-2") and all(revoked)
    engine.dispose()


def test_mistakes_are_messages(db_url):
    engine = with_session(db_url)
    short = run("user", "password", "alice", "--database", db_url, "--password", "short")
    assert short.exit_code == 2 and "at least 8 characters" in short.output
    row, revoked = state(engine)
    assert verify_password(row["password_hash"], "first-pass-1") and not any(revoked)
    for command in ("password", "deactivate", "activate", "sign-out"):
        extra = ["--password", "whatever-1"] if command == "password" else []
        result = run("user", command, "nobody", "--database", db_url, *extra)
        assert result.exit_code == 2 and "no user 'nobody'" in result.output, command
    engine.dispose()


def audit_entries(engine):
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(admin_audit).order_by(admin_audit.c.id)).mappings()]


def test_every_user_command_is_in_the_admin_audit_log(db_url):
    engine = with_session(db_url)
    assert run("user", "password", "alice", "--database", db_url, "--password", "second-pass-2").exit_code == 0
    for command in ("deactivate", "activate", "sign-out"):
        assert run("user", command, "alice", "--database", db_url).exit_code == 0, command
    entries = audit_entries(engine)
    assert [e["action"] for e in entries] == ["create", "set_password", "deactivate", "activate", "sign_out"]
    alice = state(engine)[0]["id"]
    assert {(e["actor"], e["actor_id"], e["target"], e["target_id"], e["ip"]) for e in entries} == {
        ("cli", None, "alice", alice, None)}
    assert entries[-1]["details"] == {"sessions": 0}  # deactivating had ended the session already
    assert "second-pass-2" not in str(entries)  # never a password
    engine.dispose()


def test_a_failed_command_records_nothing(db_url):
    engine = with_session(db_url)
    assert run("user", "password", "alice", "--database", db_url, "--password", "short").exit_code == 2
    assert run("user", "deactivate", "nobody", "--database", db_url).exit_code == 2
    assert run("user", "create", "alice", "--database", db_url, "--password", "first-pass-1").exit_code == 2
    assert [e["action"] for e in audit_entries(engine)] == ["create"]  # the first create only
    engine.dispose()
