"""Server-side sessions: sign-out ends a copied cookie, password changes and deactivation end
the other sessions, idle and absolute timeouts, last-seen written at most once a minute, the
user's own sessions page, and a sign-in that costs the same for unknown users."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from webutil import PASSWORD, csrf_of, sign_in

import engine.users
from engine.config import Settings
from engine.paths import EXAMPLES
from engine.sessions import SessionSettingsError, token_hash
from engine.storage import user_sessions, users, write_engine
from engine.web import create_app


def signed_in(app, username="alice", password=PASSWORD):
    client = app.test_client()
    response = sign_in(client, username, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def cookie_of(client) -> str:
    return client.get_cookie("session").value


def replay(app, cookie: str):
    """A fresh browser that was given a copy of the cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def works(client) -> bool:
    response = client.get("/home")
    if response.status_code == 302:
        assert "/sign-in" in response.headers["Location"]
        return False
    assert response.status_code == 200
    return True


def user_id(app, username="alice") -> int:
    with app.extensions["tailor"].engine.connect() as conn:
        return conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar_one()


def session_rows(app, username="alice"):
    with app.extensions["tailor"].engine.connect() as conn:
        return conn.execute(sa.select(user_sessions).where(user_sessions.c.user_id == user_id(app, username))
                            .order_by(user_sessions.c.id)).mappings().all()


def set_times(app, **values) -> None:
    with write_engine(app.extensions["tailor"].engine).begin() as conn:
        conn.execute(user_sessions.update().values(**values))


def test_a_copied_cookie_no_longer_works_after_sign_out(crm_app):
    client = signed_in(crm_app)
    copied = cookie_of(client)
    assert works(replay(crm_app, copied))  # the copy works while the session lives...
    page = client.get("/home").get_data(as_text=True)
    assert client.post("/sign-out", data={"csrf_token": csrf_of(page)}).status_code == 302
    assert not works(replay(crm_app, copied))  # ...and not after sign-out
    assert session_rows(crm_app)[-1]["revoked_at"] is not None


def test_a_cookie_with_only_a_user_id_is_refused(crm_app):
    """Cookies made before sessions were kept on the server carried the user id alone."""
    client = crm_app.test_client()
    with client.session_transaction() as cookie_session:
        cookie_session["user_id"] = user_id(crm_app)
    assert not works(client)


def test_the_session_id_is_stored_only_as_a_hash(crm_app):
    client = signed_in(crm_app)
    with client.session_transaction() as cookie_session:
        token = cookie_session["sid"]
    row = session_rows(crm_app)[-1]
    assert row["token_hash"] == token_hash(token) and token not in row["token_hash"]
    assert row["ip"] == "127.0.0.1"


def test_each_sign_in_is_a_new_session(crm_app):
    first, second = signed_in(crm_app), signed_in(crm_app)
    assert cookie_of(first) != cookie_of(second)
    assert len(session_rows(crm_app)) == 2


def test_changing_the_password_ends_the_other_sessions(crm_app):
    here, elsewhere = signed_in(crm_app), signed_in(crm_app)
    page = here.get("/sessions").get_data(as_text=True)
    response = here.post("/sessions/password", data={"csrf_token": csrf_of(page), "current": PASSWORD,
                                                      "password": "new-pass-22", "confirm": "new-pass-22"})
    assert response.status_code == 303
    assert works(here) and not works(elsewhere)
    assert sign_in(crm_app.test_client(), "alice", PASSWORD).status_code == 401
    assert sign_in(crm_app.test_client(), "alice", "new-pass-22").status_code == 302


@pytest.mark.parametrize("data, message", [
    ({"current": "wrong-pass-1", "password": "new-pass-22", "confirm": "new-pass-22"}, "current password"),
    ({"current": PASSWORD, "password": "short", "confirm": "short"}, "8 to 200"),
    ({"current": PASSWORD, "password": "new-pass-22", "confirm": "new-pass-23"}, "not the same"),
])
def test_a_bad_password_change_changes_nothing(crm_app, data, message):
    here, elsewhere = signed_in(crm_app), signed_in(crm_app)
    page = here.get("/sessions").get_data(as_text=True)
    response = here.post("/sessions/password", data={"csrf_token": csrf_of(page), **data})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert works(elsewhere)
    assert sign_in(crm_app.test_client(), "alice", PASSWORD).status_code == 302


def test_guessing_the_current_password_is_slowed_down(crm_app):
    """A borrowed session cannot try passwords on the change form faster than on sign-in."""
    client = signed_in(crm_app)
    token = csrf_of(client.get("/sessions").get_data(as_text=True))
    guess = {"csrf_token": token, "password": "new-pass-22", "confirm": "new-pass-22"}
    for attempt in range(3):
        assert client.post("/sessions/password", data={**guess, "current": f"guess-{attempt}"}).status_code == 422
    slowed = client.post("/sessions/password", data={**guess, "current": PASSWORD})
    assert slowed.status_code == 429 and "Try again in" in slowed.get_data(as_text=True)
    assert sign_in(crm_app.test_client(), "alice", "new-pass-22").status_code in (401, 429)


def test_deactivation_ends_the_users_sessions(crm_app):
    alice = signed_in(crm_app)
    admin = signed_in(crm_app, "admin", "demo-admin-1")
    page = admin.get(f"/admin/users/{user_id(crm_app)}").get_data(as_text=True)
    assert admin.post(f"/admin/users/{user_id(crm_app)}/deactivate",
                      data={"csrf_token": csrf_of(page)}).status_code == 303
    assert not works(alice)
    assert all(r["revoked_at"] is not None for r in session_rows(crm_app))


def test_deactivation_through_the_user_form_ends_sessions_too(crm_app):
    alice = signed_in(crm_app)
    admin = signed_in(crm_app, "admin", "demo-admin-1")
    page = admin.get(f"/admin/users/{user_id(crm_app)}").get_data(as_text=True)
    response = admin.post(f"/admin/users/{user_id(crm_app)}", data={"csrf_token": csrf_of(page),
                                                                   "display_name": "Alice", "roles": ["admin"]})
    assert response.status_code == 303
    assert not works(alice)
    assert all(r["revoked_at"] is not None for r in session_rows(crm_app))


def test_sign_out_everywhere_by_an_admin(crm_app):
    phone, laptop = signed_in(crm_app), signed_in(crm_app)
    admin = signed_in(crm_app, "admin", "demo-admin-1")
    page = admin.get(f"/admin/users/{user_id(crm_app)}").get_data(as_text=True)
    assert admin.post(f"/admin/users/{user_id(crm_app)}/sign-out", data={"csrf_token": csrf_of(page)}).status_code == 303
    assert not works(phone) and not works(laptop)
    assert works(admin)
    assert sign_in(crm_app.test_client()).status_code == 302  # the password still works


def test_the_users_own_sessions_page(crm_app):
    phone = crm_app.test_client()
    phone.environ_base["HTTP_USER_AGENT"] = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
                                             "AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1")
    assert sign_in(phone).status_code == 302
    laptop = crm_app.test_client()
    laptop.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko Firefox/126.0"
    assert sign_in(laptop).status_code == 302
    html = laptop.get("/sessions").get_data(as_text=True)
    assert "Safari on iPhone" in html and "Firefox on Windows" in html and "127.0.0.1" in html
    assert "This device" in html
    response = laptop.post("/sessions/others", data={"csrf_token": csrf_of(html)})
    assert response.status_code == 303
    assert works(laptop) and not works(phone)
    assert "Safari on iPhone" not in laptop.get("/sessions").get_data(as_text=True)


def test_a_user_ends_one_session_but_not_someone_elses(crm_app):
    alice_phone, alice_laptop = signed_in(crm_app), signed_in(crm_app)
    admin = signed_in(crm_app, "admin", "demo-admin-1")
    phone_id = session_rows(crm_app)[0]["id"]
    admin_session = session_rows(crm_app, "admin")[0]["id"]
    token = csrf_of(alice_laptop.get("/sessions").get_data(as_text=True))
    assert alice_laptop.post(f"/sessions/{admin_session}/end", data={"csrf_token": token}).status_code == 404
    assert works(admin)
    assert alice_laptop.post(f"/sessions/{phone_id}/end", data={"csrf_token": token}).status_code == 303
    assert not works(alice_phone) and works(alice_laptop)


def test_sessions_page_posts_need_a_csrf_token(crm_app):
    client = signed_in(crm_app)
    assert client.post("/sessions/others").status_code == 400
    assert client.post("/sessions/password", data={"current": PASSWORD, "password": "new-pass-22",
                                                    "confirm": "new-pass-22"}).status_code == 400
    assert sign_in(crm_app.test_client()).status_code == 302


def test_idle_sessions_end(crm_app):
    client = signed_in(crm_app)
    now = datetime.now(UTC)
    set_times(crm_app, last_seen_at=now - timedelta(minutes=119))
    assert works(client)
    set_times(crm_app, last_seen_at=now - timedelta(minutes=121))  # the default: 120 minutes
    assert not works(client)


def test_sessions_end_after_the_absolute_limit_even_when_used(crm_app):
    client = signed_in(crm_app)
    now = datetime.now(UTC)
    set_times(crm_app, created_at=now - timedelta(hours=11, minutes=59), last_seen_at=now)
    assert works(client)
    set_times(crm_app, created_at=now - timedelta(hours=12, minutes=1), last_seen_at=now)  # default: 12 hours
    assert not works(client)


def test_sessions_past_the_absolute_limit_are_deleted_at_the_next_sign_in(crm_app):
    signed_in(crm_app)
    set_times(crm_app, created_at=datetime.now(UTC) - timedelta(hours=13))
    signed_in(crm_app)
    assert len(session_rows(crm_app)) == 1


def test_timeouts_are_configurable(crm_app):
    settings = crm_app.config["TAILOR_SETTINGS"]
    app = create_app(Settings(project=EXAMPLES / "crm", database_url=settings.database_url, secret_key="test-secret",
                              extra={"jobs": "off", "session_idle_minutes": "5", "session_absolute_hours": "1"}))
    app.config["TESTING"] = True
    try:
        client = signed_in(app)
        now = datetime.now(UTC)
        set_times(app, last_seen_at=now - timedelta(minutes=4))
        assert works(client)
        set_times(app, last_seen_at=now - timedelta(minutes=6))
        assert not works(client)
        client = signed_in(app)
        set_times(app, created_at=now - timedelta(minutes=61), last_seen_at=now)
        assert not works(client)
        assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=1)
    finally:
        app.extensions["tailor"].engine.dispose()


@pytest.mark.parametrize("value", ["0", "-3", "ten", "1.5"])
def test_bad_timeout_settings_are_refused_at_start(crm_app, value):
    settings = crm_app.config["TAILOR_SETTINGS"]
    with pytest.raises(SessionSettingsError, match="TAILOR_SESSION_IDLE_MINUTES"):
        create_app(Settings(project=EXAMPLES / "crm", database_url=settings.database_url, secret_key="x",
                            extra={"jobs": "off", "session_idle_minutes": value}))


def test_last_seen_is_written_at_most_once_a_minute(crm_app):
    client = signed_in(crm_app)
    recently = datetime.now(UTC) - timedelta(seconds=30)
    set_times(crm_app, last_seen_at=recently)
    assert works(client)
    seen = session_rows(crm_app)[-1]["last_seen_at"]
    assert seen.replace(tzinfo=UTC) == recently  # not written again
    set_times(crm_app, last_seen_at=recently - timedelta(minutes=2))
    assert works(client)
    seen = session_rows(crm_app)[-1]["last_seen_at"].replace(tzinfo=UTC)
    assert seen > recently


# -- sign-in timing: the same work whether or not the username exists ----------------------------
@pytest.fixture
def hash_checks(monkeypatch):
    calls: list[str] = []
    real = engine.users.check_password_hash

    def counting(password_hash, password):
        calls.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(engine.users, "check_password_hash", counting)
    return calls


def test_unknown_and_known_usernames_cost_one_hash_check_each(crm_app, hash_checks):
    client = crm_app.test_client()
    assert sign_in(client, "alice", "wrong-pass-1").status_code == 401
    assert len(hash_checks) == 1
    assert sign_in(client, "nobody-here", "wrong-pass-1").status_code == 401
    assert len(hash_checks) == 2
    # the dummy hash is made the same way as real ones (same scrypt parameters)
    assert hash_checks[1].split("$")[0] == hash_checks[0].split("$")[0]


def test_inactive_users_and_users_without_a_password_cost_the_same(crm_app, hash_checks):
    with write_engine(crm_app.extensions["tailor"].engine).begin() as conn:
        conn.execute(users.update().where(users.c.username == "wang.lei").values(is_active=False))
        conn.execute(users.update().where(users.c.username == "emily.chen").values(password_hash=None))
    client = crm_app.test_client()
    assert sign_in(client, "wang.lei", "demo-pass-1").status_code == 401  # the right password, but inactive
    assert sign_in(client, "emily.chen", "demo-pass-1").status_code == 401
    assert len(hash_checks) == 2
