"""Web fixtures: an app on the demo CRM (or a project from YAML strings) with signed-in users."""

from __future__ import annotations

import os
import re
import shutil
import uuid

import dbcopies
import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.demo import load_demo
from engine.model import load_model
from engine.paths import EXAMPLES
from engine.permissions.org import set_roles
from engine.storage import write_engine
from engine.users import create_user
from engine.web import create_app

PASSWORD = "test-pass-1"
PG_URL = os.environ.get("TAILOR_TEST_DATABASE_URL")


def make_user(engine, model, name: str, roles: tuple[str, ...] | None = None) -> int:
    """A test user; in a project with roles, holding `roles` (default: the project's `admin`
    role, which reaches everything through the permission checks, unlike the admin flag)."""
    user_id = create_user(engine, name, PASSWORD, display_name=name.title())
    wanted = roles if roles is not None else tuple(r for r in ("admin",) if r in model.roles)
    if wanted:
        with write_engine(engine).begin() as conn:
            set_roles(conn, user_id, wanted, model.roles)
    return user_id


def migrated(root, url):
    """(model, engine on `url` migrated to the project at `root`). A test's own database that
    is still empty becomes a copy of one migrated once per process (see dbcopies.py)."""
    model = load_model(root, entry_points=False)
    return model, dbcopies.migrated_engine(model, url)


class Templates:
    """Migrated databases with the demo CRM loaded, built once per test session and copied
    for each test (a file copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL):
    loading the demo data for every web test would take minutes."""

    def __init__(self, folder):
        self.folder = folder
        self.built: dict[str, str] = {}
        self.pg_databases: list[str] = []

    def prepare(self, root, url: str) -> None:
        model, engine = migrated(root, url)
        load_demo(model, engine, root)
        make_user(engine, model, "alice")
        engine.dispose()

    def sqlite(self, root, target) -> None:
        if "sqlite" not in self.built:
            path = self.folder / "crm-template.sqlite"
            self.prepare(root, f"sqlite:///{path}")
            self.built["sqlite"] = str(path)
        shutil.copyfile(self.built["sqlite"], target)

    def postgresql(self, root, target: str | None = None) -> str:
        """URL of a copy of the demo database: `target` (a test's database, see
        dbcopies.PgDatabases) itself when it is still untouched, else a new database
        (dropped by `drop`)."""
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        try:
            if "postgresql" not in self.built:
                name = f"tailor_tmpl_{uuid.uuid4().hex[:8]}"
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                self.pg_databases.append(name)
                self.prepare(root, _database_url(name))
                self.built["postgresql"] = name
            if target is not None and dbcopies.pg_databases.untouched(target):
                dbcopies.pg_databases.replace(target, self.built["postgresql"])
                return _database_url(target)
            name = f"tailor_t_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{self.built["postgresql"]}"')
            self.pg_databases.append(name)
            return _database_url(name)
        finally:
            admin.dispose()

    def drop(self, name: str) -> None:
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        if name in self.pg_databases:
            self.pg_databases.remove(name)


def _database_url(name: str) -> str:
    base = sa.engine.make_url(PG_URL)
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def templates(tmp_path_factory):
    cache = Templates(tmp_path_factory.mktemp("web-templates"))
    yield cache
    for name in list(cache.pg_databases):
        cache.drop(name)


@pytest.fixture
def make_app(db_url, tmp_path, templates):
    """`make_app(root, demo=False, users=("alice",))` -> Flask app on a migrated database."""
    engines = []
    databases = []

    def make(root, demo: bool = False, users=("alice",)):
        url = db_url
        if root == EXAMPLES / "crm" and demo and tuple(users) == ("alice",):
            if db_url.startswith("sqlite"):
                templates.sqlite(root, db_url.removeprefix("sqlite:///"))
            else:
                url = templates.postgresql(root, sa.engine.make_url(db_url).database)
                if url != db_url:
                    databases.append(url.rsplit("/", 1)[1])
        else:
            model, engine = migrated(root, url)
            engines.append(engine)
            if demo:
                load_demo(model, engine, root)
            for name in users:
                make_user(engine, model, name)
        app = create_app(Settings(project=root, database_url=url, secret_key="test-secret", extra={"jobs": "off"}))
        app.config["TESTING"] = True
        engines.append(app.extensions["tailor"].engine)
        return app

    yield make
    for engine in engines:
        engine.dispose()
    for name in databases:
        templates.drop(name)


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
