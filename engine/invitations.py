"""One-time links that let a user set their password: invitations and password resets.

An admin never needs to know or send a password. The link carries a random token; only its
SHA-256 is stored (`tailor_user_link`), it expires, and it works once: redeeming it marks it
used in the same UPDATE that checks it is unused and unexpired, so two concurrent uses
cannot both succeed. Issuing a new link for a user cancels their older unused ones.

An invitation or a password reset is also mailed to the user when SMTP is configured and
they have an e-mail address (`queue_mail`): an `invitation.email` job, queued in the
transaction that issues the link, sends it from the job runner in the user's language, with
the absolute link the admin is shown. The job's payload is the only place the token is kept, and only
until the mail is sent: the job then forgets it (as it does when the link was used,
replaced or expired before the mail went out, which then sends nothing).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .jobs import JobContext, schedule
from .sessions import aware, token_hash
from .storage import jobs, user_links, users
from .users import check_password_rules, set_password

INVITE, RESET = "invite", "reset"
LIFETIME = {INVITE: timedelta(days=7), RESET: timedelta(hours=24)}


def issue(conn: Connection, user_id: int, purpose: str, created_by: int | None = None,
          now: datetime | None = None) -> str:
    """A new link token for the user (returned once, never stored as such)."""
    now = now or datetime.now(UTC)
    conn.execute(user_links.update().where(user_links.c.user_id == user_id, user_links.c.used_at.is_(None))
                 .values(used_at=now))  # older links stop working
    token = secrets.token_urlsafe(32)
    conn.execute(user_links.insert().values(token_hash=token_hash(token), user_id=user_id, purpose=purpose,
                                            created_by=created_by, created_at=now, expires_at=now + LIFETIME[purpose]))
    return token


def reset_password(conn: Connection, user_id: int, created_by: int | None = None) -> str:
    """The old password stops working and every session ends; the user sets a new one with
    the returned link's token."""
    set_password(conn, user_id, None)
    return issue(conn, user_id, RESET, created_by)


def pending(conn: Connection, token: str, now: datetime | None = None) -> dict[str, Any] | None:
    """The link and its user, if the token is unused, unexpired and its user active."""
    now = now or datetime.now(UTC)
    row = conn.execute(sa.select(user_links, users.c.username, users.c.is_active)
                       .join(users, users.c.id == user_links.c.user_id)
                       .where(user_links.c.token_hash == token_hash(token))).mappings().first()
    if row is None or row["used_at"] is not None or aware(row["expires_at"]) <= now or not row["is_active"]:
        return None
    return dict(row)


def redeem(conn: Connection, token: str, password: str, now: datetime | None = None) -> int | None:
    """Set the password through the link; the user's id, or None when the link does not
    work (any more). Raises UserError for a password that breaks the rules (link kept)."""
    now = now or datetime.now(UTC)
    check_password_rules(password)
    link = pending(conn, token, now)
    if link is None:
        return None
    claimed = conn.execute(user_links.update().where(user_links.c.id == link["id"], user_links.c.used_at.is_(None),
                                                     user_links.c.expires_at > now).values(used_at=now)).rowcount
    if claimed != 1:
        return None
    set_password(conn, link["user_id"], password)
    return int(link["user_id"])


# -- the invitation e-mail --------------------------------------------------------------------
MAIL_JOB = "invitation.email"
QUEUED, NO_SMTP, NO_EMAIL = "queued", "no_smtp", "no_email"  # what queue_mail did


def N_(text: str) -> str:  # noqa: N802 - the name message extraction looks for
    return text


SUBJECTS = {
    INVITE: N_("%(who)s invited you to Tailor"),
    RESET: N_("%(who)s reset your Tailor password"),
}
BODIES = {
    INVITE: N_("Hello %(name)s,\n\n%(who)s has made you a Tailor account with the username %(username)s. "
               "Choose your password with this link; it works once, until %(until)s:\n\n%(link)s\n\n"
               "If you did not expect this invitation, ignore this mail."),
    RESET: N_("Hello %(name)s,\n\n%(who)s has reset the password of your Tailor account %(username)s: the old "
              "password no longer works. Choose a new one with this link; it works once, until %(until)s:"
              "\n\n%(link)s\n\nIf you did not ask for this, tell your administrator."),
}


def queue_mail(conn: Connection, token: str, url: str, who: str, now: datetime | None = None) -> str:
    """Queue the mail of a link just issued, an invitation or a password reset (`url`: the
    absolute link). Returns QUEUED, NO_SMTP (mail is not configured) or NO_EMAIL (the user
    has no address)."""
    from .notify import smtp_configured

    link = conn.execute(sa.select(user_links.c.id, user_links.c.purpose, users.c.email)
                        .join(users, users.c.id == user_links.c.user_id)
                        .where(user_links.c.token_hash == token_hash(token))).one()
    if not smtp_configured():
        return NO_SMTP
    if not link.email:
        return NO_EMAIL
    key = "invitation" if link.purpose == INVITE else link.purpose
    schedule(conn, MAIL_JOB, f"{key}:{link.id}", now or datetime.now(UTC),
             {"link": link.id, "url": url, "who": who[:120]})
    return QUEUED


def invitation_text(language: str, *, name: str, username: str, who: str, link: str,
                    until: datetime, purpose: str = INVITE) -> tuple[str, str]:
    """The subject and body of an invitation (or password reset) mail, in `language`."""
    from .notify import translations

    gettext = translations(language or "en").ugettext
    params = {"who": who, "name": name, "username": username, "link": link,
              "until": aware(until).strftime("%Y-%m-%d %H:%M UTC")}
    purpose = purpose if purpose in SUBJECTS else INVITE
    return (gettext(SUBJECTS[purpose]) % params)[:300], gettext(BODIES[purpose]) % params + "\n"


def send_invitation_mail(job: JobContext) -> None:
    """The `invitation.email` job: mail the link if it still works; a mail failure raises
    and the runner retries later (the token is then kept until the retry)."""
    from .notify.mail import send_mail

    link_id = int(job.payload["link"])
    url, who = job.payload.get("url"), job.payload.get("who", "")
    with job.service.engine.connect() as conn:
        row = conn.execute(sa.select(user_links, users.c.username, users.c.display_name, users.c.email,
                                     users.c.language, users.c.is_active)
                           .join(users, users.c.id == user_links.c.user_id)
                           .where(user_links.c.id == link_id)).mappings().first()
    if row is not None and url and row["used_at"] is None and aware(row["expires_at"]) > job.now \
            and row["is_active"] and row["email"]:
        subject, body = invitation_text(row["language"], name=row["display_name"] or row["username"],
                                        username=row["username"], who=who, link=url, until=row["expires_at"],
                                        purpose=row["purpose"])
        send_mail(row["email"], subject, body)
    with job.service._write() as conn:  # the job forgets the token: it is stored nowhere else
        conn.execute(jobs.update().where(jobs.c.id == job.job_id).values(payload={"link": link_id, "url": None}))


JOB_HANDLERS = {MAIL_JOB: send_invitation_mail}
