"""Web fixtures: an app on the demo CRM (or a project from YAML strings) with signed-in users."""

from __future__ import annotations

import re

import pytest

from engine.config import Settings
from engine.demo import load_demo
from engine.migrate import apply_plan, plan_migration
from engine.model import load_model
from engine.paths import EXAMPLES
from engine.storage import make_engine
from engine.users import create_user
from engine.web import create_app

PASSWORD = "test-pass-1"


def migrated(root, url):
    model = load_model(root, entry_points=False)
    engine = make_engine(url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    return model, engine


@pytest.fixture
def make_app(db_url, tmp_path):
    """`make_app(root, demo=False, users=("alice",))` -> Flask app on a migrated database."""
    engines = []

    def make(root, demo: bool = False, users=("alice",)):
        model, engine = migrated(root, db_url)
        engines.append(engine)
        if demo:
            load_demo(model, engine, root)
        for name in users:
            create_user(engine, name, PASSWORD, display_name=name.title())
        app = create_app(Settings(project=root, database_url=db_url, secret_key="test-secret"))
        app.config["TESTING"] = True
        engines.append(app.extensions["tailor"].engine)
        return app

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def crm_app(make_app):
    return make_app(EXAMPLES / "crm", demo=True)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client, username="alice", password=PASSWORD, next_url=None):
    page = client.get("/sign-in")
    data = {"username": username, "password": password, "csrf_token": csrf_of(page.get_data(as_text=True))}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/sign-in", data=data)


@pytest.fixture
def client(crm_app):
    """A client signed in as alice on the demo CRM."""
    client = crm_app.test_client()
    response = sign_in(client)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client
