"""The Flask application factory (the generated pages arrive with the web-pages issue).

`create_app()` reads `TAILOR_*` settings, compiles the project once per worker, and lets
plugins add blueprints and template folders. Templates are looked up in this order: the
project's own `templates/`, plugin folders, then the built-in `templates/`, so any template
can be replaced by name or extended.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask, jsonify, render_template
from jinja2 import ChoiceLoader, FileSystemLoader

from ..config import Settings
from ..model import load_model
from ..paths import TEMPLATES
from ..storage import make_engine


def create_app(settings: Settings | None = None, **overrides) -> Flask:
    settings = settings or Settings.from_env(**overrides)
    if settings.project is None:
        raise RuntimeError("set TAILOR_PROJECT to the project folder")
    project = Path(settings.project)
    model = load_model(project)
    app = Flask("tailor", template_folder=str(TEMPLATES))
    app.config.update(
        SECRET_KEY=settings.secret_key or os.environ.get("TAILOR_SECRET_KEY") or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    folders = [project / "templates"]
    for found in model.plugins.hook.tailor_template_folders():
        folders += [Path(f) for f in found or []]
    folders.append(TEMPLATES)
    app.jinja_loader = ChoiceLoader([FileSystemLoader(str(f)) for f in folders if Path(f).is_dir()])
    app.extensions["tailor.model"] = model
    app.extensions["tailor.engine"] = make_engine(settings.database_url_for(project))
    for blueprints in model.plugins.hook.tailor_blueprints():
        for blueprint in blueprints or []:
            app.register_blueprint(blueprint)

    @app.get("/health")
    def health():
        return jsonify(project=model.project, metadata_version=model.version, entities=len(model.entities))

    @app.get("/")
    def index():
        return render_template("index.html", model=model)

    return app
