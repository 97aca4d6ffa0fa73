"""The application factory: settings, plugin blueprints, template overrides, escaping,
noticing a newer metadata version without a restart."""

from __future__ import annotations

from webutil import sign_in

from engine.config import Settings

PLUGIN = '''
from pathlib import Path
from flask import Blueprint

bp = Blueprint("hello", __name__)

@bp.get("/hello")
def hello():
    return "hello from a plugin"

def tailor_blueprints():
    return [bp]

def tailor_template_folders():
    return [str(Path(__file__).parent / "plugin_templates")]
'''

ENTITY = "entity: customer\nlabel: {en: '<b>Customer</b>'}\nfields:\n  name: {type: string}\n"


def test_plugin_blueprints_and_templates(make_project, make_app):
    root = make_project({
        "tailor.yaml": "name: web\nplugins: [./web_plugin.py]\n",
        "web_plugin.py": PLUGIN,
        "plugin_templates/home.html": "PLUGIN HOME {{ tailor_model().project }}",
        "entities/customer.yaml": ENTITY,
    })
    client = make_app(root).test_client()
    assert client.get("/hello").status_code == 302  # plugin pages need a user too
    sign_in(client)
    assert client.get("/hello").data == b"hello from a plugin"
    assert client.get("/home").data == b"PLUGIN HOME web"
    assert client.get("/health").get_json()["entities"] == 1


def test_project_templates_win_and_labels_are_escaped(make_project, make_app):
    root = make_project({"entities/customer.yaml": ENTITY})
    client = make_app(root).test_client()
    sign_in(client)
    page = client.get("/home").get_data(as_text=True)
    assert "&lt;b&gt;Customer&lt;/b&gt;" in page  # labels from YAML are escaped
    assert "<b>Customer</b>" not in page
    (root / "templates").mkdir()
    (root / "templates" / "list-customer.html").write_text("CUSTOM LIST {{ rows|length }}")
    client2 = make_app(root, users=("bob",)).test_client()
    sign_in(client2, "bob")
    assert client2.get("/e/customer").data == b"CUSTOM LIST 0"


def test_a_newer_metadata_version_is_picked_up(make_project, make_app, db_url, monkeypatch):
    from click.testing import CliRunner

    from engine.cli import cli

    root = make_project({"entities/customer.yaml": ENTITY})
    app = make_app(root)
    client = app.test_client()
    sign_in(client)
    before = client.get("/health").get_json()["metadata_version"]
    (root / "entities" / "note.yaml").write_text("entity: note\nfields:\n  body: {type: text}\n")
    assert CliRunner().invoke(cli, ["migrate", str(root), "--database", db_url]).exit_code == 0
    after = client.get("/health").get_json()
    assert after["metadata_version"] != before and after["entities"] == 2


def test_settings_from_environment(tmp_path):
    settings = Settings.from_env({"TAILOR_PROJECT": str(tmp_path), "TAILOR_DATABASE_URL": "sqlite://",
                                  "TAILOR_SECRET_KEY": "s", "TAILOR_OTHER": "v"})
    assert settings.project == tmp_path and settings.database_url == "sqlite://"
    assert settings.secret_key == "s" and settings.extra == {"other": "v"}
    assert Settings.from_env({}, database_url="x").database_url == "x"
    assert Settings.from_env({}).database_url_for(tmp_path).endswith("instance/tailor.sqlite")
