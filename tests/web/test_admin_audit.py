"""The admin audit log and invitation e-mails: every user-administration action is recorded
(who, what, to whom, when, from where), shown on the user's page and on a paged list for
admins; an invitation is mailed in the invitee's language through a real SMTP server on
loopback (aiosmtpd) when mail is set up, and the admin is told when it is not."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta
from email import policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from mailutil import Inbox, free_port
from webutil import csrf_of, sign_in

from engine import admin_audit as audit_log
from engine.jobs import JobRunner, job_handlers
from engine.storage import admin_audit, jobs, user_links, users, write_engine

ADMIN = ("admin", "demo-admin-1")


@pytest.fixture
def smtp(monkeypatch):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.port = port
    monkeypatch.setenv("TAILOR_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TAILOR_SMTP_PORT", str(port))
    monkeypatch.setenv("TAILOR_SMTP_FROM", "crm@example.com")
    yield inbox
    controller.stop()


@pytest.fixture
def no_smtp(monkeypatch):
    monkeypatch.delenv("TAILOR_SMTP_HOST", raising=False)


@pytest.fixture
def app(crm_app):
    crm_app.config["TAILOR_SETTINGS"].extra["base_url"] = "https://crm.example.com/"  # TAILOR_BASE_URL
    return crm_app


def admin_client(app, address="10.1.2.3"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    assert sign_in(client, *ADMIN).status_code == 302
    return client


def db(app):
    return app.extensions["tailor"].engine


def user_id(app, username: str) -> int:
    with db(app).connect() as conn:
        return conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar_one()


def token_of(client) -> str:
    return csrf_of(client.get("/home").get_data(as_text=True))


def entries(app) -> list[dict]:
    with db(app).connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(admin_audit).order_by(admin_audit.c.id)).mappings()]


def mail(content: str) -> tuple[str, str]:
    """The subject and text of a mail as received."""
    message = email.message_from_string(content, policy=policy.default)
    return str(message["Subject"]), message.get_content()


def run_jobs(app, after=timedelta(seconds=1)) -> int:
    service = app.extensions["tailor"].service
    return JobRunner(lambda: service, job_handlers(service.model)).run_due(datetime.now(UTC) + after)


def invite(client, username="li.na", email="li.na@example.com", language="en"):
    page = client.get("/admin/users/new").get_data(as_text=True)
    return client.post("/admin/users/new", data={"csrf_token": csrf_of(page), "username": username,
                                                 "display_name": username.title(), "email": email,
                                                 "language": language, "mode": "invite"})


def link_in(html: str) -> str:
    match = re.search(r'value="https://crm\.example\.com(/set-password/[^"]+)"', html)
    assert match, "no absolute one-time link on the page"
    return match.group(1)


# -- the audit log --------------------------------------------------------------------------------
def test_every_admin_action_is_recorded_with_who_whom_and_where(app, no_smtp):
    admin = admin_client(app)
    me, wang = user_id(app, "admin"), user_id(app, "wang.lei")
    assert invite(admin, email="").status_code == 200
    li = user_id(app, "li.na")
    for action in ("resend-invite",):
        assert admin.post(f"/admin/users/{li}/{action}", data={"csrf_token": token_of(admin)}).status_code == 200
    for action in ("reset-password", "deactivate", "activate", "sign-out", "unlock"):
        response = admin.post(f"/admin/users/{wang}/{action}", data={"csrf_token": token_of(admin)})
        assert response.status_code in (200, 303), action
    log = entries(app)
    assert [(e["action"], e["target"]) for e in log] == [
        ("invite", "li.na"), ("resend_invite", "li.na"), ("reset_password", "wang.lei"), ("deactivate", "wang.lei"),
        ("activate", "wang.lei"), ("sign_out", "wang.lei"), ("unlock", "wang.lei")]
    assert {(e["actor"], e["actor_id"], e["ip"]) for e in log} == {("admin", me, "10.1.2.3")}
    assert [e["target_id"] for e in log] == [li, li, wang, wang, wang, wang, wang]
    assert log[0]["details"]["email"] == "no_smtp"
    assert all(e["at"] is not None for e in log)
    assert not any("set-password" in str(e["details"]) for e in log)  # never a link


def test_a_user_made_with_a_password_is_recorded_without_it(app):
    admin = admin_client(app)
    page = admin.get("/admin/users/new").get_data(as_text=True)
    assert admin.post("/admin/users/new", data={
        "csrf_token": csrf_of(page), "username": "li.na", "language": "zh", "roles": ["sales_rep"],
        "mode": "password", "password": "li-na-pass-1", "confirm": "li-na-pass-1"}).status_code == 303
    (entry,) = entries(app)
    assert entry["action"] == "create" and entry["target"] == "li.na"
    assert entry["details"] == {"roles": ["sales_rep"], "is_admin": False, "department": None}
    assert "li-na-pass-1" not in str(entry)


def edit_form(client, target: int) -> dict:
    html = client.get(f"/admin/users/{target}").get_data(as_text=True)
    form = html[html.index('<form method="post" class="card">'):]
    form = form[:form.index("</form>")]
    data: dict = {"roles": []}
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag).group(1)
        value = (re.search(r'value="([^"]*)"', tag) or [None, ""])[1]
        if 'type="checkbox"' in tag:
            if "checked" in tag:
                data.setdefault(name, []).append(value) if name == "roles" else data.__setitem__(name, value)
        else:
            data[name] = value
    for name, body in re.findall(r'<select name="([^"]+)">(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        data[name] = chosen.group(1) if chosen else ""
    return data


def test_role_and_department_changes_are_recorded_as_old_and_new(app):
    admin = admin_client(app)
    wang = user_id(app, "wang.lei")
    data = edit_form(admin, wang)
    assert admin.post(f"/admin/users/{wang}", data=data).status_code == 303
    assert entries(app) == []  # saved unchanged: nothing to record
    old_roles = sorted(data["roles"])
    assert old_roles, "wang.lei holds roles in the demo"
    data = {**data, "roles": ["sales_manager"], "department_id": "", "display_name": "Wang Lei (East)"}
    assert admin.post(f"/admin/users/{wang}", data=data).status_code == 303
    (entry,) = entries(app)
    assert entry["action"] == "update" and entry["target_id"] == wang
    assert entry["details"]["roles"] == [old_roles, ["sales_manager"]]
    assert entry["details"]["department"][1] is None and entry["details"]["department"][0]
    assert entry["details"]["display_name"][1] == "Wang Lei (East)"
    assert "is_admin" not in entry["details"]
    # a refused edit records nothing
    refused = admin.post(f"/admin/users/{wang}", data={**data, "roles": ["emperor"]})
    assert refused.status_code == 422 and len(entries(app)) == 1


def test_the_user_page_shows_what_admins_did_to_them(app):
    admin = admin_client(app)
    wang = user_id(app, "wang.lei")
    admin.post(f"/admin/users/{wang}/deactivate", data={"csrf_token": token_of(admin)})
    admin.post(f"/admin/users/{wang}/activate", data={"csrf_token": token_of(admin)})
    html = admin.get(f"/admin/users/{wang}").get_data(as_text=True)
    table = html[html.index('class="grid admin-audit"'):]
    assert "Deactivated" in table and "Reactivated" in table and "10.1.2.3" in table
    assert table.index("Reactivated") < table.index("Deactivated")  # newest first
    me = user_id(app, "admin")
    mine = admin.get(f"/admin/users/{me}").get_data(as_text=True)
    assert "No admin actions yet." in mine  # what was done to wang.lei is not on the admin's own page


def test_the_admin_actions_page_is_paged_and_in_chinese(app):
    wang = user_id(app, "wang.lei")
    with write_engine(db(app)).begin() as conn:
        for n in range(audit_log.PAGE + 5):
            audit_log.record(conn, audit_log.UNLOCK, wang, details={"failures": n})
    admin = admin_client(app)
    first = admin.get("/admin/audit").get_data(as_text=True)
    assert first.count("<tr><td>") == audit_log.PAGE
    assert "failures: 54" in first and "failures: 4<" not in first and "Page 1 of 2" in first
    assert 'href="/admin/audit?page=2"' in first and "command line" in first
    second = admin.get("/admin/audit?page=2").get_data(as_text=True)
    assert second.count("<tr><td>") == 5 and "failures: 0<" in second and "Previous page" in second
    assert admin.get("/admin/audit?page=3").status_code == 404
    for bad in ("0", "x", "-1", "1" * 12):
        assert admin.get(f"/admin/audit?page={bad}").status_code == 400, bad
    admin.post("/language", data={"language": "zh", "next": "/home", "csrf_token": token_of(admin)})
    chinese = admin.get("/admin/audit").get_data(as_text=True)
    assert "管理操作" in chinese and "已解除锁定" in chinese and "命令行" in chinese
    assert "管理操作" in admin.get("/admin/users").get_data(as_text=True)


def test_only_admins_see_the_audit(app, client):
    """alice holds the admin role, not the admin flag."""
    assert client.get("/admin/audit").status_code == 403
    assert app.test_client().get("/admin/audit").status_code in (302, 401)


# -- invitation e-mails ---------------------------------------------------------------------------
def test_an_invitation_is_mailed_in_the_invitees_language(app, smtp):
    admin = admin_client(app)
    response = invite(admin, language="zh")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    link = link_in(html)  # still shown to the admin, absolute on the base URL
    assert "on its way to li.na@example.com" in html
    assert smtp.messages == []  # sent by the job runner, not inside the request
    assert run_jobs(app) == 1
    (to, content), = smtp.messages
    assert to == ["li.na@example.com"]
    subject, text = mail(content)
    assert "https://crm.example.com" + link in text and "Li.Na" in text and "li.na" in text
    assert "Admin" in subject or "admin" in subject  # who invited
    with db(app).connect() as conn:
        payloads = [p for (p,) in conn.execute(sa.select(jobs.c.payload).where(jobs.c.kind == "invitation.email"))]
    assert payloads and link.rsplit("/", 1)[1] not in str(payloads)  # the job forgot the token once sent
    assert run_jobs(app, timedelta(minutes=5)) == 0 and len(smtp.messages) == 1  # sent once
    assert entries(app)[0]["details"]["email"] == "queued"
    invitee = app.test_client()
    page = invitee.get(link)
    assert page.status_code == 200


def test_the_mail_is_chinese_for_a_chinese_invitee(app, smtp):
    admin = admin_client(app)
    link = link_in(invite(admin, language="zh").get_data(as_text=True))
    run_jobs(app)
    (_to, content), = smtp.messages
    subject, body = mail(content)
    assert "邀请您使用 Tailor" in subject and "用户名为 li.na" in body
    assert "https://crm.example.com" + link in body
    english = admin_client(app)
    link2 = link_in(invite(english, username="tom", email="tom@example.com", language="en").get_data(as_text=True))
    run_jobs(app)
    subject, body = mail(smtp.messages[-1][1])
    assert "invited you to Tailor" in subject and "https://crm.example.com" + link2 in body


def test_a_password_reset_is_mailed_and_the_old_password_stops(app, smtp):
    admin = admin_client(app)
    wang = user_id(app, "wang.lei")  # a Chinese user with an address (examples/crm/demo/00_users.yaml)
    response = admin.post(f"/admin/users/{wang}/reset-password", data={"csrf_token": token_of(admin)})
    html = response.get_data(as_text=True)
    link = link_in(html)
    assert response.status_code == 200 and "on its way to wang.lei@example.com" in html
    assert run_jobs(app) == 1
    (to, content), = smtp.messages
    subject, body = mail(content)
    assert to == ["wang.lei@example.com"]
    assert "重置了您的 Tailor 密码" in subject and "原密码已失效" in body and "https://crm.example.com" + link in body
    assert entries(app)[-1]["action"] == "reset_password" and entries(app)[-1]["details"]["email"] == "queued"
    assert sign_in(app.test_client(), "wang.lei", "demo-pass-1").status_code != 302  # the old password ended
    with db(app).connect() as conn:
        payloads = [p for (p,) in conn.execute(sa.select(jobs.c.payload).where(jobs.c.kind == "invitation.email"))]
    assert payloads and link.rsplit("/", 1)[1] not in str(payloads)  # the job forgot the token once sent


def test_without_mail_the_admin_is_told_and_gets_the_link(app, no_smtp):
    admin = admin_client(app)
    html = invite(admin).get_data(as_text=True)
    assert "E-mail is not set up on this server" in html and link_in(html)
    with db(app).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(jobs)
                            .where(jobs.c.kind == "invitation.email")).scalar() == 0


def test_without_an_address_the_admin_is_told(app, smtp):
    admin = admin_client(app)
    html = invite(admin, email="").get_data(as_text=True)
    assert "has no e-mail address, so no e-mail was sent" in html and link_in(html)
    assert run_jobs(app) == 0 and smtp.messages == []


def test_resend_invitation_mails_a_new_link_and_the_old_one_stops(app, smtp):
    admin = admin_client(app)
    first = link_in(invite(admin).get_data(as_text=True))
    li = user_id(app, "li.na")
    assert "Send the invitation again" in admin.get(f"/admin/users/{li}").get_data(as_text=True)
    again = admin.post(f"/admin/users/{li}/resend-invite", data={"csrf_token": token_of(admin)})
    assert again.status_code == 200
    second = link_in(again.get_data(as_text=True))
    assert second != first
    assert run_jobs(app) == 2
    assert len(smtp.messages) == 1  # the first link was replaced before its mail went out: only the new one
    assert "https://crm.example.com" + second in mail(smtp.messages[0][1])[1]
    refused = app.test_client().get(first)
    assert refused.status_code == 410 and "expired or has already been used" in refused.get_data(as_text=True)
    assert app.test_client().get(second).status_code == 200
    assert [e["action"] for e in entries(app)] == ["invite", "resend_invite"]


def test_resend_is_refused_for_a_user_with_a_password_or_deactivated(app, no_smtp):
    admin = admin_client(app)
    wang = user_id(app, "wang.lei")
    response = admin.post(f"/admin/users/{wang}/resend-invite", data={"csrf_token": token_of(admin)})
    assert response.status_code == 400 and "already chosen a password" in response.get_data(as_text=True)
    assert "Send the invitation again" not in admin.get(f"/admin/users/{wang}").get_data(as_text=True)
    invite(admin)
    li = user_id(app, "li.na")
    admin.post(f"/admin/users/{li}/deactivate", data={"csrf_token": token_of(admin)})
    response = admin.post(f"/admin/users/{li}/resend-invite", data={"csrf_token": token_of(admin)})
    assert response.status_code == 400 and "reactivate them first" in response.get_data(as_text=True)
    assert admin.post("/admin/users/99999/resend-invite", data={"csrf_token": token_of(admin)}).status_code == 404
    assert admin.post(f"/admin/users/{li}/resend-invite").status_code == 400  # no CSRF token
    with db(app).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(user_links)).scalar() == 1
    assert [e["action"] for e in entries(app)] == ["invite", "deactivate"]


def test_an_expired_invitation_is_shown_and_its_mail_not_sent(app, smtp):
    admin = admin_client(app)
    link = link_in(invite(admin).get_data(as_text=True))
    li = user_id(app, "li.na")
    with write_engine(db(app)).begin() as conn:
        conn.execute(user_links.update().values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    assert run_jobs(app) == 1 and smtp.messages == []  # the link no longer works: no mail
    assert "The invitation expired on" in admin.get(f"/admin/users/{li}").get_data(as_text=True)
    assert app.test_client().get(link).status_code == 410


def test_a_mail_server_that_is_down_leaves_the_mail_to_retry(app, smtp, monkeypatch):
    admin = admin_client(app)
    link = link_in(invite(admin).get_data(as_text=True))
    monkeypatch.setenv("TAILOR_SMTP_PORT", str(free_port()))  # nothing listens there
    assert run_jobs(app) == 0 and smtp.messages == []
    with db(app).connect() as conn:
        job = conn.execute(sa.select(jobs).where(jobs.c.kind == "invitation.email")).mappings().one()
    assert job["status"] == "pending" and job["last_error"]
    monkeypatch.setenv("TAILOR_SMTP_PORT", str(smtp.port))
    assert run_jobs(app, timedelta(hours=1)) == 1 and len(smtp.messages) == 1
    assert "https://crm.example.com" + link in mail(smtp.messages[0][1])[1]
