"""`tailor diff OLD NEW`: exit codes, --json, --lang zh and --database on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from click.testing import CliRunner

from engine.cli import cli
from engine.migrate import apply_plan, plan_migration
from engine.model import load_model
from engine.paths import EXAMPLES
from engine.storage import make_engine


def run(*args):
    return CliRunner().invoke(cli, ["diff", *[str(a) for a in args]], catch_exceptions=False)


def test_exit_0_when_nothing_differs():
    result = run(EXAMPLES / "crm", EXAMPLES / "crm")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("No differences between crm")


def test_exit_1_when_something_differs():
    result = run(EXAMPLES / "crm", EXAMPLES / "trade")
    assert result.exit_code == 1, result.output
    assert "+ shipment “Shipment” added" in result.output
    assert "~ currency: CNY → USD" in result.output


def test_lang_zh():
    result = run(EXAMPLES / "crm", EXAMPLES / "trade", "--lang", "zh")
    assert result.exit_code == 1
    assert "从 crm" in result.output and "新增 shipment “出运”" in result.output
    assert "~ customer.industry=retail：标签 “零售” → “连锁零售”" in result.output


def test_json_output_round_trips():
    result = run(EXAMPLES / "crm", EXAMPLES / "trade", "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["old"]["project"] == "crm" and data["new"]["project"] == "trade"
    assert data["old"]["path"] == str(EXAMPLES / "crm")
    assert any(c["kind"] == "entity.added" and c["target"] == "shipment" for c in data["changes"])
    from engine.diff import from_json, to_json

    assert to_json(from_json(data)) == data


def test_broken_project_exits_2_with_the_checkers_problems(make_project):
    broken = make_project({"entities/c.yaml": "entity: c\nfields:\n  a: {type: strng}\n"})
    result = run(EXAMPLES / "crm", broken)
    assert result.exit_code == 2
    assert "E301" in result.output and "did you mean 'string'?" in result.output
    assert "1 problem(s)" in result.output and "found in" in result.output


def test_unusable_database_exits_2():
    result = run(EXAMPLES / "crm", EXAMPLES / "trade", "--database", "nosuchdb://x")
    assert result.exit_code == 2
    assert "not a usable database URL" in result.output


def _customers(engine, *rows):
    now = {"created_at": datetime.now(UTC), "updated_at": datetime.now(UTC)}
    with engine.begin() as conn:
        table = sa.table("customer", *[sa.column(c) for c in ("name", "notes", "old_code", *now)])
        conn.execute(sa.insert(table), [{**row, **now} for row in rows])
        legacy = sa.table("legacy", *[sa.column(c) for c in ("title", *now)])
        conn.execute(sa.insert(legacy), [{"title": "one", **now}])


def test_database_at_old_counts_rows_and_values(pair, db_url):
    old, new = pair
    model = load_model(old, entry_points=False)
    engine = make_engine(db_url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    _customers(engine, {"name": "A", "notes": "keep me", "old_code": "A1"}, {"name": "B", "notes": "me too", "old_code": None},
               {"name": "C", "notes": "", "old_code": None})
    result = run(old, new, "--json", "--database", db_url)
    assert result.exit_code == 1, result.output
    migration = json.loads(result.output)["migration"]
    assert migration["source"] == "database" and migration["database"] is True
    assert migration["dialect"] == engine.dialect.name
    steps = {s["target"]: s for s in migration["steps"]}
    notes = steps["customer.notes"]
    assert notes["kind"] == "drop_column" and notes["destructive"] and notes["values"] == 2
    assert "2" in notes["data_loss"]  # the planner counted in this database
    assert steps["legacy"]["kind"] == "drop_table" and steps["legacy"]["values"] == 1
    assert steps["customer.code"]["kind"] == "rename_column" and steps["customer.code"]["values"] == 1
    assert "DROP TABLE legacy" in migration["sql"] and f", {engine.dialect.name};" in migration["sql"]
    touched = {t["table"]: t["rows"] for t in migration["touched"]}
    assert touched["customer"] == 3 and touched["legacy"] == 1 and touched["ticket"] is None
    text = run(old, new, "--database", db_url).output
    assert "! drop column customer.notes: removed from the model [2 non-empty values in the database]" in text
    assert "customer (3 rows):" in text
    # only read: the database is still at the old model
    with engine.connect() as conn:
        assert "notes" in {c["name"] for c in sa.inspect(conn).get_columns("customer")}
        assert "ticket" not in sa.inspect(conn).get_table_names()
    engine.dispose()


def test_database_not_at_old_is_said(pair, db_url, db_engine):
    old, new = pair
    with db_engine.begin() as conn:  # a database with something else in it
        conn.exec_driver_sql("CREATE TABLE other (id INTEGER PRIMARY KEY)")
    result = run(old, new, "--json", "--database", db_url)
    migration = json.loads(result.output)["migration"]
    assert migration["source"] == "scratch" and migration["notes"][0] == "database-not-at-old"
    assert all(t["rows"] is None for t in migration["touched"])
    assert "is not at the old model" in run(old, new, "--database", db_url).output


def test_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path):
    missing = tmp_path / "nothing.sqlite"
    result = run(EXAMPLES / "crm", EXAMPLES / "trade", "--database", f"sqlite:///{missing}")
    assert result.exit_code == 2
    assert "no database file" in result.output
    assert not missing.exists()


def test_unreachable_database_exits_2():
    result = run(EXAMPLES / "crm", EXAMPLES / "trade", "--database", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert result.exit_code == 2
    assert "cannot use the database" in result.output
