"""Boards for entities with a `stage` field: a column per visible stage option, cards that
move between columns.

Moving a card (drag and drop with SortableJS, or the small form on each card when there is
no JavaScript) posts the new stage and the version the card showed to
`POST /e/ENTITY/ID/stage`; the records service applies every rule, so a move that breaks
one is refused (422) and a card someone else changed meanwhile is refused too (409). The
card then goes back to its column with the message.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import abort, redirect, render_template, request
from markupsafe import Markup

from ...model import Entity
from ...model.model import Field
from ...records import ConflictError, Context, PermissionDenied, ValidationError
from ...workflows.runtime import FlowConflict
from ..auth import context
from ..errors import page
from ..forms import title_columns, title_of
from ..i18n import gettext as _
from ..i18n import label, say_error
from . import access, bp, entity_or_404, model, render, service
from .lists import (
    COUNT_CAP,
    BadParameter,
    Lookups,
    bad_request,
    column_of,
    default_columns,
    error_text,
    list_url,
    option_badge,
    read_state,
    renderers,
    to_query,
)

CARDS_PER_COLUMN = 50


def staged(name: str) -> tuple[Entity, Field]:
    """The entity and its stage field, or 404 when it has no (visible) stage."""
    entity = entity_or_404(name)
    field = entity.fields.get(entity.stage) if entity.stage else None
    if field is None or field.hidden or field.type.name != "choice":
        abort(404)
    return entity, field


def card_columns(entity: Entity) -> list:
    """What a card shows below its title: the list columns but the title's and the stage."""
    return [c for c in default_columns(entity) if c.name != entity.stage and c.name not in entity.title.fields]


def cards(entity: Entity, stage: Field, rows: list[dict], ctx: Context) -> list[dict[str, Any]]:
    """Cards for rows, with one look-up per linked entity for all of them. Each card has its
    title (engine/records/titles.py) and its non-empty values as HTML (see `lists.renderer`)."""
    columns = card_columns(entity)
    lookups = Lookups(entity, columns, rows, ctx)
    shows = renderers(columns, lookups)
    result = []
    for row in rows:
        lines = [(c, Markup(html)) for c, show in zip(columns, shows, strict=True) if (html := show(row))]
        result.append({
            "id": row["id"],
            "version": row["version"],
            "stage": row.get(entity.stage),
            "title": title_of(entity, row),
            "cells": lines,
        })
    return result


def stage_options(stage: Field) -> list[tuple[str, str]]:
    return [(o.value, label(o.label, o.value)) for o in stage.options if not o.hidden]


@bp.get("/e/<entity>/board")
def board(entity: str):
    current, stage = staged(entity)
    ctx = context()
    if not access(current).visible(stage.name):
        abort(404)  # a board by a field the user may not see
    try:
        state = read_state(current, request.args, ctx.actor.id, board=True)
        state.columns = None  # cards show the configured columns
        shown = [column_of(current, current.stage)]
        base = to_query(current, state, card_columns(current) + [c for c in shown if c is not None])
        base = replace(base, columns=tuple(dict.fromkeys([*(base.columns or ()), *title_columns(current)])))
        lanes, rows = [], []
        for option in stage.options:
            if option.hidden:
                continue
            query = replace(base, filters=(*base.filters, (current.stage, "eq", option.value)),
                            limit=CARDS_PER_COLUMN)
            found = service().list(current.name, query, ctx)
            total = service().count(current.name, query, ctx, limit=COUNT_CAP + 1)
            rows += found
            lanes.append({"value": option.value, "label": label(option.label, option.value),
                          "color": option_badge(stage, option.value)[1], "total": total,
                          "count": f"{COUNT_CAP}+" if total > COUNT_CAP else str(total), "rows": found,
                          "all_url": list_url(current, [*state.query_params(sort=None, columns=False),
                                                        (current.stage, option.value)])})
    except (BadParameter, ValidationError) as exc:
        return bad_request(say_error(exc))
    by_id = {c["id"]: c for c in cards(current, stage, rows, ctx)}
    for lane in lanes:
        lane["cards"] = [by_id[r["id"]] for r in lane.pop("rows")]
    movable = access(current).can("update") and access(current).editable(stage.name)
    return render("kanban", current, lanes=lanes, stage_field=stage, options=stage_options(stage), movable=movable,
                  list_url=list_url(current, state.query_params(sort=None, columns=False)))


@bp.post("/e/<entity>/<id:record_id>/stage")
def change_stage(entity: str, record_id: int):
    """Move a record to another stage through the records service (rules, locking, audit)."""
    current, stage = staged(entity)
    partial = request.headers.get("X-Requested-With") == "fetch" or request.headers.get("HX-Request") == "true"
    value = request.form.get("stage", "")
    ctx = context()
    try:
        if value not in stage.active_option_values:
            raise ValidationError({current.stage: [_("choose one of the stages")]})
        record = _move(current, record_id, value, ctx)
    except ValidationError as exc:
        return refused(current, 422, _("Not moved"), error_text(current, exc), partial)
    except (FlowConflict, PermissionDenied) as exc:
        return refused(current, exc.status, _("Not moved"), say_error(exc), partial)
    except ConflictError:
        return refused(current, 409, _("Changed by someone else"),
                       _("Someone else changed this record after you opened the board. "
                         "Reload the board to see the current version."), partial)
    if partial:
        card = cards(current, stage, [record], ctx)[0]
        return render_template([f"_kanban_card-{current.name}.html", "_kanban_card.html"], entity=current,
                               card=card, options=stage_options(stage))
    return redirect(list_url(current, [], "pages.board"), 303)


def _move(entity: Entity, record_id: int, value: str, ctx: Context) -> dict[str, Any]:
    """A stage that is a workflow's state moves only by a transition: the one leading there
    from the current state that the user may run (its rules apply: a condition, a comment,
    an approval flow it starts); otherwise the board refuses the move."""
    workflow = model().workflow_of(entity.name)
    if workflow is None or workflow.field != entity.stage:
        return service().update(entity.name, record_id, {entity.stage: value},
                                version=request.form.get("version"), context=ctx)
    record = service().get(entity.name, record_id, ctx)
    if record.get(workflow.field) == value:
        return record
    possible = [t for t in service().flows.transitions(entity.name, record, ctx) if t.target == value]
    if not possible:
        raise ValidationError({entity.stage: [_("no action of yours leads there from here")]})
    transition = possible[0]
    missing = [n for n in transition.requires if record.get(n) in (None, "", [])]
    if missing or transition.comment == "required" or _picks(entity, transition):
        raise ValidationError({entity.stage: [_("this action asks for more: use it on the record's page")]})
    return service().flows.run_transition(entity.name, record_id, transition.name, ctx,
                                          version=request.form.get("version"))


def _picks(entity: Entity, transition) -> bool:
    """Whether the flow a transition starts has approvers the submitter picks (a form)."""
    if not transition.approval:
        return False
    flow = model().workflow_of(entity.name).flows[transition.approval]
    return any("picked" in item for node in flow.nodes.values() for item in node.get("approvers") or [])


def refused(entity: Entity, status: int, title: str, message: str, partial: bool):
    if partial:
        return render_template("_kanban_message.html", entity=entity, title=title, message=message), status
    return page(status, title, message)
