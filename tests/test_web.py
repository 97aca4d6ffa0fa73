"""The application factory: settings, plugin blueprints and template overrides."""

from __future__ import annotations

from engine.config import Settings
from engine.web import create_app

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


def test_app_serves_health_and_plugin_pages(make_project, tmp_path):
    root = make_project({
        "tailor.yaml": "name: web\nplugins: [./web_plugin.py]\n",
        "web_plugin.py": PLUGIN,
        "plugin_templates/index.html": "PLUGIN INDEX {{ model.project }}",
        "entities/customer.yaml": "entity: customer\nlabel: {en: '<b>Customer</b>'}\nfields:\n  name: {type: string}\n",
    })
    app = create_app(Settings(project=root, database_url=f"sqlite:///{tmp_path / 'w.sqlite'}", secret_key="x"))
    client = app.test_client()
    health = client.get("/health").get_json()
    assert health["project"] == "web" and health["entities"] == 1
    assert client.get("/hello").data == b"hello from a plugin"
    assert client.get("/").data == b"PLUGIN INDEX web"  # plugin template replaces the built-in one


def test_project_templates_win_and_labels_are_escaped(make_project, tmp_path):
    root = make_project({
        "entities/customer.yaml": "entity: customer\nlabel: {en: '<b>Customer</b>'}\nfields:\n  name: {type: string}\n",
    })
    app = create_app(Settings(project=root, database_url=f"sqlite:///{tmp_path / 'w.sqlite'}", secret_key="x"))
    page = app.test_client().get("/").data.decode()
    assert "&lt;b&gt;Customer&lt;/b&gt;" in page and "<b>Customer" not in page
    (root / "templates").mkdir()
    (root / "templates" / "index.html").write_text("PROJECT {{ model.project }}")
    app = create_app(Settings(project=root, database_url=f"sqlite:///{tmp_path / 'w.sqlite'}", secret_key="x"))
    assert app.test_client().get("/").data == b"PROJECT test"


def test_settings_from_environment(tmp_path):
    settings = Settings.from_env({"TAILOR_PROJECT": str(tmp_path), "TAILOR_DATABASE_URL": "sqlite://",
                                  "TAILOR_SECRET_KEY": "s", "TAILOR_OTHER": "v"})
    assert settings.project == tmp_path and settings.database_url == "sqlite://"
    assert settings.secret_key == "s" and settings.extra == {"other": "v"}
    assert Settings.from_env({}, database_url="x").database_url == "x"
    assert Settings.from_env({}).database_url_for(tmp_path).endswith("instance/tailor.sqlite")
