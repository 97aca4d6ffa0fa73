"""The designer at /design: admins change entities, fields and layouts in the browser.

Every designer URL answers 404 to anyone who may not design (`engine.design.can_design`:
an admin, or a role granted the action `design`), whatever the method, so the pages do not
even reveal that they exist; CSRF is checked after that, on every POST. No page changes
the model itself: a form becomes change-set ops (design_ops.py), the design service
previews them (the same checks and error codes as `tailor check`, the migration plan, what
data it touches, the forms affected) and applies them in one transaction, refusing when
another admin applied a change since the form was shown (the metadata version it carries).

    GET       /design                                entities, with history and export
    GET/POST  /design/entities/new                   a new entity
    GET/POST  /design/e/<entity>                     an entity's settings and its fields
    GET/POST  /design/e/<entity>/fields/new          a new field (?type=...)
    GET/POST  /design/e/<entity>/fields/<field>      a field's options
    POST      /design/e/<entity>/fields/<field>/hide, /restore
    GET/POST  /design/e/<entity>/fields/<field>/rename
    GET/POST  /design/e/<entity>/fields/<field>/drop  drop the column (type the count of values)
    GET/POST  /design/e/<entity>/form, /list, /roles  layouts and per-role field visibility
    POST      /design/check-expression/<entity>      htmx: the expression checker's verdict
    POST      /design/apply                          apply previewed ops
    GET       /design/changes                        change sets; POST .../<id>/revert
    GET       /design/export                         the designer layer as a zip of YAML
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from werkzeug.exceptions import MethodNotAllowed

from ...design import DesignDenied
from ...errors import Position, Problem
from ...expr import ExpressionError, compile_expression
from ...model import CompiledModel, Entity, Field
from ...spec.link_rules import NOT_COPIED_FROM, NOT_COPIED_INTO
from ..i18n import gettext as _
from ..state import WebState
from . import design_ops as ops_
from .design_ops import FormError

bp = Blueprint("design", __name__, url_prefix="/design")
log = logging.getLogger(__name__)
MAX_OPS_TEXT = 200_000
EXPRESSION_INPUTS = ("visible_when", "required_when", "readonly_when", "expression")


def service():
    """The design service (engine/design)."""
    from ... import design

    return design


def state() -> WebState:
    return WebState.of()


def actor():
    """Who designs: the signed-in user with their roles (a role may grant `design`)."""
    from ..auth import current_actor

    return current_actor()


def may_design() -> bool:
    """For the navigation and every designer URL: the signed-in user may design. Admins
    and projects where no role grants `design` are answered without a query (every page's
    navigation asks, error pages too)."""
    user = g.get("user")
    if user is None:
        return False
    model = state().model
    if not user.get("is_admin") and not any("design" in getattr(role, "grants", ()) for role in model.roles.values()):
        return False
    return bool(service().can_design(actor(), model))


@bp.before_request
def designers_only() -> None:
    if not may_design():
        abort(404)
    if request.method == "POST":
        current_app.extensions["csrf"].protect()


# -- helpers ------------------------------------------------------------------------------------
def field_types(model: CompiledModel) -> dict[str, Any]:
    """Every field type the engine knows, plugins' included, from the registry hook."""
    types: dict[str, Any] = {}
    for found in reversed(model.plugins.hook.tailor_field_types()):
        for item in found or []:
            types.setdefault(item.name, item)
    return dict(sorted(types.items()))


def entity_of(name: str) -> Entity:
    entity = state().model.entities.get(name)
    if entity is None:
        abort(404)
    return entity


def field_of(entity: Entity, name: str) -> Field:
    found = entity.fields.get(name)
    if found is None:
        abort(404)
    return found


def current_version() -> str:
    """The database's metadata version, which every designer form carries: applying is
    refused when it is no longer the newest (another admin applied first)."""
    return service().latest_version(state().engine) or ""


def posted_version() -> str | None:
    """The version the posted form was shown on (None: the database had none yet)."""
    return request.form.get("version", "") or None


def diff_text(result: Any) -> str:
    """What the change set changes, as `tailor diff` says it (engine/diff), in the user's
    language; the migration part is the plan the preview made on the live database."""
    if result.model is None:
        return ""
    from ...diff import diff_models, render
    from ..i18n import language

    try:
        return render(diff_models(state().model, result.model, plan=result.plan), language=language())
    except Exception:  # the preview must not fail for its summary: the ops and DDL are shown anyway
        log.warning("could not summarise a designer change set", exc_info=True)
        return ""


def preview_or_form(ops: list[dict[str, Any]], title: str, back: str, form_template: str, **form_context):
    """Preview the ops. Problems: the form again with the checker's codes (422), nothing
    changed. Else the preview page, whose Apply button posts the same ops."""
    st = state()
    if not ops:
        return render_template(form_template, problems=[], notice=_("Nothing changed."), **form_context), 200
    result = service().preview(st.project, st.engine, ops, user=actor(), version=posted_version())
    if result.problems:
        return render_template(form_template, problems=result.problems, notice=None, **form_context), 422
    return render_template("design/preview.html", title=title, back=back, ops=ops, preview=result,
                           ops_json=json.dumps(ops, ensure_ascii=False), version=posted_version() or "",
                           comment=request.form.get("comment", ""), diff=diff_text(result)), 200 if result.ok else 409


def preview_page(ops: list[dict[str, Any]], title: str, back: str, comment: str = "", kept: int | None = None):
    """Preview ops that come from a button (hide, restore, rename): problems show on the
    preview page itself, without an Apply button."""
    st = state()
    result = service().preview(st.project, st.engine, ops, user=actor(), version=posted_version())
    return render_template("design/preview.html", title=title, back=back, ops=ops, preview=result,
                           ops_json=json.dumps(ops, ensure_ascii=False), version=posted_version() or "",
                           comment=comment, kept=kept, diff=diff_text(result)), 200 if result.ok else 422


def names_in_form(entity: Entity) -> list[str]:
    return [name for name, f in entity.fields.items() if not f.hidden]


def option_sets(model: CompiledModel) -> list[str]:
    settings = model.spec.get("settings") or {}
    return sorted(settings.get("option_sets") or {})


# -- entities -----------------------------------------------------------------------------------
@bp.get("")
def entity_list():
    model = state().model
    return render_template("design/entities.html", entities=list(model.entities.values()))


@bp.route("/entities/new", methods=["GET", "POST"])
def entity_new():
    model = state().model
    context = {"values": request.form, "group_names": menu_group_names(model), "version": current_version()}
    if request.method == "GET":
        return render_template("design/entity_new.html", problems=[], notice=None, **context)
    spec = ops_.entity_spec(request.form)
    name = spec["entity"]
    ops = [{"path": f"entities.{name}", "value": spec}] if name else []
    if not name:
        return render_template("design/entity_new.html", problems=[], notice=_("Give the entity a name."),
                               **context), 422
    return preview_or_form(ops, _("New entity %(name)s", name=name), url_for("design.entity_new"),
                           "design/entity_new.html", **context)


def menu_group_names(model: CompiledModel) -> list[str]:
    from ..i18n import label

    return [label(group) for group, _entities in model.menu if group]


@bp.route("/e/<entity>", methods=["GET", "POST"])
def entity_edit(entity: str):
    model = state().model
    ent = entity_of(entity)
    context = {"entity": ent, "types": field_types(model), "group_names": menu_group_names(model),
               "version": current_version(), "values": request.form if request.method == "POST" else None}
    if request.method == "GET":
        return render_template("design/entity.html", problems=[], notice=None, **context)
    ops = ops_.entity_ops(ent, request.form)
    return preview_or_form(ops, _("Settings of %(name)s", name=ent.label_text(current_language())),
                           url_for("design.entity_edit", entity=entity), "design/entity.html", **context)


# -- fields -------------------------------------------------------------------------------------
def field_context(ent: Entity, type_name: str, values: dict[str, Any], field: Field | None) -> dict[str, Any]:
    model = state().model
    types = field_types(model)
    kind = types[type_name]
    values, more = ops_.split_for_form(values)
    options = values.get("options") or []
    return {"entity": ent, "field": field, "type": kind, "type_name": type_name, "types": types,
            "allowed": kind.allowed_options, "values": values, "options": options,
            "blank_options": range(len(options), len(options) + 3), "colors": ops_.COLORS,
            "entities": sorted(model.entities), "option_sets": option_sets(model),
            "more": dump_yaml(more) if more else "", "version": current_version(),
            "copy_choices": copy_choices(model, ent) if type_name not in NOT_COPIED_INTO else None}


def copy_choices(model: CompiledModel, ent: Entity) -> list[str]:
    """What `copy_from` may name, offered beside its input: LINK.FIELD for each link of the
    entity and each field of its target holding one value that every reader may see (not
    hidden, masked or encrypted; the checker says whether its kind fits this field)."""
    choices = []
    for link in ent.fields.values():
        if link.type.name != "link" or link.to not in model.entities:
            continue
        for name, target in model.entity(link.to).fields.items():
            if target.type.name not in NOT_COPIED_FROM and not (target.hidden or target.mask or target.encrypted) \
                    and not (target.is_computed and not target.stored):
                choices.append(f"{link.name}.{name}")
    return choices


def dump_yaml(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False, default_flow_style=False)


def posted_field_values(type_name: str, allowed: frozenset[str]) -> tuple[dict[str, Any], str | None]:
    """The posted field as the form shows it again, and an input error (not the checker's)."""
    try:
        return ops_.field_spec(request.form, type_name, allowed), None
    except FormError as exc:
        return {"type": type_name}, str(exc)


@bp.route("/e/<entity>/fields/new", methods=["GET", "POST"])
def field_new(entity: str):
    ent = entity_of(entity)
    types = field_types(state().model)
    type_name = (request.form.get("type") or request.args.get("type") or "string").strip()
    if type_name not in types:
        abort(404)
    if request.method == "GET":
        return render_template("design/field.html", problems=[], notice=None, name="",
                               **field_context(ent, type_name, {"type": type_name}, None))
    name = request.form.get("name", "").strip()
    spec, error = posted_field_values(type_name, types[type_name].allowed_options)
    context = field_context(ent, type_name, spec, None)
    if error or not name:
        return render_template("design/field.html", problems=[], notice=error or _("Give the field a name."),
                               name=name, **context), 422
    if name in ent.fields:  # a designer field never silently overrides one of the same name
        problem = Problem("E311", f"entity '{ent.name}' already has a field named '{name}'",
                          Position(f"designer:entities.{ent.name}.fields.{name}"),
                          "pick another name, or edit that field")
        return render_template("design/field.html", problems=[problem], notice=None, name=name, **context), 422
    ops = ops_.field_ops(ent.name, name, None, spec)
    ops += placement_ops(ent, name, request.form.get("section", ""))
    return preview_or_form(ops, _("New field %(name)s", name=name), url_for("design.field_new", entity=entity),
                           "design/field.html", name=name, **context)


def placement_ops(ent: Entity, name: str, section: str) -> list[dict[str, Any]]:
    """Put a new field at the end of one of the form's sections (`section`: its number)."""
    if not section.strip() or not ops_.INT_RE.match(section.strip()):
        return []
    number = int(section)
    form = ops_.form_value(ent)
    sections = [s for t in form.get("tabs", []) for s in t["sections"]] or form.get("sections", [])
    if not 0 <= number < len(sections):
        return []
    sections[number]["fields"].append(name)
    return [{"path": f"entities.{ent.name}.form", "value": form}]


@bp.route("/e/<entity>/fields/<field>", methods=["GET", "POST"])
def field_edit(entity: str, field: str):
    ent = entity_of(entity)
    found = field_of(ent, field)
    before = ops_.plain_spec(found)
    type_name = found.type.name
    if request.method == "GET":
        return render_template("design/field.html", problems=[], notice=None, name=field,
                               **field_context(ent, type_name, before, found))
    spec, error = posted_field_values(type_name, found.type.allowed_options)
    context = field_context(ent, type_name, spec, found)
    if error:
        return render_template("design/field.html", problems=[], notice=error, name=field, **context), 422
    if before.get("hidden"):
        spec["hidden"] = True
    ops = ops_.field_ops(ent.name, field, before, spec)
    return preview_or_form(ops, _("Field %(name)s", name=found.label_text(current_language())),
                           url_for("design.field_edit", entity=entity, field=field), "design/field.html",
                           name=field, **context)


@bp.post("/e/<entity>/fields/<field>/hide")
def field_hide(entity: str, field: str):
    ent = entity_of(entity)
    found = field_of(ent, field)
    ops = [{"path": f"entities.{ent.name}.fields.{field}.hidden", "value": True}]
    kept = service().count_nonempty(state().engine, state().model, ent.name, field)
    return preview_page(ops, _("Remove the field %(name)s (its column and data are kept)", name=found.label_text(current_language())),
                        url_for("design.entity_edit", entity=entity), kept=kept)


@bp.post("/e/<entity>/fields/<field>/restore")
def field_restore(entity: str, field: str):
    ent = entity_of(entity)
    found = field_of(ent, field)
    ops = [{"path": f"entities.{ent.name}.fields.{field}.hidden", "value": False}]
    return preview_page(ops, _("Restore the field %(name)s", name=found.label_text(current_language())),
                        url_for("design.entity_edit", entity=entity))


@bp.route("/e/<entity>/fields/<field>/rename", methods=["GET", "POST"])
def field_rename(entity: str, field: str):
    ent = entity_of(entity)
    found = field_of(ent, field)
    context = {"entity": ent, "field": found, "version": current_version()}
    if request.method == "GET":
        return render_template("design/rename.html", problems=[], notice=None, new_name="", **context)
    if not designer_made(found):
        return render_template("design/rename.html", problems=[], notice=yaml_field_text(found),
                               new_name="", **context), 422
    new = request.form.get("new_name", "").strip()
    if not new or new == field:
        return render_template("design/rename.html", problems=[], notice=_("Give the field a new name."),
                               new_name=new, **context), 422
    ops = ops_.rename_ops(state().model, ent, field, new, ops_.plain_spec(found))
    return preview_or_form(ops, _("Rename %(old)s to %(new)s", old=field, new=new),
                           url_for("design.field_rename", entity=entity, field=field), "design/rename.html",
                           new_name=new, **context)


def designer_made(field: Field) -> bool:
    """Created by a designer change set (not by a YAML layer)."""
    return field.origin is not None and field.origin.defined_in == "designer"


def yaml_field_text(field: Field) -> str:
    where = field.origin.position if field.origin is not None else "?"
    return _("This field is defined in the YAML (%(where)s): rename it there with renamed_from, then run "
             "tailor migrate. The designer renames the fields it created.", where=where)


@bp.route("/e/<entity>/fields/<field>/drop", methods=["GET", "POST"])
def field_drop(entity: str, field: str):
    st = state()
    ent = entity_of(entity)
    found = field_of(ent, field)
    design = service()
    count = design.count_nonempty(st.engine, st.model, ent.name, field)
    context = {"entity": ent, "field": found, "count": count, "version": current_version()}
    if request.method == "GET":
        return render_template("design/drop.html", problems=[], notice=None, **context)
    typed = request.form.get("confirm", "").strip()
    if not ops_.INT_RE.match(typed) or int(typed) != count:
        return render_template("design/drop.html", problems=[],
                               notice=_("Type the number of values that will be destroyed: %(n)s.", n=count),
                               **context), 422
    try:
        design.drop_column(st.project, st.engine, ent.name, field, user=actor(), confirm=int(typed),
                           expected_version=posted_version(), ip=request.remote_addr)
    except design.DesignConflict as exc:
        return render_template("design/drop.html", problems=[], notice=conflict_text(exc), **context), 409
    except design.DesignRefused as exc:
        return render_template("design/drop.html", problems=exc.problems,
                               notice=None if exc.problems else refused_text(exc), **context), 422
    return redirect(url_for("design.entity_edit", entity=entity, done="dropped"), code=303)


# -- layouts ------------------------------------------------------------------------------------
def form_rows(ent: Entity) -> tuple[list[dict[str, Any]], list[str]]:
    """The form editor's sections (with their tab) and the fields on no section."""
    sections = []
    placed: set[str] = set()
    for tab in ent.tabs:
        for s in tab.sections:
            sections.append({"label": dict(s.label), "tab": dict(tab.label), "columns": s.columns,
                             "collapsed": s.collapsed, "fields": list(s.fields)})
            placed |= set(s.fields)
    loose = [name for name, f in ent.fields.items() if name not in placed and not f.hidden]
    return sections, loose


@bp.route("/e/<entity>/form", methods=["GET", "POST"])
def form_layout(entity: str):
    ent = entity_of(entity)
    sections, loose = form_rows(ent)
    context = {"entity": ent, "sections": sections, "loose": loose, "version": current_version()}
    if request.method == "GET":
        return render_template("design/form_layout.html", problems=[], notice=None, **context)
    try:
        value = ops_.layout_sections(request.form, list(ent.fields))
    except FormError as exc:
        return render_template("design/form_layout.html", problems=[], notice=str(exc), **context), 422
    ops = [] if value == ops_.form_value(ent) else [{"path": f"entities.{ent.name}.form", "value": value}]
    return preview_or_form(ops, _("Form of %(name)s", name=ent.label_text(current_language())),
                           url_for("design.form_layout", entity=entity), "design/form_layout.html", **context)


@bp.route("/e/<entity>/list", methods=["GET", "POST"])
def list_layout(entity: str):
    ent = entity_of(entity)
    names = [*[n for n, f in ent.fields.items() if not f.hidden], "owner", "created_at", "updated_at"]
    columns = list(ent.list.columns)
    ordered = columns + [n for n in names if n not in columns]
    sort = ent.list.sort[0] if ent.list.sort else "-id"
    stages = [n for n, f in ent.fields.items() if f.type.name == "choice" and not f.hidden]
    context = {"entity": ent, "names": ordered, "columns": columns, "sort": sort.lstrip("-"),
               "descending": sort.startswith("-"), "stages": stages, "version": current_version()}
    if request.method == "GET":
        return render_template("design/list_layout.html", problems=[], notice=None, **context)
    try:
        ops = ops_.list_ops(ent, request.form, ordered)
    except FormError as exc:
        return render_template("design/list_layout.html", problems=[], notice=str(exc), **context), 422
    return preview_or_form(ops, _("List of %(name)s", name=ent.label_text(current_language())),
                           url_for("design.list_layout", entity=entity), "design/list_layout.html", **context)


@bp.route("/e/<entity>/roles", methods=["GET", "POST"])
def role_fields(entity: str):
    model = state().model
    ent = entity_of(entity)
    roles = {name: role for name, role in model.roles.items() if ent.name in role.rules}
    context = {"entity": ent, "roles": roles, "modes": ops_.ROLE_MODES, "version": current_version()}
    if request.method == "GET":
        return render_template("design/roles.html", problems=[], notice=None, **context)
    try:
        ops = ops_.role_ops(model, ent, request.form)
    except FormError as exc:
        return render_template("design/roles.html", problems=[], notice=str(exc), **context), 422
    return preview_or_form(ops, _("Field visibility by role: %(name)s", name=ent.label_text(current_language())),
                           url_for("design.role_fields", entity=entity), "design/roles.html", **context)


# -- expressions, as they are typed ------------------------------------------------------------
@bp.post("/check-expression/<entity>")
def check_expression(entity: str):
    """htmx: the engine's expression checker on one input of the field form."""
    ent = entity_of(entity)
    key = request.form.get("check", "")
    if key not in EXPRESSION_INPUTS:
        abort(400)
    source = request.form.get(key, "").strip()
    if not source:
        return Response("", mimetype="text/html")
    expected = "boolean"
    if key == "expression":  # a computed field's result, as the checker types it (SpecChecker.value_type)
        expected = {"string": "string", "boolean": "boolean", "date": "date",
                    "datetime": "datetime"}.get(request.form.get("returns") or "decimal", "number")
    try:
        compile_expression(source, ent.env, expected=expected)
    except ExpressionError as exc:
        lines = [f"{e.code} {e.message} ({_('column %(n)s', n=e.column + 1)})"
                 + (f" — {e.hint}" if e.hint else "") for e in exc.errors]
        return render_template("design/_expr_check.html", ok=False, lines=lines)
    except ValueError as exc:
        return render_template("design/_expr_check.html", ok=False, lines=[str(exc)])
    return render_template("design/_expr_check.html", ok=True, lines=[])


# -- apply, history, revert, export ------------------------------------------------------------
def posted_ops() -> list[dict[str, Any]]:
    text = request.form.get("ops", "")
    if not text or len(text) > MAX_OPS_TEXT:
        abort(400)
    try:
        ops = json.loads(text)
    except ValueError:
        abort(400)
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        abort(400)
    return ops


@bp.post("/apply")
def apply():
    st = state()
    design = service()
    ops = posted_ops()
    comment = request.form.get("comment", "").strip()[:500]
    version = posted_version()
    back = safe_back(request.form.get("back", ""))
    try:
        change = design.apply(st.project, st.engine, ops, user=actor(), comment=comment, expected_version=version,
                              ip=request.remote_addr)
    except design.DesignConflict as exc:
        result = design.preview(st.project, st.engine, ops, user=actor())
        return render_template("design/preview.html", title=_("Not applied"), back=back, ops=ops, preview=result,
                               ops_json=json.dumps(ops, ensure_ascii=False), version=result.base_version or "",
                               comment=comment, conflict=conflict_text(exc)), 409
    except design.DesignRefused as exc:
        result = design.preview(st.project, st.engine, ops, user=actor(), version=version)
        return render_template("design/preview.html", title=_("Not applied"), back=back, ops=ops, preview=result,
                               ops_json=json.dumps(ops, ensure_ascii=False), version=version or "", comment=comment,
                               problems=exc.problems, conflict=None if exc.problems else refused_text(exc)), 422
    return redirect(url_for("design.change_list", applied=change.id), code=303)


def conflict_text(exc: Exception) -> str:
    return _("Another administrator changed the design since this page was shown. Nothing was changed: "
             "look at the preview again and apply it on the current design.") + f" ({refused_text(exc)})"


def refused_text(exc: Exception) -> str:
    """The service's message in the user's language."""
    from ..i18n import language

    message = getattr(exc, "message", None)
    return message(language()) if callable(message) else str(exc)


def safe_back(url: str) -> str:
    return url if url.startswith("/design") and "//" not in url else url_for("design.entity_list")


@bp.get("/changes")
def change_list():
    st = state()
    changes = service().list_changes(st.engine)
    return render_template("design/changes.html", changes=list(reversed(sorted(changes, key=lambda c: c.id))),
                           applied=request.args.get("applied", ""), version=current_version())


@bp.post("/changes/<id(bits=32):change_id>/revert")
def change_revert(change_id: int):
    st = state()
    design = service()
    try:
        design.revert(st.project, st.engine, change_id, user=actor(),
                      expected_version=posted_version(), ip=request.remote_addr)
    except design.DesignConflict as exc:
        return render_template("design/changes.html", changes=sorted(design.list_changes(st.engine),
                                                                      key=lambda c: -c.id),
                               applied="", version=current_version(), notice=conflict_text(exc)), 409
    except design.DesignRefused as exc:
        return render_template("design/changes.html", changes=sorted(design.list_changes(st.engine),
                                                                      key=lambda c: -c.id),
                               applied="", version=current_version(), problems=exc.problems,
                               notice=None if exc.problems else refused_text(exc)), 422
    return redirect(url_for("design.change_list", reverted=change_id), code=303)


@bp.get("/export")
def export():
    st = state()
    design = service()
    try:
        data = design.export_layer_zip(st.project, st.engine)
    except design.DesignRefused as exc:  # the layer would not compile to the live model: nothing exported
        return render_template("design/changes.html", changes=sorted(design.list_changes(st.engine),
                                                                      key=lambda c: -c.id),
                               applied="", version=current_version(), problems=exc.problems,
                               notice=None if exc.problems else refused_text(exc)), 422
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return Response(data, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{st.model.project}-designer-{stamp}.zip"'})


# -- templates ----------------------------------------------------------------------------------
def op_text(op: dict[str, Any]) -> Markup:
    """One op as people read it: the place, then the YAML value (or "taken back")."""
    if op.get("delete"):
        return Markup("<code>{}</code>: {}").format(op.get("path"), _("taken back"))
    value = json.dumps(op.get("value"), ensure_ascii=False)
    if len(value) > 160:  # a whole form or list: the preview shows it all, the history a glimpse
        value = value[:160] + "…"
    return Markup("<code>{}</code> = <code>{}</code>").format(op.get("path"), value)


def origin_text(item: Any) -> str:
    origin = getattr(item, "origin", None)
    return origin.defined_in if origin is not None else ""


@bp.errorhandler(DesignDenied)
def denied(exc: Exception):
    """A designer asked for what only administrators may do (roles and field permissions)."""
    from ..errors import page

    return page(403, _("Not allowed"), refused_text(exc))


def wrong_method(exc: MethodNotAllowed):
    """A designer URL with the wrong method is, for everyone else, a URL that does not
    exist: the 404 every other designer URL gives them, never a 405 telling it is there."""
    from ..errors import page

    if request.path.startswith("/design") and not may_design():
        return page(404, _("Not found"), "")
    return page(405, _("Not allowed"), exc.description or "")


def standard_label(name: str) -> str:
    """owner, created_at, ...: labelled as the lists label them."""
    from .lists import standard_label as label

    return label(name)


def current_language() -> str:
    from ..i18n import language

    return language()


def init_app(app: Flask) -> None:
    app.extensions["csrf"].exempt(bp)  # checked in designers_only, after the 404 for everyone else
    app.register_blueprint(bp)
    app.register_error_handler(MethodNotAllowed, wrong_method)
    app.jinja_env.globals["may_design"] = may_design
    app.jinja_env.globals["design_op_text"] = op_text
    app.jinja_env.globals["design_standard_label"] = standard_label
    app.jinja_env.globals["design_origin"] = origin_text
