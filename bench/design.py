"""Designer figures for `make bench` (issue 12): adding a field to a 1,000,000-row table.

For each database (SQLite, and PostgreSQL when TAILOR_BENCH_DATABASE_URL or
TAILOR_TEST_DATABASE_URL is set) and each table size (1,000 rows, the baseline measured
in the same run, and 1,000,000 rows), a fresh database holds a small project whose
`customer` table is filled by the database itself. The app is served by gunicorn in
ANOTHER process, where a sales rep is signed in. Then, several times, an admin's change
set (a new field placed in the form section) goes through the designer service:

* preview: checks, plan, SQL and rows affected (an estimate on the big table);
* apply: one transaction (migrate, store the change set, record the metadata version);
* served: from the end of apply until the other process answers the rep's new-record form
  with the new field (it notices the new metadata version on its next request).

Two kinds of field alternate: an optional text field, and a required choice field with a
default (one `ADD COLUMN ... NOT NULL DEFAULT`, engine/migrate/column_changes.py).
Two more changes are timed once each, as context, because they must read every row: a
UNIQUE field (its index is built over the table) and a required text field with a default
(the value joins every record's search key, one UPDATE).
Figures are medians; the ratio 1,000,000 vs 1,000 rows is what matters (flat means close
to 1) on a small, noisy machine. Nothing here is a test: the tests assert what is sent to
the database (tests/migrate/test_large_table_fields.py), never how long it takes.
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from http.cookiejar import CookieJar
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import design  # noqa: E402
from engine.design.service import record_version  # noqa: E402
from engine.migrate import apply_plan, plan_migration  # noqa: E402
from engine.model import load_model  # noqa: E402
from engine.permissions.org import set_roles  # noqa: E402
from engine.records import Actor  # noqa: E402
from engine.storage import make_engine, write_engine  # noqa: E402
from engine.users import create_user  # noqa: E402

BIG_ROWS = int(os.environ.get("BENCH_BIG_ROWS", 1_000_000))
SMALL_ROWS = 1_000
REPEAT = int(os.environ.get("BENCH_DESIGN_REPEAT", 6))  # change sets applied per database and size
WORKERS = int(os.environ.get("BENCH_DESIGN_WORKERS", 2))
PORT = int(os.environ.get("BENCH_DESIGN_PORT", 8811))
PG_URL = os.environ.get("TAILOR_BENCH_DATABASE_URL") or os.environ.get("TAILOR_TEST_DATABASE_URL")
ONLY = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
PASSWORD = "bench-pass-1"
SERVED_WITHIN = 60.0  # seconds: a worker that has not shown the field by then is reported as a failure

SECTION = {"section": {"en": "Main", "zh": "主要"}, "fields": ["name", "phone", "level"]}
FILES = {
    "tailor.yaml": "name: designbench\nlanguages: [en, zh]\n",
    "entities/customer.yaml": """
entity: customer
label: {en: Customer, zh: 客户}
fields:
  name: {type: string, required: true, label: {en: Name, zh: 名称}}
  phone: {type: string, label: {en: Phone, zh: 电话}}
  level: {type: choice, options: [a, b, c], default: a}
form:
  sections:
    - section: {en: Main, zh: 主要}
      fields: [name, phone, level]
list:
  columns: [name, phone, level]
""",
    "roles.yaml": """
roles:
  rep:
    label: {en: Sales rep, zh: 销售代表}
    entities:
      customer: {actions: [read, create, update], scope: all}
""",
}
ADMIN = Actor(id=None, username="bench.admin", is_admin=True)


def write_project(root: Path) -> Path:
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def change_set(i: int, placed: list[str]) -> tuple[str, list[dict]]:
    """The i-th change: a new field, placed at the end of the form section."""
    name = f"extra_{i}"
    if i % 2:
        field = {"type": "choice", "options": ["gold", "silver"], "required": True, "default": "silver",
                 "label": {"en": f"Tier {i}", "zh": f"等级{i}"}}
    else:
        field = {"type": "string", "max_length": 40, "label": {"en": f"WeChat ID {i}", "zh": f"微信号{i}"}}
    placed.append(name)
    return name, [
        {"path": f"entities.customer.fields.{name}", "value": field},
        {"path": "entities.customer.form", "value": {"sections": [{**SECTION, "fields": [*SECTION["fields"], *placed]}]}},
    ]


def fill(engine: sa.engine.Engine, rows: int) -> None:
    """`rows` customers, inserted by the database itself (with their search keys)."""
    with engine.begin() as conn:
        pg = conn.dialect.name == "postgresql"
        series = ("generate_series(1, :n) AS g(n)" if pg else
                  "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :n) SELECT n FROM s) AS g")
        now = "now()" if pg else "datetime('now')"
        columns = {c["name"] for c in sa.inspect(conn).get_columns("customer")}
        search = ", tailor_search" if "tailor_search" in columns else ""
        search_value = ", 'customer ' || g.n" if search else ""
        conn.execute(sa.text(
            f"INSERT INTO customer (created_at, updated_at, version, name, phone, level{search}) "
            f"SELECT {now}, {now}, 1, 'Customer ' || g.n, '555-' || g.n, 'a'{search_value} FROM {series}"), {"n": rows})
        if not pg:
            conn.exec_driver_sql("ANALYZE")
    if engine.dialect.name == "postgresql":  # statistics, as autovacuum keeps them
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE customer")


def gunicorn(project: Path, url: str) -> subprocess.Popen:
    # "served" times noticing the new version and recompiling, flat or not with the table's
    # size: each page read looks (a worker's reads look at most once a second by default,
    # which would add up to a second of waiting to every figure, whatever the size)
    env = {**os.environ, "TAILOR_PROJECT": str(project), "TAILOR_DATABASE_URL": url, "TAILOR_SECRET_KEY": "bench",
           "TAILOR_MODEL_CHECK_SECONDS": "0"}
    command = [str(ROOT / ".venv" / "bin" / "gunicorn"), "--workers", str(WORKERS), "--bind", f"127.0.0.1:{PORT}",
               "--log-level", "warning", "engine.web:create_app()"]
    proc = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)
    for _ in range(150):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=1)
            return proc
        except Exception:
            time.sleep(0.2)
    stop(proc)
    raise RuntimeError("the app did not start")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def signed_in(username: str) -> urllib.request.OpenerDirector:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(f"http://127.0.0.1:{PORT}/sign-in").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    data = urllib.parse.urlencode({"username": username, "password": PASSWORD, "csrf_token": token}).encode()
    opener.open(f"http://127.0.0.1:{PORT}/sign-in", data=data)
    return opener


def form_has(opener: urllib.request.OpenerDirector, field: str) -> bool:
    html = opener.open(f"http://127.0.0.1:{PORT}/e/customer/new").read().decode()
    if 'name="name"' not in html:
        raise RuntimeError("the rep's new-customer form did not render: check the sign-in")
    return f'name="{field}"' in html


def until_served(opener: urllib.request.OpenerDirector, field: str) -> float:
    """Seconds until the other process's form shows `field` (requests back to back)."""
    start = time.perf_counter()
    while not form_has(opener, field):
        if time.perf_counter() - start > SERVED_WITHIN:
            raise RuntimeError(f"the other process did not serve {field} within {SERVED_WITHIN:.0f} s")
        time.sleep(0.01)
    return time.perf_counter() - start


def new_database(kind: str, tmp: Path, schemas: list[str], admin: sa.engine.Engine | None) -> str:
    name = f"designbench_{uuid.uuid4().hex[:8]}"
    if kind == "sqlite":
        return f"sqlite:///{tmp / (name + '.sqlite')}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    schemas.append(name)
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{name}"


def measure(kind: str, rows: int, root: Path, url: str) -> dict[str, list[float]]:
    model = load_model(root, entry_points=False)
    engine = make_engine(url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    with write_engine(engine).begin() as conn:
        record_version(conn, model)
        set_roles(conn, create_user(conn, "bench.rep", PASSWORD, display_name="Rep"), ["rep"], model.roles)
    start = time.perf_counter()
    fill(engine, rows)
    print(f"[{kind}] {rows:,} customers loaded in {time.perf_counter() - start:.1f} s", flush=True)
    figures: dict[str, list[float]] = {"preview": [], "apply": [], "served": []}
    server = gunicorn(root, url)
    try:
        rep = signed_in("bench.rep")
        placed: list[str] = []
        for i in range(REPEAT):
            field, ops = change_set(i, placed)
            if form_has(rep, field):
                raise RuntimeError(f"{field} is on the form before it was added")
            version = design.latest_version(engine)
            start = time.perf_counter()
            preview = design.preview(root, engine, ops, user=ADMIN, version=version)
            figures["preview"].append(time.perf_counter() - start)
            if not preview.ok:
                raise RuntimeError(f"the preview refused the change: {preview.problems or preview.refused}")
            estimated = getattr(preview.rows_affected.get("customer"), "estimated", False)
            start = time.perf_counter()
            design.apply(root, engine, ops, user=ADMIN, comment=f"bench {i}", expected_version=version)
            figures["apply"].append(time.perf_counter() - start)
            figures["served"].append(until_served(rep, field))
            if i < 2 and rows == BIG_ROWS:
                statements = [line for s in preview.sql for line in s.splitlines()
                              if line.startswith(("ALTER", "CREATE", "UPDATE"))]
                print(f"[{kind}] {rows:,} rows, {field}: preview says {preview.rows_affected['customer'].label('en')} "
                      f"rows affected{'' if estimated else ' (counted)'}; SQL: {' '.join(statements)}", flush=True)
        # context, not flat by nature: a unique field needs an index, built by reading every row
        field, ops = change_set(REPEAT, placed)
        ops[0]["value"] = {"type": "string", "max_length": 40, "unique": True, "label": {"en": "Code", "zh": "编码"}}
        version = design.latest_version(engine)
        start = time.perf_counter()
        design.apply(root, engine, ops, user=ADMIN, comment="bench unique", expected_version=version)
        figures["unique"] = [time.perf_counter() - start]
        until_served(rep, field)
        # context too: a required text field's default joins every record's search key (one UPDATE)
        field, ops = change_set(REPEAT + 1, placed)
        ops[0]["value"] = {"type": "string", "max_length": 40, "required": True, "default": "vip",
                           "label": {"en": "Segment", "zh": "细分"}}
        version = design.latest_version(engine)
        start = time.perf_counter()
        design.apply(root, engine, ops, user=ADMIN, comment="bench searched", expected_version=version)
        figures["searched"] = [time.perf_counter() - start]
        until_served(rep, field)
        with engine.connect() as conn:  # the data are all there, the required field filled
            n, filled = conn.execute(sa.text("SELECT count(*), count(extra_1) FROM customer")).one()
        if (n, filled) != (rows, rows):
            raise RuntimeError(f"after the changes: {n} rows, {filled} with the required field (expected {rows})")
    finally:
        stop(server)
        engine.dispose()
    return figures


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms"


def main() -> None:
    kinds = [k for k in ("sqlite", "postgresql") if k in ONLY and (k == "sqlite" or PG_URL)]
    admin = sa.create_engine(PG_URL) if PG_URL and "postgresql" in kinds else None
    schemas: list[str] = []
    total = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="tailor-designbench-") as tmp:
            for kind in kinds:
                results = {}
                for rows in (SMALL_ROWS, BIG_ROWS):
                    root = write_project(Path(tmp) / f"{kind}_{rows}")
                    results[rows] = measure(kind, rows, root, new_database(kind, Path(tmp), schemas, admin))
                for what, label in (("preview", "preview (checks, plan, SQL, rows affected)"),
                                    ("apply", "apply an added field (one transaction)"),
                                    ("served", "until another process serves the new form field"),
                                    ("unique", "context: apply an added UNIQUE field (builds an index: reads every "
                                               "row)"),
                                    ("searched", "context: apply a required text field with a default (joins every "
                                                 "search key: one UPDATE)")):
                    small, big = results[SMALL_ROWS][what], results[BIG_ROWS][what]
                    ratio = statistics.median(big) / statistics.median(small)
                    runs = f"median of {len(big)}; " if len(big) > 1 else "one run; "
                    flat = "; flat means close to 1" if what not in ("unique", "searched") else ""
                    print(f"[{kind}] {label}: {SMALL_ROWS:,} rows {ms(small)}, {BIG_ROWS:,} rows {ms(big)} "
                          f"({runs}ratio {ratio:.2f}x{flat})", flush=True)
    finally:
        if admin is not None:
            with admin.begin() as conn:
                for name in schemas:
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            admin.dispose()
    print(f"designer bench done in {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
