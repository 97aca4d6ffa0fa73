"""User administration in the browser: creating users with a password or a one-time
invitation link, password resets, deactivation, unlocking, the sign-in history; every
action only for admins and only with a CSRF token; links work once and expire."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from webutil import csrf_of, sign_in

from engine.storage import sign_in_events, sign_in_failures, user_links, user_roles, users, write_engine

ADMIN = ("admin", "demo-admin-1")
ACTIONS = ("reset-password", "deactivate", "activate", "sign-out", "unlock")


def admin_client(app):
    client = app.test_client()
    assert sign_in(client, *ADMIN).status_code == 302
    return client


def db(app):
    return app.extensions["tailor"].engine


def user_row(app, username: str):
    with db(app).connect() as conn:
        return conn.execute(sa.select(users).where(users.c.username == username)).mappings().first()


def token_of(client) -> str:
    return csrf_of(client.get("/home").get_data(as_text=True))


def link_in(html: str) -> str:
    match = re.search(r'value="http://localhost(/set-password/[^"]+)"', html)
    assert match, "no one-time link on the page"
    return match.group(1)


def set_password_through(client, link: str, password: str = "chosen-pass-1", confirm: str | None = None):
    page = client.get(link)
    assert page.status_code == 200, page.status_code
    return client.post(link, data={"csrf_token": csrf_of(page.get_data(as_text=True)), "password": password,
                                   "confirm": password if confirm is None else confirm})


def test_only_admins_may_do_anything(crm_app, client):
    """alice holds the admin role, not the admin flag: every page and action is refused."""
    wang = user_row(crm_app, "wang.lei")["id"]
    assert client.get("/admin/users/new").status_code == 403
    token = token_of(client)
    assert client.post("/admin/users/new", data={"csrf_token": token, "username": "mallory", "mode": "password",
                                                   "password": "hack-pass-1", "confirm": "hack-pass-1"}
                       ).status_code == 403
    for action in ACTIONS:
        assert client.post(f"/admin/users/{wang}/{action}", data={"csrf_token": token}).status_code == 403, action
    assert user_row(crm_app, "mallory") is None
    assert user_row(crm_app, "wang.lei")["is_active"]
    assert sign_in(crm_app.test_client(), "wang.lei", "demo-pass-1").status_code == 302


def test_every_admin_post_needs_a_csrf_token(crm_app):
    admin = admin_client(crm_app)
    wang = user_row(crm_app, "wang.lei")["id"]
    assert admin.post("/admin/users/new", data={"username": "mallory", "mode": "password", "password": "hack-pass-1",
                                                "confirm": "hack-pass-1"}).status_code == 400
    for action in ACTIONS:
        assert admin.post(f"/admin/users/{wang}/{action}").status_code == 400, action
    assert user_row(crm_app, "mallory") is None
    assert user_row(crm_app, "wang.lei")["is_active"]
    assert sign_in(crm_app.test_client(), "wang.lei", "demo-pass-1").status_code == 302


def test_the_list_shows_status_and_last_sign_in(crm_app):
    admin = admin_client(crm_app)
    html = admin.get("/admin/users").get_data(as_text=True)
    assert "Last sign-in" in html and "Never" in html and "New user" in html
    row = re.search(r"admin</span></td>.*?</tr>", html, re.S).group(0)
    assert "Never" not in row  # the admin has just signed in


def test_create_a_user_with_a_password(crm_app):
    admin = admin_client(crm_app)
    page = admin.get("/admin/users/new").get_data(as_text=True)
    response = admin.post("/admin/users/new", data={
        "csrf_token": csrf_of(page), "username": "li.na", "display_name": "李娜", "email": "li.na@example.com",
        "language": "zh", "roles": ["sales_rep"], "mode": "password", "password": "li-na-pass-1",
        "confirm": "li-na-pass-1"})
    assert response.status_code == 303
    row = user_row(crm_app, "li.na")
    assert (row["display_name"], row["email"], row["language"], row["is_admin"]) == ("李娜", "li.na@example.com",
                                                                                     "zh", False)
    with db(crm_app).connect() as conn:
        roles = [r for (r,) in conn.execute(sa.select(user_roles.c.role).where(user_roles.c.user_id == row["id"]))]
    assert roles == ["sales_rep"]
    assert sign_in(crm_app.test_client(), "li.na", "li-na-pass-1").status_code == 302


def test_create_a_user_with_an_invitation_link_used_once(crm_app):
    admin = admin_client(crm_app)
    page = admin.get("/admin/users/new").get_data(as_text=True)
    response = admin.post("/admin/users/new", data={"csrf_token": csrf_of(page), "username": "li.na",
                                                    "language": "en", "mode": "invite"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    link = link_in(response.get_data(as_text=True))
    assert user_row(crm_app, "li.na")["password_hash"] is None
    with db(crm_app).connect() as conn:
        stored = conn.execute(sa.select(user_links.c.token_hash)).scalars().all()
    assert link.rsplit("/", 1)[1] not in stored  # only a hash is kept
    assert sign_in(crm_app.test_client(), "li.na", "").status_code == 400

    invitee = crm_app.test_client()
    assert set_password_through(invitee, link).status_code == 303
    assert sign_in(crm_app.test_client(), "li.na", "chosen-pass-1").status_code == 302
    # the same link a second time: refused, and the password stays
    again = crm_app.test_client().get(link)
    assert again.status_code == 410 and "expired or has already been used" in again.get_data(as_text=True)
    assert sign_in(crm_app.test_client(), "li.na", "chosen-pass-1").status_code == 302


def test_an_expired_link_is_refused(crm_app):
    admin = admin_client(crm_app)
    page = admin.get("/admin/users/new").get_data(as_text=True)
    link = link_in(admin.post("/admin/users/new", data={"csrf_token": csrf_of(page), "username": "li.na",
                                                        "language": "en", "mode": "invite"}).get_data(as_text=True))
    invitee = crm_app.test_client()
    form = invitee.get(link).get_data(as_text=True)
    with write_engine(db(crm_app)).begin() as conn:
        conn.execute(user_links.update().values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    assert invitee.get(link).status_code == 410
    response = invitee.post(link, data={"csrf_token": csrf_of(form), "password": "chosen-pass-1",
                                        "confirm": "chosen-pass-1"})
    assert response.status_code == 410
    assert user_row(crm_app, "li.na")["password_hash"] is None


def test_an_unknown_link_and_a_bad_password_through_a_link(crm_app):
    assert crm_app.test_client().get("/set-password/not-a-token").status_code == 410
    admin = admin_client(crm_app)
    wang = user_row(crm_app, "wang.lei")["id"]
    link = link_in(admin.post(f"/admin/users/{wang}/reset-password",
                              data={"csrf_token": token_of(admin)}).get_data(as_text=True))
    client = crm_app.test_client()
    short = set_password_through(client, link, "short")
    assert short.status_code == 422 and "8 to 200" in short.get_data(as_text=True)
    differs = set_password_through(client, link, "chosen-pass-1", "chosen-pass-2")
    assert differs.status_code == 422 and "not the same" in differs.get_data(as_text=True)
    assert user_row(crm_app, "wang.lei")["password_hash"] is None
    assert set_password_through(client, link).status_code == 303  # the link still works after mistakes


@pytest.mark.parametrize("data, message", [
    ({"username": "x"}, "A username is 2 to 80"),
    ({"username": "bad name"}, "A username is 2 to 80"),
    ({"username": "wang.lei"}, "already a user with that username"),
    ({"username": "li.na", "email": "not-an-address"}, "not an e-mail address"),
    ({"username": "li.na", "language": "fr"}, "Choose from the list"),
    ({"username": "li.na", "roles": ["emperor"]}, "Unknown role"),
    ({"username": "li.na", "department_id": "99999"}, "Choose from the list"),
    ({"username": "li.na", "mode": "password", "password": "short", "confirm": "short"}, "8 to 200"),
    ({"username": "li.na", "mode": "password", "password": "li-na-pass-1", "confirm": "li-na-pass-2"},
     "not the same"),
])
def test_bad_new_users_are_refused_and_nothing_is_created(crm_app, data, message):
    admin = admin_client(crm_app)
    with db(crm_app).connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(users)).scalar()
    page = admin.get("/admin/users/new").get_data(as_text=True)
    response = admin.post("/admin/users/new", data={"csrf_token": csrf_of(page), "language": "en", "mode": "invite",
                                                    **data})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    with db(crm_app).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar() == before
        assert conn.execute(sa.select(sa.func.count()).select_from(user_links)).scalar() == 0


def test_reset_password_ends_sessions_and_the_old_password(crm_app):
    wang = crm_app.test_client()
    assert sign_in(wang, "wang.lei", "demo-pass-1").status_code == 302
    admin = admin_client(crm_app)
    wang_id = user_row(crm_app, "wang.lei")["id"]
    response = admin.post(f"/admin/users/{wang_id}/reset-password", data={"csrf_token": token_of(admin)})
    assert response.status_code == 200 and "Password reset link" in response.get_data(as_text=True)
    link = link_in(response.get_data(as_text=True))
    assert wang.get("/home").status_code == 302
    assert sign_in(crm_app.test_client(), "wang.lei", "demo-pass-1").status_code == 401
    assert set_password_through(crm_app.test_client(), link, "wang-new-pass").status_code == 303
    assert sign_in(crm_app.test_client(), "wang.lei", "wang-new-pass").status_code == 302


def test_a_new_link_cancels_the_older_one(crm_app):
    admin = admin_client(crm_app)
    wang_id = user_row(crm_app, "wang.lei")["id"]
    first = link_in(admin.post(f"/admin/users/{wang_id}/reset-password",
                               data={"csrf_token": token_of(admin)}).get_data(as_text=True))
    second = link_in(admin.post(f"/admin/users/{wang_id}/reset-password",
                                data={"csrf_token": token_of(admin)}).get_data(as_text=True))
    assert crm_app.test_client().get(first).status_code == 410
    assert crm_app.test_client().get(second).status_code == 200


def test_deactivate_and_reactivate_keep_the_records_owner(crm_app):
    wang_id = user_row(crm_app, "wang.lei")["id"]
    with db(crm_app).connect() as conn:
        owned = conn.execute(sa.text("SELECT count(*) FROM customer WHERE owner = :u"), {"u": wang_id}).scalar()
    assert owned > 0
    admin = admin_client(crm_app)
    assert admin.post(f"/admin/users/{wang_id}/deactivate", data={"csrf_token": token_of(admin)}).status_code == 303
    assert not user_row(crm_app, "wang.lei")["is_active"]
    assert sign_in(crm_app.test_client(), "wang.lei", "demo-pass-1").status_code == 401
    with db(crm_app).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM customer WHERE owner = :u"), {"u": wang_id}).scalar() == owned
    assert "Reactivate" in admin.get(f"/admin/users/{wang_id}").get_data(as_text=True)
    assert admin.post(f"/admin/users/{wang_id}/activate", data={"csrf_token": token_of(admin)}).status_code == 303
    assert sign_in(crm_app.test_client(), "wang.lei", "demo-pass-1").status_code == 302


def test_an_admin_cannot_deactivate_themselves(crm_app):
    admin = admin_client(crm_app)
    me = user_row(crm_app, "admin")["id"]
    assert admin.post(f"/admin/users/{me}/deactivate", data={"csrf_token": token_of(admin)}).status_code == 400
    assert user_row(crm_app, "admin")["is_active"] and admin.get("/home").status_code == 200


def test_unknown_users_are_404(crm_app):
    admin = admin_client(crm_app)
    for action in ACTIONS:
        assert admin.post(f"/admin/users/99999/{action}", data={"csrf_token": token_of(admin)}).status_code == 404


def test_unlock_after_throttling(crm_app):
    """Unlocking clears the user's failures and those of the address they failed from."""
    wang = crm_app.test_client()
    wang.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    for _ in range(3):
        assert sign_in(wang, "wang.lei", "wrong-pass-1").status_code == 401
    assert sign_in(wang, "wang.lei", "demo-pass-1").status_code == 429
    admin = crm_app.test_client()
    admin.environ_base["REMOTE_ADDR"] = "10.0.0.1"
    assert sign_in(admin, *ADMIN).status_code == 302
    wang_id = user_row(crm_app, "wang.lei")["id"]
    page = admin.get(f"/admin/users/{wang_id}").get_data(as_text=True)
    assert "3 recent failed sign-ins" in page and "Unlock" in page
    assert admin.post(f"/admin/users/{wang_id}/unlock", data={"csrf_token": csrf_of(page)}).status_code == 303
    with db(crm_app).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(sign_in_failures)).scalar() == 0
    assert sign_in(wang, "wang.lei", "demo-pass-1").status_code == 302


def test_sign_in_history_per_user(crm_app):
    client = crm_app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = "HistoryTestBrowser/1.0"
    assert sign_in(client, "wang.lei", "wrong-pass-1").status_code == 401
    assert sign_in(client, "wang.lei", "demo-pass-1").status_code == 302
    assert sign_in(client, "nobody-at-all", "wrong-pass-1").status_code == 401
    admin = admin_client(crm_app)
    wang_id = user_row(crm_app, "wang.lei")["id"]
    html = admin.get(f"/admin/users/{wang_id}").get_data(as_text=True)
    history = html[html.index("Sign-in history"):]
    assert history.index("Signed in") < history.index("Wrong password")  # newest first
    assert "127.0.0.1" in history and "HistoryTestBrowser" in history
    with db(crm_app).connect() as conn:
        unknown = conn.execute(sa.select(sign_in_events.c.user_id, sign_in_events.c.outcome)
                               .where(sign_in_events.c.username == "nobody-at-all")).all()
    assert unknown == [(None, "failure")]


def test_admin_pages_in_chinese(crm_app):
    admin = admin_client(crm_app)
    page = admin.get("/home").get_data(as_text=True)
    admin.post("/language", data={"language": "zh", "next": "/home", "csrf_token": csrf_of(page)})
    wang_id = user_row(crm_app, "wang.lei")["id"]
    html = admin.get(f"/admin/users/{wang_id}").get_data(as_text=True)
    assert "登录记录" in html and "重置密码" in html and "停用" in html
    assert "新建用户" in admin.get("/admin/users/new").get_data(as_text=True)
    assert "上次登录" in admin.get("/admin/users").get_data(as_text=True)

