"""The import pages over HTTP (Flask's test client), on SQLite and PostgreSQL: who may
import, each step (upload, map, dry run, run, revert), bad files, CSRF, another user's
upload or run, the texts in Chinese; and the list page's XLSX export."""

from __future__ import annotations

import io
import re
import textwrap
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from importutil import FILES, STAFF, count, csv_bytes, records, xlsx_bytes

from engine.config import Settings
from engine.imports import runs
from engine.jobs import JobRunner, job_handlers, now_utc
from engine.migrate import apply_plan, plan_migration
from engine.model import load_model
from engine.permissions.org import import_org, set_roles
from engine.records import SYSTEM, Context
from engine.storage import (
    import_mappings,
    import_runs,
    import_uploads,
    jobs,
    make_engine,
    users,
    write_engine,
)
from engine.users import create_user, set_password
from engine.web import create_app

PASSWORD = "test-pass-1"
HEADER = ["名称", "ERP编码", "等级", "营业额", "合作日期", "区域", "员工人数"]


def write_project(root, files: dict[str, str]):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


EXPORTER = """
          exporter:
            entities:
              customer: {actions: [read, export], scope: all, fields: {secret: hidden}}
"""


@pytest.fixture
def app(db_url, tmp_path):
    root = write_project(tmp_path / "shop", {**FILES, "roles.yaml": FILES["roles.yaml"].rstrip() + EXPORTER})
    model = load_model(root, entry_points=False)
    engine = make_engine(db_url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    with write_engine(engine).begin() as conn:
        import_org(conn, STAFF, model.roles)
        for name in ("rep1", "rep2", "viewer"):
            user_id = conn.execute(sa.select(users.c.id).where(users.c.username == name)).scalar_one()
            set_password(conn, user_id, PASSWORD)
    create_user(engine, "root", PASSWORD, is_admin=True)
    exporter = create_user(engine, "exporter", PASSWORD)
    with write_engine(engine).begin() as conn:
        set_roles(conn, exporter, ("exporter",), model.roles)
    engine.dispose()
    app = create_app(Settings(project=root, database_url=db_url, secret_key="test-secret", extra={"jobs": "off"}))
    app.config["TESTING"] = True
    service = app.extensions["tailor"].service
    service.create("region", {"name": "East China", "code": "EC"}, Context(actor=SYSTEM))
    yield app
    app.extensions["tailor"].engine.dispose()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def signed_in(app, username: str):
    client = app.test_client()
    page = client.get("/sign-in")
    response = client.post("/sign-in", data={"username": username, "password": PASSWORD,
                                             "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def text_of(response) -> str:
    return response.get_data(as_text=True)


def upload(client, data: bytes, name: str, entity: str = "customer", **form):
    token = csrf_of(text_of(client.get(f"/e/{entity}/imports")))
    return client.post(f"/e/{entity}/imports", data={"csrf_token": token, "file": (io.BytesIO(data), name), **form},
                       content_type="multipart/form-data")


def uploaded(client, data: bytes, name: str = "customers.csv") -> str:
    """Upload a file; the mapping page's URL."""
    response = upload(client, data, name)
    assert response.status_code == 303, text_of(response)[:3000]
    return response.headers["Location"]


def mapping_form(html: str) -> dict[str, str]:
    """The mapping form as the page fills it (selected options)."""
    form = {"csrf_token": csrf_of(html)}
    for name, body in re.findall(r'<select id="(col-\d+)" name="col-\d+"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        form[name] = chosen.group(1) if chosen else ""
    form["mode"] = "insert"
    return form


def column_index(html: str, header: str) -> str:
    return re.search(rf'<select id="(col-\d+)" name="col-\d+" data-header="{re.escape(header)}"', html).group(1)


def good_rows(n: int, start: int = 0) -> list[list]:
    return [[f"客户{start + i}", f"E{start + i}", "高", "1200.50", "2026-12-04", "East China", "5"] for i in range(n)]


def check(client, map_url: str, **changes) -> tuple[object, str]:
    html = text_of(client.get(map_url))
    form = mapping_form(html)
    form.update(changes)
    response = client.post(map_url + "/check", data=form)
    return response, html


# -- who may import -------------------------------------------------------------------------------
def test_the_import_button_and_pages_follow_the_role(app):
    rep = signed_in(app, "rep1")
    assert 'href="/e/customer/imports"' in text_of(rep.get("/e/customer"))
    assert rep.get("/e/customer/imports").status_code == 200
    viewer = signed_in(app, "viewer")  # may read and create customers, not import them
    assert "/e/customer/imports" not in text_of(viewer.get("/e/customer"))
    assert viewer.get("/e/customer/imports").status_code == 403
    token = csrf_of(text_of(viewer.get("/e/customer")))
    refused = viewer.post("/e/customer/imports", data={"csrf_token": token, "file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
                          content_type="multipart/form-data")
    assert refused.status_code == 403
    assert signed_in(app, "rep1").get("/e/region/imports").status_code == 403  # region: read only
    root = signed_in(app, "root")  # an administrator always may
    assert root.get("/e/region/imports").status_code == 200
    assert 'href="/e/region/imports"' in text_of(root.get("/e/region"))
    anonymous = app.test_client().get("/e/customer/imports")
    assert anonymous.status_code in (302, 401) and count(app.extensions["tailor"].service) == 0
    assert root.get("/e/nothing/imports").status_code == 404


# -- upload, map, dry run, run, revert -------------------------------------------------------------
def test_upload_map_dry_run_run_and_revert(app):
    service = app.extensions["tailor"].service
    client = signed_in(app, "root")
    rows = [HEADER, *good_rows(4), ["", "E9", "高", "10", "2026-12-04", "East China", "1"],
            ["坏客户", "E10", "极高", "10", "not a day", "Nowhere", "2"]]
    map_url = uploaded(client, csv_bytes(rows, "gb18030"))
    html = text_of(client.get(map_url))
    # suggested by the zh labels, with samples; the importable fields only (no computed, no autonumber)
    for header, key in (("名称", "name"), ("ERP编码", "erp_code"), ("等级", "level"), ("营业额", "revenue"),
                        ("区域", "region")):
        assert re.search(rf'data-header="{header}">.*?<option value="{key}" selected>', html, re.S), header
    assert "客户0 · 客户1 · 客户2" in html
    assert 'value="double"' not in html and 'value="number"' not in html
    assert '<option value="erp_code">' in html.split('name="key"')[1]  # a unique field may be the key

    response, _html = check(client, map_url)
    assert response.status_code == 303
    page = text_of(client.get(response.headers["Location"]))
    assert count(service) == 0  # the dry run wrote nothing
    assert re.search(r'class="count-created">4<', page) and re.search(r'class="count-failed">2<', page)
    assert re.search(r'<td class="num">6</td><td>名称</td>', page)  # row 6: no name
    assert "Nowhere" in page and "not a day" in page
    # the failed rows, with an error column, in both formats
    failed = client.get(response.headers["Location"].replace("/check", "/failed.xlsx"))
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(failed.data)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == (*HEADER, "Import errors") and len(values) == 3
    assert values[2][0] == "坏客户" and "Nowhere" in values[2][-1]
    failed_csv = client.get(response.headers["Location"].replace("/check", "/failed.csv")).data.decode("utf-8-sig")
    assert failed_csv.splitlines()[0].endswith(",Import errors") and "坏客户" in failed_csv

    # run the good rows: the run page polls its progress, the worker imports it
    run_form = client.get(response.headers["Location"])
    started = client.post(map_url + "/run", data={"csrf_token": csrf_of(text_of(run_form))})
    assert started.status_code == 303
    run_url = started.headers["Location"]
    run_id = int(run_url.rsplit("/", 1)[1])
    page = text_of(client.get(run_url))
    assert 'hx-trigger="every 1s"' in page and "Waiting for the worker" in page
    assert client.get(map_url).status_code == 404  # the run keeps the file now; the upload is gone
    progress = client.get(run_url + "/progress", headers={"Accept": "application/json"}).get_json()
    assert progress == {"status": "queued", "total": 6, "done": 0, "percent": 0, "rate": None, "failed": 0,
                        "working": True}
    runs.run(service, run_id)
    assert count(service) == 4
    finished = client.get(run_url + "/progress", headers={"HX-Request": "true"})
    assert finished.headers.get("HX-Refresh") == "true" and "every 1s" not in text_of(finished)
    page = text_of(client.get(run_url))
    assert re.search(r'class="count-created">4<', page) and "Revert this import" in page
    assert "every 1s" not in page and "Nowhere" in page
    listing = text_of(client.get("/e/customer/imports"))
    assert f'href="/e/customer/imports/{run_id}"' in listing and "customers.csv" in listing

    # revert: a confirmation first, then refused while a record changed since, then done
    confirm = client.get(run_url + "/revert")
    assert "Revert import" in text_of(confirm)
    first = records(service)[0]
    service.update("customer", first["id"], {"employees": 99}, version=first["version"], context=Context(actor=SYSTEM))
    refused = client.post(run_url + "/revert", data={"csrf_token": csrf_of(text_of(confirm))})
    assert refused.status_code == 409 and "changed since" in text_of(refused) and count(service) == 4
    assert f"客户0 (#{first['id']})" in text_of(refused)  # named by its title
    with write_engine(service.engine).begin() as conn:  # put the record back as the run left it
        conn.execute(service.model.entity("customer").table.update()
                     .where(service.model.entity("customer").table.c.id == first["id"])
                     .values(version=first["version"], employees=5))
    # the revert is a job: the page shows its progress (jobs are off here: the runner runs it below)
    queued = client.post(run_url + "/revert", data={"csrf_token": csrf_of(text_of(confirm))})
    assert queued.status_code == 303 and queued.headers["Location"].endswith(run_url)
    page = text_of(client.get(run_url))
    assert "Reverting" in page and "0 of 4 records" in page and 'hx-trigger="every 1s"' in page
    assert "Revert this import" not in page
    assert client.get(run_url + "/revert").status_code == 303  # no second revert while one waits
    again = client.post(run_url + "/revert", data={"csrf_token": csrf_of(text_of(confirm))})
    assert again.status_code == 409 and "being reverted" in text_of(again)
    progress = client.get(run_url + "/progress", headers={"Accept": "application/json"}).get_json()
    assert progress["status"] == "reverting" and progress["done"] == 0 and progress["total"] == 4
    assert "<td>Reverting</td>" in text_of(client.get("/e/customer/imports"))  # the past imports say so
    assert JobRunner(lambda: service, job_handlers(service.model)).run_due() >= 1  # (the import's job too)
    finished = client.get(run_url + "/progress", headers={"HX-Request": "true"})
    assert finished.headers.get("HX-Refresh") == "true"
    page = text_of(client.get(run_url))
    assert "Reverted: 4 records deleted, 0 restored." in page and "Reverted" in page
    assert count(service) == 0
    assert "Revert this import" not in page


def test_xlsx_with_several_sheets_upsert_by_key_and_a_saved_mapping(app):
    service = app.extensions["tailor"].service
    client = signed_in(app, "root")
    data = xlsx_bytes([["Cover page"]], sheet="Cover",
                      extra_sheets={"Customers": [["Customer", "Code", "Staff"], ["Acme", "A1", 3], ["Bolt", "B1", 4]]})
    map_url = uploaded(client, data, "book.xlsx")
    html = text_of(client.get(map_url))
    assert '<option value="Customers" selected>' in html  # the cover page has no data rows: the next sheet
    assert "Acme · Bolt" in html
    cover = client.get(map_url + "?sheet=Cover")  # a sheet without rows: said, with the chooser to go back
    assert cover.status_code == 422 and "has a header row but no data rows" in text_of(cover)
    assert '<option value="Customers">' in text_of(cover)
    missing = client.get(map_url + "?sheet=Nope")
    assert missing.status_code == 422 and "has no sheet named &#39;Nope&#39;" in text_of(missing)
    name_col, code_col, staff_col = (column_index(html, h) for h in ("Customer", "Code", "Staff"))
    response, _ = check(client, map_url, **{name_col: "name", code_col: "erp_code", staff_col: "employees",
                                            "save_as": "ERP export", "shared": "1", "sheet": "Customers"})
    assert response.status_code == 303
    assert re.search(r'class="count-created">2<', text_of(client.get(response.headers["Location"])))
    with service.engine.connect() as conn:
        saved = conn.execute(sa.select(import_mappings)).mappings().one()
    assert saved["name"] == "ERP export" and saved["shared"] and saved["mapping"]["columns"]["Code"] == "erp_code"
    confirm = text_of(client.get(response.headers["Location"]))
    run_id = int(client.post(map_url + "/run", data={"csrf_token": csrf_of(confirm)}).headers["Location"].rsplit("/")[-1])
    runs.run(service, run_id)
    assert sorted(r["employees"] for r in records(service)) == [3, 4]

    # the same workbook again: upsert on the ERP code through the saved mapping -> unchanged
    again = upload(client, data, "book.xlsx", mapping=str(saved["id"]))
    map_url = again.headers["Location"]
    html = text_of(client.get(map_url))
    assert re.search(rf'id="{code_col}"[^>]*>.*?<option value="erp_code" selected>', html, re.S)
    response, _ = check(client, map_url, mode="upsert", key="erp_code", sheet="Customers")
    page = text_of(client.get(response.headers["Location"]))
    assert re.search(r'class="count-unchanged">2<', page) and re.search(r'class="count-created">0<', page)
    assert "import-go" not in page  # nothing to import
    # another importer sees the shared mapping on the mapping page
    rep = signed_in(app, "rep1")
    rep_map = uploaded(rep, data, "book.xlsx")
    assert "ERP export (shared)" in text_of(rep.get(rep_map))
    # only its author (or an administrator) deletes it
    delete_url = f"/e/customer/imports/mappings/{saved['id']}/delete"
    assert delete_url not in text_of(rep.get("/e/customer/imports"))
    assert rep.post(delete_url, data={"csrf_token": csrf_of(text_of(rep.get(rep_map)))}).status_code == 404
    start = text_of(client.get("/e/customer/imports"))
    assert delete_url in start
    assert client.post(delete_url, data={"csrf_token": csrf_of(start)}).status_code == 303
    with service.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(import_mappings)).scalar() == 0


def test_a_mapping_that_cannot_work_is_said_on_the_page(app):
    client = signed_in(app, "root")
    map_url = uploaded(client, csv_bytes([["名称", "员工人数"], ["A", "1"]]))
    html = text_of(client.get(map_url))
    form = mapping_form(html)
    response = client.post(map_url + "/check", data={**form, "mode": "upsert", "key": "erp_code"})
    assert response.status_code == 422 and "the key &#39;erp_code&#39; is not among the mapped columns" in text_of(response)
    both = {**form, column_index(html, "员工人数"): "name"}
    response = client.post(map_url + "/check", data=both)
    assert response.status_code == 422 and "mapped from two columns" in text_of(response)
    nothing = {k: ("" if k.startswith("col-") else v) for k, v in form.items()}
    response = client.post(map_url + "/check", data=nothing)
    assert response.status_code == 422 and "no column of the file matches" in text_of(response)
    response = client.post(map_url + "/check", data={**form, column_index(html, "员工人数"): "secret_nope"})
    assert response.status_code == 422 and "not a field you may import into" in text_of(response)


def test_a_large_file_is_checked_by_the_job_runner_while_its_page_polls_its_progress(app, monkeypatch):
    from engine.imports import checks
    from engine.web.pages import imports as pages

    monkeypatch.setattr(pages, "SYNC_ROWS", 3)  # more rows than this: checked by a job
    service = app.extensions["tailor"].service
    client = signed_in(app, "root")
    map_url = uploaded(client, csv_bytes([HEADER, *good_rows(5), ["", "E9", "高", "1", "", "", ""]]))
    response, _ = check(client, map_url)
    assert response.status_code == 303
    check_url = response.headers["Location"]
    # jobs are off in this app: the check waits for the runner, and its page says so and polls
    page = text_of(client.get(check_url))
    assert "Checking 6 rows" in page and 'hx-trigger="every 1s"' in page
    polled = client.get(check_url + "?poll=1")
    assert polled.status_code == 200 and "HX-Refresh" not in polled.headers and "Checking 6 rows" in text_of(polled)
    assert 'id="import-checking"' in text_of(polled)  # the section the poll swaps
    with service.engine.connect() as conn:
        queued = conn.execute(sa.select(jobs.c.kind, jobs.c.status)).all()
    assert ("import.check", "pending") in queued
    # the runner checks it two rows a batch; the page's bar follows (rows done, of 6)
    real = runs.dry_run
    seen: list[tuple[int, int | None, int]] = []

    def in_batches_of_two(*args, progress=None, **kwargs):
        def watched(done, total):
            progress(done, total)
            with service.engine.connect() as conn:
                marker = conn.execute(sa.select(import_uploads.c.checked)).scalar_one()
            seen.append((done, pages.check_progress(marker)["done"], marker.get("done")))
        return real(*args, batch=2, progress=watched, **kwargs)

    monkeypatch.setattr(checks.runs, "dry_run", in_batches_of_two)
    assert JobRunner(lambda: service, job_handlers(service.model)).run_due() == 1
    # PostgreSQL: committed to the upload from a second connection (any web worker sees it);
    # SQLite (one writer, the dry run): kept in the memory of the process that runs the job
    stored = service.engine.dialect.name == "postgresql"
    assert seen == [(n, n, n if stored else 0) for n in (2, 4, 6)]
    polled = client.get(check_url + "?poll=1")
    assert polled.status_code == 200 and polled.headers["HX-Refresh"] == "true"
    page = text_of(client.get(check_url))
    assert re.search(r'class="count-created">5<', page) and re.search(r'class="count-failed">1<', page)
    assert count(service) == 0
    with service.engine.connect() as conn:
        assert conn.execute(sa.select(jobs.c.status).where(jobs.c.kind == "import.check")).scalar_one() == "done"

    # while a check runs, its page says so and polls; no run may start; a lost one may be redone
    upload_id = None
    with write_engine(service.engine).begin() as conn:
        upload_id = conn.execute(sa.select(import_uploads.c.id)).scalar_one()
        marker = {"state": "checking", "id": "x", "total": 6, "started": now_utc().isoformat(), "done": 4}
        conn.execute(import_uploads.update().values(checked=marker))
    page = text_of(client.get(check_url))
    assert "Checking 6 rows" in page and 'hx-trigger="every 1s"' in page and "4 of 6 rows" in page
    assert "HX-Refresh" not in client.get(check_url + "?poll=1").headers
    started = client.post(map_url + "/run", data={"csrf_token": csrf_of(page)})
    assert started.status_code == 303 and started.headers["Location"].endswith(map_url.rsplit("/", 1)[1])
    with write_engine(service.engine).begin() as conn:
        lost = {**marker, "started": (now_utc() - timedelta(hours=3)).isoformat()}
        conn.execute(import_uploads.update().where(import_uploads.c.id == upload_id).values(checked=lost))
    page = client.get(check_url)
    assert page.status_code == 422 and "The check did not finish" in text_of(page)
    with app.extensions["tailor"].engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(import_runs)).scalar() == 0


def test_a_run_starts_at_once_when_the_web_worker_runs_jobs(app, db_url):
    """With jobs in-process (the default, `make demo`), the import page starts its run in
    the worker's job runner at once, not at the loop's next tick (an hour away here)."""
    root = app.extensions["tailor"].project
    live = create_app(Settings(project=root, database_url=db_url, secret_key="test-secret",
                               extra={"jobs_interval": "3600"}))
    try:
        assert "tailor_jobs" in live.extensions
        service = live.extensions["tailor"].service
        client = signed_in(live, "rep1")
        map_url = uploaded(client, csv_bytes([["名称", "员工人数"], ["Now", "1"], ["Soon", "2"]]))
        response, _ = check(client, map_url)
        run_url = client.post(map_url + "/run", data={"csrf_token": csrf_of(text_of(client.get(
            response.headers["Location"])))}).headers["Location"]
        deadline = time.monotonic() + 60
        while (state := client.get(run_url + "/progress", headers={"Accept": "application/json"}).get_json())[
                "working"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert state["status"] == "done" and state["done"] == 2 and count(service) == 2
    finally:
        live.extensions["tailor_jobs"].set()
        live.extensions["tailor"].engine.dispose()


# -- bad files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("data, name, expected", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "photo.csv", "is a PNG file, not a spreadsheet"),
    (b"", "empty.csv", "is empty"),
    ("名称,ERP编码\n".encode(), "header.csv", "has a header row but no data rows"),
    ("名称,名称\nA,B\n".encode(), "twice.csv", "names a column twice"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "old.xls", "old Excel file"),
    (b"PK\x03\x04 not really a zip", "broken.xlsx", "is not a spreadsheet"),
])
def test_bad_files_get_the_engines_message_never_a_500(app, data, name, expected):
    client = signed_in(app, "rep1")
    response = upload(client, data, name)
    assert response.status_code == 422
    assert expected in text_of(response).replace("&#39;", "'")
    with app.extensions["tailor"].engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(import_uploads)).scalar() == 0


def test_a_zip_bomb_and_a_file_over_the_limit_are_refused(app, monkeypatch):
    import zipfile

    client = signed_in(app, "rep1")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (60 * 1024 * 1024))
    response = upload(client, buffer.getvalue(), "bomb.xlsx")
    assert response.status_code == 422 and "unpacks to far more" in text_of(response)
    monkeypatch.setenv("TAILOR_IMPORT_MAX_MB", "0.5")
    big = csv_bytes([HEADER, *good_rows(20_000)])
    assert len(big) > 1024 * 1024  # beyond the limit and its slack: refused before the form is read
    response = upload(client, big, "big.csv")
    assert response.status_code == 413 and "is too large" in text_of(response) and "at most 0.5 MB" in text_of(response)
    response = upload(client, big[:600 * 1024], "big.csv")  # beyond the limit, within the slack
    assert response.status_code == 422 and "is too large" in text_of(response)


def test_no_file_chosen(app):
    client = signed_in(app, "rep1")
    token = csrf_of(text_of(client.get("/e/customer/imports")))
    response = client.post("/e/customer/imports", data={"csrf_token": token}, content_type="multipart/form-data")
    assert response.status_code == 400 and "Choose a file" in text_of(response)


# -- CSRF and ownership --------------------------------------------------------------------------
def test_every_post_needs_the_csrf_token(app):
    app.config["WTF_CSRF_ENABLED"] = True
    client = signed_in(app, "root")
    data = csv_bytes([HEADER, *good_rows(2)])
    response = client.post("/e/customer/imports", data={"file": (io.BytesIO(data), "c.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and "The form expired" in text_of(response)
    map_url = uploaded(client, data)
    form = mapping_form(text_of(client.get(map_url)))
    del form["csrf_token"]
    assert client.post(map_url + "/check", data=form).status_code == 400
    assert client.post(map_url + "/run").status_code == 400
    with app.extensions["tailor"].engine.connect() as conn:
        assert conn.execute(sa.select(import_uploads.c.checked)).scalar() is None
        assert conn.execute(sa.select(sa.func.count()).select_from(import_runs)).scalar() == 0


def test_another_users_upload_and_run_are_not_found(app):
    service = app.extensions["tailor"].service
    rep1, rep2, root = signed_in(app, "rep1"), signed_in(app, "rep2"), signed_in(app, "root")
    map_url = uploaded(rep1, csv_bytes([["名称", "员工人数"], ["Mine", "1"]]))
    response, _ = check(rep1, map_url)
    assert response.status_code == 303
    token = csrf_of(text_of(rep2.get("/e/customer/imports")))
    assert rep2.get(map_url).status_code == 404
    assert rep2.get(map_url + "/check").status_code == 404
    assert rep2.get(map_url + "/failed.csv").status_code == 404
    assert rep2.post(map_url + "/check", data={"csrf_token": token, "col-0": "name"}).status_code == 404
    assert rep2.post(map_url + "/run", data={"csrf_token": token}).status_code == 404
    assert root.get(map_url).status_code == 404  # an upload is its sender's only
    assert rep1.get(map_url.replace("/customer/", "/region/")).status_code == 403  # rep1 may not import regions
    mine = csrf_of(text_of(rep1.get("/e/customer/imports")))
    run_url = rep1.post(map_url + "/run", data={"csrf_token": mine}).headers["Location"]
    runs.run(service, int(run_url.rsplit("/", 1)[1]))
    assert count(service) == 1
    assert rep2.get(run_url).status_code == 404
    assert rep2.get(run_url + "/progress").status_code == 404
    assert rep2.post(run_url + "/revert", data={"csrf_token": token}).status_code == 404
    assert f"/e/customer/imports/{run_url.rsplit('/', 1)[1]}" not in text_of(rep2.get("/e/customer/imports"))
    assert root.get(run_url).status_code == 200  # administrators see every run
    assert count(service) == 1


def test_rows_the_user_may_not_write_fail_with_the_engines_message(app):
    """rep1 may not see `secret` (not offered) nor set `erp_code` (read only): a row error."""
    client = signed_in(app, "rep1")
    map_url = uploaded(client, csv_bytes([["名称", "ERP编码", "机密"], ["A", "X1", "s"]]))
    html = text_of(client.get(map_url))
    assert 'value="secret"' not in html  # hidden from rep1: not offered
    response, _ = check(client, map_url)
    page = text_of(client.get(response.headers["Location"]))
    assert re.search(r'class="count-failed">1<', page) and "ERP编码" in page


# -- in Chinese ---------------------------------------------------------------------------------
def test_the_pages_in_chinese(app):
    client = signed_in(app, "root")
    token = csrf_of(text_of(client.get("/e/customer/imports")))
    client.post("/language", data={"language": "zh", "next": "/home", "csrf_token": token})
    start = text_of(client.get("/e/customer/imports"))
    assert "导入客户" in start and "上传" in start
    assert "导入" in text_of(client.get("/e/customer"))
    refused = upload(client, "名称,名称\nA,B\n".encode(), "twice.csv")
    assert "重复的列名" in text_of(refused)
    map_url = uploaded(client, csv_bytes([HEADER, *good_rows(1), ["坏", "E2", "高", "1", "", "Nowhere", ""]]))
    html = text_of(client.get(map_url))
    assert "映射列" in html and "忽略此列" in html and "试运行" in html
    response, _ = check(client, map_url)
    page = text_of(client.get(response.headers["Location"]))
    assert "试运行" in page and "失败的行" in page
    assert "没有与“Nowhere”匹配的" in page and "matches" not in page  # the engine's message in Chinese
    # the run and its revert in Chinese: refused naming the record by title, then the revert's bar
    service = app.extensions["tailor"].service
    run_url = client.post(map_url + "/run", data={"csrf_token": csrf_of(page)}).headers["Location"]
    runs.run(service, int(run_url.rsplit("/", 1)[1]))
    first = records(service)[0]
    service.update("customer", first["id"], {"employees": 42}, version=first["version"], context=Context(actor=SYSTEM))
    confirm = text_of(client.get(run_url + "/revert"))
    refused = client.post(run_url + "/revert", data={"csrf_token": csrf_of(confirm)})
    assert refused.status_code == 409 and "无法撤销导入" in text_of(refused)
    assert f"客户0 (#{first['id']})" in text_of(refused) and "changed since" not in text_of(refused)
    with write_engine(service.engine).begin() as conn:
        conn.execute(import_runs.update().values(status="done"))  # (as it was) and put the record back
        table = service.model.entity("customer").table
        conn.execute(table.update().where(table.c.id == first["id"]).values(version=first["version"]))
    assert client.post(run_url + "/revert", data={"csrf_token": csrf_of(confirm)}).status_code == 303
    page = text_of(client.get(run_url))
    assert "正在撤销" in page and "0 / 1 条记录" in page and "您可以离开此页面" in page
    JobRunner(lambda: service, job_handlers(service.model)).run_due()
    page = text_of(client.get(run_url))
    assert "已撤销：删除 1 条记录" in page and count(service) == 0


# -- list export to Excel -------------------------------------------------------------------------
def test_list_exports_to_xlsx_with_types_filters_and_languages(app):
    from openpyxl import load_workbook

    service = app.extensions["tailor"].service
    system = Context(actor=SYSTEM)
    service.create("customer", {"name": "=HYPERLINK(\"http://x\")", "level": "high", "revenue": Decimal("1200.50"),
                                "revenue_currency": "CNY",
                                "since": "2026-12-04", "employees": 7, "approved": True}, system)
    service.create("customer", {"name": "Low one", "level": "low", "revenue": Decimal(5), "revenue_currency": "USD", "employees": 1}, system)
    client = signed_in(app, "root")
    html = text_of(client.get("/e/customer"))
    assert 'href="/e/customer/export.xlsx"' in html
    response = client.get("/e/customer/export.xlsx?level=high&cols=name,level,revenue,since,employees,created_at,"
                          "approved")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    assert header == ["Name", "Level", "Revenue", "Revenue (currency)", "Customer since", "Employees",
                      "Created (UTC)", "Approved"]
    assert len(rows) == 2  # the filter holds: the low one is left out
    cells = {h: c for h, c in zip(header, rows[1], strict=True)}
    assert cells["Name"].value == "=HYPERLINK(\"http://x\")" and cells["Name"].data_type == "s"  # text, not a formula
    assert cells["Level"].value == "High"
    assert cells["Revenue"].value == Decimal("1200.5") or cells["Revenue"].value == 1200.5
    assert cells["Revenue"].data_type == "n" and cells["Revenue (currency)"].value == "CNY"
    assert cells["Revenue"].number_format == "#,##0.00"  # money with two decimals, not "General"
    assert cells["Approved"].data_type == "b" and cells["Approved"].value is True  # Excel's TRUE
    assert isinstance(cells["Customer since"].value, datetime) and cells["Customer since"].is_date
    assert cells["Customer since"].value.date() == date(2026, 12, 4)
    assert cells["Employees"].value == 7 and cells["Created (UTC)"].is_date
    # in Chinese: the headers and labels
    token = csrf_of(html)
    client.post("/language", data={"language": "zh", "next": "/home", "csrf_token": token})
    sheet = load_workbook(io.BytesIO(client.get("/e/customer/export.xlsx?cols=name,level,revenue").data)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == ("名称", "等级", "营业额", "营业额 (币种)")
    assert {v[1] for v in values[1:]} == {"高", "低"}
    # a field hidden from the user is left out of their export; shown to an administrator
    assert "机密" in [c.value for c in next(load_workbook(io.BytesIO(  # root reads Chinese now
        client.get("/e/customer/export.xlsx?cols=name,secret").data)).active.iter_rows())]
    exporter = signed_in(app, "exporter")
    assert 'href="/e/customer/export.xlsx"' in text_of(exporter.get("/e/customer"))
    exported = exporter.get("/e/customer/export.xlsx")
    assert exported.status_code == 200
    header = [c.value for c in next(load_workbook(io.BytesIO(exported.data)).active.iter_rows())]
    assert "Name" in header and "Secret" not in header and "机密" not in header
    asked = exporter.get("/e/customer/export.xlsx?cols=name,secret")  # asking for it by name does not help
    assert asked.status_code == 400 or "Secret" not in [c.value for c in next(load_workbook(io.BytesIO(asked.data)).active.iter_rows())]
    # a user who may not export gets 403; a bad filter a 400, never a 500
    viewer = signed_in(app, "viewer")
    assert viewer.get("/e/customer/export.xlsx").status_code == 403
    assert client.get("/e/customer/export.xlsx?level=nope").status_code == 400


# -- child lines ----------------------------------------------------------------------------------
@pytest.fixture
def order_app(db_url, tmp_path):
    from test_import_lines import PROJECT

    root = write_project(tmp_path / "orders", PROJECT)
    model = load_model(root, entry_points=False)
    engine = make_engine(db_url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    create_user(engine, "root", PASSWORD, is_admin=True)
    engine.dispose()
    app = create_app(Settings(project=root, database_url=db_url, secret_key="test-secret", extra={"jobs": "off"}))
    app.config["TESTING"] = True
    service = app.extensions["tailor"].service
    for entity, name in (("customer", "Acme"), ("product", "Bolt M6"), ("product", "Washer")):
        service.create(entity, {"name": name}, Context(actor=SYSTEM))
    yield app
    app.extensions["tailor"].engine.dispose()


def test_order_lines_are_mapped_and_joined_on_the_page(order_app):
    from test_import_lines import HEADER as ORDER_HEADER

    root = signed_in(order_app, "root")
    data = csv_bytes([ORDER_HEADER,
                      ["A-1", "Acme", "", "Bolt M6", "", "2", "1"],
                      ["A-1", "Acme", "", "Washer", "", "5", "0.1"],
                      ["B-1", "Acme", "", "Washer", "", "1", "0.1"]])
    response = upload(root, data, "orders.csv", entity="sales_order")
    assert response.status_code == 303, text_of(response)[:2000]
    map_url = response.headers["Location"]
    html = text_of(root.get(map_url))
    assert ">Lines · Product</option>" in html and 'name="group"' in html
    form = mapping_form(html)
    assert form[column_index(html, "Lines product")] == "lines.product"
    form["group"] = "Order ref"
    checked = root.post(map_url + "/check", data=form)
    assert checked.status_code == 303, text_of(checked)[:3000]
    result = text_of(root.get(checked.headers["Location"]))
    assert 'class="count-created">2<' in result and 'class="count-failed">0<' in result, result[-3000:]
    upload_row = None
    with order_app.extensions["tailor"].engine.connect() as conn:
        upload_row = conn.execute(sa.select(import_uploads.c.mapping, import_uploads.c.checked)).mappings().one()
    assert upload_row["mapping"]["group"] == "Order ref"
    assert (upload_row["checked"]["created"], upload_row["checked"]["failed"]) == (2, 0), upload_row["checked"]
    # the counts say records and rows apart: 2 orders from 3 rows (in Chinese too)
    assert 'class="count-records">2<' in result and "(3 rows)" in result
    root.post("/language", data={"language": "zh", "next": "/home", "csrf_token": csrf_of(result)})
    result = text_of(root.get(checked.headers["Location"]))
    assert "记录数" in result and "（3 行）" in result and 'class="count-records">2<' in result
