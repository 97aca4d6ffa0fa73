"""The designer's "done means" scenario in a real browser, one rich test (suite time matters).

Two server processes share one SQLite database: the admin works in this test's process, a
sales rep in another process started before any change (`tailor serve`). The admin adds
"WeChat ID" (with its Chinese label) to customers, places it in a form section, previews and
applies; the rep sees and fills it with no restart; the admin renames it, removes it (the
preview says its data are kept), restores it and reverts that change set; exports the layer
with the download button; a fresh database built from the exported YAML has the field and
the same metadata hash as the live model.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import sqlalchemy as sa
from browserutil import PASSWORD, make_user, screenshot
from werkzeug.serving import make_server

from engine.config import Settings
from engine.demo import load_demo
from engine.migrate import apply_plan, plan_migration
from engine.model import load_model
from engine.paths import EXAMPLES, ROOT
from engine.permissions.org import set_roles
from engine.storage import make_engine, users, write_engine
from engine.users import create_user
from engine.web import create_app

SECRET = "designer-browser-secret"



def served(page, url: str, check, seconds: float = 4.0) -> None:
    """Open `url` until `check()` holds: another process serves reads with the model of its
    last look, at most a second old (TAILOR_MODEL_CHECK_SECONDS); fails if it never does."""
    deadline = time.monotonic() + seconds
    while True:
        page.goto(url)
        if check():
            return
        assert time.monotonic() < deadline, f"{url} never showed the change"
        time.sleep(0.25)

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health(url: str) -> dict | None:
    import json

    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


def prepare(project: Path, url: str) -> None:
    """The demo CRM, an administrator `root` and a sales rep `rep`."""
    model = load_model(project, entry_points=False)
    engine = make_engine(url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    load_demo(model, engine, project)
    make_user(engine, model, "root")
    rep = create_user(engine, "rep", PASSWORD, display_name="Rep")
    with write_engine(engine).begin() as conn:
        set_roles(conn, rep, ["sales_rep"], model.roles)
        conn.execute(users.update().where(users.c.username == "root").values(is_admin=True))
    engine.dispose()


def sign_in(page, base: str, username: str) -> None:
    page.goto(base + "/sign-in")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url("**/home")


def apply(page, comment: str = "") -> None:
    """Press Apply on a preview page and wait for the change history."""
    if comment:
        page.fill("form.design-apply input[name=comment]", comment)
    page.click("form.design-apply button.primary")
    page.wait_for_url("**/design/changes**")
    assert page.locator(".design-applied, .design-reverted").count() == 1, page.content()[:3000]


def drag(page, handle, target) -> None:
    """Drag with the mouse, in steps, as a person does (SortableJS follows mouse events)."""
    start, end = handle.bounding_box(), target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    x, y = end["x"] + 20, end["y"] + end["height"] / 4
    page.mouse.move(x, y - 30, steps=12)
    page.mouse.move(x, y, steps=8)
    page.mouse.up()


def field_row(page, name: str):
    return page.locator(f"table.design-fields tr[data-field={name}]")


def test_admin_designs_and_a_rep_on_another_process_uses_it(browser, tmp_path):
    project = EXAMPLES / "crm"
    url = f"sqlite:///{tmp_path / 'designer.sqlite'}"
    prepare(project, url)
    app = create_app(Settings(project=project, database_url=url, secret_key=SECRET, extra={"jobs": "off"}))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    admin_url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = free_port()
    rep_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TAILOR_SECRET_KEY": SECRET, "TAILOR_JOBS": "off"}
    log = (tmp_path / "other.log").open("w")
    other = subprocess.Popen([sys.executable, "-c", "from engine.cli import cli; cli()", "serve", str(project),
                              "--database", url, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    admin_context = browser.new_context(viewport={"width": 1280, "height": 2400}, locale="en-US",
                                        accept_downloads=True)
    rep_context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        deadline = time.monotonic() + 60
        while health(rep_url) is None:
            assert other.poll() is None, (tmp_path / "other.log").read_text()
            assert time.monotonic() < deadline, "the other server did not start"
            time.sleep(0.2)
        admin = admin_context.new_page()
        rep = rep_context.new_page()
        for p in (admin, rep):
            p.set_default_timeout(20000)
        sign_in(admin, admin_url, "root")
        sign_in(rep, rep_url, "rep")
        assert rep.locator("a.nav-designer").count() == 0
        assert rep.goto(rep_url + "/design").status == 404

        # -- add "WeChat ID" with a Chinese label, in the "Contact details" section
        admin.click("a.nav-designer")
        admin.click("table.design-entities a[href='/design/e/customer']")
        admin.select_option("form.design-add-field select[name=type]", "string")
        admin.click("form.design-add-field button.primary")
        admin.fill("input[name=name]", "wechat_id")
        admin.fill("input[name=label_en]", "WeChat ID")
        admin.fill("input[name=label_zh]", "微信号")
        admin.fill("input[name=help_en]", "The customer's WeChat account")
        expression = admin.locator("input[name=visible_when]")
        expression.press_sequentially("levle == 'high'", delay=20)  # checked as it is typed
        admin.locator("#check-visible_when .expr-error").wait_for()
        assert "E502" in admin.locator("#check-visible_when").inner_text()
        expression.fill("")
        expression.press_sequentially("level != 'low'", delay=20)
        admin.locator("#check-visible_when .expr-ok").wait_for()
        expression.fill("")
        admin.select_option("select[name=section]", label="Contact details")
        admin.click("form.design-field button.primary")
        assert "ADD COLUMN wechat_id" in admin.locator(".design-sql").inner_text()
        assert "wechat_id" in admin.locator(".design-forms").inner_text()
        screenshot(admin, "designer-preview")
        apply(admin, "WeChat for the sales team")
        assert "WeChat for the sales team" in admin.locator("table.design-history").inner_text()

        # -- drag it to the first section ("Basics") on the form editor (design.js)
        admin.goto(admin_url + "/design/e/customer/form")
        assert admin.evaluate("document.documentElement.classList.contains('design-dnd')")  # design.js ran
        drag(admin, admin.locator("li.design-item[data-field=wechat_id] .drag-handle"),
             admin.locator("ul[data-section='0'] li.design-item[data-field=name]"))
        assert admin.locator("ul[data-section='0'] li[data-field=wechat_id]").count() == 1
        assert admin.locator("select[name=place_wechat_id]").input_value() == "0"  # the no-JS inputs follow
        screenshot(admin, "designer-form-layout")
        admin.click("form.design-layout button.primary")
        assert "entities.customer.form" in admin.locator(".design-changes").inner_text()
        apply(admin, "WeChat with the basics")

        # -- the rep, on the other process (never restarted), sees and fills it
        served(rep, rep_url + "/e/customer/new", lambda: "WeChat ID" in rep.locator("form.record-form").inner_text())
        rep.fill("input[name=name]", "Designer Test Co.")
        rep.fill("input[name=wechat_id]", "wx_designer_1")
        rep.click("form.record-form button[type=submit]")
        rep.wait_for_load_state()
        assert "wx_designer_1" in rep.locator("main").inner_text(), rep.content()[:3000]
        record_url = rep.url
        screenshot(rep, "designer-rep-record")

        # -- rename it (the column is renamed, the value kept)
        admin.goto(admin_url + "/design/e/customer")
        field_row(admin, "wechat_id").locator("a", has_text="Rename").click()
        admin.fill("input[name=new_name]", "wechat")
        admin.click("form.design-rename button.primary")
        assert "RENAME" in admin.locator(".design-sql").inner_text().upper()
        apply(admin, "shorter name")
        rep.goto(record_url)
        assert "wx_designer_1" in rep.locator("main").inner_text()

        # -- remove it: hidden, the preview says its data are kept
        admin.goto(admin_url + "/design/e/customer")
        field_row(admin, "wechat").locator("form button", has_text="Remove").click()
        assert "1 values are kept" in admin.locator(".design-kept").inner_text()
        assert "No change to the database" in admin.locator(".design-plan").inner_text()
        apply(admin)
        served(rep, record_url + "/edit", lambda: rep.locator("input[name=wechat]").count() == 0)

        # -- restore it, then revert that change set from the history
        admin.goto(admin_url + "/design/e/customer")
        field_row(admin, "wechat").locator("form button", has_text="Restore").click()
        apply(admin)
        served(rep, record_url + "/edit", lambda: rep.locator("input[name=wechat]").count() == 1)
        assert rep.locator("input[name=wechat]").input_value() == "wx_designer_1"
        newest = admin.locator("table.design-history tbody tr").first
        admin.once("dialog", lambda dialog: dialog.accept())
        newest.locator("button", has_text="Revert").click()
        admin.wait_for_url("**/design/changes?reverted=*")
        served(rep, record_url + "/edit", lambda: rep.locator("input[name=wechat]").count() == 0)  # the revert
        with make_engine(url).connect() as conn:  # and its data still there
            kept = conn.execute(sa.text("SELECT wechat FROM customer WHERE name = 'Designer Test Co.'")).scalar()
        assert kept == "wx_designer_1"

        # -- export the layer (download), build a fresh database from it
        admin.goto(admin_url + "/design")
        with admin.expect_download() as download:
            admin.click("a[href='/design/export']")
        archive = tmp_path / "layer.zip"
        download.value.save_as(archive)
        unpacked = tmp_path / "unpacked"
        unpacked.mkdir()
        (unpacked / project.name).symlink_to(project, target_is_directory=True)
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(unpacked)
        folder = next(p for p in unpacked.iterdir() if p.name != project.name)
        exported = load_model(folder, entry_points=False)
        live = health(admin_url)
        assert live is not None and exported.version == live["metadata_version"]
        assert health(rep_url)["metadata_version"] == live["metadata_version"]
        wechat = exported.entities["customer"].fields["wechat"]
        assert wechat.label["zh"] == "微信号" and wechat.hidden
        fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
        apply_plan(fresh, plan_migration(fresh, exported.metadata, project=exported.project,
                                         metadata_version=exported.version))
        assert "wechat" in {c["name"] for c in sa.inspect(fresh).get_columns("customer")}
        fresh.dispose()
        assert other.poll() is None  # the other process served every step without a restart
    finally:
        admin_context.close()
        rep_context.close()
        other.terminate()
        try:
            other.wait(timeout=10)
        except subprocess.TimeoutExpired:
            other.kill()
        log.close()
        server.shutdown()
        app.extensions["tailor"].engine.dispose()
