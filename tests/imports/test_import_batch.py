"""The batch path of an import (`RecordService._create_many`: the new records of a batch
checked, numbered, inserted and audited together) against the reference, one `create`
per row (`service.import_batches = False`): the same file imported into two fresh
databases must give the same records, audit trail, counters, per-row results and
messages, field by field (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from importutil import FILES, csv_bytes, world

from engine.imports import Mapping, dry_run, run, start, summary_of
from engine.migrate import apply_plan, plan_migration
from engine.model import load_model
from engine.permissions.org import load_actor
from engine.records import Context, RecordService, ValidationError
from engine.storage import audit_log, import_errors, import_items, make_engine, sequence, users, write_engine
from engine.users import create_user

PG_URL = os.environ.get("TAILOR_TEST_DATABASE_URL")
SKIP = {"created_at", "updated_at"}  # each database's clock: the only columns that may differ


@pytest.fixture
def twin_url(db_url, tmp_path):
    """A second, empty database of the same kind as `db_url`."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'twin.sqlite'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in PG_URL else "?"
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def twins(make_project, db_url, twin_url):
    """`twins(files)` -> (batched service, one-row-at-a-time service), each on its own database."""
    engines = []

    def make(files: dict[str, str]) -> tuple[RecordService, RecordService]:
        made = []
        project = make_project(files)
        for url in (db_url, twin_url):
            model = load_model(project, entry_points=False)
            engine = make_engine(url)
            engines.append(engine)
            apply_plan(engine, plan_migration(engine, model.metadata, project=model.project,
                                              metadata_version=model.version))
            made.append(RecordService(model, engine))
        made[1].import_batches = False
        return made[0], made[1]

    yield make
    for engine in engines:
        engine.dispose()


def table_rows(service: RecordService, table: sa.Table, skip: set[str] = frozenset(),
               order: Any = None) -> list[dict[str, Any]]:
    with service.engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(*(order if order is not None else [table.c[table.primary_key
                                                                                         .columns.keys()[0]]])))
        return [{k: v for k, v in r.items() if k not in skip} for r in rows.mappings()]


def state(service: RecordService, entities: list[str]) -> dict[str, Any]:
    """Everything an import writes, without the clock's columns."""
    found = {name: table_rows(service, service.model.entity(name).table, SKIP) for name in entities}
    found["audit"] = table_rows(service, audit_log, {"id", "at"}, [audit_log.c.id])
    found["items"] = table_rows(service, import_items, {"id"}, [import_items.c.id])
    found["errors"] = table_rows(service, import_errors, {"id"}, [import_errors.c.id])
    found["sequence"] = table_rows(service, sequence)
    return found


def ranked(found: dict[str, Any], entity: str) -> dict[str, Any]:
    """`found` with the entity's ids replaced by their rank. On PostgreSQL a batch undone
    (to be saved one row at a time) has used ids of the sequence, which a rollback does not
    give back (as a row refused one at a time does): the ids differ, never their order."""
    rank = {row["id"]: n for n, row in enumerate(found[entity], start=1)}
    found = {**found, entity: [{**row, "id": rank[row["id"]]} for row in found[entity]]}
    found["audit"] = [{**a, "record_id": rank.get(a["record_id"], -1)} if a["entity"] == entity else a
                      for a in found["audit"]]
    found["items"] = [{**i, "record_id": rank.get(i["record_id"], -1)} for i in found["items"]]
    return found


def rows_of_a_messy_file() -> list[list[str]]:
    """Good rows and every kind of bad one, spread over several batches of 7: duplicates of
    the name and ERP code within a batch, across batches, of a row that failed (so the
    later one is fine) and of a record already there; values refused by coercion,
    validation, option lists and link lookups; owners given; an empty name."""
    rows = [["name", "erp_code", "level", "employees", "region", "revenue", "owner", "tags", "since"],
            ["A", "E1", "high", "5", "EC", "100", "", "vip", "2026-01-02"],
            ["B", "E2", "low", "-5", "", "", "", "", ""],                # employees below min: fails
            ["C", "E1", "", "3", "", "", "", "", ""],                    # E1 taken by row A (same batch)
            ["B", "E4", "", "1", "East China", "", "rep2", "", ""],      # B's first row failed: fine
            ["Existing", "E5", "", "", "", "", "", "", ""],              # a record already named so
            ["D", "", "", "", "Nowhere", "", "", "", ""],                # no such region (conversion)
            ["", "E7", "", "", "", "", "", "", ""],                      # a name is required
            ["E", "E8", "huge", "", "", "", "", "", ""],                 # not an option
            ["C", "E9", "", "2", "", "", "", "", ""],                    # row C before failed: fine
            ["A", "E10", "", "", "", "", "", "", ""],                    # A saved in the batch before
            ["F", "E2", "", "", "", "-3", "", "", ""],                   # revenue below min
            ["G", "E2", "low", "7", "N2", "¥1,234.50", "rep1", "vip, government", "04.12.2026"],
            ["H", "OLD", "", "", "", "", "", "", ""]]                    # an ERP code already there
    for i in range(40):  # more batches, names taken now and then by an earlier row
        rows.append([f"N{i % 33}", f"X{i}", ("high", "low", "")[i % 3], str(i), ("EC", "N1", "")[i % 3],
                     f"{i}.5" if i % 4 else "", "", "", ""])
    return rows


def prepared_world(service: RecordService) -> dict[str, Context]:
    people = world(service)
    service.create("customer", {"name": "Existing", "erp_code": "OLD"}, people["root"])
    return people


@pytest.mark.parametrize("who", ["root", "rep1"])
def test_batched_insert_matches_one_row_at_a_time(twins, who):
    fast, slow = twins(FILES)
    results = []
    for service in (fast, slow):
        people = prepared_world(service)
        rows = rows_of_a_messy_file()
        if who == "rep1":  # the ERP code is read-only for a sales rep: left out, owners still given
            rows = [r[:1] + r[2:] for r in rows]
        data = csv_bytes(rows)
        dry = dry_run(service, "customer", data, "messy.csv", context=people[who], batch=7)
        run_id = start(service, "customer", data, "messy.csv", context=people[who])
        done = run(service, run_id, batch=7)
        results.append((dry.to_dict(), done.to_dict(), summary_of(service, run_id).to_dict(), state(service, ["customer"])))
    assert results[0] == results[1]
    dry, done, _stored, written = results[0]
    assert done["created"] > 30 and done["failed"] >= (8 if who == "root" else 7), done  # it does what it says
    if who == "rep1":  # rep2 is out of rep1's reach
        assert any("may not give" in e["message"] for e in done["errors"])
    assert dry["created"] == done["created"] and dry["failed"] == done["failed"]
    numbers = [r["number"] for r in written["customer"][1:]]
    assert numbers == [f"C-{n:05d}" for n in range(2, len(numbers) + 2)]  # no gap: failed rows take none
    names = [r["name"] for r in written["customer"]]
    assert len(names) == len(set(names)) and names.count("C") == 1
    assert names.count("B") == (1 if who == "root" else 0)  # rep1 may not give B to rep2


def test_batched_upsert_and_update_match_one_row_at_a_time(twins):
    fast, slow = twins(FILES)
    outcome = []
    for service in (fast, slow):
        people = prepared_world(service)
        root = people["root"]
        mapping = Mapping(entity="customer", columns={}, mode="upsert", key="erp_code")
        first = csv_bytes([["erp_code", "name", "employees"]] + [[f"K{i}", f"K name {i}", str(i)] for i in range(12)])
        run(service, start(service, "customer", first, "k.csv", mapping, root), batch=5)
        # creates and updates interleaved: a create after an update that freed or took a name
        second = csv_bytes([["erp_code", "name", "employees"],
                            ["K1", "K name 1", "1"],          # unchanged
                            ["NEW1", "K name 2", "1"],        # K2 holds that name: fails
                            ["K2", "Renamed 2", "2"],         # frees it
                            ["NEW2", "K name 2", "4"],        # now free: created
                            ["NEW3", "Renamed 2", "5"],       # just taken by K2: fails
                            ["OLD", "Existing", "8"],         # updated
                            ["NEW4", "Fresh", "-1"]]          # below min: fails
                           + [[f"M{i}", f"M {i % 4}", str(i)] for i in range(9)])
        summary = run(service, start(service, "customer", second, "k2.csv", mapping, root), batch=5)
        mapping_update = Mapping(entity="customer", columns={}, mode="update", key="erp_code")
        third = run(service, start(service, "customer", csv_bytes([["erp_code", "employees"], ["K3", "30"],
                                                                    ["NOPE", "1"]]), "k3.csv", mapping_update, root))
        outcome.append((summary.to_dict(), third.to_dict(), state(service, ["customer"])))
    assert outcome[0] == outcome[1]
    summary = outcome[0][0]
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (5, 2, 1), summary


HOOKED = {
    "tailor.yaml": "name: desk\nlanguages: [en, zh]\nplugins: [./desk_hooks.py]\n",
    "desk_hooks.py": '''
from engine.records import ValidationError

def tailor_before_save(entity, record, old, context):
    if entity.name == "ticket" and record.get("title"):
        record["title"] = record["title"].strip().capitalize()

def tailor_after_save(entity, record, old, context):
    if entity.name == "ticket" and record.get("title") == "Refuse me":
        raise ValidationError({"title": ["the plugin refuses this ticket"]})
''',
    "entities/ticket.yaml": """
        entity: ticket
        title: title
        fields:
          number: {type: autonumber, format: "T-{####}"}
          title: {type: string, required: true, unique: true}
          status:
            type: choice
            default: open
            options: [open, closed]
          hours: {type: integer, min: 0}
          double: {type: computed, returns: number, expression: "hours * 2"}
        """,
    "workflows/ticket.yaml": """
        workflow: ticket
        entity: ticket
        field: status
        transitions:
          close: {from: open, to: closed}
        """,
}


def admin(service: RecordService) -> Context:
    with write_engine(service.engine).begin() as conn:
        create_user(conn, "root", None, is_admin=True)
    with service.engine.connect() as conn:
        return Context(actor=load_actor(conn, conn.execute(sa.select(users)).mappings().one()))


def test_hooks_workflow_and_a_refusing_hook_match_one_row_at_a_time(twins):
    """A hook refusing one record after it was saved: the batch is undone and its rows saved
    one at a time, so exactly that row fails, as without batches."""
    fast, slow = twins(HOOKED)
    outcome = []
    for service in (fast, slow):
        root = admin(service)
        rows = [["title", "status", "hours"]] + [[f"  ticket {i} ", "", str(i)] for i in range(9)]
        rows[4] = ["refuse me", "", "1"]
        rows[6] = ["already closed", "closed", "1"]  # a new record starts as 'open'
        rows[8] = ["  ticket 2", "", "1"]  # the hook makes it 'Ticket 2', taken by row 3
        run_id = start(service, "ticket", csv_bytes(rows), "t.csv", context=root)
        summary = run(service, run_id, batch=4)
        outcome.append((summary.to_dict(), ranked(state(service, ["ticket"]), "ticket")))
    for key in outcome[0][1]:  # table by table first: a shorter message
        assert outcome[0][1][key] == outcome[1][1][key], key
    assert outcome[0] == outcome[1]
    summary, written = outcome[0]
    assert (summary["created"], summary["failed"]) == (6, 3), summary
    messages = {e["row"]: e["message"] for e in summary["errors"]}
    assert "the plugin refuses this ticket" in messages[5] and "starts as 'open'" in messages[7]
    assert "already used" in messages[9]
    assert [t["title"] for t in written["ticket"]][:2] == ["Ticket 0", "Ticket 1"]
    assert [t["number"] for t in written["ticket"]] == [f"T-{n:04d}" for n in range(1, 7)]
    assert {t["status"] for t in written["ticket"]} == {"open"}


def test_a_batch_the_database_refuses_is_saved_one_row_at_a_time(twins, monkeypatch):
    """Should the batch insert fail (a constraint only the database knows), the batch is
    undone and its rows saved one at a time: the results are those of the reference."""
    fast, slow = twins(FILES)
    calls = []

    def refuse(conn, entity, rows):
        calls.append(len(rows))
        raise ValidationError({"": ["the database refused the change: a test"]})

    monkeypatch.setattr(fast, "_insert_many", refuse)
    outcome = []
    for service in (fast, slow):
        people = prepared_world(service)
        data = csv_bytes(rows_of_a_messy_file())
        run_id = start(service, "customer", data, "messy.csv", context=people["root"])
        outcome.append((run(service, run_id, batch=7).to_dict(), ranked(state(service, ["customer"]), "customer")))
    assert calls and outcome[0] == outcome[1]


def test_autonumbers_stay_consecutive_across_batches_and_runs(twins):
    """Autonumbers taken as a block per batch continue where the counter was, also when
    the counter's period (its key) is the same across runs."""
    fast, _slow = twins(FILES)
    root = prepared_world(fast)["root"]
    for part in range(3):
        rows = [["name"]] + [[f"P{part}-{i}"] for i in range(5)]
        run(fast, start(fast, "customer", csv_bytes(rows), "p.csv", context=root), batch=2)
    numbers = [r["number"] for r in table_rows(fast, fast.model.entity("customer").table)]
    assert numbers == [f"C-{n:05d}" for n in range(1, 17)]
