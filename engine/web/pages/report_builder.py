"""The report builder: users build, preview and save reports on a page.

    GET  /reports/builder                 the form (an entity picker first: ?entity=NAME)
    POST /reports/builder                 save a new report (or the form again with its problems)
    POST /reports/builder/preview         htmx: the result (chart and table), or the problems, each
                                          next to its input (out-of-band swaps)
    GET  /reports/saved                   the saved reports the user may see
    GET  /reports/saved/<id>              one, run for the viewer (a table)
    GET  /reports/saved/<id>/edit         the form, filled in (owner and administrators)
    POST /reports/saved/<id>/edit         save the changes
    POST /reports/saved/<id>/delete       delete it (owner and administrators)

The form becomes a report document (report_form.py); `engine.reports.saved` checks it with
`check_report`, the YAML checker, and keeps it. The page says the checker's problems next
to the inputs they are about: a translated sentence per code, then the checker's own words.
Who sees and edits a saved report is decided in engine/reports/saved.py, not here;
`engine.reports.saved.report_for(service, id, context)` gives the Report any page runs.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from flask import abort, redirect, render_template, request, url_for

from ...errors import Problem, ProjectError
from ...model import Entity
from ...records import Context, RecordError
from ...records.errors import PermissionDenied
from ...reports import build_report, run
from ...reports import saved as saved_reports
from ...reports.checks import BUCKETS
from ..auth import context
from ..i18n import fmt, label, language
from ..i18n import gettext as _
from ..ids import id_or_none
from . import access, bp, model, service
from .lists import ListState, filter_widgets, filters_of
from .report_form import (
    BUCKET_LABELS,
    CHART_LABELS,
    CHARTS,
    INPUTS,
    KIND_LABELS,
    LIST_KINDS,
    LIST_PREFIX,
    BuilderForm,
    build_document,
    input_of,
    offered_fields,
    read_form,
    summary,
)

PREVIEW_ROWS = 200  # rows a preview or a saved report's page shows (the report's `limit` for a top N)


# -- who and what -------------------------------------------------------------------------------
def readable(entity: Entity) -> bool:
    return not entity.hidden and access(entity).can("read")


def entities() -> list[tuple[str, str]]:
    """The entities the user may build reports on: those they may read."""
    lang = language()
    return sorted(((e.name, e.plural_text(lang)) for e in model().entities.values() if readable(e)),
                  key=lambda item: item[1].lower())


def entity_of(name: str) -> Entity | None:
    entity = model().entities.get(name)
    return entity if entity is not None and readable(entity) else None


def builder_context() -> Context:
    ctx = context()
    if ctx.actor.id is None:
        abort(403)
    return ctx


# -- the form, checked --------------------------------------------------------------------------
class Checked:
    """A posted form: its document, the problems per input, and the Report when it has none."""

    def __init__(self, form: BuilderForm, ctx: Context, name: str = "saved_new", owner: Context | None = None,
                 preview: bool = False):
        self.form = form
        self.entity = entity_of(form.entity)
        filters = filters_of(self.entity) if self.entity is not None else []
        built = build_document(form, self.entity, filters, language(), name, need_title=not preview)
        self.document = built.document
        self.problems: dict[str, list[dict[str, str]]] = {}
        for key, messages in built.errors.items():
            for message in messages:
                self.add(key, message)
        if form.entity and self.entity is None and form.entity in model().entities:
            self.add("entity", _("You may not read these records."))
        self.checked: list[Problem] = []
        if not self.problems:
            self.checked = saved_reports.problems_of(service(), self.document, owner or ctx)
            for problem in self.checked:
                self.add(input_of(problem.message, problem.code), summary(problem.code), problem)

    def add(self, key: str, text: str, problem: Problem | None = None) -> None:
        item = {"text": text}
        if problem is not None:
            item.update(code=problem.code, detail=problem.message, hint=problem.hint or "")
        self.problems.setdefault(key if key in INPUTS else "general", []).append(item)

    @property
    def ok(self) -> bool:
        return not self.problems


def page_data(form: BuilderForm, checked: Checked | None = None, saved: Any = None) -> dict[str, Any]:
    """What builder.html needs: the choices each input offers the user, and the problems."""
    entity = entity_of(form.entity)
    data: dict[str, Any] = {
        "form": form, "entities": entities(), "entity": entity, "saved": saved,
        "problems": checked.problems if checked is not None else {}, "inputs": INPUTS,
        "charts": [(c, _(CHART_LABELS[c])) for c in CHARTS], "buckets": [(b, _(BUCKET_LABELS[b])) for b in BUCKETS],
        "kinds": [(k, _(v)) for k, v in KIND_LABELS.items()],
        "roles": sorted(((n, label(r.label, n)) for n, r in model().roles.items()), key=lambda i: i[1].lower()),
        "measure_rows": form.measure_rows(), "list_prefix": LIST_PREFIX,
    }
    if entity is not None:
        data["fields"] = offered_fields(model(), entity, access(entity).visible)
        state = ListState(params=[(k, v) for k, v in form.list_params])
        data["filters"] = [w for w in filter_widgets(entity, state, context()) if w["filter"].kind in LIST_KINDS]
    return data


def builder_page(form: BuilderForm, checked: Checked | None = None, saved: Any = None, status: int = 200):
    return render_template("reports/builder.html", **page_data(form, checked, saved)), status


# -- the builder --------------------------------------------------------------------------------
@bp.get("/reports/builder")
def report_builder():
    builder_context()
    form = BuilderForm(entity=str(request.args.get("entity") or "")[:64])
    if form.entity and entity_of(form.entity) is None:
        abort(404)
    if form.entity:
        form.measures = [{"slot": "m1", "kind": "count", "field": "", "label": "", "filter": "", "a": "", "b": ""}]
    return builder_page(form)


@bp.post("/reports/builder")
def report_builder_save():
    ctx = builder_context()
    form = read_form(request.form)
    checked = Checked(form, ctx)
    if not checked.ok:
        return builder_page(form, checked, status=422)
    try:
        kept = saved_reports.save(service(), ctx, checked.document, form.to_json(), ip=request.remote_addr)
    except saved_reports.SavedReportRefused as exc:  # the model changed between the check and the save
        for problem in exc.problems:
            checked.add(input_of(problem.message, problem.code), summary(problem.code), problem)
        return builder_page(form, checked, status=422)
    return redirect(url_for("pages.saved_report", saved_id=kept.id), 303)


@bp.post("/reports/builder/preview")
def report_builder_preview():
    """The live preview (htmx): the result as its chart and table for the user, or the problems."""
    ctx = builder_context()
    form = read_form(request.form)
    owner = None
    saved_id = id_or_none(request.form.get("saved_id", ""), bits=32)  # ASCII digits only ('²' is a digit)
    if saved_id is not None:  # editing: checked for the report's owner, as a save would be
        try:
            current = saved_reports.get_saved(service(), saved_id, ctx)
            owner = owner_context(current, ctx)
        except RecordError:
            owner = None
    checked = Checked(form, ctx, owner=owner, preview=True)
    report, result, error = None, None, None
    if checked.ok:
        report, result, error = preview(checked, ctx)
    return render_template("reports/_builder_preview.html", problems=checked.problems, inputs=INPUTS,
                           report=report, result=result, error=error)


def owner_context(current: Any, ctx: Context) -> Context | None:
    """An administrator editing another user's report: it is checked for its owner."""
    if current.owner_id == ctx.actor.id:
        return None
    with service().engine.connect() as conn:
        roles = saved_reports.owner_roles(conn, current.owner_id)
        admin = saved_reports.is_admin(conn, current.owner_id)
    return Context(actor=replace(ctx.actor, id=current.owner_id, roles=roles, is_admin=admin))


def preview(checked: Checked, ctx: Context) -> tuple[Any, Any, str | None]:
    """(report, result, None), or (None, None, why it cannot run): the preview draws the
    chart chosen and the table, as the saved report's page will."""
    try:
        report = build_report(model(), saved_reports.checked_document(checked.document, ()))
        # a preview reads the first PREVIEW_ROWS groups (a report grouped by customer may have a million)
        report = replace(report, roles=frozenset(), limit=min(report.limit or PREVIEW_ROWS, PREVIEW_ROWS))
    except ProjectError as exc:
        return None, None, "; ".join(p.message for p in exc.problems)
    try:
        return report, run(service(), report, ctx), None
    except PermissionDenied as exc:
        return None, None, _("You may not see this: %(reason)s", reason=str(exc))
    except RecordError as exc:
        return None, None, str(exc)


def cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, Decimal):
        return fmt(value)
    return str(value)


def table_of(result: Any) -> dict[str, Any]:
    lines = result.table()
    rows = [[cell(v) for v in line] for line in lines[1:PREVIEW_ROWS + 1]]
    return {"header": lines[0], "rows": rows, "more": max(0, len(lines) - 1 - PREVIEW_ROWS),
            "numeric": [c.kind == "measure" for c in result.columns]}


# -- saved reports ------------------------------------------------------------------------------
@bp.get("/reports/saved")
def saved_report_list():
    ctx = builder_context()
    found = saved_reports.list_saved(service(), ctx)
    names = {e.name: e.plural_text(language()) for e in model().entities.values()}
    return render_template("reports/builder_saved.html", reports=found, entity_names=names, ctx=ctx)


@bp.get("/reports/saved/<id(bits=32):saved_id>")
def saved_report(saved_id: int):
    ctx = builder_context()
    current = saved_reports.get_saved(service(), saved_id, ctx)
    report, result, error, outdated = None, None, None, []
    try:
        report = saved_reports.report_for(service(), saved_id, ctx)
        result = run(service(), report, ctx)
    except saved_reports.SavedReportOutdated as exc:
        outdated = exc.problems
    except PermissionDenied as exc:
        error = _("You may not see this: %(reason)s", reason=str(exc))
    except RecordError as exc:
        error = str(exc)
    return render_template("reports/builder_report.html", saved=current, report=report, result=result, error=error,
                           outdated=[{"text": summary(p.code), "code": p.code, "detail": p.message} for p in outdated],
                           table=table_of(result) if result is not None else None,
                           editable=current.editable_by(ctx))


@bp.get("/reports/saved/<id(bits=32):saved_id>/edit")
def saved_report_edit(saved_id: int):
    ctx = builder_context()
    current = editable(saved_id, ctx)
    form = BuilderForm.from_json(current.form)
    form.entity = current.entity
    checked = None
    problems = saved_reports.problems_of(service(), current.document, owner_context(current, ctx) or ctx)
    if problems:  # the model changed since it was saved: say what to correct
        checked = Checked(form, ctx, current.name, owner_context(current, ctx))
    return builder_page(form, checked, saved=current)


@bp.post("/reports/saved/<id(bits=32):saved_id>/edit")
def saved_report_update(saved_id: int):
    ctx = builder_context()
    current = editable(saved_id, ctx)
    form = read_form(request.form)
    form.entity = current.entity  # a saved report keeps its entity
    checked = Checked(form, ctx, current.name, owner_context(current, ctx))
    if not checked.ok:
        return builder_page(form, checked, saved=current, status=422)
    try:
        saved_reports.save(service(), ctx, checked.document, form.to_json(), saved_id=saved_id,
                           ip=request.remote_addr)
    except saved_reports.SavedReportRefused as exc:
        for problem in exc.problems:
            checked.add(input_of(problem.message, problem.code), summary(problem.code), problem)
        return builder_page(form, checked, saved=current, status=422)
    return redirect(url_for("pages.saved_report", saved_id=saved_id), 303)


@bp.post("/reports/saved/<id(bits=32):saved_id>/delete")
def saved_report_delete(saved_id: int):
    ctx = builder_context()
    editable(saved_id, ctx)
    saved_reports.delete(service(), ctx, saved_id, ip=request.remote_addr)
    return redirect(url_for("pages.saved_report_list"), 303)


def editable(saved_id: int, ctx: Context) -> Any:
    """The saved report if the user may change it: 404 when they cannot see it, 403 when
    they see it but it is not theirs."""
    current = saved_reports.get_saved(service(), saved_id, ctx)
    if not current.editable_by(ctx):
        raise PermissionDenied(current.entity, "edit", _("Only its owner and administrators change a saved report."))
    return current
