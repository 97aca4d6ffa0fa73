"""Every route, fed the values that broke pages before (issue 11, defect 3), answers without a 5xx.

The routes come from `app.url_map`, so a page added later is fuzzed too. Each path
parameter, each query parameter and each form field a route reads gets, one at a time,
ids beyond BIGINT and INTEGER, zero, negatives, non-ASCII digits, Python-only spellings
(`1_000`, `1e5`) and long text, as a signed-in admin and as a sales rep. No randomness, so a
failure names its URL and repeats.

Which query and form keys a route reads is learnt, not guessed (requestreads.py): a benign
request to the route notes every key its code looks up, and each of those keys is fuzzed; a
key read while fuzzing joins the list. A route that looks at a whole dict (iterates it, counts
it, copies it) is fuzzed with every key of the fixed lists below as well. A key the route never
looks up cannot change what it does, so sending it bad values would only repeat the benign
request; the one way such a key still reaches the code is the raw query string (the pages'
`request.full_path`, moved around as opaque text), so a route that reads it is also fuzzed with
one key of the list it does not read (test_raw_query_string_readers_are_known keeps that
assumption honest).

Each fuzz test runs in parts (`_parts`) so that both test processes share the work: a part is
one user and a share of the routes (the designer's slow previews spread over the parts), on a
demo database of its own. The parts of one test send together exactly the requests
the whole test would send, and each part checks that every route it was given was fuzzed.
"""

from __future__ import annotations

import re
from functools import partial
from urllib.parse import quote, urlsplit

import pytest
from requestreads import Reads, track_reads
from webutil import PASSWORD, csrf_of, make_user, sign_in

from engine import sessions
from engine.storage import user_sessions, users, write_engine
from engine.users import create_user
from engine.web.state import WebState

HUGE = str(2**63)
BAD_VALUES = [
    HUGE,                      # one past BIGINT
    str(2**64 + 7),
    "9" * 40,
    str(2**31),                # one past a 32-bit id column (PostgreSQL INTEGER)
    str(2**63 - 1),            # the largest BIGINT: a valid id that names nothing
    "0",
    "-1",
    "-" + HUGE,
    "abc",
    "١٢٣",                     # Arabic-Indic digits
    "１２３",                   # full-width digits
    "²",                       # a digit to str.isdigit(), not to int()
    "1_000",
    "1e5",
    "x" * 3000,
]
FEW_VALUES = [HUGE, str(2**31), "-1", "١٢٣", "²", "1_000", "x" * 3000]

# what pages read from query strings and forms (ids, numbers, names); a value is sent alone. A
# route is fuzzed with the keys it reads; these lists stand for "every key" when it reads a whole dict
QUERY_PARAMS = ["id", "page", "tab", "after", "sort", "q", "next", "view", "customer", "owner", "cols"]
FORM_PARAMS = ["id", "ids", "user_id", "task", "version", "stage", "parent", "manager_id", "department_id",
               "to", "user", "access", "customer", "amount", "name", "next", "back", "state", "language",
               "op", "comment"]
# what the form pages need besides the fuzzed field to get past their first check
FORM_CONTEXT = {"access": "read", "op": "approve"}
PATH_DEFAULTS = {"entity": "opportunity", "op": "withdraw", "name": "win"}
PLACEHOLDER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
SKIPPED = {"static", "asset"}  # files: no ids, no database


def _rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint not in SKIPPED]


def _path(rule, values: dict[str, str]) -> str:
    """The rule's URL with `values` put in as they are (no converter in the way)."""
    return PLACEHOLDER.sub(lambda m: quote(values[m.group(1)], safe=""), rule.rule)


def _defaults(rule, own: dict[str, str] | None = None) -> dict[str, str]:
    """Path values for a benign request; `own` overrides PATH_DEFAULTS for one user."""
    defaults = {**PATH_DEFAULTS, **(own or {})}
    return {name: defaults.get(name, "1") for name in rule.arguments}


# how many parts each user's share of a fuzz test is cut into (see _parts)
PATH_PARTS = {"root": 2, "rep": 1}
QUERY_PARTS = {"root": 2, "rep": 1}
FORM_PARTS = {"root": 4, "rep": 2}


def _parts(counts: dict[str, int]) -> list:
    """(user, part, parts) for each part of each user, as test parameters."""
    return [pytest.param(user, k, n, id=f"{user}-{k + 1}of{n}") for user, n in counts.items() for k in range(n)]


# the routes whose fuzz takes longest (each bad value is a designer preview: a compile of the
# project), in seconds measured on SQLite; any other route counts as half a second
ROUTE_SECONDS = {"design.list_layout": 21, "design.entity_edit": 13, "design.form_layout": 12,
                 "design.role_fields": 8}


def _rules_of_part(app, part: int, parts: int, wanted=lambda rule: True) -> list:
    """The `part`-th of `parts` shares of the routes the fuzz sends `wanted` requests to: the
    parts of a test cut the routes between them, each route in exactly one part, the slow ones
    first each to the part with the least work so far. In the app's order within a part."""
    rules = [rule for rule in _rules(app) if wanted(rule)]
    load = [0.0] * parts
    chosen = []
    for index in sorted(range(len(rules)), key=lambda i: -ROUTE_SECONDS.get(rules[i].endpoint, 0.5)):
        lightest = load.index(min(load))
        load[lightest] += ROUTE_SECONDS.get(rules[index].endpoint, 0.5)
        if lightest == part:
            chosen.append(index)
    return [rules[i] for i in sorted(chosen)]


@pytest.fixture
def fuzz_users(crm_app):
    state = WebState.of(crm_app)
    create_user(state.engine, "root", PASSWORD, is_admin=True)
    make_user(state.engine, state.model, "rep", roles=("sales_rep",))
    return ["root", "rep"]


def _client(app, username):
    client = app.test_client()
    # each user from an address of their own: the wrong current passwords one user's fuzz
    # sends to /account/password count against its address, and must not throttle the next
    # user's sign-in (a 429 whenever the run was fast enough)
    client.environ_base["REMOTE_ADDR"] = f"127.0.0.{10 + sum(map(ord, username)) % 200}"
    response = sign_in(client, username)
    assert response.status_code == 302, username
    token = csrf_of(client.get("/e/customer/new").get_data(as_text=True))
    return client, token


def _spare_session(app, username: str) -> int:
    """The id of a second session of `username`'s (started here, not by signing in again:
    repeated sign-ins are throttled). The form fuzz ends this one at /sessions/<id>/end; the
    default id 1 would be the first fuzzing user's own session, and ending it would send the
    rest of that user's fuzz to the sign-in page."""
    state = WebState.of(app)
    with write_engine(state.engine).begin() as conn:
        user_id = conn.execute(users.select().with_only_columns(users.c.id)
                               .where(users.c.username == username)).scalar_one()
        token = sessions.create_session(conn, user_id, "127.0.0.9", "spare session for the fuzz")
        return conn.execute(user_sessions.select().with_only_columns(user_sessions.c.id)
                            .where(user_sessions.c.token_hash == sessions.token_hash(token))).scalar_one()


def _to_sign_in(response) -> bool:
    return response.status_code in (301, 302, 303, 307, 308) and urlsplit(response.location).path == "/sign-in"


def _check(failures: list[str], send, what: str) -> None:
    """Send the request; a 5xx or an exception the app let through is a failure."""
    try:
        response = send()
    except Exception as exc:  # noqa: BLE001 - any escaping exception is the defect
        failures.append(f"{type(exc).__name__}: {str(exc)[:100]} <- {what}")
        return
    if response.status_code >= 500:
        failures.append(f"{response.status_code} <- {what}")


@pytest.mark.parametrize("username, part, parts", _parts(PATH_PARTS))
def test_path_parameters_never_give_a_server_error(crm_app, fuzz_users, username, part, parts):
    failures: list[str] = []
    assert username in fuzz_users
    client, token = _client(crm_app, username)
    rules = _rules_of_part(crm_app, part, parts)
    assert rules
    for rule in rules:
        for name in rule.arguments:
            for value in BAD_VALUES:
                url = _path(rule, {**_defaults(rule), name: value})
                for method in sorted(rule.methods & {"GET", "POST"}):
                    if method == "GET":
                        send = partial(client.get, url)
                    else:
                        send = partial(client.post, url, data={"csrf_token": token, **FORM_CONTEXT})
                    _check(failures, send, f"{username} {method} {url[:120]}")
    assert not failures, "\n".join(failures)


def _fuzz_keys(reads: Reads, source: str, listed: list[str]) -> set[str]:
    """The keys of `source` to fuzz after the requests `reads` saw."""
    keys = reads.of(source, listed)
    if source == "args" and reads.raw:  # the raw query string: any one key stands for the unread ones
        keys |= {next((k for k in listed if k not in keys), listed[0])}
    return keys


def _fuzz_route(failures, reads: Reads, send, source: str, listed: list[str], what: str) -> set[str]:
    """Send a benign request, then every bad value in each key the route reads (one at a time),
    until no request reveals a key not fuzzed yet. Returns the keys fuzzed."""
    reads.reset()
    _check(failures, partial(send, None, None), f"{what} (benign)")
    todo = _fuzz_keys(reads, source, listed)
    done: set[str] = set()
    while todo - done:
        key = sorted(todo - done)[0]
        done.add(key)
        for value in FEW_VALUES:
            reads.reset()
            _check(failures, partial(send, key, value), f"{what} {key}={value[:40]}")
            todo |= _fuzz_keys(reads, source, listed)
    return done


# what the learning must find in these pages (it cannot have fuzzed nothing), per user and endpoint
QUERY_KNOWN = {
    ("rep", "pages.approvals"): {"page", "tab"},
    ("rep", "pages.lookup"): {"q", "format"},
    ("rep", "pages.search"): {"q"},
    ("rep", "pages.list_page"): set(QUERY_PARAMS),  # read_state looks at every key
}


@pytest.mark.parametrize("username, part, parts", _parts(QUERY_PARTS))
def test_query_parameters_never_give_a_server_error(crm_app, fuzz_users, username, part, parts):
    reads = track_reads(crm_app)
    failures: list[str] = []
    fuzzed: dict[tuple[str, str], set[str]] = {}
    assert username in fuzz_users
    rules = _rules_of_part(crm_app, part, parts, lambda rule: "GET" in rule.methods)
    assert rules
    client, _token = _client(crm_app, username)
    for rule in rules:
        url = _path(rule, _defaults(rule))

        def send(key, value, url=url, client=client):
            return client.get(url, query_string={} if key is None else {key: value})

        fuzzed[username, rule.endpoint] = _fuzz_route(failures, reads, send, "args", QUERY_PARAMS,
                                                     f"{username} GET {url}")
    assert not failures, "\n".join(failures)
    assert set(fuzzed) == {(username, rule.endpoint) for rule in rules}  # every route of the part
    # the learning found what these pages are known to read (it cannot have fuzzed nothing); each
    # endpoint named is checked in the part that holds it
    gets = {rule.endpoint for rule in _rules(crm_app) if "GET" in rule.methods}
    assert {endpoint for _user, endpoint in QUERY_KNOWN} <= gets
    for (user, endpoint), keys in QUERY_KNOWN.items():
        if (user, endpoint) in fuzzed:
            assert keys <= fuzzed[user, endpoint], (endpoint, fuzzed[user, endpoint])


# what the learning must find in these forms, per user and endpoint
FORM_KNOWN = {
    ("rep", "pages.list_bulk_delete"): {"ids", "back"},
    ("rep", "pages.change_stage"): {"stage"},
    ("rep", "pages.chosen_task_operation"): {"task"},
    ("rep", "pages.share_record"): set(FORM_PARAMS),  # it refuses unknown keys: reads them all
    ("rep", "account.change_password"): {"current", "password", "confirm"},
}


def _posted(rule) -> bool:
    return "POST" in rule.methods and rule.endpoint != "auth.sign_out"


@pytest.mark.parametrize("username, part, parts", _parts(FORM_PARTS))
def test_form_fields_never_give_a_server_error(crm_app, fuzz_users, username, part, parts):
    reads = track_reads(crm_app)
    failures: list[str] = []
    fuzzed: dict[tuple[str, str], set[str]] = {}
    signed_out: dict[str, list[str]] = {}  # endpoint -> requests answered by the sign-in page
    assert username in fuzz_users
    rules = _rules_of_part(crm_app, part, parts, _posted)
    assert rules
    client, token = _client(crm_app, username)
    own = {"session_id": str(_spare_session(crm_app, username))}
    for rule in rules:
        url = _path(rule, _defaults(rule, own))

        def send(key, value, url=url, client=client, token=token, endpoint=rule.endpoint, username=username):
            data = {"csrf_token": token, **FORM_CONTEXT}
            if key is not None:
                data[key] = value
            response = client.post(url, data=data)
            if _to_sign_in(response):
                signed_out.setdefault(endpoint, []).append(f"{username} POST {url} {key}")
            return response

        fuzzed[username, rule.endpoint] = _fuzz_route(failures, reads, send, "form", FORM_PARAMS,
                                                     f"{username} POST {url}")
    # still signed in after every route: the fuzz reached them all as this user
    assert client.get("/sessions").status_code == 200, username
    assert not failures, "\n".join(failures)
    assert set(fuzzed) == {(username, rule.endpoint) for rule in rules}  # every route of the part
    # the designer's forms (the administrator's, in a part with /sessions/<id>/end fuzzed after
    # it) were reached signed in, and so was every other route
    designer = {e for user, e in fuzzed if user == "root" and e.startswith("design.")}
    if username == "root":
        assert designer, "no designer route fuzzed"
    assert not signed_out, signed_out
    assert {endpoint for _user, endpoint in FORM_KNOWN} <= {rule.endpoint for rule in _rules(crm_app)
                                                          if _posted(rule)}
    for (user, endpoint), keys in FORM_KNOWN.items():
        if (user, endpoint) in fuzzed:
            assert keys <= fuzzed[user, endpoint], (endpoint, fuzzed[user, endpoint])


# -- the key tracking the two tests above rely on -----------------------------------------------
def test_tracked_dicts_note_each_key_looked_up_and_whole_dict_reads():
    from requestreads import tracked
    from werkzeug.datastructures import CombinedMultiDict, ImmutableMultiDict

    reads = Reads()
    args = tracked(ImmutableMultiDict([("page", "2"), ("q", "x"), ("q", "y")]), reads, "args")
    form = tracked(ImmutableMultiDict([("stage", "won")]), reads, "form")
    assert args["page"] == "2" and args.get("missing") is None and args.getlist("q") == ["x", "y"]
    assert "tab" not in args and args.get("page", type=int) == 2
    assert reads.keys == {"args": {"page", "missing", "q", "tab"}, "form": set()}
    assert reads.everything == set() and reads.of("args", ["id"]) == {"page", "missing", "q", "tab"}
    assert CombinedMultiDict([args, form]).get("stage") == "won"  # request.values: looks in both
    assert reads.keys == {"args": {"page", "missing", "q", "stage", "tab"}, "form": {"stage"}}
    for whole in (list, len, bool, dict, lambda d: d.to_dict(), lambda d: list(d.items(multi=True)),
                  lambda d: d.copy(), lambda d: {**d}, lambda d: d == {}):
        reads.reset()
        whole(form)
        assert reads.everything == {"form"}, whole
        assert reads.of("form", ["id", "stage"]) == {"id", "stage"}


def test_requests_note_the_keys_their_route_reads(crm_app, fuzz_users):
    reads = track_reads(crm_app)
    client, token = _client(crm_app, "rep")
    reads.reset()
    assert client.get("/approvals", query_string={"tab": "mine", "zzz": "1"}).status_code == 200
    assert {"page", "tab"} <= reads.keys["args"] and "zzz" not in reads.keys["args"]
    assert reads.raw  # base.html's `next` field for the language switch
    reads.reset()
    assert client.get("/health").status_code == 200
    assert reads.keys == {"args": set(), "form": set()} and not reads.everything and not reads.raw
    reads.reset()
    client.post("/e/opportunity/bulk-delete", data={"csrf_token": token, "zzz": "1"})
    assert {"csrf_token", "ids", "back"} <= reads.keys["form"] and "form" not in reads.everything
    reads.reset()
    client.post("/e/opportunity/1/share", data={"csrf_token": token, "user_id": "1"})
    assert "form" in reads.everything  # it refuses keys it does not know: looks at them all


def test_raw_query_string_readers_are_known():
    """The fuzz sends one unread key, not all, to routes that read the raw query string: fine
    while the raw string is only carried along as text (a `next` address). A new reader of it
    must be looked at (and, if it parses the string itself, the fuzz must send every key)."""
    from engine.paths import ROOT

    found = set()
    for folder in ("engine", "templates", "plugins"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in {".py", ".html"}:
                for line in path.read_text(encoding="utf-8").splitlines():
                    if re.search(r"request\.(full_path|url\b|query_string|environ|base_url|script_root)", line):
                        found.add(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert found == {
        'engine/web/auth.py: return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))',
        # a read that met a newer model is sent to its own address again (engine/web/errors.py)
        "engine/web/errors.py: return redirect(request.full_path if request.query_string else request.path, 307)",
        "templates/base.html: <input type=\"hidden\" name=\"next\" value=\"{{ request.full_path.rstrip('?') }}\">",
    }, found
