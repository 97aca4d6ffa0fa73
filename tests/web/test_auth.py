"""Sign-in, sign-out, protected pages, safe redirects, throttling, CSRF, languages."""

from __future__ import annotations

import pytest
from webutil import PASSWORD, csrf_of, sign_in


def test_pages_need_a_user(crm_app):
    client = crm_app.test_client()
    response = client.get("/e/customer")
    assert response.status_code == 302 and "/sign-in?next=/e/customer" in response.headers["Location"]
    assert client.post("/sign-out").status_code in (400, 401)  # no CSRF token, no user


def test_sign_in_and_out(crm_app):
    client = crm_app.test_client()
    response = sign_in(client, next_url="/e/customer")
    assert response.status_code == 302 and response.headers["Location"] == "/e/customer"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/home")
    assert page.status_code == 200 and "Alice" in page.get_data(as_text=True)
    out = client.post("/sign-out", data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    assert out.status_code == 302
    assert client.get("/home").status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/x", "//evil.example", "/\\evil.example", "javascript:alert(1)",
                                    "http:/evil"])
def test_redirect_after_sign_in_stays_on_this_site(crm_app, target):
    response = sign_in(crm_app.test_client(), next_url=target)
    assert response.status_code == 302 and response.headers["Location"] == "/home"


def test_wrong_password_and_slow_down(crm_app):
    client = crm_app.test_client()
    for _ in range(3):
        assert sign_in(client, password="wrong-pass").status_code == 401
    slowed = sign_in(client, password="wrong-pass")
    assert slowed.status_code == 429 and "Try again in" in slowed.get_data(as_text=True)
    # even the right password must wait now
    assert sign_in(client, password=PASSWORD).status_code == 429


def test_missing_csrf_token_is_a_400(crm_app):
    client = crm_app.test_client()
    response = client.post("/sign-in", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400


def test_switch_to_chinese(client):
    page = client.get("/home").get_data(as_text=True)
    response = client.post("/language", data={"language": "zh", "next": "/home", "csrf_token": csrf_of(page)})
    assert response.status_code == 302
    html = client.get("/home").get_data(as_text=True)
    assert "客户" in html and 'lang="zh"' in html
    assert client.post("/language", data={"language": "xx", "csrf_token": csrf_of(html)}).status_code == 400


def test_health_and_assets(crm_app):
    client = crm_app.test_client()
    assert client.get("/health").get_json()["project"] == "crm"
    assert client.get("/assets/htmx.min.js").status_code == 200
    assert client.get("/assets/tailor.css").status_code == 200
    assert client.get("/assets/../setup.cfg").status_code == 404
