"""Single sign-on with OpenID Connect, against a small provider run on loopback in the test
(werkzeug's make_server on 127.0.0.1, port 0): discovery, JWKS, an authorize endpoint that
redirects back with a code, and a token endpoint that checks the client and the PKCE
verifier and returns an ID token signed with an RSA key made for the test."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from webutil import csrf_of, make_user, migrated
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from engine.config import Settings
from engine.permissions import org
from engine.storage import oidc_links, user_roles, users, write_engine
from engine.web import create_app

CLIENT_ID = "tailor-crm"
CLIENT_SECRET = "s3cret-for-tests"
CUSTOMER = """
entity: customer
fields:
  name: {type: string, required: true}
"""
ROLES = """
roles:
  rep:
    entities:
      customer: {actions: [read, create, update], scope: all}
  auditor:
    require_two_factor: true
    entities:
      customer: {actions: [read], scope: all}
"""


class Provider:
    """An OpenID provider just big enough for the authorization code flow with PKCE.
    Tests change `claims`, `audience`, `nonce`, `signing_key`, `lifetime` or
    `announced_issuer` to misbehave."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.signing_key = self.key
        self.claims: dict = {"sub": "sub-001", "email": "sam@example.com", "email_verified": True,
                             "name": "Sam Song", "preferred_username": "sam"}
        self.audience = CLIENT_ID
        self.nonce: str | None = None  # None: the nonce the client sent
        self.lifetime = 300
        self.announced_issuer: str | None = None  # None: its own address, as configured
        self.codes: dict[str, dict] = {}
        self.authorize_requests: list[dict] = []
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @Request.application
    def app(self, request: Request) -> Response:
        if request.path == "/.well-known/openid-configuration":
            return self.json({"issuer": self.announced_issuer or self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                              "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                              "response_types_supported": ["code"], "subject_types_supported": ["public"],
                              "id_token_signing_alg_values_supported": ["RS256"],
                              "code_challenge_methods_supported": ["S256"]})
        if request.path == "/jwks":
            return self.json(KeySet([self.key]).as_dict(private=False))
        if request.path == "/authorize":
            args = request.args.to_dict()
            self.authorize_requests.append(args)
            code = secrets.token_urlsafe(16)
            self.codes[code] = args
            back = {"code": code, "state": args.get("state", "")}
            return Response(status=302, headers={"Location": f"{args['redirect_uri']}?{urlencode(back)}"})
        if request.path == "/token" and request.method == "POST":
            return self.token(request)
        return Response(status=404)

    def token(self, request: Request) -> Response:
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
            return self.json({"error": "invalid_client"}, 401)
        asked = self.codes.pop(request.form.get("code", ""), None)
        verifier = request.form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if asked is None or asked.get("code_challenge") != challenge \
                or request.form.get("redirect_uri") != asked.get("redirect_uri"):
            return self.json({"error": "invalid_grant"}, 400)
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + self.lifetime,
                  "nonce": self.nonce if self.nonce is not None else asked.get("nonce"), **self.claims}
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.signing_key)
        return self.json({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                          "id_token": id_token})

    @staticmethod
    def json(data, status: int = 200) -> Response:
        return Response(json.dumps(data), status=status, mimetype="application/json")


@pytest.fixture
def provider():
    found = Provider()
    found.thread.start()
    yield found
    found.server.shutdown()
    found.thread.join()
    found.server.server_close()


@pytest.fixture
def sso_app(make_project, db_url, provider):
    """`sso_app(**settings)` -> an app with single sign-on to the test provider."""
    made = []

    def make(**extra):
        root = make_project({"entities/customer.yaml": CUSTOMER, "roles.yaml": ROLES})
        model, engine = migrated(root, db_url)
        made.append(engine)
        with write_engine(engine).begin() as conn:
            org.department_path(conn, "Sales/East")
        settings = {"jobs": "off", "oidc_issuer": provider.issuer, "oidc_client_id": CLIENT_ID,
                    "oidc_client_secret": CLIENT_SECRET, **extra}
        app = create_app(Settings(project=root, database_url=db_url, secret_key="test-secret", extra=settings))
        app.config["TESTING"] = True
        made.append(app.extensions["tailor"].engine)
        return app

    yield make
    for engine in made:
        engine.dispose()


def to_provider_and_back(client, next_url="/e/customer"):
    """The browser's trip: to the provider's authorize page, and back with a code and state."""
    start = client.get(f"/sign-in/oidc?next={next_url}")
    assert start.status_code == 302, start.get_data(as_text=True)
    answer = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    return back.path, parse_qs(back.query)


def sign_in_with_sso(client, next_url="/e/customer"):
    path, query = to_provider_and_back(client, next_url)
    return client.get(path, query_string={k: v[0] for k, v in query.items()})


def user_of(client) -> int | None:
    """The user whose live server-side session the client's cookie holds, else None."""
    from engine.sessions import Timeouts, find_session
    from engine.web import WebState

    with client.session_transaction() as session:
        token = session.get("sid")
    if not token:
        return None
    with WebState.of(client.application).engine.connect() as conn:
        found = find_session(conn, token, Timeouts())
    return found["user"]["id"] if found else None


def test_first_sign_in_creates_the_user_with_roles_and_department(sso_app, provider):
    app = sso_app(oidc_create_users="1", oidc_roles_claim="groups", oidc_department_claim="dept")
    provider.claims.update(groups=["rep", "no_such_role"], dept="Sales/East")
    client = app.test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    assert "Sign in with single sign-on" in page
    response = sign_in_with_sso(client)
    assert response.status_code == 302 and response.headers["Location"] == "/e/customer"
    asked = provider.authorize_requests[0]
    assert asked["code_challenge_method"] == "S256" and asked["nonce"] and asked["state"]
    engine = app.extensions["tailor"].engine
    with engine.connect() as conn:
        sam = conn.execute(sa.select(users).where(users.c.username == "sam")).mappings().one()
        held = conn.execute(sa.select(user_roles.c.role).where(user_roles.c.user_id == sam["id"])).scalars().all()
        link = conn.execute(sa.select(oidc_links.c.issuer, oidc_links.c.subject, oidc_links.c.user_id)).one()
        department = org.department_path(conn, "Sales/East")
    assert sam["display_name"] == "Sam Song" and sam["email"] == "sam@example.com" and sam["password_hash"] is None
    assert held == ["rep"] and sam["department_id"] == department
    assert tuple(link) == (provider.issuer, "sub-001", sam["id"]) and user_of(client) == sam["id"]
    assert client.get("/e/customer").status_code == 200
    # the second time, the subject finds the same user, even with another e-mail address
    provider.claims.update(email="sam.song@example.com")
    again = app.test_client()
    assert sign_in_with_sso(again).status_code == 302 and user_of(again) == sam["id"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar() == 1


def test_an_existing_user_is_matched_by_verified_email(sso_app, provider):
    app = sso_app()
    state = app.extensions["tailor"]
    alice = make_user(state.engine, state.model, "alice", ("rep",))
    with write_engine(state.engine).begin() as conn:
        conn.execute(users.update().where(users.c.id == alice).values(email="Alice@Example.com"))
    provider.claims.update(sub="alice-at-idp", email="alice@example.com", email_verified=False)
    refused = app.test_client()
    response = sign_in_with_sso(refused)
    assert response.status_code == 403 and "No user of this CRM matches" in response.get_data(as_text=True)
    assert user_of(refused) is None
    provider.claims.update(email_verified=True)
    client = app.test_client()
    assert sign_in_with_sso(client).status_code == 302 and user_of(client) == alice
    with state.engine.connect() as conn:  # not created: TAILOR_OIDC_CREATE_USERS is off
        assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar() == 1


def test_a_forged_state_is_refused(sso_app, provider):
    client = sso_app(oidc_create_users="1").test_client()
    path, query = to_provider_and_back(client)
    response = client.get(path, query_string={"code": query["code"][0], "state": "forged"})
    assert response.status_code == 400 and "could not be verified" in response.get_data(as_text=True)
    assert user_of(client) is None and client.get("/e/customer").status_code == 302


@pytest.mark.parametrize("tamper", ["nonce", "signature", "audience", "expired", "issuer", "discovery"])
def test_an_id_token_that_does_not_verify_is_refused(sso_app, provider, tamper):
    app = sso_app(oidc_create_users="1")
    if tamper == "nonce":
        provider.nonce = "someone-elses-nonce"
    elif tamper == "signature":  # same key id, another key
        provider.signing_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    elif tamper == "audience":  # meant for another client (which names us as the party it was issued to)
        provider.audience = "another-client"
        provider.claims["azp"] = CLIENT_ID
    elif tamper == "expired":
        provider.lifetime = -3600
    elif tamper == "issuer":
        provider.claims["iss"] = "http://127.0.0.1:1"
    else:  # a discovery document that speaks for another issuer (its tokens name it too)
        provider.announced_issuer = provider.claims["iss"] = "http://127.0.0.1:1"
    client = app.test_client()
    response = sign_in_with_sso(client)
    assert response.status_code == 400 and "could not be verified" in response.get_data(as_text=True)
    assert user_of(client) is None and client.get("/e/customer").status_code == 302
    with app.extensions["tailor"].engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar() == 0


def test_a_role_that_requires_two_factor_applies_to_sso_too(sso_app, provider):
    app = sso_app(oidc_create_users="1", oidc_roles_claim="groups")
    provider.claims.update(groups=["auditor"])
    client = app.test_client()
    response = sign_in_with_sso(client)
    assert response.status_code == 302 and response.headers["Location"] == "/sign-in/enrol"
    assert user_of(client) is None


def test_an_unreachable_provider_is_a_clear_error(sso_app, provider):
    app = sso_app()
    provider.server.shutdown()
    provider.server.server_close()
    provider.thread.join()
    provider.server = make_server("127.0.0.1", 0, provider.app)  # for the fixture's shutdown
    provider.thread = threading.Thread(target=provider.server.serve_forever, daemon=True)
    provider.thread.start()
    response = app.test_client().get("/sign-in/oidc")
    assert response.status_code == 502 and "cannot be reached" in response.get_data(as_text=True)


def test_no_button_without_settings(crm_app):
    client = crm_app.test_client()
    assert "Sign in with" not in client.get("/sign-in").get_data(as_text=True)
    assert client.get("/sign-in/oidc").status_code == 404
    csrf_of(client.get("/sign-in").get_data(as_text=True))  # the password form is still there


def test_an_identity_too_long_to_store_is_refused(sso_app, provider):
    app = sso_app(oidc_create_users="1")
    provider.claims.update(sub="x" * 300, email="a" * 250 + "@example.com")
    client = app.test_client()
    response = sign_in_with_sso(client)
    assert response.status_code == 403 and "no identity" in response.get_data(as_text=True)
    assert user_of(client) is None
    provider.claims.update(sub="short")  # an e-mail address too long to keep is left out
    assert sign_in_with_sso(client).status_code == 302
    with app.extensions["tailor"].engine.connect() as conn:
        assert conn.execute(sa.select(users.c.username, users.c.email)).one() == ("sam", None)
