"""Web figures for `make bench`: the generated list page against a hand-written one.

Both pages run under gunicorn with the same number of workers, on the same database (a
1,000,000-row opportunity table from examples/crm by default), and are loaded by `wrk` from
a second process on loopback. The hand-written pages (bench/baseline_app.py) are what a
developer would write without Tailor, Flask + SQLAlchemy Core, same filter, sort, 50 rows:
the equivalent page (the same page by hand: sign-in, count, locale formats, filters, menu),
which the 0.7x target is judged against, and the minimal page (rows only, raw values, no
sign-in), printed as the strictest comparison. Also measured: the create-form POST rate
and the memory of one worker.
Figures are medians of `RUNS` rounds, each round measuring the pages compared in turn (so
a load that comes and goes is shared by both); the ratio is what matters on a noisy 2-core
machine.
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

from engine.migrate import apply_plan, plan_migration  # noqa: E402
from engine.model import load_model  # noqa: E402
from engine.permissions.org import set_roles  # noqa: E402
from engine.storage import make_engine, write_engine  # noqa: E402
from engine.users import create_user  # noqa: E402

ROWS = int(os.environ.get("BENCH_LIST_ROWS", 1_000_000))
WORKERS = int(os.environ.get("BENCH_WORKERS", 4))
DURATION = os.environ.get("BENCH_DURATION", "5s")
RUNS = int(os.environ.get("BENCH_RUNS", 3))
PG_URL = os.environ.get("TAILOR_BENCH_DATABASE_URL") or os.environ.get("TAILOR_TEST_DATABASE_URL")
PROJECT = ROOT / "bench" / "project"  # examples/crm plus a role with an expression scope
OWNERS = 50  # the opportunities are spread over this many sales reps (an `own` page sees 2 %)
LIST_PATH = "/e/opportunity?stage=proposal&sort=-close_date"
SEARCH = "q=deal%2012344"  # two words (a proposal: n % 6 == 2), both folded (Tailor) / one ILIKE (the hand-written page)
BASELINE_PATH = "/opportunities?stage=proposal"
FULL_BASELINE_PATH = "/full/opportunities?stage=proposal"
PASSWORD = "bench-pass-1"
ONLY = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")  # e.g. BENCH_DATABASES=postgresql


def fill(engine, rows: int, first_owner: int) -> None:
    """Customers and `rows` opportunities, inserted by the database itself."""
    with engine.begin() as conn:
        pg = conn.dialect.name == "postgresql"
        series = ("generate_series(1, {n}) AS g(n)" if pg else
                  "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {n}) SELECT n FROM s) AS g")
        now = "now()" if pg else "datetime('now')"
        day = ("(date '2026-01-01' + (g.n % 700))" if pg else "date('2026-01-01', '+' || (g.n % 700) || ' days')")
        conn.execute(sa.text(
            f"INSERT INTO customer (created_at, updated_at, version, name, classification, level, country) "
            f"SELECT {now}, {now}, 1, 'Customer ' || g.n, 'regular', 'medium', 'China' FROM {series.format(n=1000)}"))
        stages = "CASE g.n % 6 WHEN 0 THEN 'prospecting' WHEN 1 THEN 'qualification' WHEN 2 THEN 'proposal' " \
                 "WHEN 3 THEN 'negotiation' WHEN 4 THEN 'won' ELSE 'lost' END"
        conn.execute(sa.text(
            f"INSERT INTO opportunity (created_at, updated_at, version, title, tailor_search, customer, stage, amount, "
            f"amount_currency, probability, expected_revenue, close_date, owner) "
            # tailor_search: the folded search key the records service keeps (opportunities search their title)
            f"SELECT {now}, {now}, 1, 'Deal ' || g.n, 'deal ' || g.n, 1 + g.n % 1000, {stages}, 1000 + g.n % 90000, 'CNY', 50, "
            f"(1000 + g.n % 90000) / 2, {day}, {first_owner} + g.n % {OWNERS} FROM {series.format(n=rows)}"))
        if not pg:
            conn.exec_driver_sql("ANALYZE")  # planner statistics, as any production database has
    if engine.dialect.name == "postgresql":  # statistics and the visibility map, as autovacuum keeps them
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


FORM_TOKENS = 40_000  # one-time create-form tokens made for the POST run (2 wrk threads, half each)


def form_tokens_for(user_id: int, entity: str, secret: str, count: int) -> list[str]:
    """Create-form tokens as the server issues them (engine/web/form_tokens.py `issue`)."""
    import secrets

    from itsdangerous import URLSafeSerializer

    from engine.web import form_tokens

    signer = URLSafeSerializer(secret, salt=form_tokens._SALT)
    return [signer.dumps({"n": secrets.token_urlsafe(24), "u": user_id, "e": entity}) for _ in range(count)]


def gunicorn(app: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    command = [str(ROOT / ".venv" / "bin" / "gunicorn"), "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}",
               "--log-level", "warning", app]
    proc = subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT, start_new_session=True)
    for _ in range(150):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"{app} did not start")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def session_cookie(port: int, username: str = "bench") -> tuple[str, str]:
    """The session cookie of a signed-in user, and the CSRF token of that session."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(f"http://127.0.0.1:{port}/sign-in").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    data = urllib.parse.urlencode({"username": username, "password": PASSWORD, "csrf_token": token}).encode()
    opener.open(f"http://127.0.0.1:{port}/sign-in", data=data)
    # a page with a form puts the CSRF secret into the session: do it before reading the cookie
    # (every page has one: the sign-out form)
    page = opener.open(f"http://127.0.0.1:{port}/home").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    return "; ".join(f"{c.name}={c.value}" for c in jar), token


def baseline_cookie(port: int) -> str:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"http://127.0.0.1:{port}/bench-sign-in/bench")
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def rate_ratio(ours: dict[str, float], theirs: dict[str, float]) -> float:
    """ours / theirs in requests per second; 0 when theirs answered nothing in the time (a
    page slower than wrk's timeout: the figures printed beside it say so)."""
    return ours["rps"] / theirs["rps"] if theirs["rps"] else 0.0


def figures(result: dict[str, float]) -> str:
    return (f"{result['rps']:.0f} req/s (p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, "
            f"failed {result['errors']:.0f})")


def wrk(url: str, cookie: str | None = None, script: str | None = None) -> dict[str, float]:
    # a slow page (a search scanning every row) must be timed, not dropped: wrk's default 2 s
    # timeout would leave no latency and hide the failures
    command = ["wrk", "-t2", "-c8", f"-d{DURATION}", "--timeout", "30s", "--latency"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    if script:
        command += ["-s", script]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"Socket errors:.*timeout (\d+)", out)
    return {"rps": rps, "p50": _latency(out, "50%"), "p99": _latency(out, "99%"),
            "errors": (int(non_2xx.group(1)) if non_2xx else 0) + (int(timeouts.group(1)) if timeouts else 0)}


def _latency(out: str, label: str) -> float:
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def paired_runs(*fns) -> list[dict[str, float]]:
    """Medians of `RUNS` rounds, each running every page once in turn: on a shared machine
    the load moves within a minute, and pages measured one block after the other would
    each get a different share of it (the ratio, not the figures, is what is judged)."""
    rounds = [[fn() for fn in fns] for _ in range(RUNS)]
    return [{k: statistics.median(r[i][k] for r in rounds) for k in rounds[0][i]} for i in range(len(fns))]


def worker_memory_mb(proc: subprocess.Popen) -> float:
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    sizes = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)
    return statistics.median(sizes) if sizes else 0.0


def databases():
    tmp = Path(tempfile.mkdtemp(prefix="tailor-webbench-"))
    if "sqlite" in ONLY:
        yield "sqlite", f"sqlite:///{tmp / 'web.sqlite'}"
    if PG_URL and "postgresql" in ONLY:
        schema = f"webbench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG_URL)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in PG_URL else "?"
        try:
            yield "postgresql", f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()


def bench(name: str, url: str) -> None:
    model = load_model(PROJECT, entry_points=False)
    engine = make_engine(url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    with write_engine(engine).begin() as conn:
        # the unscoped page: a role that reaches every row (through the permission checks)
        bench_user = create_user(conn, "bench", PASSWORD, display_name="Bench")
        set_roles(conn, bench_user, ["admin"], model.roles)
        set_roles(conn, create_user(conn, "bench.big", PASSWORD), ["big_deals"], model.roles)
        reps = [create_user(conn, "bench.rep", PASSWORD)] + [create_user(conn, f"bench.rep{i}", None)
                                                              for i in range(1, OWNERS)]
        for rep in reps:
            set_roles(conn, rep, ["sales_rep"], model.roles)
    assert reps == list(range(reps[0], reps[0] + OWNERS))
    start = time.perf_counter()
    fill(engine, ROWS, reps[0])
    engine.dispose()
    print(f"[{name}] {ROWS:,} opportunities loaded in {time.perf_counter() - start:.0f} s")
    env = {"TAILOR_PROJECT": str(PROJECT), "TAILOR_DATABASE_URL": url, "TAILOR_SECRET_KEY": "bench",
           "BENCH_DATABASE_URL": url}
    tailor = gunicorn("engine.web:create_app()", 8801, env)
    baseline = gunicorn("bench.baseline_app:app", 8802, env)
    try:
        cookie, token = session_cookie(8801)
        probe = _get(8801, LIST_PATH, cookie)
        assert "Deal " in probe, "the list page did not answer with rows: check LIST_PATH and sign-in"
        base_cookie = baseline_cookie(8802)
        assert "Deal " in _get(8802, FULL_BASELINE_PATH, base_cookie), "the equivalent hand-written page failed"
        ours, full, minimal = paired_runs(lambda: wrk(f"http://127.0.0.1:8801{LIST_PATH}", cookie),
                                          lambda: wrk(f"http://127.0.0.1:8802{FULL_BASELINE_PATH}", base_cookie),
                                          lambda: wrk(f"http://127.0.0.1:8802{BASELINE_PATH}"))
        print(f"[{name}] list page, 50 rows, 1 filter, 1 sort, {WORKERS} workers: Tailor {figures(ours)}")
        for label, theirs in (("hand-written, same page (sign-in, count, locale formats, filters, menu)", full),
                              ("hand-written, minimal (rows only, raw values, no sign-in)", minimal)):
            ratio = rate_ratio(ours, theirs)
            verdict = f"target >= 0.7x: {'OK' if ratio >= 0.7 else 'MISSED'}" if theirs is full else "context"
            print(f"[{name}]   vs {label}: {figures(theirs)}; ratio {ratio:.2f}x; {verdict}")
        search_path, base_search_path = f"{LIST_PATH}&{SEARCH}", f"{FULL_BASELINE_PATH}&{SEARCH}"
        assert "Deal 12344<" in _get(8801, search_path, cookie), "the search found nothing: is tailor_search filled?"
        assert "Deal 12344<" in _get(8802, base_search_path, base_cookie)
        searched, base_searched = paired_runs(lambda: wrk(f"http://127.0.0.1:8801{search_path}", cookie),
                                              lambda: wrk(f"http://127.0.0.1:8802{base_search_path}", base_cookie))
        ratio = rate_ratio(searched, base_searched)
        print(f"[{name}] list page searched ('deal 12344', case and accents ignored): {figures(searched)}; "
              f"vs the same page by hand (ILIKE on the title) {figures(base_searched)}; ratio {ratio:.2f}x; "
              f"target >= 0.7x: {'OK' if ratio >= 0.7 else 'MISSED'}")
        scoped = {"own": session_cookie(8801, "bench.rep")[0],
                  "expression (amount >= 45000)": session_cookie(8801, "bench.big")[0]}
        for label, scoped_cookie in scoped.items():
            assert "Deal " in _get(8801, LIST_PATH, scoped_cookie), f"the {label} page shows no rows"
            result, unscoped = paired_runs(lambda c=scoped_cookie: wrk(f"http://127.0.0.1:8801{LIST_PATH}", c),
                                           lambda: wrk(f"http://127.0.0.1:8801{LIST_PATH}", cookie))
            ratio = rate_ratio(result, unscoped)
            print(f"[{name}] list page with the {label} scope: {figures(result)}; vs the unscoped page "
                  f"{ratio:.2f}x; target >= 0.8x: {'OK' if ratio >= 0.8 else 'MISSED'}")
        script = Path(tempfile.mkdtemp()) / "post.lua"
        if token:
            body = urllib.parse.urlencode({"csrf_token": token, "level": "low",
                                           "classification": "regular", "country": "China",
                                           "name": "Bench customer"})  # last: each request appends a number
            # a create form carries a one-time token (engine/web/form_tokens.py: a form posted
            # twice makes one record), which a browser gets with each form it opens: made here as
            # the server issues them (signed with its secret), one per request, taken in turn
            tokens = form_tokens_for(bench_user, "customer", "bench", FORM_TOKENS)
            script.write_text(
                "tokens = {" + ",".join(f'"{t}"' for t in tokens) + "}\n"
                # wrk.format() with a headers table drops wrk.headers (the session cookie): copy them in
                # each wrk thread numbers its own requests: tell them apart, as names are unique
                "counter = 0\nlocal threads = 0\n"
                "setup = function(thread) threads = threads + 1; thread:set('tid', threads) end\n"
                "request = function()\n  counter = counter + 1\n"
                "  local headers = {}\n  for k, v in pairs(wrk.headers) do headers[k] = v end\n"
                "  headers['Content-Type'] = 'application/x-www-form-urlencoded'\n"
                f"  local token = tokens[(tonumber(tid) - 1) * {FORM_TOKENS // 2} + counter]\n"
                f"  local body = \"{body}\" .. \"%20\" .. tid .. \"-\" .. counter .. \"&form_token=\" .. token\n"
                "  return wrk.format('POST', nil, headers, body)\n"
                "end\n")
            posts = wrk("http://127.0.0.1:8801/e/customer/new", cookie, str(script))
            created = _count(url, "customer") - 1000
            print(f"[{name}] create-form POST ({created:,} customers created): {posts['rps']:.0f} req/s (p50 {posts['p50']:.1f} ms, "
                  f"p99 {posts['p99']:.1f} ms, failed {posts['errors']})")
        print(f"[{name}] memory of one worker after the runs: {worker_memory_mb(tailor):.0f} MB "
              f"(hand-written: {worker_memory_mb(baseline):.0f} MB)")
    finally:
        stop(tailor)
        stop(baseline)


def _count(url: str, table: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return n


def _get(port: int, path: str, cookie: str) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Cookie": cookie})
    return urllib.request.urlopen(request).read().decode()


def main() -> None:
    if subprocess.run(["which", "wrk"], capture_output=True).returncode != 0:
        print("wrk is not installed (apt-get install wrk): web figures skipped")
        return
    for name, url in databases():
        bench(name, url)


if __name__ == "__main__":
    main()
