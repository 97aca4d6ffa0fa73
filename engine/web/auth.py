"""Sign-in and sign-out, the current user, and the rule that every page needs a user.

* Passwords are scrypt hashes (engine.users). An unknown username is checked against a
  dummy hash, so a failed sign-in takes as long whether or not the user exists.
* Sessions are kept on the server (engine.sessions): the HttpOnly, SameSite=Lax cookie holds
  only a random session id, a new one at each sign-in. Signing out revokes the row, so a
  copied cookie stops working; sessions also end after TAILOR_SESSION_IDLE_MINUTES without
  a request and TAILOR_SESSION_ABSOLUTE_HOURS after sign-in.
* `start_session(user_row)` is the one place where a user who has proved who they are is
  signed in (password here; other sign-in methods call it too).
* `next` after sign-in may only be a path on this site.
* Failed sign-ins are slowed down: after `FREE_FAILURES` failures for a username (or from
  one address) within `WINDOW`, each further attempt must wait twice as long as the
  previous one (capped). Failures are stored in the database, so every worker agrees.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from .. import sessions
from ..fields.numbers import reset_input_language, set_input_language
from ..permissions.org import load_actor
from ..records import Actor, Context
from ..storage import sign_in_failures, users, write_engine
from ..users import verify_password
from .i18n import gettext as _
from .state import FILE_ENDPOINTS, WebState

bp = Blueprint("auth", __name__)
FREE_FAILURES = 3
WINDOW = timedelta(minutes=15)
MAX_WAIT = 300
OPEN_ENDPOINTS = {"auth.sign_in", "auth.language", "account.set_password_page", "asset", "health", "static",
                  "favicon"}
SESSION_KEY = "sid"  # the cookie's random session id


class SignInForm(FlaskForm):
    username = StringField(validators=[DataRequired(), Length(max=80)])
    password = PasswordField(validators=[DataRequired(), Length(max=200)])
    next = HiddenField()


def safe_next(target: str | None) -> str:
    """Only a path on this site: no scheme, no host, no `//host`, no backslash tricks."""
    if not target:
        return url_for("pages.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith(("//", "/\\")) \
            or "\\" in target:
        return url_for("pages.home")
    return target


def wait_seconds(engine, keys: list[str], now: datetime) -> int:
    """How long the next attempt must wait, given the recent failures for these keys."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sign_in_failures.c.key, sa.func.count(), sa.func.max(sign_in_failures.c.at))
                            .where(sign_in_failures.c.key.in_(keys), sign_in_failures.c.at > now - WINDOW)
                            .group_by(sign_in_failures.c.key)).all()
    wait = 0
    for _key, count, last in rows:
        if count < FREE_FAILURES:
            continue
        if last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        delay = min(MAX_WAIT, 2 ** (count - FREE_FAILURES + 1))
        wait = max(wait, int((last + timedelta(seconds=delay) - now).total_seconds()) + 1)
    return max(wait, 0)


def current_actor() -> Actor:
    """The signed-in user with roles, departments and teams (read once per request)."""
    user = g.get("user")
    if user is None:
        return Actor(system=False, username="anonymous")
    actor = g.get("_tailor_actor")
    if actor is None:
        with WebState.of().service.reading() as conn:
            actor = g._tailor_actor = load_actor(conn, user)
    return actor


def context() -> Context:
    """A fresh Context for this request: who acts, and now."""
    return Context(actor=current_actor())


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    form = SignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    error = None
    status = 200
    if form.validate_on_submit():
        state = WebState.of()
        now = datetime.now(UTC)
        username = form.username.data.strip()
        keys = [f"user:{username.lower()}", f"addr:{request.remote_addr}"]
        wait = wait_seconds(state.engine, keys, now)
        with state.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).mappings().first()
        user_id = row["id"] if row is not None else None
        if wait:
            error = _("Too many failed attempts. Try again in %(seconds)s seconds.", seconds=wait)
            status = 429
            with write_engine(state.engine).begin() as conn:
                sessions.record_sign_in(conn, username, user_id, sessions.THROTTLED, request.remote_addr,
                                        request.user_agent.string)
        else:
            # the password is checked in every case (a dummy hash without a user): same cost
            matches = verify_password(row["password_hash"] if row is not None else None, form.password.data)
            if row is not None and row["is_active"] and matches:
                from .two_factor import after_first_factor  # the second factor, when the user has one

                return after_first_factor(row, safe_next(form.next.data))
            with write_engine(state.engine).begin() as conn:
                conn.execute(sign_in_failures.insert(), [{"key": k, "at": now} for k in keys])
                sessions.record_sign_in(conn, username, user_id, sessions.FAILURE, request.remote_addr,
                                        request.user_agent.string)
            error = _("Wrong username or password.")
            status = 401
    elif request.method == "POST":
        error = _("Enter your username and password.")
        status = 400
    return render_template("sign_in.html", form=form, error=error), status


def start_session(user_row) -> None:
    """A user has signed in: start their session. A new random session id (no fixation),
    stored as a hash with the address and browser, and a line in their sign-in history.
    Every way of signing in (password, two-factor, single sign-on) ends here. `user_row` is
    the user's `tailor_user` row (a mapping with at least "id" and "username"); call it only
    for an active user who has proved who they are."""
    state = WebState.of()
    session.clear()
    with write_engine(state.engine).begin() as conn:
        token = sessions.create_session(conn, user_row["id"], request.remote_addr, request.user_agent.string,
                                        timeouts=session_timeouts())
        sessions.record_sign_in(conn, user_row["username"], user_row["id"], sessions.SUCCESS, request.remote_addr,
                                request.user_agent.string)
    session[SESSION_KEY] = token
    session.permanent = True


def session_timeouts() -> sessions.Timeouts:
    return current_app.extensions["tailor_session_timeouts"]


@bp.post("/sign-out")
def sign_out():
    token = session.get(SESSION_KEY)
    if token:
        with write_engine(WebState.of().engine).begin() as conn:
            sessions.revoke_token(conn, token)
    session.clear()
    return redirect(url_for("auth.sign_in"))


@bp.post("/language")
def language():
    code = request.form.get("language", "")
    state = WebState.of()
    if code not in state.model.languages:
        abort(400)
    session["language"] = code
    user = g.get("user")
    if user is not None:
        with write_engine(state.engine).begin() as conn:
            conn.execute(users.update().where(users.c.id == user["id"]).values(language=code))
    return redirect(safe_next(request.form.get("next")))


def load_user() -> None:
    if request.endpoint in FILE_ENDPOINTS:  # files are public and need no session lookup
        g.user = None
        return None
    state = WebState.of()  # refreshed and pinned by the app's first before_request
    state.open_reads()
    g.user = None
    g.session_id = None
    token = session.get(SESSION_KEY)
    if token:
        now = datetime.now(UTC)
        with state.service.reading() as conn:
            found = sessions.find_session(conn, token, session_timeouts(), now)
        if found is not None:
            if sessions.needs_touch(found, now):  # not a write on every request
                with write_engine(state.engine).begin() as conn:
                    sessions.touch(conn, found["id"], now)
            g.user = found["user"]
            g.session_id = found["id"]
        else:
            session.clear()
    elif "user_id" in session:  # a cookie from before sessions were kept on the server
        session.clear()
    # numbers the user types, and numbers in their inputs, are in their language (the records
    # service reads them so too, from the request's Context)
    g._tailor_numbers = set_input_language((g.user or {}).get("language"))
    if g.user is None and request.endpoint not in OPEN_ENDPOINTS and request.endpoint is not None:
        if request.method == "GET":
            return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
        abort(401)
    return None


def end_request(_exc: BaseException | None) -> None:
    WebState.of().close_reads()
    token = g.pop("_tailor_numbers", None)
    if token is not None:
        reset_input_language(token)


def init_app(app: Flask) -> None:
    timeouts = sessions.Timeouts.from_settings(app.config["TAILOR_SETTINGS"].extra)
    app.extensions["tailor_session_timeouts"] = timeouts
    app.config["PERMANENT_SESSION_LIFETIME"] = timeouts.absolute
    app.register_blueprint(bp)
    app.before_request(load_user)
    app.teardown_request(end_request)
