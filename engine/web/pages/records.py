"""Record pages and forms (being built)."""

from __future__ import annotations

from ..auth import context
from . import bp, entity_or_404, render, service


@bp.get("/e/<entity>/<int:record_id>")
def record_page(entity: str, record_id: int):
    current = entity_or_404(entity)
    record = service().get(current.name, record_id, context())
    return render("record", current, record=record)
