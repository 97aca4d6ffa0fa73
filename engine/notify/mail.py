"""Sending a notification (the `email` job) or an invitation (engine/invitations.py) by e-mail, with the SMTP settings from
`TAILOR_SMTP_HOST`, `_PORT` (25), `_FROM`, `_USER`, `_PASSWORD` and `_TLS` (none,
starttls or ssl).

Delivery is at least once: the job runner marks a notification sent after the mail server
accepted it, so a runner killed in between sends it again when its claim expires. Each
e-mail therefore carries a Message-ID derived from the notification alone (`message_id`),
the same on every attempt, by which mail servers and clients drop the duplicate."""

from __future__ import annotations

import hashlib
import os
import smtplib
from email.message import EmailMessage

import sqlalchemy as sa

from ..storage import notifications, users


class MailError(RuntimeError):
    pass


def message_id(notification_id: int, user_id: int, at: object, sender: str) -> str:
    """The Message-ID of a notification's e-mail: stable across attempts, unique across
    notifications (ids are never reused) and installations (the time it was raised and
    the sender's domain are part of it)."""
    domain = sender.rpartition("@")[2].strip(" >") or "localhost"
    digest = hashlib.sha256(f"{notification_id}|{user_id}|{at}".encode()).hexdigest()[:20]
    return f"<tailor.notification.{notification_id}.{digest}@{domain}>"


def send_notification(engine, notification_id: int, base_url: str = "") -> str:
    """Send one queued notification; returns its new e-mail status (sent / none)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(notifications.c.title, notifications.c.body, notifications.c.link,
                                     notifications.c.email, notifications.c.user_id, notifications.c.at,
                                     users.c.email.label("address"))
                           .join(users, users.c.id == notifications.c.user_id)
                           .where(notifications.c.id == notification_id)).first()
    if row is None or row.email != "queued" or not row.address:
        return "none"
    link = f"\n\n{base_url.rstrip('/')}{row.link}" if row.link else ""
    try:
        sender = os.environ.get("TAILOR_SMTP_FROM", "tailor@localhost")
        send_mail(row.address, row.title, f"{row.title}\n\n{row.body}{link}".strip() + "\n",
                  message_id=message_id(notification_id, row.user_id, row.at, sender))
    except MailError as exc:
        raise MailError(f"could not send notification {notification_id}: {exc}") from exc
    return "sent"


def send_mail(address: str, subject: str, text: str, message_id: str | None = None) -> None:
    """Send one plain-text mail through the configured SMTP server; MailError when it fails.
    `message_id`: the same on every attempt at one message, so a resend is dropped."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = os.environ.get("TAILOR_SMTP_FROM", "tailor@localhost")
    if message_id:
        message["Message-ID"] = message_id
    message["To"] = address
    message.set_content(text)
    host = os.environ.get("TAILOR_SMTP_HOST", "")
    port = int(os.environ.get("TAILOR_SMTP_PORT", "25"))
    tls = os.environ.get("TAILOR_SMTP_TLS", "none")
    try:
        smtp_class = smtplib.SMTP_SSL if tls == "ssl" else smtplib.SMTP
        with smtp_class(host, port, timeout=20) as smtp:
            if tls == "starttls":
                smtp.starttls()
            if os.environ.get("TAILOR_SMTP_USER"):
                smtp.login(os.environ["TAILOR_SMTP_USER"], os.environ.get("TAILOR_SMTP_PASSWORD", ""))
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"could not send mail to {address}: {exc}") from exc
