"""Data steps of a migration (engine/migrate/data.py): what stored values need besides the
schema. Built from YAML projects, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from engine.migrate import MigrationBlocked, apply_plan, plan_migration
from engine.model import load_model
from engine.records import Query, RecordService
from engine.storage import comments

DEAL = """
entity: deal
fields:
  name: {type: string}
  qty: {type: integer}
  price: {type: decimal}
  lines:
    type: lines
    fields:
      amount: {type: decimal}
"""

COMPUTED = """
  total: {type: computed, expression: "qty * price"}
  lines_total: {type: computed, expression: "sum(lines.amount)"}
  margin: {type: computed, expression: "total - 10"}
"""


def plan_for(engine, model, **kwargs):
    return plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version, **kwargs)


def migrate(engine, model, **kwargs):
    plan = plan_for(engine, model, allow_destructive=kwargs.get("allow_destructive", False))
    apply_plan(engine, plan, **kwargs)
    return plan


def rows(engine, sql):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql)]


@pytest.fixture
def project(make_project, db_engine):
    """`project(files)` -> (model, engine): the project migrated (each call one more layer of
    changes to the same database)."""
    def build(files, **kwargs):
        model = load_model(make_project(files), entry_points=False)
        return model, migrate(db_engine, model, **kwargs)
    return build


# -- stored computed values ----------------------------------------------------------------------
def _fill_deals(engine, model, n):
    """n deals written straight into the table (as an older version, or a bulk load, would)."""
    deal, lines = model.entities["deal"].table, model.entities["deal"].child_tables["lines"]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(deal.insert(), [{"id": i, "name": f"deal {i}", "qty": i % 7, "price": Decimal("2.5"),
                                      "created_at": at, "updated_at": at, "version": 1} for i in range(1, n + 1)])
        conn.execute(lines.insert(), [{"parent_id": p, "position": pos, "amount": Decimal(pos + 1)}
                                      for p in (1, 2) for pos in range(3)])


def test_a_stored_computed_field_added_to_a_table_with_rows_is_worked_out_for_them(make_project, db_engine):
    base = load_model(make_project({"entities/deal.yaml": DEAL}), entry_points=False)
    migrate(db_engine, base)
    _fill_deals(db_engine, base, 2500)  # more than one batch
    model = load_model(make_project({"entities/deal.yaml": DEAL + COMPUTED}), entry_points=False)
    plan = plan_for(db_engine, model)
    [op] = [op for op in plan.operations if op.kind == "recompute"]
    assert (op.table, op.affected, op.destructive) == ("deal", 2500, False)
    text = plan.render()
    assert "recompute deal: total (computed from qty * price; new column)" in text
    assert "lines_total" in text and "margin" in text and "2,500 rows" in text
    assert "-- recompute deal: total" in plan.sql(db_engine)

    apply_plan(db_engine, plan)
    found = rows(db_engine, "SELECT id, qty, total, lines_total, margin FROM deal ORDER BY id")
    assert len(found) == 2500
    for deal_id, qty, total, lines_total, margin in found:
        assert Decimal(str(total)) == qty * Decimal("2.5")
        assert Decimal(str(margin)) == qty * Decimal("2.5") - 10  # reads the new total, not an empty one
        assert (Decimal(str(lines_total)) if lines_total is not None else None) == \
            (Decimal(6) if deal_id in (1, 2) else Decimal(0))
    assert plan_for(db_engine, model).is_empty  # worked out once: nothing left to do


def test_a_changed_formula_recomputes_the_field_and_those_that_read_it(make_project, db_engine):
    first = load_model(make_project({"entities/deal.yaml": DEAL + COMPUTED}), entry_points=False)
    migrate(db_engine, first)
    service = RecordService(first, db_engine)
    deal = service.create("deal", {"name": "big", "qty": 4, "price": "10"})
    assert (deal["total"], deal["margin"]) == (Decimal("40"), Decimal("30"))

    doubled = load_model(make_project({"entities/deal.yaml": DEAL + COMPUTED.replace(
        '"qty * price"', '"qty * price * 2"')}), entry_points=False)
    plan = plan_for(db_engine, doubled)
    [op] = [op for op in plan.operations if op.kind == "recompute"]
    assert "total (computed from qty * price * 2; changed)" in op.detail
    assert "margin" in op.detail and "lines_total" not in op.detail  # margin reads total; lines_total does not
    apply_plan(db_engine, plan)
    assert RecordService(doubled, db_engine).get("deal", deal["id"])["margin"] == Decimal("70")


def test_a_database_migrated_before_fingerprints_existed_is_worked_out_once(make_project, db_engine):
    model = load_model(make_project({"entities/deal.yaml": DEAL + COMPUTED}), entry_points=False)
    migrate(db_engine, model)
    _fill_deals(db_engine, model, 3)  # total left empty, as an older Tailor adding the field left it
    with db_engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM tailor_column_state")
    plan = plan_for(db_engine, model)
    [op] = [op for op in plan.operations if op.kind == "recompute"]
    assert "never worked out by this version of Tailor" in op.detail
    apply_plan(db_engine, plan)
    assert Decimal(str(rows(db_engine, "SELECT total FROM deal WHERE id = 3")[0][0])) == Decimal("7.5")
    assert plan_for(db_engine, model).is_empty


# -- options that change -------------------------------------------------------------------------
STAGES = """
entity: deal
fields:
  name: {type: string}
  stage: {type: choice, options: [%s]%s}
  tags: {type: multichoice, options: [%s]%s}
  source: {type: %s}
"""


def stages(stage="new, won, lost, dead", tags="a, b, c", stage_extra="", tags_extra="",
           source="string") -> dict:
    return {"entities/deal.yaml": STAGES % (stage, stage_extra, tags, tags_extra, source)}


@pytest.fixture
def staged(make_project, db_engine):
    model = load_model(make_project(stages()), entry_points=False)
    migrate(db_engine, model)
    service = RecordService(model, db_engine)
    for name, stage, tags, source in [("a", "new", ["a", "c"], "web"), ("b", "won", ["c"], "fair"),
                                      ("c", "dead", None, "Web"), ("d", "dead", ["a"], None)]:
        service.create("deal", {"name": name, "stage": stage, "tags": tags, "source": source})
    return model


def test_options_that_shrink_under_stored_values_block_the_migration_until_decided(staged, make_project,
                                                                                  db_engine):
    shrunk = load_model(make_project(stages("new, won, lost")), entry_points=False)
    plan = plan_for(db_engine, shrunk)
    [op] = plan.blocked_operations
    assert (op.kind, op.target, op.affected) == ("check_values", "deal.stage", 2)
    assert "'dead' (2)" in op.data_loss and "replaced_options" in op.blocked
    assert "'dead' (2)" in plan.render()
    with pytest.raises(MigrationBlocked):
        apply_plan(db_engine, plan, allow_destructive=True)  # the flag is no decision
    assert rows(db_engine, "SELECT count(*) FROM deal WHERE stage = 'dead'") == [(2,)]


def test_replaced_options_map_stored_values(staged, make_project, db_engine):
    mapped = load_model(make_project(stages("new, won, lost", stage_extra=", replaced_options: {dead: lost}", tags="a, b",
                                            tags_extra=", replaced_options: {c: b}")), entry_points=False)
    plan = plan_for(db_engine, mapped)
    kinds = sorted((op.kind, op.target, op.affected, op.destructive) for op in plan.operations)
    assert kinds == [("map_values", "deal.stage", 2, False), ("map_values", "deal.tags", 2, False)]
    assert "'dead' -> 'lost' (2 records)" in plan.render()
    apply_plan(db_engine, plan)
    assert rows(db_engine, "SELECT name, stage FROM deal ORDER BY name") == [
        ("a", "new"), ("b", "won"), ("c", "lost"), ("d", "lost")]
    service = RecordService(mapped, db_engine)
    assert {r["name"]: r["tags"] for r in service.list("deal", limit=10)} == {
        "a": ["a", "b"], "b": ["b"], "c": None, "d": ["a"]}
    assert plan_for(db_engine, mapped).is_empty


def test_mapping_to_nothing_empties_values_only_with_the_flag(staged, make_project, db_engine):
    emptied = load_model(make_project(stages("new, won, lost", stage_extra=", replaced_options: {dead: null}")),
                         entry_points=False)
    plan = plan_for(db_engine, emptied)
    [op] = plan.destructive_operations
    assert op.kind == "map_values" and "2 values emptied" in op.data_loss
    apply_plan(db_engine, plan, allow_destructive=True)
    assert rows(db_engine, "SELECT count(*) FROM deal WHERE stage IS NULL") == [(2,)]


def test_hidden_options_keep_stored_values_and_records_keep_them_on_save(staged, make_project, db_engine):
    kept = load_model(make_project(stages("new, won, lost, {value: dead, hidden: true}")), entry_points=False)
    assert plan_for(db_engine, kept).is_empty
    service = RecordService(kept, db_engine)
    [deal] = service.list("deal", where="name == 'c'", limit=1)
    saved = service.update("deal", deal["id"], {"name": "c2", "stage": "dead"}, version=deal["version"])
    assert saved["stage"] == "dead"  # unchanged: kept
    with pytest.raises(Exception, match="no longer offered"):
        service.update("deal", 1, {"stage": "dead"}, version=1)  # chosen anew: refused


def test_a_field_that_becomes_a_choice_is_checked_against_its_options(staged, make_project, db_engine):
    plan = plan_for(db_engine, load_model(make_project(stages(source="choice, options: [web, fair, referral]")),
                                          entry_points=False))
    [op] = plan.blocked_operations
    assert (op.target, op.affected) == ("deal.source", 1) and "'Web' (1)" in op.data_loss
    fixed = load_model(make_project(stages(source="choice, options: [web, fair, referral], "
                                                  "replaced_options: {Web: web}")), entry_points=False)
    apply_plan(db_engine, plan_for(db_engine, fixed))
    assert sorted(rows(db_engine, "SELECT source, count(*) FROM deal GROUP BY source"), key=str) == [
        ("fair", 1), ("web", 2), (None, 1)]


def test_a_value_outside_the_options_is_kept_on_save_but_never_chosen_anew(staged, db_engine):
    """A value that got in anyway (an older database, a revision applied by hand) does not
    make the record impossible to save ("is required"): it is kept until changed."""
    with db_engine.begin() as conn:
        conn.exec_driver_sql("UPDATE deal SET stage = 'legacy' WHERE name = 'a'")
    service = RecordService(staged, db_engine)
    [deal] = service.list("deal", where="name == 'a'", limit=1)
    assert service.update("deal", deal["id"], {"name": "a2", "stage": "legacy"}, version=deal["version"])["stage"] \
        == "legacy"
    with pytest.raises(Exception, match="'legacy' is not one of the options"):
        service.update("deal", 2, {"stage": "legacy"}, version=1)


# -- ids ------------------------------------------------------------------------------------------
TASK = "entity: task\nfields:\n  name: {type: string}\n"
NOTE = "entity: note\nfields:\n  body: {type: string}\n"


def test_a_deleted_records_id_is_never_given_to_a_new_record(service_for, db_engine):
    service = service_for({"entities/task.yaml": TASK})
    service.create("task", {"name": "first"})
    second = service.create("task", {"name": "second"})
    service.add_comment("task", second["id"], "a private note on the second task")
    service.delete("task", second["id"])
    third = service.create("task", {"name": "third"})
    assert third["id"] > second["id"]
    assert service.comments("task", third["id"]) == []
    assert [e["action"] for e in service.history("task", third["id"])] == ["create"]
    with db_engine.connect() as conn:  # the deleted record's comment went with it
        assert conn.execute(sa.select(sa.func.count()).select_from(comments)
                            .where(comments.c.record_id == second["id"])).scalar() == 0


def test_an_entity_removed_and_added_again_never_shows_the_old_ones_history(project, db_engine):
    model, _ = project({"entities/task.yaml": TASK, "entities/note.yaml": NOTE})
    service = RecordService(model, db_engine)
    made = [service.create("task", {"name": n}) for n in ("a", "b", "c")]
    service.add_comment("task", made[0]["id"], "about a")
    project({"entities/note.yaml": NOTE}, allow_destructive=True)  # task dropped: its history set apart
    assert rows(db_engine, "SELECT count(*) FROM tailor_comment WHERE entity = '~task'") == [(1,)]
    again, plan = project({"entities/task.yaml": TASK, "entities/note.yaml": NOTE})
    service = RecordService(again, db_engine)
    fresh = service.create("task", {"name": "new"})
    assert service.comments("task", fresh["id"]) == []
    assert [e["action"] for e in service.history("task", fresh["id"])] == ["create"]


def test_history_an_older_tailor_left_under_a_dropped_entitys_name_is_skipped_by_new_ids(project, db_engine):
    model, _ = project({"entities/task.yaml": TASK, "entities/note.yaml": NOTE})
    service = RecordService(model, db_engine)
    made = [service.create("task", {"name": n}) for n in ("a", "b", "c")]
    service.add_comment("task", made[-1]["id"], "about c")
    project({"entities/note.yaml": NOTE}, allow_destructive=True)
    with db_engine.begin() as conn:  # as a drop by an older Tailor left it: under the bare name
        for table in ("tailor_comment", "tailor_audit"):
            conn.exec_driver_sql(f"UPDATE {table} SET entity = 'task' WHERE entity = '~task'")
    again, plan = project({"entities/task.yaml": TASK, "entities/note.yaml": NOTE})
    assert [op.table for op in plan.operations if op.kind == "seed_ids"] == ["task"]
    fresh = RecordService(again, db_engine).create("task", {"name": "new"})
    assert fresh["id"] > made[-1]["id"]
    assert RecordService(again, db_engine).comments("task", fresh["id"]) == []


def test_an_entity_renamed_onto_a_dropped_ones_name_never_shows_its_history(project, db_engine):
    model, _ = project({"entities/task.yaml": TASK, "entities/todo.yaml": TASK.replace("task", "todo")})
    service = RecordService(model, db_engine)
    task = service.create("task", {"name": "private"})
    service.add_comment("task", task["id"], "a private note")
    todo = service.create("todo", {"name": "buy milk"})
    assert todo["id"] == task["id"]
    project({"entities/todo.yaml": TASK.replace("task", "todo")}, allow_destructive=True)
    with db_engine.begin() as conn:  # as an older Tailor left it
        conn.exec_driver_sql("UPDATE tailor_comment SET entity = 'task' WHERE entity = '~task'")
    renamed, _ = project({"entities/task.yaml": "entity: task\nrenamed_from: todo\nfields:\n  name: {type: string}\n"})
    service = RecordService(renamed, db_engine)
    assert service.comments("task", todo["id"]) == []
    assert [e["changes"].get("name") for e in service.history("task", todo["id"])] == [[None, "buy milk"]]


def test_a_renamed_entity_keeps_its_comments_and_history(project, db_engine):
    model, _ = project({"entities/task.yaml": TASK})
    service = RecordService(model, db_engine)
    task = service.create("task", {"name": "a"})
    service.add_comment("task", task["id"], "still mine")
    renamed, plan = project({"entities/todo.yaml": "entity: todo\nrenamed_from: task\nfields:\n"
                                                   "  name: {type: string}\n"})
    assert any(op.kind == "rename_table" and "comments" in op.detail for op in plan.operations)
    service = RecordService(renamed, db_engine)
    assert [c["body"] for c in service.comments("todo", task["id"])] == ["still mine"]
    assert [e["action"] for e in service.history("todo", task["id"])] == ["create"]


def test_an_older_sqlite_table_is_rebuilt_so_that_ids_are_never_used_twice(make_project, tmp_path):
    from engine.storage import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    model = load_model(make_project({"entities/task.yaml": TASK}), entry_points=False)
    table = model.metadata.tables["task"]
    table.dialect_kwargs["sqlite_autoincrement"] = False  # as Tailor made tables before
    migrate(engine, model)
    service = RecordService(model, engine)
    for name in ("a", "b", "c"):
        service.create("task", {"name": name})
    service.delete("task", 3)
    assert "AUTOINCREMENT" not in rows(engine, "SELECT sql FROM sqlite_master WHERE name = 'task'")[0][0]

    table.dialect_kwargs["sqlite_autoincrement"] = True
    plan = plan_for(engine, model)
    assert [(op.kind, op.table) for op in plan.operations] == [("never_reuse_ids", "task"), ("seed_ids", "task")]
    assert "2 rows kept" in plan.render() and "after 3" in plan.render()
    assert "AUTOINCREMENT" in plan.sql(engine)
    apply_plan(engine, plan)
    assert "AUTOINCREMENT" in rows(engine, "SELECT sql FROM sqlite_master WHERE name = 'task'")[0][0]
    assert rows(engine, "SELECT id, name FROM task ORDER BY id") == [(1, "a"), (2, "b")]
    assert service.create("task", {"name": "d"})["id"] == 4
    assert plan_for(engine, model).is_empty
    engine.dispose()


def _without_autoincrement(engine, *tables):
    """Make engine tables as revisions 0001-0005 made them (no AUTOINCREMENT)."""
    from engine.migrate.sqlite import set_foreign_keys

    with engine.connect() as conn:
        set_foreign_keys(conn, False)
        with conn.begin():
            for table in tables:
                sql = conn.exec_driver_sql(f"SELECT sql FROM sqlite_master WHERE name = '{table}'").scalar()
                conn.exec_driver_sql(sql.replace("PRIMARY KEY AUTOINCREMENT", "PRIMARY KEY")
                                     .replace(f'"{table}"', "old_copy").replace(f"TABLE {table} ", "TABLE old_copy "))
                conn.exec_driver_sql(f"INSERT INTO old_copy SELECT * FROM {table}")
                conn.exec_driver_sql(f"DROP TABLE {table}")  # its triggers go with it
                conn.exec_driver_sql(f"ALTER TABLE old_copy RENAME TO {table}")
        set_foreign_keys(conn, True)


def test_the_engine_tables_of_an_older_sqlite_database_are_rebuilt_keeping_their_rows(tmp_path):
    from alembic import command

    from engine.migrate import upgrade_system_tables
    from engine.migrate.system import system_config
    from engine.storage import make_engine
    from engine.users import create_user

    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    upgrade_system_tables(engine)
    first = create_user(engine, "first.user", None)
    second = create_user(engine, "second.user", None)
    with engine.begin() as conn:
        command.downgrade(system_config(connection=conn), "0005")
        conn.exec_driver_sql(f"INSERT INTO tailor_user_role (user_id, role) VALUES ({first}, 'sales')")
    _without_autoincrement(engine, "tailor_user", "tailor_flow_history")
    definitions = dict(rows(engine, "SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    assert "AUTOINCREMENT" not in definitions["tailor_user"]
    assert not rows(engine, "SELECT name FROM sqlite_master WHERE type = 'trigger'")

    upgrade_system_tables(engine)
    definitions = dict(rows(engine, "SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    assert "AUTOINCREMENT" in definitions["tailor_user"] and "AUTOINCREMENT" in definitions["tailor_flow_history"]
    assert rows(engine, "SELECT id, username FROM tailor_user ORDER BY id") == [(first, "first.user"),
                                                                                (second, "second.user")]
    assert rows(engine, "SELECT user_id, role FROM tailor_user_role") == [(first, "sales")]  # no cascade ran
    triggers = {name for (name,) in rows(engine, "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert triggers == {"tailor_flow_history_no_update", "tailor_flow_history_no_delete"}
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM tailor_user WHERE id = {second}")
    assert create_user(engine, "third.user", None) > second
    engine.dispose()


# -- review fixes: values that depend on other values -------------------------------------------------
CHAIN_CUSTOMER = """
entity: customer
fields:
  name: {type: string}
  code: {type: computed, returns: string, expression: "%s"}
  deal_total: {type: rollup, from: deal.customer, aggregate: sum, field: total}
  won: {type: rollup, from: deal.customer, aggregate: count, where: "stage == 'won'"}
  big: {type: computed, returns: boolean, expression: "deal_total > 20"}
list:
  search: [name, code]
"""
CHAIN_DEAL = """
entity: deal
fields:
  name: {type: string}
  customer: {type: link, to: customer}
  qty: {type: integer}
  stage: {type: choice, options: [%s]%s}
  total: {type: computed, returns: decimal, expression: "%s"}
  is_won: {type: computed, returns: boolean, expression: "stage == 'won'"}
list:
  search: [name, stage]
"""


def chain(code="'AB-' + name", stages="new, closed_won, won", extra="", total="qty * 1"):
    return {"entities/customer.yaml": CHAIN_CUSTOMER % code, "entities/deal.yaml": CHAIN_DEAL % (stages, extra, total)}


def test_what_reads_a_recomputed_value_is_recomputed_after_it(project, db_engine):
    """A rollup over a changed formula is worked out after the records it counts (children
    first), and a computed field reading the rollup after the rollup; a search key reading
    a computed field whose formula changed is rebuilt."""
    model, _ = project(chain())
    service = RecordService(model, db_engine)
    acme = service.create("customer", {"name": "ann"})
    service.create("deal", {"name": "d", "customer": acme["id"], "qty": 5, "stage": "closed_won"})
    assert (service.get("customer", acme["id"])["deal_total"], service.get("customer", acme["id"])["big"]) == (5, False)
    model, plan = project(chain(code="'XY-' + name", total="qty * 10"))
    order = [op.table for op in plan.operations if op.kind == "recompute"]
    assert order == ["deal", "customer"], plan.render()
    service = RecordService(model, db_engine)
    customer = service.get("customer", acme["id"])
    assert (customer["deal_total"], customer["big"], customer["code"]) == (50, True, "XY-ann")
    assert [r["name"] for r in service.list("customer", Query(search="xy-ann", limit=5))] == ["ann"]
    assert service.list("customer", Query(search="ab-ann", limit=5)) == []
    assert project(chain(code="'XY-' + name", total="qty * 10"))[1].is_empty


def test_values_rewritten_by_replaced_options_are_seen_by_what_reads_them(project, db_engine):
    model, _ = project(chain())
    service = RecordService(model, db_engine)
    acme = service.create("customer", {"name": "ann"})
    service.create("deal", {"name": "d", "customer": acme["id"], "qty": 1, "stage": "closed_won"})
    model, plan = project(chain(stages="new, won", extra=", replaced_options: {closed_won: won}"))
    service = RecordService(model, db_engine)
    [deal] = service.list("deal", limit=5)
    assert (deal["stage"], deal["is_won"]) == ("won", True)  # the stored computed field follows
    assert service.get("customer", acme["id"])["won"] == 1  # and the rollup counting by stage
    assert [d["name"] for d in service.list("deal", Query(search="won", limit=5))] == ["d"]  # and the key
    assert service.list("deal", Query(search="closed_won", limit=5)) == []


def test_a_new_searchable_field_filled_by_the_migration_is_searched_at_once(project, db_engine):
    person = "entity: person\nfields:\n  name: {type: string}\n%slist:\n  search: [name%s]\n"
    model, _ = project({"entities/person.yaml": person % ("", "")})
    RecordService(model, db_engine).create("person", {"name": "Ann"})
    region = "  region: {type: string, required: true, default: Bavaria}\n"
    model, plan = project({"entities/person.yaml": person % (region, ", region")})
    assert any(op.kind == "recompute" for op in plan.operations)
    assert [r["name"] for r in RecordService(model, db_engine).list("person", Query(search="bavaria", limit=5))] \
        == ["Ann"]


def test_a_sqlite_table_rebuild_keeps_its_id_counter(make_project, tmp_path):
    from engine.storage import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'rebuild.sqlite'}")
    todo = "entity: todo\nfields:\n  name: {type: string}\n  n: {type: %s}\n"
    model = load_model(make_project({"entities/todo.yaml": todo % "integer"}), entry_points=False)
    migrate(engine, model)
    service = RecordService(model, engine)
    service.create("todo", {"name": "a"})
    gone = service.create("todo", {"name": "b"})
    service.delete("todo", gone["id"])
    model = load_model(make_project({"entities/todo.yaml": todo % "decimal"}), entry_points=False)
    plan = plan_for(engine, model)
    assert any(op.rebuild for op in plan.applying_operations)
    apply_plan(engine, plan)
    fresh = RecordService(model, engine).create("todo", {"name": "new"})
    assert fresh["id"] > gone["id"]
    assert [e["action"] for e in RecordService(model, engine).history("todo", fresh["id"])] == ["create"]
    engine.dispose()


def test_options_of_child_rows_are_checked_too(project, db_engine):
    order = "entity: order_doc\nfields:\n  name: {type: string}\n  lines:\n    type: lines\n    fields:\n" \
            "      unit: {type: choice, options: [%s]%s}\n"
    model, _ = project({"entities/order.yaml": order % ("kg, pc", "")})
    RecordService(model, db_engine).create("order_doc", {"name": "o", "lines": [{"unit": "kg"}, {"unit": "pc"}]})
    with pytest.raises(MigrationBlocked):
        project({"entities/order.yaml": order % ("pc", "")})
    model, plan = project({"entities/order.yaml": order % ("pc, kilo", ", replaced_options: {kg: kilo}")})
    assert [(op.kind, op.target) for op in plan.operations] == [("map_values", "order_doc__lines.unit")]
    [record] = RecordService(model, db_engine).list("order_doc", Query(limit=1, with_children=True))
    assert [line["unit"] for line in record["lines"]] == ["kilo", "pc"]


def test_a_number_field_becoming_a_choice_is_checked_against_its_options(project, db_engine):
    deal = "entity: deal\nfields:\n  name: {type: string}\n  level: {type: %s}\n"
    model, _ = project({"entities/deal.yaml": deal % "integer"})
    RecordService(model, db_engine).create("deal", {"name": "d", "level": 3})
    with pytest.raises(MigrationBlocked) as info:
        project({"entities/deal.yaml": deal % "choice, options: ['1', '2']"})
    assert "'3' (1)" in str(info.value)
