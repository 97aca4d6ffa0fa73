"""Importing customers in a real browser: from the list's Import button, upload a CSV with
some bad rows, map the columns, dry run (the failures listed with their row numbers), fix
the file and upload it again, run it with the progress bar moving (the web worker's job
runner imports it in batches while the page polls), then revert the import (a job too, its
bar moving on the run's page, which finds it again after a reload)."""

from __future__ import annotations

import csv
import io
import time

import sqlalchemy as sa
from browserutil import screenshot, sign_in

from engine.records import SYSTEM, Context, Query
from engine.storage import jobs

ROWS = 3000
SLOW = 120_000  # ms: a dry run of the whole file is one request, on a shared 2-core machine
BAD = {17: ["", "High", "12"], 801: ["坏客户甲", "Huge", "3"], 2950: ["坏客户乙", "Low", "-5"]}  # file rows 19, 803, 2952


def customers_file(fixed: bool) -> bytes:
    buffer = io.StringIO(newline="")
    out = csv.writer(buffer)
    out.writerow(["Name", "Level", "Employees"])
    for i in range(ROWS):
        row = [f"浏览器导入客户{i:05d}", "Medium", str(i % 500)]
        if i in BAD and not fixed:
            row = BAD[i]
        elif i in BAD:
            row = [f"浏览器导入客户{i:05d}", "High", "5"]
        out.writerow(row)
    return buffer.getvalue().encode("utf-8-sig")


def count_imported(server) -> int:
    service = server.app.extensions["tailor"].service
    table = service.model.entity("customer").table
    with service.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)
                            .where(table.c.name.like("浏览器导入客户%"))).scalar_one()


def upload(page, data: bytes, name: str) -> None:
    page.set_input_files("input[name=file]", files=[{"name": name, "mimeType": "text/csv", "buffer": data}])
    page.click("form.import-upload button.primary")
    page.wait_for_selector("table.import-columns")


def test_upload_map_dry_run_fix_run_with_progress_and_revert(page, live_server):
    before = len(live_server.app.extensions["tailor"].service.list("customer", Query(limit=1000), Context(actor=SYSTEM)))
    sign_in(page, live_server)
    page.goto(live_server.url + "/e/customer")
    page.click("a[href='/e/customer/imports']")
    page.wait_for_url("**/e/customer/imports")

    # 1. the file with three bad rows: mapped by the headers, checked, nothing written
    upload(page, customers_file(fixed=False), "customers.csv")
    for header, key in (("Name", "name"), ("Level", "level"), ("Employees", "employees")):
        assert page.locator(f"select[data-header='{header}']").input_value() == key
    assert "浏览器导入客户00000" in page.locator("table.import-columns").inner_text()
    # on a phone each column is a card whose field choice can be read (it shrank to an arrow)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.locator("select[data-header='Name']").bounding_box()["width"] > 250
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    page.set_viewport_size({"width": 1280, "height": 800})
    page.select_option("select[data-header='Employees']", "")  # ignore a column, then take it back
    page.select_option("select[data-header='Employees']", "employees")
    started = time.monotonic()
    page.click("form.import-mapping button.primary", timeout=SLOW)
    page.wait_for_selector("section.import-checked", timeout=SLOW)
    print(f"dry run of {ROWS} rows: {time.monotonic() - started:.1f} s")
    assert page.locator(".count-created").inner_text() == str(ROWS - 3)
    assert page.locator(".count-failed").inner_text() == "3"
    failures = page.locator("table.import-failures tbody tr")
    assert failures.count() == 3
    rows_shown = [failures.nth(i).locator("td").first.inner_text() for i in range(3)]
    assert rows_shown == [str(i + 2) for i in sorted(BAD)]  # the header is row 1
    text = page.locator("table.import-failures").inner_text()
    assert "Huge" in text and "Name" in text
    assert page.locator("a[href$='/failed.xlsx']").count() == 1
    screenshot(page, "import-dry-run")
    assert count_imported(live_server) == 0

    # 2. the fixed file: no failures; import it and watch the bar
    page.click("text=Upload another file")
    upload(page, customers_file(fixed=True), "customers-fixed.csv")
    started = time.monotonic()
    page.click("form.import-mapping button.primary", timeout=SLOW)
    page.wait_for_selector("section.import-checked", timeout=SLOW)
    print(f"dry run of {ROWS} rows: {time.monotonic() - started:.1f} s")
    assert page.locator(".count-failed").inner_text() == "0"
    page.click("button.import-go")
    page.wait_for_selector("#import-progress")
    run_url = page.url
    seen: list[int] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        box = page.locator("#import-progress")
        if box.count():
            try:
                seen.append(int(box.get_attribute("data-done", timeout=2000)))
                if box.get_attribute("data-status", timeout=2000) in ("done", "failed"):
                    break
            except Exception:  # swapped or reloaded while read: read again
                pass
        time.sleep(0.15)
    page.wait_for_selector(".count-created")  # finished: the page reloaded into the result
    assert page.url == run_url
    distinct = sorted(set(seen))
    print(f"progress values seen: {distinct}")
    assert distinct[-1] == ROWS and len(distinct) >= 2, distinct  # it moved, and reached 100 %
    assert page.locator("progress.import-bar").get_attribute("value") == str(ROWS)
    assert page.locator(".count-created").inner_text() == str(ROWS)
    assert count_imported(live_server) == ROWS
    page.reload()  # the run's page is its own: a reload shows the result again
    assert page.locator(".import-status").inner_text() == "Finished"
    screenshot(page, "import-done")

    # 3. revert, after a confirmation: a job of the job runner, its progress on the run's page
    page.click("a.import-revert")
    page.wait_for_selector("form.import-revert-confirm")
    page.click("form.import-revert-confirm button.danger")
    page.wait_for_url(run_url)  # back on the run's page at once, which shows the revert's bar
    page.wait_for_selector("#import-progress")
    seen = []
    reloaded = False
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        box = page.locator("#import-progress")
        if page.locator(".import-reverted").count():
            break
        if box.count():
            try:
                status = box.get_attribute("data-status", timeout=2000)
                done = int(box.get_attribute("data-done", timeout=2000))
                if status == "reverting":
                    seen.append(done)
                    assert box.get_attribute("data-total", timeout=2000) == str(ROWS)
                    if done > 0 and not reloaded:  # a reload while it runs: the page finds it again
                        reloaded = True
                        page.reload()
                        page.wait_for_selector("#import-progress, .import-reverted")
                        after = page.locator("#import-progress")
                        if after.count() and after.get_attribute("data-status") == "reverting":
                            assert int(after.get_attribute("data-done")) >= done
                            assert "records" in after.inner_text()
                        screenshot(page, "import-reverting")
            except AssertionError:
                raise
            except Exception:  # swapped or reloaded while read: read again
                pass
        time.sleep(0.15)
    page.wait_for_selector(".import-reverted")  # finished: the page reloaded into the result
    distinct = sorted(set(seen))
    print(f"revert progress values seen: {distinct}")
    assert len(distinct) >= 2 and distinct[0] < ROWS, distinct  # the bar moved while the revert ran
    assert f"{ROWS} records deleted" in page.locator(".import-reverted").inner_text()
    assert page.locator(".import-status").inner_text() == "Reverted"
    assert page.locator("a.import-revert").count() == 0
    with live_server.app.extensions["tailor"].service.engine.connect() as conn:  # both big dry runs were jobs too
        kinds = conn.execute(sa.select(jobs.c.kind, sa.func.count()).where(jobs.c.status == "done")
                             .group_by(jobs.c.kind)).all()
    assert dict(kinds).get("import.check") == 2 and dict(kinds).get("import.revert") == 1, kinds
    assert count_imported(live_server) == 0
    after = live_server.app.extensions["tailor"].service.list("customer", Query(limit=1000), Context(actor=SYSTEM))
    assert len(after) == before
    page.goto(live_server.url + "/e/customer/imports")
    assert "Reverted" in page.locator("table.import-runs").inner_text()
