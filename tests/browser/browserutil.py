"""A live Tailor server on loopback and a real Chromium driven by Playwright.

The browser is Debian's `chromium` (installed by `make test` / `.ci/run` when missing);
Playwright's own browser downloads are never used. Screenshots are kept in
`test-artifacts/` for people to look at.

Every page a browser test visits must satisfy the Content-Security-Policy: `csp_violations`
(autouse) watches every browser context the test opens and fails the test on any
violation the browser reports (a `securitypolicyviolation` event, or Chromium's
"Refused to ..." console error).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from engine.config import Settings
from engine.demo import load_demo
from engine.migrate import apply_plan, plan_migration
from engine.model import load_model
from engine.paths import EXAMPLES, ROOT
from engine.permissions.org import set_roles
from engine.storage import make_engine, write_engine
from engine.users import create_user
from engine.web import create_app

ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "browser-pass-1"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's chromium is not installed: run `make test` (it installs it) or "
                    "`apt-get install chromium`", pytrace=False)
    return path


def make_user(engine, model, name: str) -> None:
    """A browser-test user holding the project's `admin` role (everything, through the
    permission checks) when the project has roles."""
    user_id = create_user(engine, name, PASSWORD, display_name=name.title())
    if "admin" in model.roles:
        with write_engine(engine).begin() as conn:
            set_roles(conn, user_id, ["admin"], model.roles)


class LiveServer:
    def __init__(self, root: Path, tmp: Path):
        url = f"sqlite:///{tmp / 'browser.sqlite'}"
        model = load_model(root, entry_points=False)
        engine = make_engine(url)
        apply_plan(engine, plan_migration(engine, model.metadata, project=model.project,
                                          metadata_version=model.version))
        load_demo(model, engine, root)
        for name in ("alice", "bob"):
            make_user(engine, model, name)
        engine.dispose()
        self.app = create_app(Settings(project=root, database_url=url, secret_key="browser-secret"))
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        jobs = self.app.extensions.get("tailor_jobs")
        if jobs is not None:  # the in-process job runner: it would outlive the database it polls
            jobs.set()
        self.app.extensions["tailor"].engine.dispose()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    server = LiveServer(EXAMPLES / "crm", tmp_path_factory.mktemp("browser"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


# runs in every page before its own scripts: a violation becomes a console error we can see
REPORT_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', function (e) {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')
                + ' in ' + e.sourceFile + ':' + e.lineNumber + ' ' + (e.sample || ''));
});
"""


def watch_policy(context, found: list[str]) -> None:
    """Collect the Content-Security-Policy violations of every page of `context`."""
    context.add_init_script(script=REPORT_VIOLATIONS)

    def on_console(message) -> None:
        text = message.text
        if message.type == "error" and ("CSP violation" in text or "Content Security Policy" in text):
            found.append(f"{message.page.url if message.page else '?'}: {text}")

    context.on("console", on_console)


@pytest.fixture(autouse=True)
def csp_violations(browser, monkeypatch):
    """Fails the test when a page it visited broke the Content-Security-Policy. Contexts
    are watched however the test opens them (the `page` fixture or `browser.new_context`)."""
    found: list[str] = []
    opened = browser.new_context

    def new_context(*args, **kwargs):
        context = opened(*args, **kwargs)
        watch_policy(context, found)
        return context

    monkeypatch.setattr(browser, "new_context", new_context)
    yield found
    if found:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(found), pytrace=False)


@pytest.fixture
def page(browser, csp_violations):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


DEMO_PASSWORD = "demo-pass-1"  # the demo users' (examples/crm/demo/00_users.yaml)


PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}


def overflow(page) -> int:
    """How far the page is wider than the screen (0 or less: no sideways scrolling)."""
    return page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")


@contextmanager
def opened(browser, viewport: dict[str, int], **options) -> Iterator:
    """A page in a browser context of its own at `viewport` (PHONE, LAPTOP…), closed after."""
    context = browser.new_context(viewport=viewport, locale="en-US", **options)
    try:
        page = context.new_page()
        page.set_default_timeout(15000)
        yield page
    finally:
        context.close()


def sign_in(page, server: LiveServer, username: str = "alice", language: str = "en", password: str = PASSWORD) -> None:
    """Sign in and make sure the pages speak `language`: the choice is stored on the user,
    so a test that switched alice to Chinese would otherwise change the next test's pages."""
    page.goto(server.url + "/sign-in")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button.primary")
    page.wait_for_url("**/home")
    use_language(page, server, language)


def use_language(page, server: LiveServer, language: str) -> None:
    """Switch the signed-in user's pages to `language` (the header offers only the other one)."""
    if page.locator("html").get_attribute("lang") != language:
        page.goto(server.url + "/home")
        switch = page.locator(f"button[name=language][value={language}]")
        if switch.count():
            with page.expect_navigation():
                switch.click()
    assert page.locator("html").get_attribute("lang") == language


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
