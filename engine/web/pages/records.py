"""Record pages, create/edit forms, comments, timeline, delete, link lookups.

    GET       /e/<entity>/<id>              the record: layout, related lists, timeline, comments
    GET/POST  /e/<entity>/new               create form (`?field=value` fills simple fields)
    GET/POST  /e/<entity>/<id>/edit         edit form (hidden `version`: optimistic locking)
    POST      /e/<entity>/form-fields       the fields part of a form, re-shown from the current
                                            input (`?record=<id>` when editing): htmx swaps it
                                            in on every change, so conditional fields follow
    GET       /e/<entity>/lookup?q=         matching titles for link inputs (HTML, or JSON)
    POST      /e/<entity>/<id>/comments     add a comment
    POST      /e/<entity>/<id>/delete       delete (with the version shown)
    POST      /e/<entity>/<id>/reveal       the record page with its masked fields in full (audited)

Every write goes through the records service; its errors come back next to the fields
(422), a stale version shows both versions (409), a malformed post is a 400.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import abort, jsonify, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext
from wtforms import Form, TextAreaField
from wtforms.validators import DataRequired, Length

from ...fields.numbers import numbers_in
from ...model.model import Entity, Field, text
from ...records import ConflictError, PermissionDenied, Query, RecordError, ValidationError
from ...records.linked import field_at
from ...records.masking import masked_fields
from ...records.service import jsonable
from ...records.values import input_keys, is_visible
from ...storage import shares, teams
from .. import form_tokens, link_forms
from ..auth import context
from ..forms import (
    BadInput,
    RecordForm,
    active_users,
    collect_links,
    grouped,
    in_form,
    layout,
    link_titles,
    title_columns,
    title_of,
    user_names,
)
from ..i18n import fmt, language, ngettext, pgettext, say_error
from ..i18n import gettext as _
from ..ids import id_or_none
from ..polymorphic import entity_key, target_of, target_text
from ..state import WebState
from . import access, bp, entity_or_404, model, render, service, timeline
from .approvals import status_labels, workflow_panel
from .display import contact_items, display_text, displayed, item_list, kind_text, rollup_text
from .lists import default_sort

RELATED_ROWS = 5
RELATED_COLUMNS = 4
TIMELINE_ENTRIES = 100
COMMENTS_SHOWN = 200
LOOKUP_ROWS = 10
MAX_COMMENT = 5000


class CommentForm(Form):
    body = TextAreaField(validators=[
        DataRequired(message=lazy_gettext("Write a comment first.")),
        Length(max=MAX_COMMENT, message=lazy_gettext("A comment has at most %(max)s characters.", max=MAX_COMMENT)),
    ])


# -- the record page --------------------------------------------------------------------------
@bp.get("/e/<entity>/<id:record_id>")
def record_page(entity: str, record_id: int):
    current = entity_or_404(entity)
    record = service().get(current.name, record_id, context())
    return record_view(current, record)


def record_view(entity: Entity, record: dict[str, Any], *, status: int = 200, comment_form: CommentForm | None = None,
                problem: str | None = None, revealed: bool = False):
    ctx = context()
    tabs = []
    for label, sections in layout(entity):
        shown = []
        for section in sections:
            names = [n for n in section.fields if n in entity.fields and not entity.fields[n].hidden
                     and access(entity).visible(n) and is_visible(entity.fields[n], record, ctx)]
            if names:
                shown.append((section, names))
        if shown:
            tabs.append((label, shown))
    tab = id_or_none(request.args.get("tab", ""), 32) or 0  # the first tab is 0, the default
    tab = tab if tab < len(tabs) else 0
    wanted: dict[str, set[int]] = {}
    people: set[int] = {i for i in (record.get("owner"), record.get("created_by")) if isinstance(i, int)}
    collect_links(entity.fields, record, wanted, people)
    related = related_lists(entity, record, wanted, people)
    history = polymorphic_changes(entity, record, service().history(entity.name, record["id"], ctx)[-TIMELINE_ENTRIES:])
    for entry in history:
        if isinstance(entry.get("user_id"), int):
            people.add(entry["user_id"])
        for key, change in (entry.get("changes") or {}).items():
            field = entity.fields.get(key)
            if field is not None and field.type.name in ("link", "user"):
                for value in change if isinstance(change, list) else []:
                    if isinstance(value, int) and field.type.name == "user":
                        people.add(value)
                    elif isinstance(value, int):
                        wanted.setdefault(field.to, set()).add(value)
            elif field is not None and field.type.name == "polymorphic_link":
                for value in change if isinstance(change, list) else []:
                    if isinstance(value, dict):
                        wanted.setdefault(value["entity"], set()).add(value["id"])
            elif field is not None and field.type.name == "links":
                for value in change if isinstance(change, list) else []:
                    for item in value if isinstance(value, list) else []:
                        if isinstance(item, dict) and isinstance(item.get("id"), int):
                            wanted.setdefault(field.to, set()).add(item["id"])
            elif key == "owner":
                people.update(v for v in (change if isinstance(change, list) else []) if isinstance(v, int))
    notes = comment_rows(entity, record["id"])
    people.update(n["user_id"] for n in notes if isinstance(n["user_id"], int))
    titles = link_titles(wanted, ctx)
    names = user_names(people)
    changes = [timeline_entry(entity, entry, titles, names) for entry in reversed(history)]
    wf = workflow_panel(entity, record)
    show = timeline.chosen(request.args.get("show"))
    items = timeline.merged(changes, notes, names, wf, entity.name, record["id"], show)
    return render("record", entity, record=record, tabs=tabs, tab=tab, titles=titles, users=names,
                  related=related, timeline=items, timeline_show=show, timeline_kinds=timeline.kind_labels(),
                  comments=notes, comment_form=comment_form or CommentForm(),
                  problem=problem, model=model(), can_edit=service().may(entity.name, record, "update", ctx),
                  can_delete=service().may(entity.name, record, "delete", ctx),
                  sharing=sharing_of(entity, record, ctx), wf=wf,
                  statuses=status_labels(), revealed=revealed,
                  can_reveal=not revealed and bool(masked_fields(entity)) and not access(entity).bypass
                  and access(entity).can("reveal")), status


def sharing_of(entity: Entity, record: dict[str, Any], ctx) -> dict[str, Any] | None:
    """Who the record is shared with, and the people it can be shared with: for its owner
    (or an admin) in a project with roles."""
    actor = ctx.actor
    if not service().policy.enabled or not (actor.is_admin or record.get("owner") == actor.id):
        return None
    with WebState.of().service.reading() as conn:
        rows = conn.execute(sa.select(shares.c.user_id, shares.c.team_id, shares.c.access)
                            .where(shares.c.entity == entity.name, shares.c.record_id == record["id"])).all()
        people = active_users()
        team_names = dict(conn.execute(sa.select(teams.c.id, teams.c.name)).all())
    names = dict(people)
    return {"shares": [{"who": names.get(r.user_id, f"#{r.user_id}") if r.user_id else team_names.get(r.team_id, ""),
                        "access": r.access} for r in rows],
            "people": [(i, n) for i, n in people if i != actor.id]}


@bp.post("/e/<entity>/<id:record_id>/share")
def share_record(entity: str, record_id: int):
    current = entity_or_404(entity)
    ctx = context()
    unknown = set(request.form.keys()) - {"csrf_token", "user_id", "access"}
    user_id = id_or_none(request.form.get("user_id", ""), 32)
    if unknown or user_id is None or request.form.get("access") not in ("read", "write"):
        abort(400, description=_("Choose a user and read or edit."))
    service().share(current.name, record_id, access=request.form["access"], user_id=user_id, context=ctx)
    return redirect(url_for("pages.record_page", entity=current.name, record_id=record_id) + "#sharing", code=303)


def pointing_at(other: Entity, entity: Entity) -> list[Field]:
    """The fields of `other` the user sees that point at records of `entity`: its links to
    it, and its polymorphic links that may point at it (an activity's parent)."""
    return [f for f in other.fields.values() if not f.hidden and access(other).visible(f.name)
            and ((f.type.name == "link" and f.to == entity.name)
                 or (f.type.name == "polymorphic_link" and entity.name in f.targets))]


def related_lists(entity: Entity, record: dict[str, Any], wanted: dict[str, set[int]], people: set[int]):
    """For every link or polymorphic link pointing at this record: its first rows and how
    many there are, with "show all" and "new" (the link filled in)."""
    ctx = context()
    result = []
    for other in model().entities.values():
        if other.hidden or not access(other).can("read"):
            continue
        links = pointing_at(other, entity)
        for field in links:
            named_by = title_columns(other)
            columns = [c for c in other.list.columns if c != field.name and c not in other.title.fields
                       and _selectable(other, c)][:RELATED_COLUMNS]
            selected = [*columns, *named_by]
            # a polymorphic link names the kind too: a deal with the same id is another record
            target = record["id"] if field.type.name == "link" else f"{entity.name}:{record['id']}"
            filters = ((field.name, "eq", target),)
            try:
                rows = service().list(other.name, Query(filters=filters, limit=RELATED_ROWS, columns=tuple(selected),
                                                        sort=default_sort(other)), ctx)
                count = service().count(other.name, Query(filters=filters), ctx, limit=1000)
            except ValidationError:
                continue
            for row in rows:
                if isinstance(row.get("owner"), int) and "owner" in columns:
                    people.add(row["owner"])
                collect_links({c: other.fields[c] for c in columns if c in other.fields}, row, wanted, people)
            lang = language()
            title_field = other.fields.get(other.title_field) if other.title_field else None
            result.append({
                "entity": other, "field": field, "columns": columns, "rows": rows, "count": count,
                "several": len(links) > 1,
                "heading": other.plural_text(lang),
                "title_label": title_field.label_text(lang) if title_field is not None else other.label_text(lang),
                "titles": {row["id"]: title_of(other, row) for row in rows},
                "all_url": url_for("pages.list_page", entity=other.name, **{field.name: target}),
                "new_url": url_for("pages.new_record", entity=other.name, **{field.name: target})
                if in_form(field) and access(other).can("create") and access(other).editable(field.name, "create")
                else None,
            })
    return result


def _selectable(entity: Entity, name: str) -> bool:
    if name in ("owner", "created_at", "updated_at", "created_by"):
        return True
    field = entity.fields.get(name)
    return field is not None and not field.hidden and field.type.storage == "column" \
        and not (field.is_computed and not field.stored) and access(entity).visible(name)


def comment_rows(entity: Entity, record_id: int) -> list[dict[str, Any]]:
    return service().comments(entity.name, record_id, context(), limit=COMMENTS_SHOWN)


# -- the timeline ---------------------------------------------------------------------------
def polymorphic_changes(entity: Entity, record: dict[str, Any], history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history with each change of a polymorphic link as one change of its target
    (`{"entity", "id"}` before and after): the audit trail keeps NAME and NAME_entity
    apart, and only the changed one (another kind with the same id changes only the kind).
    Read from the newest entry back, starting from the record as it is, so each side knows
    its kind and id even in a shortened timeline."""
    fields = [f for f in entity.fields.values() if f.type.name == "polymorphic_link"]
    if not fields:
        return history
    now = {f.name: (record.get(entity_key(f)), record.get(f.name)) for f in fields}  # (kind, id) after each entry
    result = []
    for entry in reversed(history):
        changes = entry.get("changes")
        if isinstance(changes, dict) and entry.get("action") in ("create", "update"):
            changes = dict(changes)
            for field in fields:
                kind_change, id_change = changes.pop(entity_key(field), None), changes.get(field.name)
                after_kind, after_id = now[field.name]
                before_kind = kind_change[0] if _pair(kind_change) else after_kind
                after_kind = kind_change[1] if _pair(kind_change) else after_kind
                before_id = id_change[0] if _pair(id_change) else after_id
                after_id = id_change[1] if _pair(id_change) else after_id
                if _pair(kind_change) or _pair(id_change):
                    changes[field.name] = [_target(before_kind, before_id), _target(after_kind, after_id)]
                now[field.name] = (before_kind, before_id)
            entry = {**entry, "changes": changes}
        result.append(entry)
    return list(reversed(result))


def _pair(change: Any) -> bool:
    return isinstance(change, list) and len(change) == 2


def _target(kind: Any, record_id: Any) -> Any:
    if isinstance(kind, str) and kind and isinstance(record_id, int) and not isinstance(record_id, bool):
        return {"entity": kind, "id": record_id}
    return record_id


def timeline_entry(entity: Entity, entry: dict[str, Any], titles, names) -> dict[str, Any]:
    at = entry.get("at")
    if isinstance(at, datetime) and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    changes = []
    if entry.get("action") == "update":
        recorded = entry.get("changes") or {}
        for key, change in sorted(recorded.items(), key=lambda kv: _order(entity, kv[0])):
            label, field = _label_of_key(entity, key)
            if item_list(field) and key == field.name and f"{key}_items" in recorded:
                continue  # the items say it, the primary among them
            if label is None or not isinstance(change, list) or len(change) != 2:
                continue
            after = history_text(field, key, change[1], titles, names)
            if field is not None and field.type.name == "lines":
                after += f" ({rows_summary(change[0], change[1])})"
            changes.append((label, history_text(field, key, change[0], titles, names), after))
    if entry.get("action") == "reveal":  # which masked fields were shown in full
        for key in sorted(entry.get("changes") or {}, key=lambda k: _order(entity, k)):
            label, _field = _label_of_key(entity, key)
            if label is not None:
                changes.append((label, None, None))
    labels = {"create": pgettext("history", "Created"), "update": pgettext("history", "Changed"),
              "delete": pgettext("history", "Deleted"), "reveal": pgettext("history", "Revealed")}
    return {"at": at, "user": names.get(entry.get("user_id")) if entry.get("user_id") else _("System"),
            "action": entry.get("action"), "action_label": labels.get(entry.get("action"), entry.get("action")),
            "changes": changes}


def rows_summary(before: Any, after: Any) -> str:
    """What happened to child rows, by row id."""
    was = {r.get("id"): r for r in before or [] if isinstance(r, dict)}
    now = {r.get("id"): r for r in after or [] if isinstance(r, dict)}
    return _("%(added)s added, %(removed)s removed, %(changed)s changed",
             added=sum(1 for i in now if i not in was), removed=sum(1 for i in was if i not in now),
             changed=sum(1 for i in now if i in was and now[i] != was[i]))


def _order(entity: Entity, key: str) -> int:
    names = list(entity.fields)
    owner = input_keys(entity).get(key)
    base = owner.name if owner is not None else key
    return names.index(base) if base in names else len(names)


def _label_of_key(entity: Entity, key: str) -> tuple[str | None, Field | None]:
    """The label a change is shown under; None for hidden fields (never shown)."""
    lang = language()
    if key == "owner":
        return _("Owner"), None
    field = entity.fields.get(key)
    if field is not None:
        return (None, None) if field.hidden else (field.label_text(lang), field)
    if key.endswith("_currency"):
        amount = entity.fields.get(key[: -len("_currency")])
        if amount is not None and amount.type.name == "money":
            return (None, None) if amount.hidden else (f"{amount.label_text(lang)} ({_('currency')})", None)
    owner = input_keys(entity).get(key)
    if owner is not None and item_list(owner):  # several e-mails or phones: the items and their kinds
        if owner.hidden:
            return None, None
        if key == f"{owner.name}_items":
            return owner.label_text(lang), owner
        return f"{owner.label_text(lang)} ({_('kinds')})", owner
    if owner is not None:
        if owner.hidden or grouped(owner) or key not in owner.type.form_keys(owner) \
                or owner.type.name == "polymorphic_link":  # its kind is told with its record
            return None, None  # the change of the whole (a full name, whether a time was given) says it
        part = owner.type.part_label(key[len(owner.name) + 1:])
        return f"{owner.label_text(lang)} ({_(part)})", None
    return key, None


def history_text(field: Field | None, key: str, value: Any, titles, names) -> str:
    """A value of the audit trail (stored as JSON) as the user reads it."""
    if value is None or value == "" or value == []:
        return "—"
    if item_list(field) and isinstance(value, list):
        if key == f"{field.name}_kinds":
            return ", ".join(kind_text(field, str(v)) for v in value)
        return ", ".join(str(v) for v in value)
    if field is None:
        if key == "owner" and isinstance(value, int):
            return names.get(value, f"#{value}")
        return str(value)
    kind = field.type.name
    if kind == "link" and isinstance(value, int):
        return titles.get((field.to, value), f"#{value}")
    if kind == "polymorphic_link":
        if isinstance(value, dict):
            return target_text(value["entity"], value["id"], titles.get((value["entity"], value["id"])))
        return f"#{value}"
    if kind == "rollup":
        return rollup_text(field, value)
    if kind == "user" and isinstance(value, int):
        return names.get(value, f"#{value}")
    if kind == "choice":
        return _option_text(field, value)
    if kind in ("multichoice", "tags") and isinstance(value, list):
        return ", ".join(_option_text(field, v) for v in value)
    if kind == "lines" and isinstance(value, list):
        return ngettext("%(num)s row", "%(num)s rows", len(value))
    if kind == "links" and isinstance(value, list):
        return ", ".join(titles.get((field.to, v.get("id")), f"#{v.get('id')}") if isinstance(v, dict) else str(v)
                         for v in value)
    try:
        with numbers_in(None):  # the audit trail keeps numbers as JSON text: 1234.50, whoever reads it
            typed = field.type.coerce(value, field)
    except Exception:  # noqa: BLE001 - an old value may no longer fit a changed field
        return str(value) if not isinstance(value, (dict, list)) else json.dumps(value, ensure_ascii=False)
    kind = field.returns if kind == "computed" else kind
    shown = display_text(field, {field.name: typed}) if typed is not None else None
    if shown is not None:
        return shown
    text = fmt(typed, kind or "")
    if kind == "percent":
        text += " %"
    return text


def _option_text(field: Field, value: Any) -> str:
    option = field.option(str(value))
    return str(value) if option is None else text(option.label, language(), option.value)


# -- forms ----------------------------------------------------------------------------------
def _version() -> str:
    return WebState.of().model.version


def _form_page(view: RecordForm, *, record: dict[str, Any] | None, version: int | None = None,
               conflict: list | None = None, status: int = 200, form_token: str | None = None,
               problem: str | None = None, saved: dict[str, Any] | None = None):
    entity = view.entity
    if record is None:
        action = url_for("pages.new_record", entity=entity.name)
        fields_url = url_for("pages.form_fields", entity=entity.name)
    else:
        action = url_for("pages.edit_record", entity=entity.name, record_id=record["id"])
        fields_url = url_for("pages.form_fields", entity=entity.name, record=record["id"])
    return render("form", entity, view=view, record=record, version=version, action=action, fields_url=fields_url,
                  conflict=conflict, status_code=status, titles=view.titles(), users=view.user_names(),
                  form_token=form_token, problem=problem, saved=saved), status


def _bad(exc: BadInput):
    abort(400, description=str(exc))


@bp.route("/e/<entity>/new", methods=["GET", "POST"])
def new_record(entity: str):
    current = entity_or_404(entity)
    ctx = context()
    service().authorize(current.name, "create", ctx)
    me = ctx.actor.id
    try:
        if request.method == "GET":
            view = RecordForm(current, ctx, version=_version(), prefill=request.args)
            saved = session.pop(SAVED_KEY, None)  # "save and new": what the last form saved
            saved = saved if isinstance(saved, dict) and saved.get("entity") == current.name else None
            return _form_page(view, record=None, form_token=form_tokens.issue(me, current.name), saved=saved)
        view = RecordForm(current, ctx, version=_version(), formdata=request.form)
    except BadInput as exc:
        _bad(exc)
    # the form's one-time token (form_tokens.py): shown again with the form until it is used
    # and required: a post without one (an older page, a script) creates nothing; the form is
    # shown again with its values and a new token, to be checked and sent once
    token = request.form.get(form_tokens.FIELD)
    if token is None:
        return _form_page(view, record=None, status=400, form_token=form_tokens.issue(me, current.name),
                          problem=_("This form had no one-time token, so nothing was saved: "
                                    "check the values and save again."))
    try:
        nonce = form_tokens.nonce_of(token, me, current.name)
    except form_tokens.BadToken:
        abort(400, description=_("This form was not issued to you here: open the form again."))
    if view.action:
        return _form_page(view, record=None, form_token=token)
    try:
        with service().transaction() as conn:
            with form_tokens.using(conn, nonce, me, current.name, ctx.now) as used:
                saved = service().create(current.name, view.data, ctx)
                used["record_id"] = saved["id"]
    except ValidationError as exc:
        view.set_errors(exc.errors)
        return _form_page(view, record=None, status=422, form_token=token)
    except form_tokens.AlreadyUsed as exc:
        return _sent_again(current, view, exc.record_id)
    if request.form.get("_then") == "new":  # "save and new": an empty form, saying what was saved
        session[SAVED_KEY] = {"entity": current.name, "id": saved["id"], "title": title_of(current, saved)}
        return redirect(url_for("pages.new_record", entity=current.name), code=303)
    return redirect(url_for("pages.record_page", entity=current.name, record_id=saved["id"]), code=303)


SAVED_KEY = "tailor_form_saved"


def _sent_again(entity: Entity, view: RecordForm, record_id: int | None):
    """A create form posted a second time: nothing new is created. The record the first
    post created is shown (when the user may still see it), else the form with a message."""
    message = _("This form was already sent: nothing new was created.")
    if record_id is not None:
        try:
            record = service().get(entity.name, record_id, context())
        except RecordError:
            record = None
        if record is not None:
            return record_view(entity, record, status=409,
                               problem=_("This form was already sent: here is the record it created; "
                                         "nothing new was created."))
    return _form_page(view, record=None, status=409, problem=message)


def _posted_version() -> int:
    version = id_or_none(request.form.get("version", ""), 32)  # versions count from 1 in an INTEGER
    if version is None:
        abort(400, description=_("The version of the record is missing."))
    return version


@bp.route("/e/<entity>/<id:record_id>/edit", methods=["GET", "POST"])
def edit_record(entity: str, record_id: int):
    current = entity_or_404(entity)
    ctx = context()
    old = service().get(current.name, record_id, ctx)
    if not service().may(current.name, old, "update", ctx):
        raise PermissionDenied(current.name, "update")
    if request.method == "GET":
        view = RecordForm(current, ctx, version=_version(), old=old)
        return _form_page(view, record=old, version=old["version"])
    version = _posted_version()
    try:
        view = RecordForm(current, ctx, version=_version(), old=old, formdata=request.form)
    except BadInput as exc:
        _bad(exc)
    if view.action:
        return _form_page(view, record=old, version=version)
    changes = view.changes()
    if not changes and version == old["version"]:
        return redirect(url_for("pages.record_page", entity=current.name, record_id=record_id), code=303)
    try:
        service().update(current.name, record_id, changes, version=version, context=ctx)
    except ValidationError as exc:
        view.set_errors(exc.errors)
        return _form_page(view, record=old, version=version, status=422)
    except ConflictError as exc:
        theirs = exc.current
        view = RecordForm(current, ctx, version=_version(), old=theirs, formdata=request.form)
        return _form_page(view, record=theirs, version=theirs["version"], conflict=differences(view, theirs),
                          status=409)
    return redirect(url_for("pages.record_page", entity=current.name, record_id=record_id), code=303)


def differences(view: RecordForm, theirs: dict[str, Any]) -> list[dict[str, Any]]:
    """Fields where the saved record (theirs) and the form (yours) differ."""
    wanted: dict[str, set[int]] = {}
    people: set[int] = set()
    collect_links(view.entity.fields, theirs, wanted, people)
    collect_links(view.entity.fields, view.draft, wanted, people)
    titles = link_titles(wanted, view.context)
    names = user_names(people)
    result = []
    for name, field in view.entity.fields.items():
        if field.hidden or not view.has_input(name) or not view.state(name).shown:
            continue
        keys = field.type.input_keys(field)
        if field.type.name == "lines":
            mine = [_row_values(field, r) for r in view.draft.get(name) or []]
            saved = [_row_values(field, r) for r in theirs.get(name) or []]
        else:
            mine = [jsonable(view.draft.get(k)) for k in keys]
            saved = [jsonable(theirs.get(k)) for k in keys]
        if mine == saved:
            continue
        result.append({"label": field.label_text(language()), "name": name,
                       "theirs": _shown(field, theirs, titles, names),
                       "yours": _shown(field, view.draft, titles, names)})
    return result


def _row_values(field: Field, row: dict[str, Any]) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in row.items()
            if k in field.subfields and not field.subfields[k].is_computed or k == "id"}


def _shown(field: Field, record: dict[str, Any], titles, names) -> str:
    value = record.get(field.name)
    items = contact_items(field, record)
    if items is not None:
        return "; ".join(f"{item['value']} ({item['kind']})" for item in items) or "—"
    if field.type.name == "money" and value is not None:
        return f"{fmt(value, 'money')} {field.type.currency_of(record, field) or ''}".strip()
    if displayed(field) and value not in (None, ""):
        return display_text(field, record) or "—"
    if field.type.name == "polymorphic_link":
        kind, record_id = target_of(field, record)
        return target_text(kind, record_id, titles.get((kind, record_id))) if kind is not None else "—"
    if field.type.name == "lines":
        rows = value or []
        return "; ".join(", ".join(history_text(sub, k, jsonable(row.get(k)), titles, names)
                                   for k, sub in field.subfields.items() if not sub.hidden and row.get(k) is not None)
                         for row in rows) or "—"
    return history_text(field, field.name, jsonable(value), titles, names)


@bp.post("/e/<entity>/form-fields")
def form_fields(entity: str):
    """The fields part of the form, for the current input: htmx swaps it in on change."""
    current = entity_or_404(entity)
    ctx = context()
    old = None
    if request.args.get("record"):
        old = service().get(current.name, request.args["record"], ctx)
    try:
        view = RecordForm(current, ctx, version=_version(), old=old, formdata=request.form)
    except BadInput as exc:
        _bad(exc)
    fields_url = url_for("pages.form_fields", entity=current.name, **({"record": old["id"]} if old else {}))
    return render_template("_form_fields.html", entity=current, view=view, record=old, fields_url=fields_url,
                           titles=view.titles(), users=view.user_names())


@bp.get("/e/<entity>/lookup")
def lookup(entity: str):
    """Records whose search fields contain `q`, for link inputs (HTML list, or JSON)."""
    current = entity_or_404(entity)
    term = request.args.get("q", "").replace("\x00", "").strip()[:100]
    query = Query(search=term or None, limit=LOOKUP_ROWS, sort=default_sort(current), columns=title_columns(current))
    source, path = _lookup_for(current)
    try:
        if source is not None:  # a filtered link's lookup: only the records its filter allows
            rows = service().link_choices(source.name, path, link_forms.lookup_values(source, path, request.args),
                                          query, context(), link_forms.lookup_parent(source, path, request.args))
        else:
            rows = service().list(current.name, query, context())
    except ValidationError:
        rows = []
    results = [{"id": row["id"], "title": title_of(current, row)} for row in rows]
    if request.args.get("format") == "json" or request.accept_mimetypes.best == "application/json":
        return jsonify(results=results)
    return render_template("_form_lookup.html", entity=current, results=results, term=term)


def _lookup_for(target: Entity) -> tuple[Entity | None, str]:
    """`?for=ENTITY.LINK` (or ENTITY.LINES.LINK): the link whose lookup this is, when it is a
    link to `target`; a name that is not one is a 400."""
    wanted = request.args.get("for")
    if not wanted:
        return None, ""
    name, _dot, path = wanted.partition(".")
    source = model().entities.get(name)
    link = field_at(source, path)[0] if source is not None else None
    if link is None or link.type.name != "link" or link.to != target.name:
        abort(400, description=_("Unknown fields: %(names)s", names=wanted[:100]))
    return source, path


# -- comments and delete ----------------------------------------------------------------------
@bp.post("/e/<entity>/<id:record_id>/comments")
def add_comment(entity: str, record_id: int):
    current = entity_or_404(entity)
    ctx = context()
    record = service().get(current.name, record_id, ctx)
    unknown = set(request.form.keys()) - {"body", "csrf_token"}
    if unknown:
        abort(400, description=_("Unknown fields: %(names)s", names=", ".join(sorted(unknown)[:10])))
    form = CommentForm(request.form)
    if not form.validate() or "\x00" in (form.body.data or ""):
        if "\x00" in (form.body.data or ""):
            form.body.errors = [*form.body.errors, _("The comment contains characters that cannot be stored.")]
        return record_view(current, record, status=422, comment_form=form)
    service().add_comment(current.name, record_id, form.body.data, ctx)
    return redirect(url_for("pages.record_page", entity=current.name, record_id=record_id) + "#comments", code=303)


@bp.post("/e/<entity>/<id:record_id>/reveal")
def reveal_record(entity: str, record_id: int):
    """The record page with the masked fields in full, for a role granted `reveal`: a POST,
    so that each reveal is a deliberate act, written to the audit trail by the service."""
    current = entity_or_404(entity)
    record = service().reveal(current.name, record_id, context())
    return record_view(current, record, revealed=True)


@bp.post("/e/<entity>/<id:record_id>/delete")
def delete_record(entity: str, record_id: int):
    current = entity_or_404(entity)
    ctx = context()
    version = _posted_version()
    try:
        service().delete(current.name, record_id, version=version, context=ctx)
    except ConflictError:
        return record_view(current, service().get(current.name, record_id, ctx), status=409,
                           problem=_("Someone changed this record after you opened it; nothing was deleted. "
                                     "Check the changes below and delete again if you still want to."))
    except ValidationError as exc:
        record = service().get(current.name, record_id, ctx)
        return record_view(current, record, status=exc.status, problem=say_error(exc))
    return redirect(url_for("pages.list_page", entity=current.name), code=303)

