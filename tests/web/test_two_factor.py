"""Two-factor sign-in (TOTP): enrolment from the Security page, the code after the password,
wrong and replayed codes, recovery codes, roles that require it, turning it off, the admin's
reset. The clock of engine.two_factor is fixed, so codes of chosen time steps are checked
without waiting."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from webutil import PASSWORD, csrf_of, make_user, sign_in

from engine import two_factor as tf
from engine.cli import cli
from engine.storage import admin_audit, recovery_codes, sign_in_failures, two_factor, users

NOW = datetime(2026, 12, 5, 6, 0, 10, tzinfo=UTC)
STEP = timedelta(seconds=30)

CUSTOMER = """
entity: customer
label: {en: Customer, zh: 客户}
fields:
  name: {type: string, required: true}
"""
ROLES = """
roles:
  rep:
    entities:
      customer: {actions: [read, create, update], scope: all}
  finance:
    require_two_factor: true
    entities:
      customer: {actions: [read], scope: all}
"""


@pytest.fixture
def clock(monkeypatch):
    """The time engine.two_factor sees; `clock.at = ...` moves it."""

    class Clock:
        at = NOW

    monkeypatch.setattr(tf, "clock", lambda: Clock.at)
    return Clock


@pytest.fixture
def app(make_project, make_app):
    app = make_app(make_project({"entities/customer.yaml": CUSTOMER, "roles.yaml": ROLES}), users=())
    state = app.extensions["tailor"]
    make_user(state.engine, state.model, "alice", ("rep",))
    make_user(state.engine, state.model, "fiona", ("finance",))
    return app


def post(client, url, page_url, **data):
    page = client.get(page_url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_of(page), **data})


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def secret_on(html: str) -> str:
    match = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', html)
    assert match, "no secret on the page"
    return match.group(1).replace(" ", "")


def enrol_alice(app, clock) -> tuple[str, list[str]]:
    """alice turns two-factor sign-in on from her Security page; her secret and recovery codes."""
    client = app.test_client()
    assert sign_in(client).status_code == 302
    assert "Off:" in client.get("/account/security").get_data(as_text=True)
    started = post(client, "/account/security/start", "/account/security")
    html = started.get_data(as_text=True)
    assert started.status_code == 200 and "<svg" in html and "<script" not in html.split("<main>")[1]
    secret = secret_on(html)
    wrong = post(client, "/account/security/confirm", "/account/security", code="000000")
    assert wrong.status_code == 422 and "does not match" in wrong.get_data(as_text=True)
    with app.extensions["tailor"].engine.connect() as conn:
        assert tf.state_of(conn, 1)["enabled_at"] is None
    done = post(client, "/account/security/confirm", "/account/security", code=code_at(secret, NOW - STEP))
    codes = re.findall(r"<code>([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})</code>", done.get_data(as_text=True))
    assert done.status_code == 200 and len(set(codes)) == 10
    return secret, codes


def forget_failures(app) -> None:
    with app.extensions["tailor"].engine.begin() as conn:
        conn.execute(sign_in_failures.delete())


def password_step(app, username="alice"):
    client = app.test_client()
    response = sign_in(client, username, next_url="/e/customer")
    return client, response


def test_enrol_then_sign_in_with_a_code(app, clock):
    secret, _codes = enrol_alice(app, clock)
    with app.extensions["tailor"].engine.connect() as conn:
        stored = conn.execute(sa.select(two_factor.c.secret, two_factor.c.enabled_at)).one()
        hashes = conn.execute(sa.select(recovery_codes.c.code_hash)).scalars().all()
    assert stored.secret == secret and stored.enabled_at is not None
    assert len(hashes) == 10 and not set(hashes) & set(_codes)  # only hashes are stored
    client, response = password_step(app)
    assert response.status_code == 302 and response.headers["Location"] == "/sign-in/code"
    assert client.get("/e/customer").status_code == 302  # half signed in: no page opens yet
    wrong = post(client, "/sign-in/code", "/sign-in/code", code="123456")
    assert wrong.status_code == 401 and "Wrong or already used code" in wrong.get_data(as_text=True)
    right = post(client, "/sign-in/code", "/sign-in/code", code=code_at(secret, NOW))
    assert right.status_code == 302 and right.headers["Location"] == "/e/customer"
    assert client.get("/e/customer").status_code == 200
    assert "On:" in client.get("/account/security").get_data(as_text=True)


def test_a_code_is_accepted_once(app, clock):
    secret, _codes = enrol_alice(app, clock)
    client, _ = password_step(app)
    code = code_at(secret, NOW)
    assert post(client, "/sign-in/code", "/sign-in/code", code=code).status_code == 302
    # the same code again (another browser, same time step): a replay
    other, _ = password_step(app)
    replay = post(other, "/sign-in/code", "/sign-in/code", code=code)
    assert replay.status_code == 401 and other.get("/e/customer").status_code == 302
    # an older step than the one spent is refused too; the next step's code works
    assert post(other, "/sign-in/code", "/sign-in/code", code=code_at(secret, NOW - STEP)).status_code == 401
    forget_failures(app)  # three failures so far: the throttling would make the next try wait
    clock.at = NOW + STEP
    assert post(other, "/sign-in/code", "/sign-in/code", code=code_at(secret, NOW + STEP)).status_code == 302


def test_a_recovery_code_signs_in_once(app, clock):
    _secret, codes = enrol_alice(app, clock)
    client, _ = password_step(app)
    assert post(client, "/sign-in/code", "/sign-in/code", code=codes[3].lower()).status_code == 302
    again, _ = password_step(app)
    assert post(again, "/sign-in/code", "/sign-in/code", code=codes[3]).status_code == 401
    assert post(again, "/sign-in/code", "/sign-in/code", code=codes[4]).status_code == 302
    assert "Recovery codes left: 8" in again.get("/account/security").get_data(as_text=True)


def test_wrong_codes_count_toward_the_throttling(app, clock):
    secret, _codes = enrol_alice(app, clock)
    forget_failures(app)  # the wrong code of the enrolment
    client, _ = password_step(app)
    for _ in range(3):
        assert post(client, "/sign-in/code", "/sign-in/code", code="000000").status_code == 401
    slowed = post(client, "/sign-in/code", "/sign-in/code", code=code_at(secret, NOW))
    assert slowed.status_code == 429 and "Try again in" in slowed.get_data(as_text=True)
    assert client.get("/e/customer").status_code == 302


def test_the_half_signed_in_state_expires(app, clock):
    secret, _codes = enrol_alice(app, clock)
    client, _ = password_step(app)
    page = client.get("/sign-in/code").get_data(as_text=True)
    with client.session_transaction() as session:
        session["two_factor"] = {**session["two_factor"], "until": 0}
    late = client.post("/sign-in/code", data={"csrf_token": csrf_of(page), "code": code_at(secret, NOW)})
    assert late.status_code == 400 and "took too long" in late.get_data(as_text=True)
    assert client.get("/e/customer").status_code == 302


def test_a_role_that_requires_it_sends_its_users_to_enrol(app, clock):
    client, response = password_step(app, "fiona")
    assert response.status_code == 302 and response.headers["Location"] == "/sign-in/enrol"
    assert client.get("/e/customer").status_code == 302
    html = client.get("/sign-in/enrol").get_data(as_text=True)
    assert "A role of yours requires" in html and "<svg" in html
    secret = secret_on(html)
    assert post(client, "/sign-in/enrol", "/sign-in/enrol", code="999999").status_code == 422
    done = post(client, "/sign-in/enrol", "/sign-in/enrol", code=code_at(secret, NOW))
    assert done.status_code == 200 and "Recovery codes" in done.get_data(as_text=True)
    assert client.get("/e/customer").status_code == 200
    # the role forbids turning it off
    refused = post(client, "/account/security/disable", "/account/security", password=PASSWORD)
    assert refused.status_code == 409
    # next time: the code, not the enrolment
    again, response = password_step(app, "fiona")
    assert response.headers["Location"] == "/sign-in/code"
    assert post(again, "/sign-in/code", "/sign-in/code", code=code_at(secret, NOW + STEP)).status_code == 302


def test_turning_it_off_needs_the_password_or_a_code(app, clock):
    secret, _codes = enrol_alice(app, clock)
    client, _ = password_step(app)
    assert post(client, "/sign-in/code", "/sign-in/code", code=code_at(secret, NOW)).status_code == 302
    refused = post(client, "/account/security/disable", "/account/security", password="not-my-password")
    assert refused.status_code == 401 and "On:" in refused.get_data(as_text=True)
    done = post(client, "/account/security/disable", "/account/security", code=code_at(secret, NOW + STEP))
    assert done.status_code == 303
    assert "Off:" in client.get("/account/security").get_data(as_text=True)
    with app.extensions["tailor"].engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(recovery_codes)).scalar() == 0
    assert password_step(app)[1].headers["Location"] == "/e/customer"


def admin_actions(app) -> list[tuple[str, str, str]]:
    with app.extensions["tailor"].engine.connect() as conn:
        return [tuple(row) for row in conn.execute(
            sa.select(admin_audit.c.action, admin_audit.c.actor, admin_audit.c.target).order_by(admin_audit.c.id))]


def test_an_admin_resets_a_users_two_factor(app, clock, db_url, tmp_path):
    enrol_alice(app, clock)
    runner = CliRunner()
    result = runner.invoke(cli, ["user", "reset-2fa", "alice", "--project", str(tmp_path), "--database", db_url])
    assert result.exit_code == 0 and "reset" in result.output
    assert password_step(app)[1].headers["Location"] == "/e/customer"
    assert admin_actions(app) == [("reset_two_factor", "cli", "alice")]  # in the admin audit log
    missing = runner.invoke(cli, ["user", "reset-2fa", "nobody", "--project", str(tmp_path), "--database", db_url])
    assert missing.exit_code == 2 and "no user 'nobody'" in missing.output


def test_chinese_pages(app, clock):
    client = app.test_client()
    sign_in(client)
    page = client.get("/account/security").get_data(as_text=True)
    client.post("/language", data={"language": "zh", "next": "/home", "csrf_token": csrf_of(page)})
    assert "两步验证" in client.get("/account/security").get_data(as_text=True)


def test_require_two_factor_must_be_true_or_false(build_model):
    from engine.errors import ProjectError

    with pytest.raises(ProjectError):
        build_model({"entities/customer.yaml": CUSTOMER,
                     "roles.yaml": "roles:\n  rep:\n    require_two_factor: sometimes\n"})
    model = build_model({"entities/customer.yaml": CUSTOMER, "roles.yaml": ROLES})
    assert model.roles["finance"].require_two_factor and not model.roles["rep"].require_two_factor


def test_codes_typed_in_full_width_or_with_foreign_letters(app, clock):
    """A Chinese input method types full-width digits (counted as digits); other letters
    outside ASCII are a wrong code, never a server error."""
    secret, _codes = enrol_alice(app, clock)
    client, _ = password_step(app)
    odd = post(client, "/sign-in/code", "/sign-in/code", code="１２３é４５６")
    assert odd.status_code == 401
    full_width = "".join(chr(ord(d) + 0xFEE0) for d in code_at(secret, NOW))
    assert post(client, "/sign-in/code", "/sign-in/code", code=full_width).status_code == 302


def test_an_admin_resets_it_from_the_users_page(app, clock):
    enrol_alice(app, clock)
    state = app.extensions["tailor"]
    admin = make_user(state.engine, state.model, "root", ())
    with state.engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == admin).values(is_admin=True))
        secret = conn.execute(sa.select(two_factor.c.secret).where(two_factor.c.user_id == 1)).scalar_one()
    client, _ = password_step(app)
    assert post(client, "/sign-in/code", "/sign-in/code", code=code_at(secret, NOW)).status_code == 302
    assert post(client, "/admin/users/1/two-factor/reset", "/account/security").status_code == 403  # not an admin
    boss = app.test_client()
    assert sign_in(boss, "root").status_code == 302
    page = boss.get("/admin/users/1").get_data(as_text=True)
    assert "Reset two-factor sign-in" in page
    done = boss.post("/admin/users/1/two-factor/reset", data={"csrf_token": csrf_of(page)})
    after = boss.get("/admin/users/1").get_data(as_text=True)
    assert done.status_code == 303 and "Reset two-factor sign-in" not in after
    assert admin_actions(app) == [("reset_two_factor", "root", "alice")] and "Two-factor sign-in reset" in after
    assert password_step(app)[1].headers["Location"] == "/e/customer"
    assert boss.post("/admin/users/999/two-factor/reset", data={"csrf_token": csrf_of(page)}).status_code == 404

