"""A bounded load test with faults, on PostgreSQL (docs/deploy.md, "Faults").

The demo CRM is served by gunicorn with four workers on a database of its own, while a
few signed-in HTTP clients create contacts and orders with lines, edit contacts and read
lists and records, and six `tailor worker` processes work a queue of jobs. During the load
a gunicorn worker is killed with SIGKILL, every database connection is terminated twice
(`pg_terminate_backend`) and a job runner is killed with SIGKILL. A client whose request
fails sends the same form again (what a user does): the one-time token of a create form
makes that safe.

The checks do not depend on timing:
* every create that was acknowledged (a 303 to the record) exists exactly once, and no
  create, acknowledged or not, exists twice;
* every order has all its lines and the total they make; there is no order without lines;
* every edit that was acknowledged is kept (or was replaced by a later edit of the same
  client);
* every job ran exactly once (its effect commits with its "done" mark, engine/jobs);
* once the faults stop, the service recovers: after one more termination of every
  connection, a round of requests succeeds without a single error.

The faults are placed by progress (how much of the load is done), not by the clock.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from formutil import form_values

PG_URL = os.environ.get("TAILOR_TEST_DATABASE_URL")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PG_URL, reason="the load test with faults needs PostgreSQL: set "
                                          "TAILOR_TEST_DATABASE_URL (CI does); it kills database "
                                          "connections, which SQLite does not have"),
]

CLIENTS = 4  # load threads, one signed-in user each
ITERATIONS = 24  # per client: a contact, an edit, reads; an order every third iteration
LINES = 3  # lines per order
RUNNERS = 6  # `tailor worker` processes
JOB_BATCHES = ((0.0, 80), (0.25, 80), (0.45, 80))  # (progress, jobs queued then)
PASSWORD = "load-pass-1"
BARE_ERROR = "<h1><p>Internal Server Error</p></h1>"  # gunicorn's, when the app's error page failed
PROBE_PLUGIN = '''
"""A test plugin: a job that records that it ran, in the transaction of its "done" mark."""
import os
import time

import sqlalchemy as sa


def probe(job):
    with job.service.transaction() as conn:
        conn.execute(sa.text("INSERT INTO load_probe_effect (job_id, job_key, pid) VALUES (:id, :key, :pid)"),
                     {"id": job.job_id, "key": job.payload["key"], "pid": os.getpid()})
        time.sleep(float(job.payload.get("sleep", 0)))  # a job takes a while: a kill may land in it


def tailor_job_handlers():
    return {"load.probe": probe}
'''


# -- processes ------------------------------------------------------------------------------------
class Processes:
    """Every process the test starts, each in its own process group: all killed at the end."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.started.append(process)
        return process

    def log(self, name: str, tail: int = 4000) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for process in self.started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not refused
                pass


@pytest.fixture
def processes(tmp_path):
    started = Processes(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
def load_database():
    """A PostgreSQL database of its own: terminating "every connection of the database"
    must not reach the other tests' connections (they share the test database)."""
    name = f"tailor_load_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def terminate_connections(url: str) -> int:
    """Every other connection to the database ends, as when PostgreSQL restarts."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return len(conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()").all())
    finally:
        engine.dispose()


# -- a browser ------------------------------------------------------------------------------------


def setting(values: list[tuple[str, str]], **changes: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in values if k not in changes] + list(changes.items())


class Failed(Exception):
    """No answer (the connection broke) or a server error."""


@dataclass
class Answer:
    status: int
    location: str
    text: str


class Browser:
    """One user's browser: a cookie jar and a new connection per request (no redirects followed)."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.server_errors: list[tuple[str, str, int]] = []
        self.bare_errors: list[str] = []  # server errors whose error page itself failed

    def send(self, method: str, path: str, data: list[tuple[str, str]] | None = None) -> Answer:
        headers = {"Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if data is not None:
            body = urlencode(data)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            for cookie in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = cookie.partition("=")
                value = rest.split(";", 1)[0]
                if value and "expires=thu, 01 jan 1970" not in cookie.lower():
                    self.cookies[name.strip()] = value
                else:
                    self.cookies.pop(name.strip(), None)
        except (OSError, http.client.HTTPException) as exc:
            raise Failed(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        finally:
            conn.close()
        if response.status >= 500:
            self.server_errors.append((method, path, response.status))
            if BARE_ERROR in text:
                self.bare_errors.append(f"{method} {path}")
            raise Failed(f"{method} {path}: {response.status}")
        return Answer(response.status, response.headers.get("Location", ""), text)

    def get_page(self, path: str, tries: int = 20) -> str:
        for _ in range(tries):
            try:
                answer = self.send("GET", path)
            except Failed:
                time.sleep(0.3)
                continue
            assert answer.status == 200, (path, answer.status, answer.text[-2000:])
            return answer.text
        raise AssertionError(f"GET {path} kept failing")

    def sign_in(self, username: str) -> None:
        for _ in range(20):
            html = self.get_page("/sign-in")
            match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
                r'value="([^"]+)"[^>]*name="csrf_token"', html)
            token = match.group(1)
            try:
                answer = self.send("POST", "/sign-in", [("csrf_token", token), ("username", username),
                                                        ("password", PASSWORD)])
            except Failed:
                time.sleep(0.3)
                continue
            assert answer.status == 302, (answer.status, answer.text[-2000:])
            return
        raise AssertionError(f"{username} could not sign in")

    def post_form(self, path: str, data: list[tuple[str, str]], tries: int = 12) -> tuple[str, Answer | None]:
        """Post a form, and again (the same form) while it fails. The outcome:
        'acked' (303), 'sent_again' (409: an earlier attempt was saved), 'conflict' (409 on
        an edit), 'refused' (another 4xx) or 'failed' (never answered)."""
        for attempt in range(tries):
            try:
                answer = self.send("POST", path, data)
            except Failed:
                time.sleep(0.2 + 0.1 * attempt)
                continue
            if answer.status == 303:
                return "acked", answer
            if answer.status == 409:
                return ("sent_again" if path.endswith("/new") else "conflict"), answer
            return "refused", answer
        return "failed", None


# -- the load ----------------------------------------------------------------------------------------
@dataclass
class Ledger:
    """What each client did and what it was told."""

    creates: list[dict] = field(default_factory=list)  # entity, marker, outcome, record_id, expected
    edits: list[dict] = field(default_factory=list)  # record_id, value, outcome
    reads: dict[str, int] = field(default_factory=dict)
    refused: list[tuple[str, int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: int = 0

    def add(self, kind: str, item) -> None:
        with self.lock:
            getattr(self, kind).append(item)


def record_id_of(answer: Answer, entity: str) -> int | None:
    match = re.search(rf"/e/{entity}/(\d+)$", answer.location) if answer.location else None
    if match is None and answer.status == 409:
        match = re.search(rf"/e/{entity}/(\d+)/edit", answer.text)
    return int(match.group(1)) if match else None


def order_lines(index: int) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(1 + (index + k) % 4), Decimal("12.50") + k) for k in range(LINES)]


def create(browser: Browser, ledger: Ledger, entity: str, marker: str, changes: list[tuple[str, str]],
           expected=None) -> int | None:
    html = browser.get_page(f"/e/{entity}/new")
    names = {k for k, _ in changes}
    values = [(k, v) for k, v in form_values(html) if k not in names and not k.startswith("lines-")] + changes
    outcome, answer = browser.post_form(f"/e/{entity}/new", values)
    record_id = record_id_of(answer, entity) if answer is not None and outcome in ("acked", "sent_again") else None
    if outcome == "refused":
        ledger.add("refused", (f"create {entity}", answer.status, answer.text[-1500:]))
    ledger.add("creates", {"entity": entity, "marker": marker, "outcome": outcome, "record_id": record_id,
                           "expected": expected})
    return record_id if outcome == "acked" else None


def edit(browser: Browser, ledger: Ledger, record_id: int, value: str) -> None:
    html = browser.get_page(f"/e/contact/{record_id}/edit")
    outcome, answer = browser.post_form(f"/e/contact/{record_id}/edit", setting(form_values(html), job_title=value))
    if outcome == "refused":
        ledger.add("refused", ("edit contact", answer.status, answer.text[-1500:]))
    ledger.add("edits", {"record_id": record_id, "value": value, "outcome": outcome})


def client_load(number: int, browser: Browser, ledger: Ledger, customer: int, product: int) -> None:
    mine: list[int] = []
    for i in range(ITERATIONS):
        marker = f"load-{number}-{i}"
        created = create(browser, ledger, "contact", marker, [
            ("name_first", f"Load{number}"), ("name_last", f"Person{i}"), ("customer", str(customer)),
            ("email", f"{marker}@example.com"), ("notes", marker)])
        if created is not None:
            mine.append(created)
        if i % 3 == 0:
            lines = order_lines(i)
            rows = []
            for k, (quantity, price) in enumerate(lines):
                rows += [(f"lines-{k}-id", ""), (f"lines-{k}-product", str(product)),
                         (f"lines-{k}-quantity", str(quantity)), (f"lines-{k}-unit_price", str(price)),
                         (f"lines-{k}-discount", "0")]
            create(browser, ledger, "sales_order", f"order-{number}-{i}",
                   [("customer", str(customer)), ("notes", f"order-{number}-{i}"), *rows],
                   expected=sum((q * p for q, p in lines), Decimal(0)))
        if mine:
            edit(browser, ledger, mine[-1], f"edit-{number}-{i}")
        for path in ("/e/contact", f"/e/contact/{mine[-1]}" if mine else "/e/customer", "/e/sales_order"):
            try:
                status = browser.send("GET", path).status
            except Failed:
                status = 0
            with ledger.lock:
                ledger.reads[str(status)] = ledger.reads.get(str(status), 0) + 1
        with ledger.lock:
            ledger.done += 1


# -- the test -------------------------------------------------------------------------------------------
def test_load_with_faults_loses_nothing_doubles_nothing_and_recovers(tmp_path, load_database, processes):
    from engine.jobs import LEASE, JobRunner, job_handlers, now_utc, schedule
    from engine.migrate import apply_plan, plan_migration
    from engine.model import load_model
    from engine.paths import EXAMPLES
    from engine.permissions.org import set_roles
    from engine.records import Context, RecordService
    from engine.storage import make_engine, write_engine
    from engine.users import create_user

    # the demo CRM's YAML, with a test plugin for the jobs
    project = tmp_path / "crm"
    shutil.copytree(EXAMPLES / "crm", project, ignore=shutil.ignore_patterns("instance", "demo"))
    settings = project / "tailor.yaml"
    text = settings.read_text(encoding="utf-8")
    assert "plugins: [cn_fields]" in text
    settings.write_text(text.replace("plugins: [cn_fields]", "plugins: [cn_fields, ./load_probe.py]"), encoding="utf-8")
    (project / "load_probe.py").write_text(PROBE_PLUGIN, encoding="utf-8")

    url = load_database
    model = load_model(project)
    engine = make_engine(url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE load_probe_effect (id serial PRIMARY KEY, job_id integer NOT NULL, "
                             "job_key text NOT NULL, pid integer NOT NULL)")
    service = RecordService(model, engine)
    customer = service.create("customer", {"name": "Load Test Ltd"}, Context())["id"]
    product = service.create("product", {"sku": "LOAD-1", "name": "Load part", "list_price": "12.50"}, Context())["id"]
    for number in range(CLIENTS):
        user_id = create_user(engine, f"load{number}", PASSWORD, display_name=f"Load {number}")
        with write_engine(engine).begin() as conn:
            set_roles(conn, user_id, ("admin",), model.roles)

    env = {**os.environ, "TAILOR_PROJECT": str(project), "TAILOR_DATABASE_URL": url,
           "TAILOR_SECRET_KEY": "load-test-secret", "TAILOR_JOBS": "off", "PYTHONUNBUFFERED": "1"}
    port = free_port()
    master = processes.start("gunicorn", [sys.executable, "-m", "gunicorn", "--workers", "4", "--bind",
                                          f"127.0.0.1:{port}", "--timeout", "120", "engine.web:create_app()"], env)
    tailor = str(Path(sys.executable).with_name("tailor"))
    runners = [processes.start(f"runner{n}", [tailor, "worker", str(project), "--interval", "0.2"], env)
               for n in range(RUNNERS)]

    browsers = [Browser(port) for _ in range(CLIENTS)]
    deadline = time.monotonic() + 120
    while len(children(master.pid)) < 4 or not _healthy(port):
        assert master.poll() is None, processes.log("gunicorn")
        assert time.monotonic() < deadline, "gunicorn did not start:\n" + processes.log("gunicorn")
        time.sleep(0.3)
    for number, browser in enumerate(browsers):
        browser.sign_in(f"load{number}")

    # the load, and the faults placed by its progress
    ledger = Ledger()
    total = CLIENTS * ITERATIONS
    threads = [threading.Thread(target=client_load, args=(n, b, ledger, customer, product), daemon=True)
               for n, b in enumerate(browsers)]
    queued: list[str] = []

    def queue_jobs(count: int) -> None:
        with write_engine(engine).begin() as conn:
            for _ in range(count):
                key = f"load-probe-{len(queued)}"
                schedule(conn, "load.probe", key, now_utc(), {"key": key, "sleep": 0.02})
                queued.append(key)

    faults: list[str] = []
    killed_worker: list[int] = []

    def kill_web_worker() -> None:
        pid = sorted(children(master.pid))[0]
        os.kill(pid, signal.SIGKILL)
        killed_worker.append(pid)
        faults.append(f"kill -9 gunicorn worker {pid}")

    def terminate() -> None:
        faults.append(f"terminated {terminate_connections(url)} connections")

    def kill_runner() -> None:
        os.kill(runners[0].pid, signal.SIGKILL)
        faults.append(f"kill -9 job runner {runners[0].pid}")

    plan = sorted([*((at, lambda n=n: queue_jobs(n)) for at, n in JOB_BATCHES),
                   (0.15, kill_web_worker), (0.3, terminate), (0.5, kill_runner), (0.65, terminate)],
                  key=lambda step: step[0])
    for thread in threads:
        thread.start()
    for at, step in plan:
        while ledger.done < at * total and any(t.is_alive() for t in threads):
            time.sleep(0.05)
        step()
    for thread in threads:
        thread.join(timeout=600)
        assert not thread.is_alive(), "a load client hung"
    assert len(faults) == 4, faults
    assert runners[0].wait(timeout=10) == -signal.SIGKILL

    # recovery: the killed worker was replaced; every connection ends once more while
    # nothing runs; then a round of requests succeeds, each at the first try
    deadline = time.monotonic() + 120
    while len(children(master.pid)) < 4 or killed_worker[0] in children(master.pid) or not _healthy(port):
        assert time.monotonic() < deadline, "gunicorn did not replace its worker:\n" + processes.log("gunicorn")
        time.sleep(0.3)
    errors_during_load = sum(len(b.server_errors) for b in browsers)
    bare = [e for b in browsers for e in b.bare_errors]
    terminate()
    after: list[str] = []
    for number, browser in enumerate(browsers):
        for round_ in range(3):
            for method, path in (("GET", "/e/contact"), ("GET", "/e/sales_order"), ("GET", f"/e/customer/{customer}"),
                                 ("GET", "/e/contact/new")):
                try:
                    answer = browser.send(method, path)
                    if answer.status != 200:
                        after.append(f"{path}: {answer.status}")
                except Failed as exc:
                    after.append(str(exc))
            html = browser.get_page("/e/contact/new", tries=1)
            marker = f"after-{number}-{round_}"
            values = setting(form_values(html), name_first="After", name_last=f"Person{round_}",
                             customer=str(customer), email=f"{marker}@example.com", notes=marker)
            try:
                answer = browser.send("POST", "/e/contact/new", values)
                ok = answer.status == 303
                if not ok:
                    after.append(f"create after the faults: {answer.status}")
            except Failed as exc:
                ok = False
                after.append(str(exc))
            ledger.add("creates", {"entity": "contact", "marker": marker, "outcome": "acked" if ok else "failed",
                                   "record_id": record_id_of(answer, "contact") if ok else None, "expected": None})
    assert after == [], f"requests failed after the faults had stopped: {after}\n" + processes.log("gunicorn")
    # a request the database dropped may fail (a 500), but its error page must not fail too
    assert bare == [], f"error pages that failed themselves: {bare}\n" + processes.log("gunicorn", 20000)

    # the job runners: the survivors stop; a job the killed runner held is taken again once
    # its lease has run out (a runner that comes later, here with its clock moved on)
    for runner in runners[1:]:
        runner.send_signal(signal.SIGTERM)
    for runner in runners[1:]:
        assert runner.wait(timeout=60) == 0, processes.log(f"runner{runners.index(runner)}")
    sweeper = JobRunner(lambda: service, job_handlers(model), name="sweeper")
    later = now_utc() + LEASE + timedelta(hours=2)  # past every lease and retry delay
    for _ in range(20):
        if not sweeper.run_due(later, limit=1000):
            break

    with engine.connect() as conn:
        jobs_done = dict(conn.exec_driver_sql(
            "SELECT key, status FROM tailor_job WHERE kind = 'load.probe'").all())
        effects = conn.exec_driver_sql("SELECT job_key, count(*) FROM load_probe_effect GROUP BY job_key").all()
        effect_pids = {row[0] for row in conn.exec_driver_sql("SELECT DISTINCT pid FROM load_probe_effect")}
        contacts = conn.exec_driver_sql("SELECT id, notes, job_title FROM contact").all()
        orders = conn.exec_driver_sql("SELECT id, notes, total FROM sales_order").all()
        lines = conn.exec_driver_sql("SELECT parent_id, count(*), sum(quantity * unit_price), sum(amount) "
                                     "FROM sales_order__lines GROUP BY parent_id").all()
    engine.dispose()

    # jobs: each one done, and its effect committed exactly once
    assert len(queued) == sum(n for _, n in JOB_BATCHES)
    assert {k: s for k, s in jobs_done.items() if s != "done"} == {}
    assert set(jobs_done) == set(queued)
    counts = dict(effects)
    assert {k: n for k, n in counts.items() if n != 1} == {}, "a job ran twice"
    assert set(counts) == set(queued), "a job's effect is missing"
    assert len(effect_pids) >= 2, "the runners did not share the work"

    # creates: each acknowledged one exists exactly once, none twice
    by_marker: dict[str, list[int]] = {}
    for record_id, notes, _ in contacts:
        by_marker.setdefault(notes, []).append(record_id)
    for record_id, notes, _ in orders:
        by_marker.setdefault(notes, []).append(record_id)
    doubled = {m: ids for m, ids in by_marker.items() if len(ids) > 1}
    assert doubled == {}, f"records saved twice: {doubled}"
    outcomes: dict[str, int] = {}
    for item in ledger.creates:
        outcomes[item["outcome"]] = outcomes.get(item["outcome"], 0) + 1
        found = by_marker.get(item["marker"], [])
        if item["outcome"] in ("acked", "sent_again"):
            assert found == [item["record_id"]], f"an acknowledged create is lost: {item}, found {found}"
    assert outcomes.get("acked", 0) >= len(ledger.creates) // 2, outcomes
    assert ledger.refused == [], f"writes refused with a 4xx: {ledger.refused}"

    # orders: all lines or none of the order
    line_rows = {parent: (n, quantity_price, amount) for parent, n, quantity_price, amount in lines}
    expected = {item["marker"]: item["expected"] for item in ledger.creates if item["entity"] == "sales_order"}
    for order_id, notes, total in orders:
        assert order_id in line_rows, f"an order without its lines: {notes}"
        n, quantity_price, amount = line_rows[order_id]
        assert n == LINES and quantity_price == expected[notes] == amount == total, (notes, line_rows[order_id], total)

    # edits: an acknowledged edit is kept, unless a later edit of the same client replaced it
    final = {record_id: job_title for record_id, _, job_title in contacts}
    history: dict[int, list[dict]] = {}
    for item in ledger.edits:
        history.setdefault(item["record_id"], []).append(item)
    for record_id, attempts in history.items():
        acked = [i for i, item in enumerate(attempts) if item["outcome"] == "acked"]
        start = acked[-1] if acked else 0
        allowed = {item["value"] for item in attempts[start:]} | (set() if acked else {None})
        assert final[record_id] in allowed, (record_id, final[record_id], attempts)

    print(f"\nfaults: {faults}; creates: {outcomes}; edits: {len(ledger.edits)}; reads: {ledger.reads}; "
          f"server errors during the faults: {errors_during_load}; jobs: {len(queued)} run once each by "
          f"{len(effect_pids)} processes")


def _healthy(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
