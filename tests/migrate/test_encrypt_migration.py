"""Turning `encrypted: true` on encrypts the values a field already holds (a step of the
plan, in batches); turning it off is refused until the YAML says `decrypt: true`. On SQLite
and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.fields import encryption
from engine.migrate import MigrationBlocked, apply_plan, plan_migration
from engine.model import load_model
from engine.records import Query, RecordService

CLEAR = """
entity: contact
fields:
  name: {type: string}
  phone: {type: phone}
list:
  search: [name, phone]
"""
ENCRYPTED = CLEAR.replace("phone: {type: phone}", "phone: {type: phone, encrypted: true}")
DECRYPTED = CLEAR.replace("phone: {type: phone}", "phone: {type: phone, decrypt: true}")
PHONES = ["138 0013 8000", "(415) 555-0188", "010-6552 9988"]


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv(encryption.KEY_ENV, encryption.generate_key())
    monkeypatch.delenv(encryption.KEY_FILE_ENV, raising=False)
    monkeypatch.delenv(encryption.OLD_KEYS_ENV, raising=False)


def plan_for(engine, model):
    return plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version)


def migrated(make_project, engine, text):
    model = load_model(make_project({"entities/contact.yaml": text}), entry_points=False)
    apply_plan(engine, plan_for(engine, model))
    return model, RecordService(model, engine)


def stored(engine, column="phone"):
    with engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql(f"SELECT {column} FROM contact ORDER BY id")]


def test_turning_encryption_on_encrypts_existing_rows(make_project, db_engine, db_url):
    _model, service = migrated(make_project, db_engine, CLEAR)
    for i, phone in enumerate(PHONES):
        service.create("contact", {"name": f"c{i}", "phone": phone})
    service.create("contact", {"name": "no phone"})
    model = load_model(make_project({"entities/contact.yaml": ENCRYPTED}), entry_points=False)
    plan = plan_for(db_engine, model)
    step = next(op for op in plan.operations if op.kind == "encrypt_values")
    assert step.affected == 3 and "3 stored values encrypted" in step.describe() and not step.destructive
    apply_plan(db_engine, plan)
    values = stored(db_engine)
    assert all(v.startswith("enc1:") for v in values[:3]) and values[3] is None
    assert all(len(h) == 64 for h in stored(db_engine, "phone_hash")[:3])
    assert all("0013" not in (k or "") and "555" not in (k or "") for k in stored(db_engine, "tailor_search"))
    service = RecordService(model, db_engine)
    assert [r["phone"] for r in service.list("contact", Query(sort=("id",)))] == [*PHONES, None]
    found = service.list("contact", Query(search="4155550188"))
    assert [r["name"] for r in found] == ["c1"]
    # planned again: nothing left to do
    assert not [op for op in plan_for(db_engine, model).operations if op.kind == "encrypt_values"]
    if db_url.startswith("sqlite"):
        db_engine.dispose()
        data = Path(db_url.removeprefix("sqlite:///")).read_bytes()
        assert b"0013 8000" not in data and b"555-0188" not in data and b"4155550188" not in data


def test_turning_encryption_off_needs_a_decision(make_project, db_engine):
    _model, service = migrated(make_project, db_engine, ENCRYPTED)
    service.create("contact", {"name": "Li", "phone": PHONES[0]})
    clear = load_model(make_project({"entities/contact.yaml": CLEAR}), entry_points=False)
    plan = plan_for(db_engine, clear)
    refused = next(op for op in plan.operations if op.kind == "decrypt_values")
    assert refused.blocked and "decrypt: true" in refused.blocked
    with pytest.raises(MigrationBlocked):
        apply_plan(db_engine, plan)
    assert stored(db_engine)[0].startswith("enc1:")  # nothing changed
    model, service = migrated(make_project, db_engine, DECRYPTED)
    assert stored(db_engine) == [PHONES[0]]
    assert service.list("contact", Query(search="13800138000"))[0]["phone"] == PHONES[0]
    # and on again, from clear text
    _model, service = migrated(make_project, db_engine, ENCRYPTED)
    assert stored(db_engine)[0].startswith("enc1:")
    assert service.list("contact", Query(filters=[("phone", "eq", "13800138000")]))[0]["name"] == "Li"


def test_plan_text_shows_the_step(make_project, db_engine):
    _model, service = migrated(make_project, db_engine, CLEAR)
    service.create("contact", {"name": "Li", "phone": PHONES[0]})
    model = load_model(make_project({"entities/contact.yaml": ENCRYPTED}), entry_points=False)
    text = "\n".join(op.describe() for op in plan_for(db_engine, model).operations)
    assert "encrypt_values contact.phone" in text and "1,000 at a time" in text
    with db_engine.connect() as conn:  # planning read only
        assert conn.execute(sa.text("SELECT phone FROM contact")).scalar() == PHONES[0]


def test_tailor_migrate_plan_and_sql_show_the_step(make_project, db_engine, db_url):
    from click.testing import CliRunner

    from engine.cli import cli

    _model, service = migrated(make_project, db_engine, CLEAR)
    service.create("contact", {"name": "Li", "phone": PHONES[0]})
    folder = make_project({"entities/contact.yaml": ENCRYPTED})
    plan = CliRunner().invoke(cli, ["migrate", str(folder), "--plan", "--database", db_url])
    assert plan.exit_code == 0, plan.output
    assert "encrypt_values contact.phone: encrypted: true: 1 stored value encrypted" in plan.output
    sql = CliRunner().invoke(cli, ["migrate", str(folder), "--sql", "--database", db_url])
    assert sql.exit_code == 0, sql.output
    assert "-- encrypt_values contact.phone: encrypted: true: 1 stored value encrypted under key" in sql.output
    assert stored(db_engine) == [PHONES[0]]  # neither changed anything
    clear = make_project({"entities/contact.yaml": CLEAR})
    assert CliRunner().invoke(cli, ["migrate", str(folder), "--database", db_url]).exit_code == 0
    refused = CliRunner().invoke(cli, ["migrate", str(clear), "--database", db_url])
    assert refused.exit_code != 0 and "decrypt: true" in refused.output
    assert stored(db_engine)[0].startswith("enc1:")
