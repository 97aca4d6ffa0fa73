"""Files in and out: zip bombs and size limits, sheets, delimiters, encodings, saved
mappings, failed rows, exports (CSV and XLSX, formula-safe, real types), the CLI."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner
from importutil import FILES, count, csv_bytes, records, world, xlsx_bytes

from engine.imports import Mapping, dry_run, read_file, suggest
from engine.imports.files import export, failed_rows, safe_cell
from engine.imports.messages import ImportProblem


def test_zip_bomb_is_refused_from_its_directory():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (60 * 1024 * 1024))  # 60 MB of zeros: ~60 KB packed
    data = buffer.getvalue()
    assert len(data) < 1024 * 1024
    with pytest.raises(ImportProblem) as refused:
        read_file(data, "bomb.xlsx")
    assert "unpacks to far more" in str(refused.value)
    assert "解压" in refused.value.text("zh")


def test_a_file_over_the_limit_is_refused(monkeypatch):
    monkeypatch.setenv("TAILOR_IMPORT_MAX_MB", "1")
    data = b"name\n" + b"x" * (1024 * 1024 + 10) + b"\n"
    with pytest.raises(ImportProblem) as refused:
        read_file(data, "big.csv")
    assert "too large" in str(refused.value) and "at most 1 MB" in str(refused.value)


def test_sheets_delimiters_encodings_and_headers():
    data = xlsx_bytes([["name"], ["first"]], extra_sheets={"客户": [["名称", "等级", None, None], ["A", "高"]]})
    assert read_file(data, "w.xlsx").rows == [("first",)]
    second = read_file(data, "w.xlsx", "客户")
    assert second.headers == ["名称", "等级"] and second.rows == [("A", "高")] and second.sheets == ["Sheet1", "客户"]
    with pytest.raises(ImportProblem, match="no sheet named 'Other'"):
        read_file(data, "w.xlsx", "Other")
    semicolons = read_file(("\ufeffname;level\nA;high\n").encode(), "s.csv")
    assert semicolons.headers == ["name", "level"] and semicolons.rows == [("A", "high")]
    assert semicolons.encoding == "utf-8-sig"
    tabs = read_file(csv_bytes([["名称", "备注"], ["甲", "乙"]], encoding="gb18030", delimiter="\t"), "t.csv")
    assert tabs.encoding == "gb18030" and tabs.rows == [("甲", "乙")]
    with pytest.raises(ImportProblem, match="header row but no data rows"):
        read_file(xlsx_bytes([["name", "level"]]), "h.xlsx")
    with pytest.raises(ImportProblem, match="names a column twice"):
        read_file(b"Name,name \nA,B\n", "d.csv")


def test_mapping_by_label_and_saved_as_yaml(build_model):
    model = build_model(FILES)
    entity = model.entity("customer")
    found = suggest(entity, ["名称", "Customer since", "ERP_code", "营业额币种", "负责人", "whatever", "Number"])
    assert found == {"名称": "name", "Customer since": "since", "ERP_code": "erp_code",
                     "营业额币种": "revenue_currency", "负责人": "owner", "whatever": None, "Number": None}
    mapping = Mapping(entity="customer", columns=found, mode="upsert", key="erp_code")
    again = Mapping.from_yaml(mapping.to_yaml())
    assert again == mapping
    with pytest.raises(ImportProblem, match="cannot be the key"):
        Mapping(entity="customer", columns={"a": "name", "b": "level"}, mode="upsert", key="level").check(
            entity, read_file(b"a,b\n1,2\n", "x.csv"))
    with pytest.raises(ImportProblem, match="mapped from two columns"):
        Mapping(entity="customer", columns={"a": "name", "b": "name"}).check(entity, read_file(b"a,b\n1,2\n", "x.csv"))
    with pytest.raises(ImportProblem, match="cannot be read"):
        Mapping.from_yaml("columns: [unclosed")


def test_safe_cell_neutralises_formulas_not_numbers():
    assert safe_cell("=SUM(A1)") == "'=SUM(A1)" and safe_cell("@cmd") == "'@cmd"
    assert safe_cell("+86 138 0013 8000") == "'+86 138 0013 8000" and safe_cell("-1+2") == "'-1+2"
    assert safe_cell("-5") == "-5" and safe_cell("+3.5") == "+3.5" and safe_cell("plain") == "plain"


@pytest.fixture
def shop(service_for):
    service = service_for(FILES)
    return service, world(service)


def test_failed_rows_file_has_the_rows_and_an_error_column(shop):
    service, people = shop
    data = csv_bytes([["name", "employees"], ["A", "1"], ["B", "-3"], ["=evil()", "x"]])
    summary = dry_run(service, "customer", data, "c.csv", context=people["root"])
    sheet = read_file(data, "c.csv")
    out = io.BytesIO()
    assert failed_rows(sheet, summary.errors, "csv", out) == 2
    text = out.getvalue().decode("utf-8-sig").splitlines()
    assert text[0] == "name,employees,Import errors"
    assert text[1].startswith("B,-3,employees: must be at least 0")
    assert text[2].startswith("'=evil(),x,")
    out = io.BytesIO()
    failed_rows(sheet, summary.errors, "xlsx", out, "zh")
    from openpyxl import load_workbook

    rows = list(load_workbook(io.BytesIO(out.getvalue())).active.iter_rows(values_only=True))
    assert rows[0] == ("name", "employees", "导入错误") and rows[2][0] == "=evil()"  # text, not a formula


def test_export_xlsx_has_real_types_and_follows_permissions(shop):
    service, people = shop
    root = people["root"]
    service.create("customer", {"name": "=HYPERLINK(\"x\")", "since": "2026-12-04", "revenue": "1234.50",
                                "employees": 3, "level": "high", "secret": "psst", "region": 1}, root)
    out = io.BytesIO()
    assert export(service, "customer", "xlsx", out, root) == 1
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    header, row = list(sheet.iter_rows(values_only=True))
    values = dict(zip(header, row, strict=True))
    assert values["Name"] == "=HYPERLINK(\"x\")" and sheet.cell(2, header.index("Name") + 1).data_type == "s"
    assert values["Customer since"].date() == date(2026, 12, 4)
    assert Decimal(str(values["Revenue"])) == Decimal("1234.5") and values["Revenue (currency)"] == "CNY"
    assert values["Level"] == "High" and values["Region"] == "East China" and values["Secret"] == "psst"
    csv_out = io.BytesIO()
    export(service, "customer", "csv", csv_out, root)
    assert "'=HYPERLINK" in csv_out.getvalue().decode("utf-8-sig")


DEAL = """
    entity: deal
    label: {en: Deal, zh: 商机}
    title: name
    fields:
      name: {type: string, label: {en: Name, zh: 名称}, required: true, unique: true}
      amount: {type: money, label: {en: Amount, zh: 金额}, currencies: [CNY, USD]}
      chance: {type: percent, label: {en: Chance, zh: 赢率}}
      effort: {type: duration, label: {en: Effort, zh: 工时}}
      won: {type: boolean, label: {en: Won, zh: 赢单}}
    """


def test_export_xlsx_number_formats_and_types_import_again_as_they_were(service_for):
    """Money has two decimals (not "General"), a percent shows as one, a duration is an
    Excel duration, a yes/no is Excel's TRUE/FALSE; and the file imports back unchanged."""
    service = service_for({**FILES, "entities/deal.yaml": DEAL})
    people = world(service)
    root = people["root"]
    service.create("deal", {"name": "Big", "amount": "1234.5", "chance": "12.5", "effort": "1:30", "won": True}, root)
    service.create("deal", {"name": "Small", "amount": "7", "chance": "80", "effort": "45 min", "won": False}, root)
    out = io.BytesIO()
    export(service, "deal", "xlsx", out, root)
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    header = [c.value for c in sheet[1]]
    cell = {name: sheet.cell(2, header.index(name) + 1) for name in ("Amount", "Chance", "Effort", "Won")}
    assert cell["Amount"].number_format == "#,##0.00" and Decimal(str(cell["Amount"].value)) == Decimal("1234.5")
    assert "%" in cell["Chance"].number_format and Decimal(str(cell["Chance"].value)) == Decimal("12.5")
    assert cell["Effort"].number_format == "[h]:mm:ss" and cell["Effort"].value == timedelta(hours=1, minutes=30)
    assert cell["Won"].data_type == "b" and cell["Won"].value is True
    assert sheet.cell(3, header.index("Won") + 1).value is False
    # the export imports again as it was: an upsert by name changes nothing
    mapping = Mapping(entity="deal", columns={}, mode="upsert", key="name")
    again = dry_run(service, "deal", out.getvalue(), "deals.xlsx", mapping, root)
    assert (again.unchanged, again.failed, again.updated) == (2, 0, 0), [e.to_dict() for e in again.errors]
    csv_out = io.BytesIO()
    export(service, "deal", "csv", csv_out, root)
    lines = csv_out.getvalue().decode("utf-8-sig").splitlines()
    assert lines[1].endswith(",Yes") and lines[2].endswith(",No"), lines
    assert ",1 h 30 min," in lines[1], lines


def test_cli_import_dry_run_json_then_run_and_export(shop, tmp_path, db_url):
    from engine.cli import cli

    service, _people = shop
    project = tmp_path / "project0"  # where service_for wrote the project
    assert (project / "entities" / "customer.yaml").exists()
    source = tmp_path / "客户.csv"
    source.write_bytes(csv_bytes([["名称", "等级", "员工人数", "旧备注"], ["甲", "高", "3", "a"], ["乙", "x", "1", "b"]],
                                 encoding="gbk"))
    runner = CliRunner()
    args = ["import", "customer", str(source), "--project", str(project), "--database", db_url]
    result = runner.invoke(cli, [*args, "--dry-run", "--json"])
    assert result.exit_code == 1, result.output
    summary = json.loads(result.output)
    assert (summary["created"], summary["failed"], summary["dry_run"]) == (1, 1, True)
    assert summary["ignored_columns"] == ["旧备注"]  # said, not dropped in silence
    assert count(service) == 0
    mapping = tmp_path / "m.yaml"
    failed = tmp_path / "failed.csv"
    result = runner.invoke(cli, [*args, "--save-mapping", str(mapping), "--failed", str(failed)])
    assert result.exit_code == 1 and "1 new" in result.output and "row 3, 等级" in result.output
    assert "columns not imported (no field matches them; map them with --mapping): 旧备注" in result.output
    assert "名称: name" in mapping.read_text(encoding="utf-8")
    assert failed.read_text(encoding="utf-8-sig").splitlines()[1].startswith("乙,x,1,b,")
    assert [r["name"] for r in records(service)] == ["甲"]
    result = runner.invoke(cli, [*args, "--mapping", str(mapping), "--mode", "upsert", "--key", "name", "--json"])
    upserted = json.loads(result.output)
    assert upserted["unchanged"] == 1
    revert_args = ["--project", str(project), "--database", db_url]
    result = runner.invoke(cli, ["import-revert", str(upserted["run"]), *revert_args])
    assert result.exit_code == 0 and "0 record(s) deleted" in result.output
    result = runner.invoke(cli, ["import-revert", "99", *revert_args])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(cli, ["import", "customer", str(tmp_path / "m.yaml"), "--project", str(project),
                                 "--database", db_url])
    assert result.exit_code == 2 and "error:" in result.output
    out = tmp_path / "out.csv"
    result = runner.invoke(cli, ["export", "customer", "--project", str(project), "--database", db_url,
                                 "--format", "csv", "-o", str(out), "--filter", "level == 'high'"])
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 2 and ",甲," in lines[1]
    refused = tmp_path / "refused.xlsx"
    result = runner.invoke(cli, ["export", "customer", "--project", str(project), "--database", db_url,
                                 "--format", "xlsx", "-o", str(refused), "--as", "rep1"])
    assert result.exit_code == 2 and "may not" in result.output, result.output
    assert not refused.exists() and not list(tmp_path.glob("refused*"))  # no empty or partial file left


def test_cli_xlsx_export_refuses_a_terminal(tmp_path):
    """A spreadsheet written to a terminal is noise: without -o, the export asks for a file."""
    import os
    import pty
    import sys
    from pathlib import Path

    from engine.paths import EXAMPLES

    tailor = str(Path(sys.executable).with_name("tailor"))
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command with a terminal as its standard output
        os.execv(tailor, [tailor, "export", "customer", "--format", "xlsx", "--project", str(EXAMPLES / "crm"),
                          "--database", f"sqlite:///{tmp_path / 'none.sqlite'}"])
    out = b""
    try:
        while chunk := os.read(fd, 1024):
            out += chunk
    except OSError:  # the terminal closes with the child
        pass
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 2 and b"needs a file: add -o" in out, out[:300]


def test_cli_says_every_mapping_problem_at_once_and_which_keys_an_upsert_may_use(shop, tmp_path, db_url):
    from engine.cli import cli

    service, _people = shop
    project = tmp_path / "project0"
    source = tmp_path / "c.csv"
    source.write_bytes(csv_bytes([["名称", "Name2", "Oops", "员工人数"], ["甲", "x", "y", "3"]]))
    mapping = tmp_path / "m.yaml"
    mapping.write_text("entity: customer\nmode: insert\ncolumns:\n  名称: name\n  Name2: name\n  Oops: nothing_here\n"
                       "  员工人数: employees\n", encoding="utf-8")
    runner = CliRunner()
    where = ["--project", str(project), "--database", db_url]
    result = runner.invoke(cli, ["import", "customer", str(source), *where, "--mapping", str(mapping)])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, result.output  # both problems, a line each
    assert "'name' is mapped from two columns" in result.output and "'nothing_here'" in result.output
    # an upsert needs a key: the message says which keys are possible, and how to name one
    result = runner.invoke(cli, ["import", "customer", str(source), *where, "--mode", "upsert"])
    assert result.exit_code == 2
    assert "the upsert mode matches rows to records by a key: choose one of id, name, erp_code" in result.output
    assert "(mapped from this file: name)" in result.output and "--key" in result.output
    assert count(service) == 0
    result = runner.invoke(cli, ["import", "customer", str(source), *where, "--mode", "upsert", "--key", "name"])
    assert result.exit_code == 0, result.output
    assert "1 row: 1 new" in result.output
