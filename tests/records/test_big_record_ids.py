"""Records whose ids are beyond 32 bits (issue 11, defect 3): the engine's own tables that
point at a record (audit trail, comments, shares, notifications, form tokens, flows) hold
every id an entity table (BIGINT) can give. On PostgreSQL their `record_id` was INTEGER, so
the first record past 2^31 could be inserted but its audit line could not: every create and
save of it failed."""

from __future__ import annotations

import sqlalchemy as sa

from engine.records import Actor, Context
from engine.storage import audit_log, comments, shares, write_engine
from engine.users import create_user

PROJECT = {
    "entities/customer.yaml": """
        entity: customer
        fields:
          name: {type: string}
        """,
}
ADMIN = Context(actor=Actor(id=None, username="root", language="en", system=True, is_admin=True))
BIG = 2**40


def test_a_record_past_32_bits_is_created_saved_commented_and_shared(service_for):
    service = service_for(PROJECT)
    table = service.model.entities["customer"].table
    with write_engine(service.engine).begin() as conn:  # move the id counter past 2^31
        now = sa.func.now()
        conn.execute(table.insert().values(id=BIG, name="seed", version=1, created_at=now, updated_at=now))
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), {BIG})"))
    record = service.create("customer", {"name": "Big"}, ADMIN)
    assert record["id"] > 2**31
    saved = service.update("customer", record["id"], {"name": "Bigger"}, version=record["version"], context=ADMIN)
    service.add_comment("customer", record["id"], "a note", ADMIN)
    user_id = create_user(service.engine, "ann", "s3cret-pass")
    service.share("customer", record["id"], access="read", context=ADMIN, user_id=user_id)
    assert [e["action"] for e in service.history("customer", record["id"], ADMIN)] == ["create", "update"]
    with service.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_log)
                            .where(audit_log.c.record_id == record["id"])).scalar() == 2
        assert conn.execute(sa.select(comments.c.body).where(comments.c.record_id == record["id"])).scalar() == "a note"
        assert conn.execute(sa.select(shares.c.user_id).where(shares.c.record_id == record["id"])).scalar() == user_id
    assert saved["name"] == "Bigger"
    service.delete("customer", record["id"], version=saved["version"], context=ADMIN)
    assert service.count("customer", context=ADMIN) == 1
