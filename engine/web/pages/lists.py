"""List pages (being built: filters, sort, paging, saved views, CSV export, bulk delete)."""

from __future__ import annotations

from ...records import Query
from ..auth import context
from . import bp, entity_or_404, render, service


@bp.get("/e/<entity>")
def list_page(entity: str):
    current = entity_or_404(entity)
    rows = service().list(current.name, Query(limit=current.list.page_size), context())
    return render("list", current, rows=rows)
