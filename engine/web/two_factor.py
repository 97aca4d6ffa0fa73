"""Two-factor sign-in on the web: the code asked after the password, the enrolment forced by
a role that requires it, and the user's own Security page.

    GET/POST  /sign-in/code                 the code (or a recovery code) after the password
    GET/POST  /sign-in/enrol                enrolment for a user whose role requires it
    GET       /account/security             the user's own page: status, set up, turn off
    POST      /account/security/start       show a new secret (QR code) to enrol
    POST      /account/security/confirm     a code from the app turns it on; recovery codes shown once
    POST      /account/security/disable     with the password or a code
    POST      /account/security/recovery-codes  ten new recovery codes, with a code
    POST      /admin/users/<id>/two-factor/reset  an administrator turns a user's off (lost phone)

Between the password and the code the user is half signed in: the session holds only
`two_factor` = {user, until, next, enrol}, for `PENDING_SECONDS`, and no `user_id`, so no
other page opens. Wrong codes count toward the sign-in throttling of auth.py, like wrong
passwords. Every way of signing in (password, single sign-on) ends in `after_first_factor`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

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
from markupsafe import Markup

from .. import admin_audit
from .. import two_factor as tf
from ..storage import sign_in_failures, users, write_engine
from ..users import verify_password
from . import auth
from .i18n import gettext as _
from .state import WebState

bp = Blueprint("two_factor", __name__)
PENDING = "two_factor"
PENDING_SECONDS = 300
MAX_CODE = 40


def after_first_factor(row: Mapping[str, Any], next_url: str):
    """The password (or the identity provider) said yes: ask for the second factor when the
    user has one, send them to enrol when a role of theirs requires one, else sign them in."""
    state = WebState.of()
    with state.engine.connect() as conn:
        enabled = tf.is_enabled(conn, row["id"])
        required = not enabled and tf.required_for(conn, row["id"], state.model.roles)
    if not (enabled or required):
        auth.start_session(row)
        return redirect(next_url)
    session.clear()
    session[PENDING] = {"user": row["id"], "until": int(time.time()) + PENDING_SECONDS, "next": next_url,
                        "enrol": required}
    return redirect(url_for("two_factor.enrol" if required else "two_factor.code"))


def _pending(enrol: bool) -> Mapping[str, Any] | None:
    """The half-signed-in user's row, while the pending state is fresh and of this kind."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or pending.get("until", 0) < time.time() or bool(pending.get("enrol")) != enrol:
        return None
    with WebState.of().engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.id == pending.get("user"))).mappings().first()
    return row if row is not None and row["is_active"] else None


def _keys(row: Mapping[str, Any]) -> list[str]:
    return [f"user:{row['username'].lower()}", f"addr:{request.remote_addr}"]


def _throttled(row: Mapping[str, Any]) -> str | None:
    wait = auth.wait_seconds(WebState.of().engine, _keys(row), datetime.now(UTC))
    return _("Too many failed attempts. Try again in %(seconds)s seconds.", seconds=wait) if wait else None


def _failed(row: Mapping[str, Any]) -> None:
    now = datetime.now(UTC)
    with write_engine(WebState.of().engine).begin() as conn:
        conn.execute(sign_in_failures.insert(), [{"key": k, "at": now} for k in _keys(row)])


def _code() -> str:
    return (request.form.get("code") or "")[:MAX_CODE]


def _expired():
    session.pop(PENDING, None)
    return render_template("sign_in.html", form=auth.SignInForm(formdata=None),
                           error=_("Sign-in took too long. Enter your username and password again.")), 400


@bp.route("/sign-in/code", methods=["GET", "POST"])
def code():
    row = _pending(enrol=False)
    if row is None:
        return _expired() if request.method == "POST" else redirect(url_for("auth.sign_in"))
    error, status = None, 200
    if request.method == "POST":
        error = _throttled(row)
        if error:
            status = 429
        elif not _code().strip():
            error, status = _("Enter the code from your authenticator app, or a recovery code."), 400
        else:
            with write_engine(WebState.of().engine).begin() as conn:
                accepted = tf.accept_second_factor(conn, row["id"], _code())
            if accepted:
                next_url = session[PENDING]["next"]
                auth.start_session(row)
                return redirect(next_url)
            _failed(row)
            error, status = _("Wrong or already used code."), 401
    return render_template("two_factor_code.html", error=error), status


def _enrolment(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the enrolment form shows: the secret as a QR code (inline SVG) and as text."""
    with write_engine(WebState.of().engine).begin() as conn:
        secret = tf.pending_secret(conn, row["id"])
    issuer = WebState.of().model.project
    return {"secret": " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
            "qr": Markup(tf.qr_svg(tf.provisioning_uri(secret, row["username"], issuer)))}


@bp.route("/sign-in/enrol", methods=["GET", "POST"])
def enrol():
    row = _pending(enrol=True)
    if row is None:
        return _expired() if request.method == "POST" else redirect(url_for("auth.sign_in"))
    error, status = None, 200
    if request.method == "POST":
        error = _throttled(row)
        if error:
            status = 429
        else:
            with write_engine(WebState.of().engine).begin() as conn:
                codes = tf.enable(conn, row["id"], _code())
            if codes is not None:
                next_url = session[PENDING]["next"]
                auth.start_session(row)
                return render_template("two_factor_codes.html", codes=codes, next_url=next_url)
            _failed(row)
            error, status = _("That code does not match. Check the time on your phone and try again."), 422
    return render_template("two_factor_enrol.html", required=True, error=error,
                           action=url_for("two_factor.enrol"), **_enrolment(row)), status


# -- the user's own Security page ---------------------------------------------------------------
def _security_page(error: str | None = None, status: int = 200, enrolling: bool = False):
    user = g.user
    state = WebState.of()
    with state.engine.connect() as conn:
        row = tf.state_of(conn, user["id"])
        left = tf.recovery_codes_left(conn, user["id"]) if row is not None else 0
        required = tf.required_for(conn, user["id"], state.model.roles)
    enrolment = _enrolment(user) if enrolling or (row is not None and row["enabled_at"] is None) else None
    return render_template("security.html", enabled=row is not None and row["enabled_at"] is not None,
                           left=left, required=required, enrolment=enrolment, error=error,
                           has_password=bool(user.get("password_hash"))), status


@bp.get("/account/security")
def security():
    return _security_page()


@bp.post("/account/security/start")
def security_start():
    with WebState.of().engine.connect() as conn:
        if tf.is_enabled(conn, g.user["id"]):
            return redirect(url_for("two_factor.security"), code=303)
    return _security_page(enrolling=True)


@bp.post("/account/security/confirm")
def security_confirm():
    error = _throttled(g.user)
    if error:
        return _security_page(error, 429, enrolling=True)
    with write_engine(WebState.of().engine).begin() as conn:
        codes = tf.enable(conn, g.user["id"], _code())
    if codes is None:
        _failed(g.user)
        return _security_page(_("That code does not match. Check the time on your phone and try again."), 422)
    return render_template("two_factor_codes.html", codes=codes, next_url=url_for("two_factor.security"))


def _password_or_code(user: Mapping[str, Any]) -> bool:
    password = (request.form.get("password") or "")[:200]
    if password and verify_password(user.get("password_hash"), password):
        return True
    with write_engine(WebState.of().engine).begin() as conn:
        return bool(_code().strip()) and tf.accept_second_factor(conn, user["id"], _code())


@bp.post("/account/security/disable")
def security_disable():
    user = g.user
    state = WebState.of()
    with state.engine.connect() as conn:
        if tf.required_for(conn, user["id"], state.model.roles):
            return _security_page(_("A role of yours requires two-factor sign-in: it cannot be turned off."), 409)
    error = _throttled(user)
    if error:
        return _security_page(error, 429)
    if not _password_or_code(user):
        _failed(user)
        return _security_page(_("Enter your password or a current code to turn two-factor sign-in off."), 401)
    with write_engine(state.engine).begin() as conn:
        tf.reset(conn, user["id"])
    return redirect(url_for("two_factor.security"), code=303)


@bp.post("/account/security/recovery-codes")
def security_recovery_codes():
    user = g.user
    error = _throttled(user)
    if error:
        return _security_page(error, 429)
    with write_engine(WebState.of().engine).begin() as conn:
        enabled = tf.is_enabled(conn, user["id"])
        accepted = enabled and tf.accept_code(conn, user["id"], _code())
        codes = tf.new_recovery_codes(conn, user["id"]) if accepted else None
    if not enabled:
        abort(409)
    if codes is None:
        _failed(user)
        return _security_page(_("Wrong or already used code."), 401)
    return render_template("two_factor_codes.html", codes=codes, next_url=url_for("two_factor.security"))


# -- an administrator's reset (the command line has `tailor user reset-2fa` too) -----------------
@bp.post("/admin/users/<id(bits=32):user_id>/two-factor/reset")
def admin_reset(user_id: int):
    if not g.user.get("is_admin"):
        abort(403, description=_("Only administrators can manage the organisation."))
    with write_engine(WebState.of().engine).begin() as conn:
        if conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is None:
            abort(404)
        if tf.reset(conn, user_id):
            from .admin import audit

            audit(conn, admin_audit.RESET_TWO_FACTOR, user_id)
    current_app.logger.warning("two-factor sign-in of user %s reset by %s", user_id, g.user["username"])
    return redirect(url_for("admin.user_edit", user_id=user_id), code=303)


def two_factor_on(user_id: int) -> bool:
    """For the admin's page of a user."""
    with WebState.of().engine.connect() as conn:
        return tf.is_enabled(conn, user_id)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["two_factor_on"] = two_factor_on
    auth.OPEN_ENDPOINTS.update({"two_factor.code", "two_factor.enrol"})
