"""The start page (entities by menu group, with record counts) and the global search."""

from __future__ import annotations

from flask import request

from ...records import Query, ValidationError
from ..auth import context
from ..forms import title_columns, title_of
from . import bp, can, model, render, service
from .lists import default_sort

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


@bp.get("/home")
def home():
    counts = {}
    for _label, entities in menu():
        for entity in entities:
            counts[entity.name] = service().count(entity.name, limit=1000, context=context())
    return render("home", groups=menu(), counts=counts)


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
