"""Notifications: in-app for everyone concerned, in each recipient's language, and by
e-mail through a real SMTP server on loopback (aiosmtpd) when SMTP is configured; a mail
server that is down leaves the job to be retried, never a lost or doubled decision."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from mailutil import Inbox, free_port

from engine.storage import jobs, notifications, users

FLOW = """
    outcomes: {approved: approved}
    nodes:
      manager: {type: approval, approvers: [{manager: submitter}]}
    """


@pytest.fixture
def smtp(monkeypatch):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("TAILOR_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TAILOR_SMTP_PORT", str(port))
    monkeypatch.setenv("TAILOR_SMTP_FROM", "crm@example.com")
    monkeypatch.setenv("TAILOR_BASE_URL", "https://crm.example.com")
    yield inbox
    controller.stop()


def set_email(w, username: str, email: str, language: str = "en") -> None:
    with w.engine.begin() as conn:
        conn.execute(users.update().where(users.c.username == username).values(email=email, language=language))


def test_a_task_is_mailed_to_the_approver_in_their_language(flow_world, smtp):
    w = flow_world(FLOW)
    set_email(w, "boss", "boss@example.com", "zh")
    deal = w.new(name="Pumps for Lagos")
    w.submit(deal)
    assert smtp.messages == []  # sent by the job runner, not inside the decision
    assert w.run_jobs(timedelta(seconds=1)) == 1
    (to, content), = smtp.messages
    assert to == ["boss@example.com"]
    assert "Pumps for Lagos" in content and "https://crm.example.com/e/deal/" in content
    with w.engine.connect() as conn:
        row = conn.execute(sa.select(notifications.c.title, notifications.c.email)
                           .where(notifications.c.user_id == w.uid("boss"))).one()
    assert row.email == "sent" and "请您审批" in row.title  # Chinese for a Chinese-speaking user
    assert w.run_jobs(timedelta(minutes=5)) == 0 and len(smtp.messages) == 1  # sent once


def test_without_smtp_only_in_app(flow_world, monkeypatch):
    monkeypatch.delenv("TAILOR_SMTP_HOST", raising=False)
    w = flow_world(FLOW)
    set_email(w, "boss", "boss@example.com")
    deal = w.new()
    w.submit(deal)
    with w.engine.connect() as conn:
        assert conn.execute(sa.select(notifications.c.email)).scalars().all() == ["none"]
        assert conn.execute(sa.select(sa.func.count()).select_from(jobs).where(jobs.c.kind == "email")).scalar() == 0


def test_a_mail_server_that_is_down_is_retried(flow_world, monkeypatch):
    port = free_port()  # nothing listens there
    monkeypatch.setenv("TAILOR_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TAILOR_SMTP_PORT", str(port))
    w = flow_world(FLOW)
    set_email(w, "boss", "boss@example.com")
    deal = w.new()
    w.submit(deal)
    assert w.run_jobs(timedelta(seconds=1)) == 0
    with w.engine.connect() as conn:
        job = conn.execute(sa.select(jobs).where(jobs.c.kind == "email")).mappings().one()
    assert job["status"] == "pending" and job["attempts"] == 1 and "could not send" in job["last_error"]
    assert w.open_tasks(deal) == ["boss"]  # the decision stands; only the mail waits
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert w.run_jobs(timedelta(minutes=2)) == 1
    finally:
        controller.stop()
    assert len(inbox.messages) == 1


def test_a_mail_sent_again_after_a_killed_runner_has_the_same_message_id(flow_world, smtp):
    """Delivery is at least once: a runner killed after the mail server accepted the mail,
    before it marked the notification sent, sends it again. Both copies carry the same
    Message-ID, derived from the notification, so the receiver drops the second."""
    from email import message_from_string

    from engine.notify.mail import send_notification

    w = flow_world(FLOW)
    set_email(w, "boss", "boss@example.com")
    w.submit(w.new(name="Pumps for Lagos"))
    with w.engine.connect() as conn:
        notification_id = conn.execute(sa.select(notifications.c.id)
                                       .where(notifications.c.user_id == w.uid("boss"))).scalar_one()
    # the killed runner's attempt, then the retry once its claim expired (still `queued`)
    assert send_notification(w.engine, notification_id) == "sent"
    assert send_notification(w.engine, notification_id) == "sent"
    first, again = (message_from_string(content)["Message-ID"] for _to, content in smtp.messages)
    assert first and first == again
    assert first.startswith("<tailor.notification.") and first.endswith("@example.com>")
    w.submit(w.new(name="Valves for Accra"))
    assert w.run_jobs(timedelta(seconds=1)) >= 1
    found = {message_from_string(content)["Message-ID"] for _to, content in smtp.messages}
    assert len(found) == 2 and first in found  # another notification, another Message-ID
