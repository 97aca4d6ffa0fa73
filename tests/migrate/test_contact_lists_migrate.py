"""Migrations of emails and phones, YAML to database (SQLite and PostgreSQL): adding them to a
table that has rows, and an `email` field made `emails` (a `phone` made `phones`) keeping
each stored value as the one primary item, in the item columns too (a data step fills them,
so that SQL and Python agree), searchable and editable as before."""

from __future__ import annotations

from click.testing import CliRunner

from engine.cli import cli
from engine.model import load_model
from engine.records import Query, RecordService
from engine.storage import make_engine

V1 = """
entity: contact
fields:
  name: {type: string, required: true}
  email: {type: email, unique: true}
  phone: {type: phone}
"""

V2_MANY = """
entity: contact
fields:
  name: {type: string, required: true}
  email: {type: emails, unique: true}
  phone: {type: phones, kinds: [work, mobile, {value: fax, hidden: true}]}
  other_emails: {type: emails}
"""


def migrate(root, url, *flags):
    return CliRunner().invoke(cli, ["migrate", str(root), "--database", url, *flags], catch_exceptions=False)


def service_of(root, url):
    return RecordService(load_model(root, entry_points=False), make_engine(url))


def test_email_and_phone_made_several_keep_their_values(make_project, db_url):
    root = make_project({"entities/contact.yaml": V1})
    assert migrate(root, db_url).exit_code == 0
    service = service_of(root, db_url)
    ann = service.create("contact", {"name": "Ann", "email": "Ann@Acme.com", "phone": "+1 415 555 0188"})
    bob = service.create("contact", {"name": "Bob"})
    service.engine.dispose()

    (root / "entities" / "contact.yaml").write_text(V2_MANY, encoding="utf-8")
    plan = migrate(root, db_url, "--plan")
    assert plan.exit_code == 0, plan.output
    for column in ("contact.email_items", "contact.email_kinds", "contact.phone_items", "contact.other_emails"):
        assert column in plan.output, (column, plan.output)
    assert "worked out from email" in plan.output  # the data step: the items from the stored value
    assert "drop" not in plan.output.lower()  # the column of the primary stays as it is
    result = migrate(root, db_url)
    assert result.exit_code == 0, result.output
    assert "nothing to do" in migrate(root, db_url, "--plan").output.lower()

    service = service_of(root, db_url)
    try:
        kept = service.get("contact", ann["id"])
        assert kept["email"] == "ann@acme.com"
        assert kept["email_items"] == ["ann@acme.com"] and kept["email_kinds"] == ["work"]
        assert kept["phone_items"] == ["+1 415 555 0188"] and kept["phone_kinds"] == ["work"]
        empty = service.get("contact", bob["id"])
        assert (empty["email"], empty["email_items"], empty["email_kinds"]) == (None, None, None)
        # SQL sees the items the migration filled, as Python does; the search key holds them
        found = service.list("contact", Query(where="'ann@acme.com' in email_items", limit=5))
        assert [r["id"] for r in found] == [ann["id"]]
        assert [r["id"] for r in service.list("contact", Query(search="4155550188"))] == [ann["id"]]
        # the kept value is the primary: a second address is added beside it
        kept = service.update("contact", ann["id"], {"email": ["ann@acme.com", "ann@home.org"]},
                              version=kept["version"])
        assert kept["email"] == "ann@acme.com" and kept["email_kinds"] == ["work", "work"]
        assert [r["id"] for r in service.list("contact", Query(search="ann@home"))] == [ann["id"]]
        # uniqueness of the primary holds as before
        other = service.create("contact", {"name": "Cy", "email": ["cy@acme.com", "ann@acme.com"]})
        assert other["email"] == "cy@acme.com"
    finally:
        service.engine.dispose()


def test_a_row_from_before_the_items_reads_as_one_primary_item(make_project, db_url):
    """A value written without items (by SQL, or by an engine without the data step) is one
    primary item of the first kind wherever it is read, and a save writes the items."""
    root = make_project({"entities/contact.yaml": V2_MANY})
    assert migrate(root, db_url).exit_code == 0
    service = service_of(root, db_url)
    try:
        table = service.model.entity("contact").table
        with service.engine.begin() as conn:
            row_id = conn.execute(table.insert().values(
                name="Old", email="old@acme.com", phone="555-0100", created_at=sa_now(), updated_at=sa_now(),
                version=1).returning(table.c.id)).scalar_one()
        old = service.get("contact", row_id)
        field = service.model.entity("contact").fields["phone"]
        assert field.type.stored_items(old, field) == [("555-0100", "work")]
        assert field.type.search_texts(old, field) == ["555-0100", "5550100"]  # and its digits
        saved = service.update("contact", row_id, {"name": "Old Co"}, version=1)
        assert saved["phone_items"] == ["555-0100"] and saved["phone_kinds"] == ["work"]
        assert saved["email_items"] == ["old@acme.com"]
        saved = service.update("contact", row_id, {"phone": "555-0199"}, version=saved["version"])
        assert saved["phone_items"] == ["555-0199"]
    finally:
        service.engine.dispose()


def sa_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)
