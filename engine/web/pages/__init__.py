"""The generated pages, one module per kind of page, all on the `pages` blueprint.

    home.py     start page and global search
    lists.py    list pages: filters, sort, paging, saved views, CSV/XLSX export, bulk delete
    records.py  record pages, create/edit forms, comments, timeline
    kanban.py   boards for entities with a stage field
    approvals.py  transitions, approval tasks, the inbox, notifications
    reports.py  report pages: chart and table, period picker, CSV/XLSX export, drill-down
    dashboards.py  dashboards (dashboards/*.yaml) and the home page's dashboard
    imports.py  import pages: upload, map columns, dry run, run with progress, revert
    report_builder.py  the report builder: build, preview, save and share reports
    design.py   the designer at /design (its own blueprint: 404 for all but designers)
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, g, render_template

from ...model import Entity
from ..forms import title_of
from ..state import WebState

bp = Blueprint("pages", __name__)


def model():
    return WebState.of().model


def service():
    return WebState.of().service


def access(entity: Entity | str):
    """What the signed-in user may do with an entity (engine.permissions.policy.Access),
    worked out once per request and entity."""
    from ..auth import context

    name = entity if isinstance(entity, str) else entity.name
    cache = g.setdefault("_tailor_access", {})
    if name not in cache:
        cache[name] = service().access(name, context())
    return cache[name]


def can(entity: Entity | str, action: str) -> bool:
    """For templates: show a button only when the action would be allowed (the records
    service decides again when it is used)."""
    return access(entity).can(action)


def entity_or_404(name: str) -> Entity:
    entity = model().entities.get(name)
    if entity is None or entity.hidden:
        abort(404)
    return entity


def render(kind: str, entity: Entity | None = None, **context):
    """Render the most specific template: `KIND-ENTITY.html`, then `KIND.html`."""
    names = ([f"{kind}-{entity.name}.html"] if entity is not None else []) + [f"{kind}.html"]
    return render_template(names, entity=entity, **context)


def init_app(app: Flask) -> None:
    from ..polymorphic import target_text
    from . import (  # noqa: F401  (routes register on bp)
        approvals,
        dashboards,
        design,
        home,
        imports,
        kanban,
        lists,
        records,
        report_builder,
        reports,
    )
    from .display import contact_items, contact_summary, display_text, rollup_text

    app.register_blueprint(bp)
    design.init_app(app)
    imports.init_app(app)
    reports.init_app(app)
    app.jinja_env.globals["tailor_model"] = model
    app.jinja_env.globals["menu_groups"] = home.menu
    app.jinja_env.globals["menu_html"] = home.menu_html
    app.jinja_env.globals["can"] = can
    app.jinja_env.globals["record_title"] = title_of
    app.jinja_env.globals["nav_counts"] = approvals.nav_counts
    app.jinja_env.globals["display_text"] = display_text
    app.jinja_env.globals["contact_items"] = contact_items
    app.jinja_env.globals["contact_summary"] = contact_summary
    app.jinja_env.globals["rollup_text"] = rollup_text
    app.jinja_env.globals["polymorphic_text"] = target_text
