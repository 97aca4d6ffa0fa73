"""Encrypted fields (`encrypted: true`): no clear text reaches the database (the row, the
search key, the audit trail), values read back as written, an exact value still finds its
record through the keyed hash, and a missing or wrong key is a clear error with its code."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.errors import ProjectError
from engine.fields import encryption
from engine.records import Query, ValidationError
from engine.storage import audit_log

CONTACT = """
entity: contact
fields:
  name: {type: string}
  phone: {type: phone, encrypted: true}
  email: {type: email, encrypted: true}
  note: {type: text, encrypted: true}
list:
  search: [name, phone, email]
"""
PHONE = "138 0013 8000"
EMAIL = "Wang.Wei@Example.com"
NOTE = "prefers calls after 18:00"


@pytest.fixture
def key(monkeypatch):
    """A fresh key in the environment (the key file and old keys unset)."""
    value = encryption.generate_key()
    monkeypatch.setenv(encryption.KEY_ENV, value)
    monkeypatch.delenv(encryption.KEY_FILE_ENV, raising=False)
    monkeypatch.delenv(encryption.OLD_KEYS_ENV, raising=False)
    return value


def raw_row(service, record_id):
    table = service.model.entities["contact"].table
    with service.engine.connect() as conn:
        return dict(conn.execute(sa.select(table).where(table.c.id == record_id)).mappings().one())


def test_no_clear_text_in_the_database_and_round_trip(key, service_for, db_url):
    service = service_for({"entities/contact.yaml": CONTACT})
    created = service.create("contact", {"name": "Wang Wei", "phone": PHONE, "email": EMAIL, "note": NOTE})
    assert (created["phone"], created["email"], created["note"]) == (PHONE, EMAIL.lower(), NOTE)
    again = service.get("contact", created["id"])
    assert (again["phone"], again["email"], again["note"]) == (PHONE, EMAIL.lower(), NOTE)
    row = raw_row(service, created["id"])
    for name in ("phone", "email", "note"):
        assert row[name].startswith("enc1:"), row[name]
        assert len(row[f"{name}_hash"]) == 64
    texts = " ".join(str(v) for v in row.values())
    for secret in ("13800138000", "0013", "wang.wei", "example.com", "18:00"):
        assert secret not in texts.lower()
    assert "wang wei" in (row["tailor_search"] or "")  # the clear field is still searched as before
    with service.engine.connect() as conn:
        changes = conn.execute(sa.select(audit_log.c.changes).where(audit_log.c.record_id == created["id"])).scalar()
    assert "0013" not in str(changes) and "example" not in str(changes)
    # the history shows the values to whoever may read them
    history = service.history("contact", created["id"])
    assert history[0]["changes"]["phone"] == [None, PHONE]
    if db_url.startswith("sqlite"):
        service.engine.dispose()
        data = Path(db_url.removeprefix("sqlite:///")).read_bytes()
        for secret in (b"0013 8000", b"13800138000", b"example.com", b"after 18:00"):
            assert secret not in data


def test_update_and_empty(key, service_for):
    service = service_for({"entities/contact.yaml": CONTACT})
    created = service.create("contact", {"name": "Li", "phone": PHONE})
    updated = service.update("contact", created["id"], {"phone": "+86 10 6552 9988", "note": None},
                             version=created["version"])
    assert updated["phone"] == "+86 10 6552 9988"
    assert service.update("contact", created["id"], {"phone": ""}, version=updated["version"])["phone"] is None
    row = raw_row(service, created["id"])
    assert row["phone"] is None and row["phone_hash"] is None


def test_exact_search_and_filters_use_the_hash(key, service_for):
    service = service_for({"entities/contact.yaml": CONTACT})
    first = service.create("contact", {"name": "Wang Wei", "phone": PHONE, "email": EMAIL})
    service.create("contact", {"name": "Zhang San", "phone": "139 1111 2222", "email": "zhang@example.com"})

    def found(**query):
        return [r["id"] for r in service.list("contact", Query(**query))]

    # the phone typed another way, the e-mail in other letters: the same value
    assert found(search="13800138000") == [first["id"]]
    assert found(search="138-0013-8000") == [first["id"]]
    assert found(search="WANG.WEI@EXAMPLE.COM") == [first["id"]]
    assert found(search="Wang") == [first["id"]]  # by the clear name
    assert found(search="0013") == []  # no part of an encrypted value finds anything
    assert found(filters=[("phone", "eq", "13800138000")]) == [first["id"]]
    assert len(found(filters=[("phone", "ne", "13800138000")])) == 1
    assert found(filters=[("email", "in", ["nobody@example.com", EMAIL])]) == [first["id"]]
    with pytest.raises(ValidationError) as refused:
        service.list("contact", Query(filters=[("phone", "contains", "138")]))
    assert "encrypted" in str(refused.value.errors["phone"])
    with pytest.raises(ValidationError) as refused:
        service.list("contact", Query(sort=("phone",)))
    assert "encrypted" in str(refused.value.errors["sort"])


def test_missing_key_is_a_clear_startup_error(monkeypatch, build_model):
    for name in (encryption.KEY_ENV, encryption.KEY_FILE_ENV, encryption.OLD_KEYS_ENV):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ProjectError) as failed:
        build_model({"entities/contact.yaml": CONTACT})
    assert "E411" in str(failed.value) and encryption.KEY_ENV in str(failed.value)
    monkeypatch.setenv(encryption.KEY_ENV, "not a key")
    with pytest.raises(ProjectError) as failed:
        build_model({"entities/contact.yaml": CONTACT})
    assert "E411" in str(failed.value) and "not base64" in str(failed.value)


def test_key_file(monkeypatch, tmp_path, service_for):
    path = tmp_path / "tailor.key"
    path.write_text(f"# current key first\n{encryption.generate_key()}\n", encoding="utf-8")
    monkeypatch.delenv(encryption.KEY_ENV, raising=False)
    monkeypatch.setenv(encryption.KEY_FILE_ENV, str(path))
    service = service_for({"entities/contact.yaml": CONTACT})
    created = service.create("contact", {"name": "Li", "phone": PHONE})
    assert service.get("contact", created["id"])["phone"] == PHONE


def test_wrong_key_is_a_clear_error(key, monkeypatch, service_for):
    service = service_for({"entities/contact.yaml": CONTACT})
    created = service.create("contact", {"name": "Li", "phone": PHONE})
    monkeypatch.setenv(encryption.KEY_ENV, encryption.generate_key())
    with pytest.raises(encryption.EncryptionKeyError) as failed:
        service.get("contact", created["id"])
    message = str(failed.value)
    assert message.startswith("E411") and "not loaded" in message
    assert encryption.key_id_of(raw_row(service, created["id"])["phone"]) in message


def test_keyring_refuses_altered_values(key):
    ring = encryption.keyring()
    token = ring.seal("secret")
    assert ring.open(token) == "secret" and token != ring.seal("secret")  # a fresh nonce each time
    altered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(encryption.EncryptionKeyError, match="altered"):
        ring.open(altered)


def test_spec_checks(key, build_model):
    with pytest.raises(ProjectError) as failed:
        build_model({"entities/x.yaml": """
            entity: x
            fields:
              site: {type: url, encrypted: true}
              code: {type: string, encrypted: true, unique: true}
              phone: {type: phone, mask: stars}
              mobile: {type: phone, encrypted: true}
              lines:
                type: lines
                fields:
                  note: {type: text, encrypted: true}
            list:
              sort: [mobile]
            """})
    text = str(failed.value)
    assert "url field cannot be encrypted" in text and "cannot be unique" in text and "stars" in text
    assert "cannot sort on encrypted field 'mobile'" in text and "'encrypted' does not apply inside the rows" in text


def test_expressions_may_not_store_or_compare_clear_text_in_the_database(key, build_model, service_for):
    """E412: a stored computed field, a default, a rollup's where and a role's scope that read
    an encrypted field (the first two would write its clear text, the last two compare
    ciphertext in SQL and silently match nothing). Python-side conditions may read it."""
    with pytest.raises(ProjectError) as failed:
        build_model({
            "entities/contact.yaml": """
                entity: contact
                fields:
                  name: {type: string}
                  phone: {type: phone, encrypted: true}
                  company: {type: link, to: company}
                  digits: {type: computed, expression: "phone", returns: string}
                  spare: {type: string, default: {expression: "phone"}}
                """,
            "entities/company.yaml": """
                entity: company
                fields:
                  name: {type: string}
                  mobiles: {type: rollup, from: contact.company, aggregate: count, where: "phone != ''"}
                """,
            "roles.yaml": """
                roles:
                  rep:
                    entities:
                      contact: {actions: [read], scope: "phone == '1'"}
                """})
    problems = [p for p in failed.value.problems if p.code == "E412"]
    text = "\n".join(str(p) for p in problems)
    assert len(problems) == 4, text
    assert "computed field 'digits' would store the clear text of encrypted field 'phone'" in text
    assert "the default of 'spare' would copy the clear text" in text
    assert "rollup's condition runs in SQL" in text and "role 'rep' has a scope for 'contact'" in text
    # reading it where the record is in Python is fine: unstored computed, visible_when, a title
    service = service_for({"entities/contact.yaml": """
        entity: contact
        title: "name + ' ' + phone"
        fields:
          name: {type: string}
          phone: {type: phone, encrypted: true}
          digits: {type: computed, expression: "phone", returns: string, stored: false}
          vip: {type: boolean, visible_when: "phone != ''"}
        """})
    made = service.create("contact", {"name": "Wang", "phone": "13800138000"})
    assert made["digits"] and "138" in made["digits"]
    with pytest.raises(ValidationError) as refused:
        service.list("contact", Query(where="phone == '13800138000'"))
    assert "E412" in str(refused.value.errors["where"])


def test_rotation_keeps_every_value_readable_and_changes_the_key_id(key, monkeypatch, make_project, db_url):
    from click.testing import CliRunner

    from engine.cli import cli
    from engine.migrate import apply_plan, plan_migration
    from engine.model import load_model
    from engine.records import RecordService
    from engine.storage import make_engine

    folder = make_project({"entities/contact.yaml": CONTACT})
    model = load_model(folder, entry_points=False)
    engine = make_engine(db_url)
    try:
        apply_plan(engine, plan_migration(engine, model.metadata, project=model.project,
                                          metadata_version=model.version))
        service = RecordService(model, engine)
        ids = [service.create("contact", {"name": f"c{i}", "phone": f"138 0013 800{i}", "email": f"c{i}@x.cn"})["id"]
               for i in range(3)]
        service.update("contact", ids[0], {"note": NOTE}, version=1)
        old_id = encryption.key_id_of(raw_row(service, ids[0])["phone"])
        new_key = encryption.generate_key()
        monkeypatch.setenv(encryption.KEY_ENV, new_key)
        monkeypatch.setenv(encryption.OLD_KEYS_ENV, key)
        result = CliRunner().invoke(cli, ["keys", "rotate", str(folder), "--database", db_url],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "contact.phone: 3 value(s) re-encrypted" in result.output
        new_id = encryption.keyring().current.id
        assert new_id != old_id and new_id in result.output
        for record_id in ids:
            row = raw_row(service, record_id)
            assert encryption.key_id_of(row["phone"]) == new_id and encryption.key_id_of(row["email"]) == new_id
        # the old key is no longer needed: values, searches and the history read with the new one alone
        monkeypatch.delenv(encryption.OLD_KEYS_ENV)
        assert [service.get("contact", i)["phone"] for i in ids] == [f"138 0013 800{i}" for i in range(3)]
        assert [r["id"] for r in service.list("contact", Query(search="13800138001"))] == [ids[1]]
        assert service.history("contact", ids[0])[-1]["changes"]["note"] == [None, NOTE]
        # run again: nothing left under another key
        monkeypatch.setenv(encryption.OLD_KEYS_ENV, key)
        again = CliRunner().invoke(cli, ["keys", "rotate", str(folder), "--database", db_url])
        assert "contact.phone: 0 value(s) re-encrypted" in again.output
    finally:
        engine.dispose()


def test_cli_without_key_prints_the_error(monkeypatch, make_project):
    from click.testing import CliRunner

    from engine.cli import cli

    monkeypatch.delenv(encryption.KEY_ENV, raising=False)
    monkeypatch.delenv(encryption.KEY_FILE_ENV, raising=False)
    folder = make_project({"entities/contact.yaml": CONTACT})
    result = CliRunner().invoke(cli, ["check", str(folder)])
    assert result.exit_code == 2 and "E411" in result.output and "Traceback" not in result.output
    generated = CliRunner().invoke(cli, ["keys", "generate"])
    assert encryption.Key.from_text(generated.output.strip(), "generated").id
