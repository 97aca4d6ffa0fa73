"""Single sign-on with OpenID Connect (an Authlib client), when TAILOR_OIDC_ISSUER,
TAILOR_OIDC_CLIENT_ID and TAILOR_OIDC_CLIENT_SECRET are set.

    GET  /sign-in/oidc            to the provider (authorization code flow with PKCE, state, nonce)
    GET  /sign-in/oidc/callback   back from it: the code is exchanged, the ID token verified

Authlib reads the provider's discovery document, keeps state, nonce and the PKCE verifier
in the session, and verifies the ID token (signature with the provider's JWKS, issuer,
audience, expiry, nonce). Whatever fails there is shown as a clear message and starts no
session. The user is then found:

1. by the stored link (issuer, subject) of an earlier sign-in;
2. else by e-mail address, when the provider says it is verified (and one user has it);
3. else created, when TAILOR_OIDC_CREATE_USERS=1.

With TAILOR_OIDC_ROLES_CLAIM / TAILOR_OIDC_DEPARTMENT_CLAIM the user's roles and department
follow those claims at every sign-in, keeping only roles of roles.yaml and departments that
exist. The sign-in then goes through the second factor like a password sign-in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests
import sqlalchemy as sa
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, current_app, render_template, request, session, url_for
from joserfc.errors import JoseError

from ..config import Settings
from ..permissions import org
from ..storage import departments, oidc_links, users, write_engine
from ..users import USERNAME_RE, create_user
from . import auth
from .i18n import gettext as _
from .state import WebState

bp = Blueprint("sso", __name__)
NAME = "oidc"
NEXT = "oidc_next"
MAX_ID = 255  # issuer and subject columns
MAX_EMAIL = 254


class SignInRefused(Exception):
    """The provider's answer cannot sign anyone in; the message is for the user."""


def configured(settings: Settings) -> bool:
    extra = settings.extra
    return all(extra.get(k) for k in ("oidc_issuer", "oidc_client_id", "oidc_client_secret"))


def _settings() -> Settings:
    return current_app.config["TAILOR_SETTINGS"]


def _client():
    return current_app.extensions["tailor_oidc"].create_client(NAME)


@bp.get("/sign-in/oidc")
def start():
    session[NEXT] = auth.safe_next(request.args.get("next"))
    try:
        return _client().authorize_redirect(url_for("sso.callback", _external=True))
    except (requests.RequestException, AuthlibBaseError, ValueError, KeyError, RuntimeError):
        current_app.logger.exception("OIDC provider unreachable")
        return _refused(_("The sign-in provider cannot be reached. Try again later."), 502)


@bp.get("/sign-in/oidc/callback")
def callback():
    next_url = session.pop(NEXT, None) or url_for("pages.home")
    try:
        token = _client().authorize_access_token(claims_options=_claims_options())
        claims = token.get("userinfo")
        if not claims:
            raise SignInRefused(_("The sign-in provider sent no identity."))
        row = _user_for(claims)
    except SignInRefused as exc:
        return _refused(str(exc), 403)
    except sa.exc.IntegrityError:  # the same person signing in twice at once, for the first time
        return _refused(_("Sign-in did not finish. Try again."), 409)
    except (AuthlibBaseError, JoseError, ValueError) as exc:
        current_app.logger.warning("OIDC sign-in refused: %s", exc)
        return _refused(_("Single sign-on failed: the provider's answer could not be verified. Try again."), 400)
    except requests.RequestException:
        current_app.logger.exception("OIDC provider unreachable")
        return _refused(_("The sign-in provider cannot be reached. Try again later."), 502)
    from .two_factor import after_first_factor

    return after_first_factor(row, next_url)


def _claims_options() -> dict[str, dict[str, Any]]:
    """The ID token must come from the configured issuer and name this client among its
    audience (OIDC Core 3.1.3.7). Authlib checks the audience only when told to: without
    this, a token issued to another client that names us as `azp` would be accepted."""
    settings = _settings().extra
    issuer = _client().load_server_metadata().get("issuer")
    if not isinstance(issuer, str) or issuer.rstrip("/") != settings["oidc_issuer"].rstrip("/"):
        raise ValueError(f"the discovery document names issuer {issuer!r}, not {settings['oidc_issuer']!r}")
    return {"iss": {"essential": True, "values": [issuer]},
            "aud": {"essential": True, "values": [settings["oidc_client_id"]]}}


def _refused(message: str, status: int):
    session.clear()  # nothing of a half-finished sign-in survives
    return render_template("sign_in.html", form=auth.SignInForm(formdata=None), error=message), status


# -- finding the user ---------------------------------------------------------------------------
def _user_for(claims: Mapping[str, Any]) -> Mapping[str, Any]:
    settings = _settings().extra
    issuer = _client().load_server_metadata().get("issuer") or settings["oidc_issuer"]
    subject = str(claims.get("sub") or "")
    if not subject or len(subject) > MAX_ID or len(issuer) > MAX_ID:
        raise SignInRefused(_("The sign-in provider sent no identity."))
    state = WebState.of()
    now = datetime.now(UTC)
    with write_engine(state.engine).begin() as conn:
        user_id = conn.execute(sa.select(oidc_links.c.user_id).where(
            oidc_links.c.issuer == issuer, oidc_links.c.subject == subject)).scalar()
        if user_id is None:
            user_id = _by_email(conn, claims)
            if user_id is None:
                if settings.get("oidc_create_users") != "1":
                    raise SignInRefused(_("No user of this CRM matches your account. Ask an administrator."))
                user_id = _create(conn, claims)
            conn.execute(oidc_links.insert().values(issuer=issuer, subject=subject, user_id=user_id, created_at=now))
        _apply_claims(conn, user_id, claims, settings, state.model.roles)
        row = conn.execute(sa.select(users).where(users.c.id == user_id)).mappings().first()
    if row is None or not row["is_active"]:
        raise SignInRefused(_("This account is disabled."))
    return row


def _verified_email(claims: Mapping[str, Any]) -> str | None:
    email = claims.get("email")
    if not isinstance(email, str) or not 0 < len(email) <= MAX_EMAIL or claims.get("email_verified") is not True:
        return None
    return email


def _by_email(conn, claims: Mapping[str, Any]) -> int | None:
    email = _verified_email(claims)
    if email is None:
        return None
    found = conn.execute(sa.select(users.c.id).where(sa.func.lower(users.c.email) == email.lower())).scalars().all()
    return found[0] if len(found) == 1 else None


def _create(conn, claims: Mapping[str, Any]) -> int:
    email = _verified_email(claims)
    wanted = str(claims.get("preferred_username") or (email or "").split("@")[0] or claims["sub"])
    base = re.sub(r"[^A-Za-z0-9._-]", "", wanted)[:70].lstrip("._-") or "user"
    if len(base) < 2:
        base = f"user.{base}"
    username, n = base, 1
    while not USERNAME_RE.match(username) or conn.execute(
            sa.select(users.c.id).where(users.c.username == username)).first():
        n += 1
        username = f"{base}.{n}"
    name = claims.get("name") if isinstance(claims.get("name"), str) else None
    return create_user(conn, username, None, display_name=(name or username)[:120], email=email)


def _apply_claims(conn, user_id: int, claims: Mapping[str, Any], settings: Mapping[str, str],
                  roles: Mapping[str, Any]) -> None:
    roles_claim = settings.get("oidc_roles_claim")
    if roles_claim and roles_claim in claims:
        value = claims[roles_claim]
        names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        org.set_roles(conn, user_id, [n for n in names if isinstance(n, str) and n in roles], roles)
    department_claim = settings.get("oidc_department_claim")
    value = claims.get(department_claim) if department_claim else None
    if isinstance(value, str) and value.strip():
        department = _existing_department(conn, value)
        if department is not None:
            conn.execute(users.update().where(users.c.id == user_id).values(department_id=department))


def _existing_department(conn, path: str) -> int | None:
    """A department given as "Sales/East China" (or a name alone), never created here."""
    parent = None
    for name in [p.strip() for p in path.split("/") if p.strip()]:
        found = conn.execute(sa.select(departments.c.id).where(
            departments.c.name == name,
            departments.c.parent_id.is_(None) if parent is None else departments.c.parent_id == parent)).scalars().all()
        if len(found) != 1 and parent is None:  # a name alone, anywhere in the tree
            found = conn.execute(sa.select(departments.c.id).where(departments.c.name == name)).scalars().all()
        if len(found) != 1:
            return None
        parent = found[0]
    return parent


def provider_name() -> str | None:
    """For the sign-in page: the provider's name when single sign-on is on."""
    settings = _settings()
    return (settings.extra.get("oidc_name") or _("single sign-on")) if configured(settings) else None


def init_app(app: Flask, settings: Settings) -> None:
    app.jinja_env.globals["sso_provider"] = provider_name
    if not configured(settings):
        return
    extra = settings.extra
    oauth = OAuth(app)
    oauth.register(
        NAME,
        client_id=extra["oidc_client_id"],
        client_secret=extra["oidc_client_secret"],
        server_metadata_url=extra["oidc_issuer"].rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": extra.get("oidc_scope", "openid email profile"), "code_challenge_method": "S256",
                       "timeout": 10},
    )
    app.extensions["tailor_oidc"] = oauth
    app.register_blueprint(bp)
    auth.OPEN_ENDPOINTS.update({"sso.start", "sso.callback"})
