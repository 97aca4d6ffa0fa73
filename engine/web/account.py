"""A user's own account: where they are signed in, their password, and the one-time links
(invitation, reset) that let them set a password without anyone else knowing it.

    GET   /sessions                       the user's live sessions: device, address, last seen
    POST  /sessions/<id>/end              sign one of them out
    POST  /sessions/others                sign out everywhere else
    POST  /sessions/password              change the password (ends the other sessions)
    GET/POST /set-password/<token>        set a password through an invitation or reset link
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Blueprint, Flask, abort, g, redirect, render_template, request, url_for

from .. import invitations, sessions
from ..storage import sign_in_failures, write_engine
from ..users import MIN_PASSWORD, UserError, set_password, verify_password
from .auth import session_timeouts, wait_seconds
from .i18n import gettext as _
from .state import WebState

bp = Blueprint("account", __name__)
MAX_PASSWORD = 200

# (pattern in the user agent, name), most specific first
BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("MicroMessenger", "WeChat"),
            ("Chrome/", "Chrome"), ("Safari/", "Safari"), ("curl/", "curl"))
SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
           ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def describe_device(user_agent: str | None) -> str:
    """"Firefox on Windows" from a user agent; the raw text is shown in a tooltip."""
    agent = user_agent or ""
    browser = next((name for pattern, name in BROWSERS if pattern in agent), None)
    system = next((name for pattern, name in SYSTEMS if pattern in agent), None)
    if browser and system:
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    return browser or system or (re.split(r"[ /]", agent, maxsplit=1)[0] if agent else _("Unknown device"))


def password_problem(password: str, confirm: str) -> str | None:
    """The rules for a new password, in the user's language."""
    if len(password) < MIN_PASSWORD or len(password) > MAX_PASSWORD:
        return _("A password has %(min)s to %(max)s characters.", min=MIN_PASSWORD, max=MAX_PASSWORD)
    if password != confirm:
        return _("The two passwords are not the same.")
    return None


def _sessions_page(errors: list[str] | None = None, done: str | None = None, status: int = 200):
    with WebState.of().engine.connect() as conn:
        live = sessions.live_sessions(conn, g.user["id"], session_timeouts())
    for row in live:
        row["device"] = describe_device(row["user_agent"])
        row["last_seen_at"] = sessions.aware(row["last_seen_at"])
        row["created_at"] = sessions.aware(row["created_at"])
    return render_template("sessions.html", live=live, current=g.session_id, errors=errors or [], done=done,
                           min_password=MIN_PASSWORD), status


@bp.get("/sessions")
def session_list():
    done = {"ended": _("Signed out."), "password": _("Your password was changed; your other sessions ended.")}
    return _sessions_page(done=done.get(request.args.get("done", "")))


@bp.post("/sessions/<id(bits=32):session_id>/end")
def end_session(session_id: int):
    with write_engine(WebState.of().engine).begin() as conn:
        ended = sessions.revoke(conn, session_id, user_id=g.user["id"])
    if not ended:
        abort(404)
    if session_id == g.session_id:
        return redirect(url_for("auth.sign_in"), code=303)
    return redirect(url_for("account.session_list", done="ended"), code=303)


@bp.post("/sessions/others")
def end_other_sessions():
    with write_engine(WebState.of().engine).begin() as conn:
        sessions.revoke_all(conn, g.user["id"], keep=g.session_id)
    return redirect(url_for("account.session_list", done="ended"), code=303)


@bp.post("/sessions/password")
def change_password():
    """The current password is asked for (a borrowed session must not take the account over),
    and wrong guesses count as failed sign-ins, slowed down the same way."""
    form = request.form
    current, new, confirm = form.get("current", ""), form.get("password", ""), form.get("confirm", "")
    state = WebState.of()
    now = datetime.now(UTC)
    keys = [f"user:{g.user['username'].lower()}"]
    wait = wait_seconds(state.engine, keys, now)
    if wait:
        return _sessions_page(errors=[_("Too many failed attempts. Try again in %(seconds)s seconds.",
                                        seconds=wait)], status=429)
    problem = password_problem(new, confirm)
    if problem is None and not verify_password(g.user.get("password_hash"), current[:MAX_PASSWORD]):
        problem = _("Your current password is not right.")
        with write_engine(state.engine).begin() as conn:
            conn.execute(sign_in_failures.insert(), [{"key": k, "at": now} for k in keys])
    if problem:
        return _sessions_page(errors=[problem], status=422)
    with write_engine(WebState.of().engine).begin() as conn:
        set_password(conn, g.user["id"], new, keep_session=g.session_id)
    return redirect(url_for("account.session_list", done="password"), code=303)


@bp.route("/set-password/<token>", methods=["GET", "POST"])
def set_password_page(token: str):
    state = WebState.of()
    with state.engine.connect() as conn:
        link = invitations.pending(conn, token[:200])
    if link is None:
        return render_template("set_password.html", link=None, errors=[]), 410
    errors: list[str] = []
    if request.method == "POST":
        problem = password_problem(request.form.get("password", ""), request.form.get("confirm", ""))
        if problem:
            errors.append(problem)
        else:
            try:
                with write_engine(state.engine).begin() as conn:
                    user_id = invitations.redeem(conn, token, request.form["password"])
            except UserError:
                user_id = None
            if user_id is None:
                return render_template("set_password.html", link=None, errors=[]), 410
            return redirect(url_for("auth.sign_in", done="password"), code=303)
    response = render_template("set_password.html", link=link, errors=errors)
    return response, 422 if errors else 200


@bp.after_request
def no_referrer(response):
    """The link's token must not leak to other sites through the Referer header."""
    if request.endpoint == "account.set_password_page":
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
