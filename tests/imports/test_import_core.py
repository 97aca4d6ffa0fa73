"""Imports through the records service: conversion, modes, dry run, permissions, revert
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from importutil import FILES, count, csv_bytes, records, world, xlsx_bytes

from engine.imports import Mapping, dry_run, revert, run, start, summary_of
from engine.imports.messages import ImportProblem
from engine.records import PermissionDenied
from engine.storage import audit_log


@pytest.fixture
def shop(service_for):
    service = service_for(FILES)
    return service, world(service)


def test_gbk_csv_with_chinese_headers_is_read_and_imported(shop):
    service, people = shop
    data = csv_bytes([["名称", "等级", "合作日期", "营业额", "员工人数", "区域", "标签"],
                      ["上海贸易有限公司", "高", "2026/12/4", "￥1,234.50", "12", "East China", "重要、政府"],
                      ["北京科技", "low", "04.12.2026", "88 USD", "3", "EC", ""]], encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    summary = dry_run(service, "customer", data, "客户.csv", context=people["root"])
    assert (summary.total, summary.created, summary.failed) == (2, 2, 0), summary.to_dict()["errors"]
    assert count(service) == 0  # a dry run writes nothing
    run_id = start(service, "customer", data, "客户.csv", context=people["root"])
    done = run(service, run_id)
    assert (done.status, done.created, done.failed) == ("done", 2, 0)
    first, second = records(service)
    assert first["name"] == "上海贸易有限公司" and first["level"] == "high"
    assert first["since"] == date(2026, 12, 4) and second["since"] == date(2026, 12, 4)
    assert Decimal(first["revenue"]) == Decimal("1234.50") and first["revenue_currency"] == "CNY"
    assert second["revenue_currency"] == "USD"
    assert first["tags"] == ["vip", "government"]
    assert first["number"] == "C-00001" and second["number"] == "C-00002"  # autonumbers
    assert first["double"] == 24  # computed on save
    assert first["region"] == second["region"]  # by title and by unique code


def test_xlsx_serial_dates_merged_header_and_empty_trailing_column(shop):
    service, people = shop
    data = xlsx_bytes([["Customer", None, "Figures", None, None],
                       ["Name", "Customer since", "Employees", "Revenue", None],
                       ["Acme", 46360, 5, 100.5, None],
                       ["Bolt", "2026-12-04", 7, None, None]],
                      merges=["A1:B1", "C1:D1"])
    summary = dry_run(service, "customer", data, "c.xlsx", context=people["root"])
    assert (summary.created, summary.failed) == (2, 0), summary.to_dict()
    run(service, start(service, "customer", data, "c.xlsx", context=people["root"]))
    acme, bolt = records(service)
    assert acme["since"] == date(2026, 12, 4)  # serial 46360
    assert bolt["since"] == date(2026, 12, 4) and bolt["employees"] == 7
    assert Decimal(acme["revenue"]) == Decimal("100.5")


def test_link_by_title_ambiguous_or_missing_is_a_row_error(shop):
    service, people = shop
    data = csv_bytes([["name", "region"], ["A", "North"], ["B", "Nowhere"], ["C", "N2"]])
    summary = dry_run(service, "customer", data, "c.csv", context=people["root"])
    assert summary.created == 1 and summary.failed == 2
    messages = {e.row: e.to_dict()["message"] for e in summary.errors}
    assert "2 Region records match 'North'" in messages[2]
    assert "no Region matches 'Nowhere'" in messages[3]
    assert {e.column for e in summary.errors} == {"region"}
    zh = [e.to_dict("zh")["message"] for e in summary.errors]
    assert zh[0] != messages[2]


def test_upsert_twice_changes_nothing_the_second_time(shop):
    service, people = shop
    data = csv_bytes([["ERP code", "Name", "Level", "Employees", "Customer since"],
                      ["E1", "One", "High", "10", "2026-01-02"], ["E2", "Two", "low", "", ""]])
    mapping = Mapping(entity="customer", columns={}, mode="upsert", key="erp_code")
    first = run(service, start(service, "customer", data, "c.csv", mapping, people["root"]))
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    before = records(service)
    with service.engine.connect() as conn:
        trail = conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one()
    again = run(service, start(service, "customer", data, "c.csv", mapping, people["root"]))
    assert (again.created, again.updated, again.unchanged, again.failed) == (0, 0, 2, 0)
    assert records(service) == before
    with service.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one() == trail
    changed = csv_bytes([["ERP code", "Employees"], ["E1", "11"], ["E3", "1"]])
    third = dry_run(service, "customer", changed, "c.csv", mapping, people["root"])
    assert (third.updated, third.failed) == (1, 1)  # E3 is new and has no name: required
    assert "name" in third.errors[0].to_dict()["message"].lower() or third.errors[0].column == "name"


def test_dry_run_of_10000_rows_with_3_percent_bad_reports_exactly_those(shop):
    service, people = shop
    rows = [["name", "employees", "level", "since"]]
    bad = set()
    for i in range(10_000):
        if i % 100 in (7, 42, 99):
            bad.add(i + 2)
            kind = i % 100
            rows.append([f"C{i}", "-5" if kind == 7 else "3", "huge" if kind == 42 else "low",
                         "31.02.2026" if kind == 99 else "2026-02-03"])
        else:
            rows.append([f"C{i}", str(i % 50), "low", "2026-02-03"])
    summary = dry_run(service, "customer", csv_bytes(rows), "big.csv", context=people["root"])
    assert summary.total == 10_000 and summary.failed == 300 and summary.created == 9_700
    assert set(summary.failed_rows()) == bad
    by_row = {e.row: e for e in summary.errors}
    assert by_row[9].column == "employees" and by_row[44].column == "level" and by_row[101].column == "since"
    assert "not a date" in by_row[101].to_dict()["message"]
    assert count(service) == 0


def test_permission_limits_are_row_errors(shop):
    service, people = shop
    rep = people["rep1"]
    data = csv_bytes([["name", "owner", "secret", "erp_code"],
                      ["Mine", "rep1", "", ""],
                      ["Theirs", "rep2", "", ""],       # rep2 is in Sales/West: out of rep1's reach
                      ["Hidden", "", "psst", ""],       # a hidden field
                      ["ReadOnly", "", "", "E9"]])      # a read-only field
    summary = dry_run(service, "customer", data, "c.csv", context=rep)
    assert (summary.created, summary.failed) == (1, 3), summary.to_dict()
    by_row = {e.row: e.to_dict() for e in summary.errors}
    assert by_row[3]["column"] == "owner" and "may not give" in by_row[3]["message"]
    assert by_row[4]["column"] == "secret" and by_row[5]["column"] == "erp_code"
    with pytest.raises(PermissionDenied):  # a role without `import`
        dry_run(service, "customer", data, "c.csv", context=people["viewer"])


def test_revert_deletes_created_and_restores_updated_unless_changed_since(shop):
    service, people = shop
    root = people["root"]
    original = service.create("customer", {"name": "Old", "erp_code": "E1", "employees": 1}, root)
    data = csv_bytes([["erp_code", "name", "employees"], ["E1", "Old", "5"], ["E2", "New", "2"]])
    mapping = Mapping(entity="customer", columns={}, mode="upsert", key="erp_code")
    run_id = start(service, "customer", data, "c.csv", mapping, root)
    summary = run(service, run_id)
    assert (summary.created, summary.updated) == (1, 1)
    with service.engine.connect() as conn:
        marked = conn.execute(sa.select(audit_log.c.action).where(audit_log.c.import_run == run_id)).scalars().all()
    assert sorted(marked) == ["create", "update"]  # the audit names the import
    counts = revert(service, run_id, root)
    assert counts == {"deleted": 1, "restored": 1, "skipped": 0}
    rows = records(service)
    assert [r["name"] for r in rows] == ["Old"] and rows[0]["employees"] == 1
    assert summary_of(service, run_id).status == "reverted"
    with pytest.raises(ImportProblem):
        revert(service, run_id, root)
    # a run whose record was changed since is not reverted, and nothing changes
    second = start(service, "customer", data, "c.csv", mapping, root)
    run(service, second)
    current = service.get("customer", original["id"], root)
    service.update("customer", original["id"], {"employees": 9}, version=current["version"], context=root)
    with pytest.raises(ImportProblem) as refused:
        revert(service, second, root)
    assert "changed since" in str(refused.value)
    assert "Old (#" in str(refused.value)  # named by its title, not only its number
    assert "此后已被修改" in refused.value.text("zh") and "Old (#" in refused.value.text("zh")
    assert count(service) == 2


@pytest.mark.parametrize("data,name,expected", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "logo.csv", "not a spreadsheet"),
    (b"", "empty.csv", "is empty"),
    (b"name,level\n", "header.csv", "no data rows"),
    (b"name,Name\nA,B\n", "dup.csv", "names a column twice"),
    (b"PK\x03\x04garbage", "broken.xlsx", "not a spreadsheet"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "old.xls", "old Excel file"),
    # a PDF whose first kilobytes read as text, named .csv: said as what it is
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" + b"2 0 obj\n" * 500,
     "report.csv", "report.csv is a PDF file, not a spreadsheet"),
    (b"<!DOCTYPE html>\n<html><body>name,level</body></html>\n", "page.csv", "is a HTML file, not a spreadsheet"),
    # NUL bytes far past the first 64 KB: not read as a CSV either
    (b"name,level\n" + b"Acme,high\n" * 20000 + b"x\x00y,low\n", "nul.csv", "is not a spreadsheet"),
])
def test_bad_files_are_refused_with_a_clear_message(shop, data, name, expected):
    service, people = shop
    with pytest.raises(ImportProblem) as refused:
        dry_run(service, "customer", data, name, context=people["root"])
    assert expected in str(refused.value)
    assert refused.value.text("zh") != str(refused.value) and name in refused.value.text("zh")
    assert count(service) == 0


def test_a_run_in_this_process_reads_the_file_once(shop, monkeypatch):
    """`tailor import` in the foreground prepares the file, starts the run with what it
    read and makes the run itself: the run imports the table `start` kept, never read
    again; a kept table of other bytes (a run of the same number in another database) is
    not used: the run reads its own file."""
    from engine.imports import runs

    service, people = shop
    root = people["root"]
    data = csv_bytes([["Name", "Employees"], ["Acme", "5"], ["Bolt", "7"]])
    prepared = runs.prepare(service, "customer", data, "c.csv", None, root)
    reads = []
    real = runs.read_file
    monkeypatch.setattr(runs, "read_file", lambda *a, **k: reads.append(a[1]) or real(*a, **k))
    run_id = start(service, "customer", data, "c.csv", context=root, prepared=prepared, here=True)
    assert reads == [] and run_id in runs._TABLES
    done = run(service, run_id)
    assert reads == [] and run_id not in runs._TABLES
    assert (done.created, done.failed) == (2, 0) and [r["name"] for r in records(service)] == ["Acme", "Bolt"]

    other = csv_bytes([["Name", "Employees"], ["Cord", "9"]])
    second = start(service, "customer", other, "d.csv", context=root)
    runs._TABLES[second] = (data, prepared[1])  # kept for another file under this number
    done = run(service, second)
    assert reads == ["d.csv", "d.csv"] and done.created == 1  # read by `start`, then by the run
    assert [r["name"] for r in records(service)] == ["Acme", "Bolt", "Cord"]


def test_audit_entries_are_written_by_the_fast_json_writer(shop, monkeypatch):
    """An import's audit entries (and any record's) hold plain text keys: a field's name
    is a subclass of str, which orjson refuses, and json.dumps (ten times slower) wrote
    every entry instead."""
    import orjson

    service, people = shop
    handed_on = []
    real = orjson.dumps

    def dumps(value, option=None):
        try:
            return real(value, option=option)
        except TypeError:
            handed_on.append(value)
            raise

    monkeypatch.setattr(orjson, "dumps", dumps)
    data = csv_bytes([["Name", "Employees", "Revenue"], ["Acme", "5", "100.50"], ["Bolt", "7", ""]])
    run(service, start(service, "customer", data, "c.csv", context=people["root"]))
    first = records(service)[0]
    service.update("customer", first["id"], {"employees": 6}, version=first["version"], context=people["root"])
    with service.engine.connect() as conn:
        entries = conn.execute(sa.select(audit_log.c.changes).where(audit_log.c.entity == "customer")
                               .order_by(audit_log.c.id)).scalars().all()
    assert len(entries) == 3 and entries[0]["name"] == [None, "Acme"] and entries[2]["employees"] == [5, 6]
    assert handed_on == [], handed_on


def test_every_problem_of_a_row_is_said_at_once(shop):
    """A row with a cell the import cannot read (no such option) is still checked as a
    create would check it: its other problems (a number below the field's minimum, a
    required name left empty) are said in the same dry run, not after a second upload;
    a row whose only problem is an unreadable cell says just that."""
    service, people = shop
    data = csv_bytes([["Name", "Level", "Employees"],
                      ["Acme", "medium", "-3"],
                      ["", "highest", "5"],
                      ["Bolt", "middling", "7"],
                      ["Cord", "high", "2"]])
    summary = dry_run(service, "customer", data, "c.csv", context=people["root"])
    assert (summary.created, summary.failed) == (1, 3)
    said = sorted((e.row, e.column) for e in summary.errors)
    assert said == [(2, "Employees"), (2, "Level"), (3, "Level"), (3, "Name"), (4, "Level")], summary.to_dict()
    messages = {(e.row, e.column): e.to_dict()["message"] for e in summary.errors}
    assert "medium" in messages[(2, "Level")] and "0" in messages[(2, "Employees")]
    assert "required" in messages[(3, "Name")]
    assert count(service) == 0


def test_an_update_reads_a_field_at_its_first_key_not_refused(service_for):
    """On update one key of a field may be refused (the amount of a read-only money field
    changes) and another not (its currency, sent back unchanged): the amount's value is
    still read, so its own problem is said beside the refusal (the coercion plan of a set
    of keys must not decide this once for all values)."""
    from engine.records import ValidationError

    files = dict(FILES)
    files["roles.yaml"] = files["roles.yaml"].replace("fields: {secret: hidden, erp_code: read}",
                                                      "fields: {secret: hidden, erp_code: read, revenue: read}")
    service = service_for(files)
    people = world(service)
    rep = people["rep1"]
    made = service.create("customer", {"name": "Acme", "revenue": "5", "revenue_currency": "CNY",
                                       "owner": rep.actor.id}, people["root"])
    for data in ({"revenue": "abc", "revenue_currency": "CNY"}, {"revenue_currency": "CNY", "revenue": "abc"}):
        with pytest.raises(ValidationError) as refused:
            service.update("customer", made["id"], data, version=made["version"], context=rep)
        assert refused.value.errors["revenue"] == ["you may not change this field", "'abc' is not a number"], data
