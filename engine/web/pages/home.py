"""The start page (the user's work — approvals waiting, records changed last — and their
dashboard, then entities by menu group with record counts) and the global search."""

from __future__ import annotations

from flask import render_template, request, url_for
from markupsafe import Markup

from ...records import Query, ValidationError
from ..auth import context
from ..errors import page
from ..forms import title_columns, title_of
from ..i18n import gettext as _
from ..i18n import language
from . import bp, can, model, render, service
from .lists import default_sort
from .my_work import my_work

SEARCH_LIMIT = 8


def menu() -> list[tuple[dict, list]]:
    """The menu groups in the order the compiled model gives (tailor.yaml `menu:`, then
    entities' own `menu:` and `menu_order`, see Compiler.menu), with the entities the user
    may read; entities in no group come last, under no title."""
    current = model()

    def shown(entity) -> bool:
        return not entity.hidden and entity.in_menu and can(entity, "read")

    groups, placed = [], set()
    for label, names in current.menu:
        entities = [current.entities[n] for n in names if n in current.entities and shown(current.entities[n])]
        placed.update(e.name for e in entities)
        if entities:
            groups.append((label, entities))
    rest = [e for e in current.entities.values() if shown(e) and e.name not in placed]  # a model built elsewhere
    if rest:
        groups.append(({}, rest))
    return groups


MENUS: dict[tuple, Markup] = {}  # the sidebar's HTML by what it depends on (menu_html)
MAX_MENUS = 1000


def menu_html(current: str | None) -> Markup:
    """The sidebar (menu groups and their entities, `current` marked), rendered once per
    model version, set of roles, language and current entity rather than on every page:
    what it shows depends on nothing else (which entities a user may read follows from
    their roles alone, see permissions/policy.py)."""
    actor = context().actor
    # the home URL stands for where the app is mounted (its links start there)
    key = (model().version, actor.roles, actor.is_admin, actor.system, language(), current, url_for("pages.home"))
    found = MENUS.get(key)
    if found is None:
        if len(MENUS) >= MAX_MENUS:  # roles and versions come and go: bounded
            MENUS.clear()
        found = MENUS[key] = Markup(render_template("_menu.html", groups=menu(), current=current))
    return found


@bp.get("/home")
def home():
    from .dashboards import (  # dashboards imports reports, which imports lists
        dashboard_context,
        users_dashboard,
    )
    from .drill import BadDrill

    ctx = context()
    dashboard = users_dashboard(ctx)
    board = None
    if dashboard is not None:
        try:
            board = dashboard_context(dashboard, ctx, request.path)
        except BadDrill as exc:
            return page(400, _("Bad request"), str(exc))
    counts = {}
    for _label, entities in menu():
        for entity in entities:
            counts[entity.name] = service().count(entity.name, limit=1000, context=context())
    return render("home", groups=menu(), counts=counts, board=board, work=my_work(ctx),
                  reports=any(True for _r in model().reports.values()))


@bp.get("/search")
def search():
    """Search every entity's search fields; a few hits per entity."""
    term = request.args.get("q", "").strip()[:100]
    results = []
    if term:
        for _label, entities in menu():
            for entity in entities:
                if not entity.list.search:
                    continue
                try:
                    rows = service().list(entity.name, Query(search=term, limit=SEARCH_LIMIT, sort=default_sort(entity),
                                                             columns=title_columns(entity)), context())
                except ValidationError:
                    continue
                if rows:
                    results.append((entity, [{"id": row["id"], "title": title_of(entity, row)} for row in rows]))
    return render("search", term=term, results=results)
