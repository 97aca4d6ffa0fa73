"""Security headers (engine/web/headers.py): a Content-Security-Policy the pages satisfy
(a fresh nonce per response on every script and style tag, no inline handlers, no eval),
no framing, no sniffing, a referrer policy, pages never stored, HSTS only over HTTPS —
behind a proxy only when TAILOR_PROXY_HOPS says how many proxies to trust."""

from __future__ import annotations

import re

import pytest
from webutil import migrated

from engine.config import Settings
from engine.web import create_app

PAGES = ["/home", "/e/customer", "/e/customer/1", "/e/customer/1/edit", "/e/customer/new",
         "/e/opportunity/board", "/approvals", "/notifications", "/search?q=a", "/users", "/e/nowhere",
         "/reports/pipeline_funnel"]


def policy(response) -> dict[str, list[str]]:
    found = {}
    for part in response.headers["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        found[name] = values
    return found


def nonce_of(response) -> str:
    (source,) = [v for v in policy(response)["script-src"] if v.startswith("'nonce-")]
    return source.removeprefix("'nonce-").removesuffix("'")


def test_every_page_has_the_headers(client):
    for url in [*PAGES, "/e/customer/export.csv"]:
        response = client.get(url)
        assert response.status_code in (200, 404), url
        csp = policy(response)
        assert csp["default-src"] == ["'self'"]
        assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
        assert csp["base-uri"] == ["'none'"] and csp["form-action"] == ["'self'"]
        for directive in ("script-src", "style-src"):
            assert "'self'" in csp[directive]
            assert "'unsafe-inline'" not in csp[directive] and "'unsafe-eval'" not in csp[directive]
        assert csp["style-src-attr"] == ["'unsafe-inline'"]  # style="" for layout values only
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-store", url
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP


def test_the_sign_in_page_is_not_stored_either(crm_app):
    response = crm_app.test_client().get("/sign-in")
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_front_end_files_stay_cacheable(client):
    for name in ("htmx.min.js", "tailor.js", "tailor.css"):
        response = client.get(f"/assets/{name}")
        assert response.status_code == 200
        assert "no-store" not in response.headers.get("Cache-Control", "")
        assert "max-age" in response.headers["Cache-Control"]
        response.close()


def test_a_fresh_nonce_on_every_script_and_style_tag(client):
    seen = set()
    for url in PAGES:
        response = client.get(url)
        html = response.get_data(as_text=True)
        nonce = nonce_of(response)
        assert f"'nonce-{nonce}'" in policy(response)["style-src"]
        assert len(nonce) >= 16 and nonce not in seen, url
        seen.add(nonce)
        tags = re.findall(r"<(?:script|style)\b[^>]*>", html)
        assert tags, url
        for tag in tags:
            assert f'nonce="{nonce}"' in tag, (url, tag)
    again = client.get("/e/customer/1")
    assert nonce_of(again) not in seen  # the same page asked again: another nonce


def test_pages_need_no_inline_handlers_nor_eval(client):
    for url in PAGES:
        html = client.get(url).get_data(as_text=True)
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", html), url  # onsubmit="..." is blocked by the policy
        assert "javascript:" not in html and "hx-on" not in html and "hx-vars" not in html, url
        assert not re.search(r'hx-trigger="[^"]*\[', html), url  # trigger filters need eval
        assert '"allowEval": false' in html, url  # htmx's config: no eval at all


def test_hsts_only_over_https(crm_app):
    client = crm_app.test_client()
    assert "Strict-Transport-Security" not in client.get("/sign-in").headers
    secure = client.get("/sign-in", base_url="https://crm.example.com")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    # without TAILOR_PROXY_HOPS a forwarded scheme is not believed (anyone can send it)
    forwarded = client.get("/sign-in", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forwarded.headers


def app_with(root, db_url, **extra):
    model, engine = migrated(root, db_url)
    engine.dispose()
    return create_app(Settings(project=root, database_url=db_url, secret_key="test-secret",
                               extra={"jobs": "off", **extra}))


def test_behind_a_proxy_the_forwarded_scheme_counts(make_project, db_url):
    root = make_project({"tailor.yaml": "name: web\n",
                         "entities/customer.yaml": "entity: customer\nfields:\n  name: {type: string}\n"})
    app = app_with(root, db_url, proxy_hops="1")
    try:
        client = app.test_client()
        behind = client.get("/sign-in", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
        assert behind.headers["Strict-Transport-Security"] == "max-age=31536000"
        plain = client.get("/sign-in", headers={"X-Forwarded-Proto": "http"})
        assert "Strict-Transport-Security" not in plain.headers
    finally:
        app.extensions["tailor"].engine.dispose()


@pytest.mark.parametrize("hops", ["two", "-1"])
def test_a_wrong_proxy_hops_setting_is_a_clear_error(make_project, db_url, hops):
    root = make_project({"tailor.yaml": "name: web\n",
                         "entities/customer.yaml": "entity: customer\nfields:\n  name: {type: string}\n"})
    with pytest.raises(RuntimeError, match="TAILOR_PROXY_HOPS"):
        app_with(root, db_url, proxy_hops=hops)
