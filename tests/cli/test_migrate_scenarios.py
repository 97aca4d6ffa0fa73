"""Migration scenarios driven the way an implementer works: edit YAML, run `tailor migrate`.

Each runs on SQLite and PostgreSQL (`db_url`). The planner itself is tested in
tests/migrate; here the whole pipeline YAML -> model -> plan -> database is exercised.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import sqlalchemy as sa
from click.testing import CliRunner

from engine.cli import cli
from engine.model import load_model
from engine.paths import ROOT
from engine.records import RecordService
from engine.storage import make_engine

V1 = """
entity: customer
fields:
  name: {type: string, max_length: 200}
  city: {type: string}
  notes: {type: text}
"""


def migrate(root, url, *flags):
    return CliRunner().invoke(cli, ["migrate", str(root), "--database", url, *flags], catch_exceptions=False)


def columns(url, table="customer"):
    engine = make_engine(url)
    try:
        return {c["name"]: c for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def rows(url, sql):
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def seed(root, url, *records):
    engine = make_engine(url)
    service = RecordService(load_model(root, entry_points=False), engine)
    for record in records:
        service.create("customer", record)
    engine.dispose()


def write_entity(root, text):
    (root / "entities" / "customer.yaml").write_text(text, encoding="utf-8")


def test_add_rename_remove_narrow(make_project, db_url):
    root = make_project({"entities/customer.yaml": V1})
    assert migrate(root, db_url).exit_code == 0
    seed(root, db_url, {"name": "A" * 150, "city": "Suzhou", "notes": "n1"}, {"name": "Short", "city": "Xi'an"})

    # add a field: additive, existing rows intact
    write_entity(root, V1 + "  phone: {type: phone}\n")
    result = migrate(root, db_url)
    assert result.exit_code == 0, result.output
    assert "phone" in columns(db_url)
    assert rows(db_url, "SELECT city FROM customer ORDER BY id") == [("Suzhou",), ("Xi'an",)]

    # rename a field: data kept
    write_entity(root, V1.replace("  city: {type: string}", "  town: {type: string, renamed_from: city}")
                 + "  phone: {type: phone}\n")
    result = migrate(root, db_url)
    assert result.exit_code == 0, result.output
    assert "town" in columns(db_url) and "city" not in columns(db_url)
    assert rows(db_url, "SELECT town FROM customer ORDER BY id") == [("Suzhou",), ("Xi'an",)]

    # remove a field: the column and its data are kept
    v3 = V1.replace("  city: {type: string}\n", "  town: {type: string, renamed_from: city}\n").replace(
        "  notes: {type: text}\n", "") + "  phone: {type: phone}\n"
    write_entity(root, v3)
    result = migrate(root, db_url, "--plan")
    assert "notes" in result.output and "kept" in result.output.lower()
    assert migrate(root, db_url).exit_code == 0
    assert rows(db_url, "SELECT notes FROM customer WHERE notes IS NOT NULL") == [("n1",)]

    # narrow a type: refused with the count of values that would be cut, nothing changed
    write_entity(root, v3.replace("max_length: 200", "max_length: 100"))
    refused = migrate(root, db_url)
    assert refused.exit_code == 2
    assert "1" in refused.output and "--allow-destructive" in refused.output
    assert rows(db_url, "SELECT length(name) FROM customer ORDER BY id") == [(150,), (5,)]
    applied = migrate(root, db_url, "--allow-destructive")
    assert applied.exit_code == 0, applied.output
    lengths = rows(db_url, "SELECT length(name) FROM customer ORDER BY id")
    assert lengths[1] == (5,) and lengths[0][0] <= 100

    history = rows(db_url, "SELECT operation, destructive FROM tailor_schema_history ORDER BY id")
    assert any(op.startswith("rename") for op, _ in history)
    assert any(bool(d) for _, d in history)


def test_plan_and_sql_change_nothing(make_project, db_url):
    root = make_project({"entities/customer.yaml": V1})
    sql = migrate(root, db_url, "--sql")
    assert sql.exit_code == 0 and "CREATE TABLE" in sql.output.upper()
    migrate(root, db_url, "--plan")
    engine = make_engine(db_url)
    assert sa.inspect(engine).get_table_names() == []  # not even the engine's own tables
    engine.dispose()


def test_write_revision(make_project, db_url, tmp_path):
    root = make_project({"entities/customer.yaml": V1})
    result = migrate(root, db_url, "--write-revision", str(tmp_path / "revisions"))
    assert result.exit_code == 0, result.output
    files = list((tmp_path / "revisions").glob("*.py"))
    assert len(files) == 1
    text = files[0].read_text()
    compile(text, str(files[0]), "exec")
    assert "create_table" in text and "'customer'" in text


KILLER = '''
import os, time
def tailor_migration_step(operation):
    marker = os.environ["TAILOR_TEST_MARKER"]
    if os.path.exists(marker + ".first"):
        open(marker, "w").close()
        time.sleep(600)
    open(marker + ".first", "w").close()
'''


def test_killed_mid_migration_leaves_database_unchanged(make_project, db_url, tmp_path):
    root = make_project({"entities/customer.yaml": V1})
    assert migrate(root, db_url).exit_code == 0
    seed(root, db_url, {"name": "Kept", "city": "Suzhou"})
    before_cols = columns(db_url)
    before_history = rows(db_url, "SELECT count(*) FROM tailor_schema_history")
    (root / "tailor.yaml").write_text("name: test\nplugins: [./killer.py]\n", encoding="utf-8")
    (root / "killer.py").write_text(KILLER, encoding="utf-8")
    write_entity(root, V1 + "  phone: {type: phone}\n  email: {type: email}\n  extra: {type: integer}\n")
    marker = tmp_path / "marker"
    env = {**os.environ, "TAILOR_TEST_MARKER": str(marker), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "migrate", str(root), "--database", db_url],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert columns(db_url).keys() == before_cols.keys()
    assert rows(db_url, "SELECT name, city FROM customer") == [("Kept", "Suzhou")]
    assert rows(db_url, "SELECT count(*) FROM tailor_schema_history") == before_history
