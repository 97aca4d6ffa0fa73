"""Every route, fed the values that broke pages before (issue 11, defect 3), answers without a 5xx.

The routes come from `app.url_map`, so a page added later is fuzzed too. Each path
parameter, each common query parameter and each common form field gets, one at a time,
ids beyond BIGINT and INTEGER, zero, negatives, non-ASCII digits, Python-only spellings
(`1_000`, `1e5`) and long text, as a signed-in admin and as a sales rep. Bounded: a few
hundred requests per user, no randomness, so a failure names its URL and repeats.
"""

from __future__ import annotations

import re
from functools import partial
from urllib.parse import quote

import pytest
from webutil import PASSWORD, csrf_of, make_user, sign_in

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

# what pages read from query strings and forms (ids, numbers, names); a value is sent alone
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


def _defaults(rule) -> dict[str, str]:
    return {name: PATH_DEFAULTS.get(name, "1") for name in rule.arguments}


@pytest.fixture
def fuzz_users(crm_app):
    state = WebState.of(crm_app)
    create_user(state.engine, "root", PASSWORD, is_admin=True)
    make_user(state.engine, state.model, "rep", roles=("sales_rep",))
    return ["root", "rep"]


def _client(app, username):
    client = app.test_client()
    response = sign_in(client, username)
    assert response.status_code == 302, username
    token = csrf_of(client.get("/e/customer/new").get_data(as_text=True))
    return client, token


def _check(failures: list[str], send, what: str) -> None:
    """Send the request; a 5xx or an exception the app let through is a failure."""
    try:
        response = send()
    except Exception as exc:  # noqa: BLE001 - any escaping exception is the defect
        failures.append(f"{type(exc).__name__}: {str(exc)[:100]} <- {what}")
        return
    if response.status_code >= 500:
        failures.append(f"{response.status_code} <- {what}")


def test_path_parameters_never_give_a_server_error(crm_app, fuzz_users):
    failures: list[str] = []
    for username in fuzz_users:
        client, token = _client(crm_app, username)
        for rule in _rules(crm_app):
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


def test_query_parameters_never_give_a_server_error(crm_app, fuzz_users):
    failures: list[str] = []
    for username in fuzz_users:
        client, _token = _client(crm_app, username)
        for rule in _rules(crm_app):
            if "GET" not in rule.methods:
                continue
            url = _path(rule, _defaults(rule))
            for param in QUERY_PARAMS:
                for value in FEW_VALUES:
                    _check(failures, partial(client.get, url, query_string={param: value}), f"{username} GET {url}?{param}={value[:40]}")
    assert not failures, "\n".join(failures)


def test_form_fields_never_give_a_server_error(crm_app, fuzz_users):
    failures: list[str] = []
    for username in fuzz_users:
        client, token = _client(crm_app, username)
        for rule in _rules(crm_app):
            if "POST" not in rule.methods or rule.endpoint == "auth.sign_out":
                continue
            url = _path(rule, _defaults(rule))
            for param in FORM_PARAMS:
                for value in FEW_VALUES:
                    data = {"csrf_token": token, **FORM_CONTEXT, param: value}
                    _check(failures, partial(client.post, url, data=data), f"{username} POST {url} {param}={value[:40]}")
    assert not failures, "\n".join(failures)
