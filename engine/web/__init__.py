"""The web application: generated pages for end users.

`create_app()` reads `TAILOR_*` settings, compiles the project once per worker and
notices a newer metadata version in the database without a restart (`state.py`).
Background jobs (approval timeouts, e-mails) run in a thread of each worker unless
`TAILOR_JOBS=off` (then `tailor worker` runs them). Subsystems plug in with `init_app(app)`: sign-in (`auth.py`), languages and formatting
(`i18n.py`), front-end files (`assets.py`), security headers (`headers.py`), error pages (`errors.py`) and the pages
themselves (`pages/`). Plugins add blueprints and template folders; templates are looked
up in the project's `templates/`, then plugin folders, then the built-in `templates/`,
most specific name first (`list-opportunity.html` before `list.html`).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import Flask, jsonify, redirect, url_for
from flask_wtf.csrf import CSRFProtect
from jinja2 import ChoiceLoader, FileSystemLoader

from ..config import Settings
from ..paths import TEMPLATES
from . import account, admin, assets, auth, errors, headers, i18n, ids, sso, two_factor
from .state import WebState

csrf = CSRFProtect()
MAX_BODY = 2 * 1024 * 1024


def create_app(settings: Settings | None = None, **overrides) -> Flask:
    settings = settings or Settings.from_env(**overrides)
    if settings.project is None:
        raise RuntimeError("set TAILOR_PROJECT to the project folder")
    project = Path(settings.project)
    state = WebState.start(project, settings.database_url_for(project), check_every=model_check_seconds(settings))
    model = state.model
    app = Flask(__name__, template_folder=str(TEMPLATES))
    app.config.update(
        SECRET_KEY=settings.secret_key or _instance_secret(project),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.extra.get("secure_cookies", "") == "1",
        MAX_CONTENT_LENGTH=MAX_BODY,
        WTF_CSRF_TIME_LIMIT=None,
        TAILOR_SETTINGS=settings,
    )
    folders = [project / "templates"]
    for found in model.plugins.hook.tailor_template_folders():
        folders += [Path(f) for f in found or []]
    folders.append(TEMPLATES)
    app.jinja_loader = ChoiceLoader([FileSystemLoader(str(f)) for f in folders if Path(f).is_dir()])
    app.extensions["tailor"] = state
    app.before_request(state.refresh)  # first: every later step sees this request's pinned model
    ids.init_app(app)
    csrf.init_app(app)
    headers.init_app(app, settings)
    i18n.init_app(app)
    assets.init_app(app)
    auth.init_app(app)
    two_factor.init_app(app)
    sso.init_app(app, settings)
    errors.init_app(app)
    admin.init_app(app)
    account.init_app(app)
    from .pages import init_app as init_pages

    init_pages(app)
    for blueprints in model.plugins.hook.tailor_blueprints():
        for blueprint in blueprints or []:
            app.register_blueprint(blueprint)

    from ..backup.schedule import seed

    seed(state.engine, settings.extra, project)  # the next scheduled backup, when they are on
    if settings.extra.get("jobs", "inprocess") != "off":  # TAILOR_JOBS=off when `tailor worker` runs them
        from ..jobs import job_handlers, start_in_process

        interval = float(settings.extra.get("jobs_interval", "10"))
        app.extensions["tailor_jobs"] = start_in_process(lambda: state.live.current[1], job_handlers(model), interval,
                                                         refresh=state.live.refresh)

    @app.get("/health")
    def health():
        current = WebState.of(app).model
        return jsonify(project=current.project, metadata_version=current.version, entities=len(current.entities))

    @app.get("/")
    def index():
        return redirect(url_for("pages.home"))

    return app


def model_check_seconds(settings: Settings) -> float:
    """TAILOR_MODEL_CHECK_SECONDS: how long a worker's reads may go without looking at the
    database's metadata version (state.py); 1 s by default, 0 looks on every request."""
    raw = settings.extra.get("model_check_seconds", "").strip() or "1"
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 60:
        raise RuntimeError(f"TAILOR_MODEL_CHECK_SECONDS must be a number of seconds from 0 to 60, not {raw!r}")
    return seconds


def _instance_secret(project: Path) -> str:
    """Without TAILOR_SECRET_KEY, a random key kept in the project's git-ignored instance/
    folder, so sessions survive restarts and are shared by the workers of one machine."""
    path = project.resolve() / "instance" / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()
