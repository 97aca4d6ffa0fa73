"""Workflow pages: transitions, approval tasks, the "my approvals" inbox, notifications.

    GET/POST  /e/<entity>/<id>/do/<transition>  run a transition (GET: its form, when it asks
                                                 for a comment, fields or picked approvers)
    POST      /approvals/tasks/<task>            approve, reject, send back, transfer, add an
                                                 approver (`op`), with a comment
    POST      /approvals/flows/<flow>/<op>       withdraw, urge, resubmit (the submitter)
    GET       /approvals?tab=todo|done|cc|mine   the inbox
    GET       /notifications                     the bell's list; POST …/read marks read
    POST      /notifications/<id>                open one: marks it read, goes to its record
    GET       /notifications/<id>                go to its record, changing nothing (a link
                                                 prefetched or followed from elsewhere)

Every operation goes through the flow engine (`service.flows`), which checks who may do it;
its refusals come back on the page they were made from, never as a 500.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import abort, g, redirect, render_template, request, url_for

from ...jobs import aware
from ...model.model import Entity, text
from ...notify import mark_read
from ...records import ConflictError, RecordError, ValidationError
from ...storage import notifications
from ...workflows import inbox as reads
from ...workflows.diagram import layout as diagram_layout
from ...workflows.resolvers import picking_range
from ..auth import context
from ..forms import active_users, read_titles, user_names
from ..i18n import gettext as _
from ..i18n import language, say, say_error
from ..ids import id_or_none, parse_id
from . import bp, entity_or_404, model, render, service

PAGE = 50
TASK_OPS = ("approve", "reject", "send_back", "transfer", "add_before", "add_after")
FLOW_OPS = ("withdraw", "urge", "resubmit")


def history_labels() -> dict[str, str]:
    return {
        "submit": _("Submitted"), "assign": _("Waiting for"), "approve": _("Approved"), "reject": _("Rejected"),
        "send_back": _("Sent back"), "transfer": _("Passed on"), "add_before": _("Added an approver before"),
        "add_after": _("Added an approver after"), "withdraw": _("Withdrew"), "urge": _("Urged"),
        "resubmit": _("Resubmitted"), "condition": _("Condition"), "condition_error": _("Condition failed"),
        "cc": _("Copied"), "skip": _("Skipped: already approved"),
        "skip_duties": _("Skipped: the submitter, or someone who may not read the record"), "auto_approve": _("Approved automatically"),
        "no_approver": _("No approver found: passed on"), "timeout": _("Timed out"), "escalate": _("Escalated"),
        "fork": _("Split into branches"), "branch_done": _("Branch finished"), "approved": _("Approval granted"),
        "rejected": _("Approval refused"), "withdrawn": _("Withdrawn"),
    }


def status_labels() -> dict[str, str]:
    return {"running": _("In progress"), "returned": _("Sent back to the submitter"), "approved": _("Approved"),
            "rejected": _("Rejected"), "withdrawn": _("Withdrawn"), "open": _("Waiting"),
            "pending": _("Next in line"), "waiting": _("Waiting for an added approver"),
            "transferred": _("Passed on"), "escalated": _("Escalated"), "cancelled": _("Not needed"),
            "unread": _("Copied"), "read": _("Copied")}


# -- navigation counts -------------------------------------------------------------------------
def nav_counts() -> tuple[int, int] | None:
    """(open approvals, unread notifications) for the top bar; one query per page, and none
    in a project without workflows."""
    if not model().workflows or g.get("user") is None or g.get("_tailor_offline"):
        return None  # an error page of a fault queries nothing (errors.py)
    found = g.get("_tailor_nav_counts")
    if found is None:
        try:
            with service().reading() as conn:
                found = g._tailor_nav_counts = reads.nav_counts(conn, g.user["id"])
        except (sa.exc.DBAPIError, sa.exc.PendingRollbackError):
            return None  # the page shows without its counts; the request's own query reports the fault
    return found


# -- transitions -------------------------------------------------------------------------------
def workflow_panel(entity: Entity, record: dict[str, Any]) -> dict[str, Any] | None:
    """What the record page shows of the workflow: the transitions the user may run, the
    flows with their history and diagram, and the user's own task."""
    workflow = model().workflow_of(entity.name)
    if workflow is None:
        return None
    ctx = context()
    flows_engine = service().flows
    transitions = flows_engine.transitions(entity.name, record, ctx)
    with service().reading() as conn:
        found = reads.record_flows(conn, entity.name, record["id"], record.get("created_at"))
        pinned = {f["id"]: flows_engine.pinned(conn, f["definition_id"]) for f in found}
    people = {f["submitter_id"] for f in found} | {t["user_id"] for f in found for t in f["tasks"]} \
        | {h["user_id"] for f in found for h in f["history"]}
    for f in found:
        for h in f["history"]:
            details = h.get("details") or {}
            people.update(u for u in details.get("users") or [] if isinstance(u, int))
            people.update(details[k] for k in ("to", "user", "from", "on_behalf_of") if isinstance(details.get(k), int))
    names = user_names({p for p in people if isinstance(p, int)})
    lang = language()
    me = ctx.actor.id
    shown = []
    for f in found:
        flow = pinned[f["id"]]
        mine = next((t for t in f["tasks"] if t["user_id"] == me and t["status"] == "open" and t["kind"] == "approval"),
                    None)
        current = [s["node"] for s in f["steps"] if s["status"] == "active"]
        taken = [s["node"] for s in f["steps"] if s["status"] == "done"]
        task_view = None
        if mine is not None and f["status"] == "running":
            step = next(s for s in f["steps"] if s["id"] == mine["step_id"])
            node = flow.nodes[step["node"]]
            with service().reading() as conn:
                targets = flows_engine.send_back_targets(conn, f["id"], step)
            task_view = {"task": mine, "node": step["node"], "node_label": flow.node_label(step["node"], lang),
                         "comment": node.get("comment", "on_reject"),
                         "editable": [n for n, rule in (node.get("fields") or {}).items()
                                      if rule == "edit" and n in entity.fields],
                         "targets": [(n, flow.node_label(n, lang)) for n in targets]}
        shown.append({
            "row": f, "flow": flow, "label": flow.label_text(lang), "status": f["status"],
            "submitter": names.get(f["submitter_id"], "—"),
            "waiting": [(flow.node_label(s["node"], lang),
                         [names.get(t["user_id"], f"#{t['user_id']}") for t in f["tasks"]
                          if t["step_id"] == s["id"] and t["status"] == "open"]) for s in f["steps"]
                        if s["status"] == "active"],
            "history": [history_entry(flow, h, names, lang) for h in f["history"]],
            "diagram": diagram_layout(flow, lang, taken, current, f["status"] == "approved", _("Submit"), _("End")),
            "task": task_view,
            "is_submitter": f["submitter_id"] == me or ctx.actor.is_admin,
        })
    unread = [f["id"] for f in found if any(t["user_id"] == me and t["kind"] == "cc" and t["status"] == "unread"
                                             for t in f["tasks"])]
    if unread:  # the user has now seen the flows they were copied on (a write only then, not on every view)
        with service()._write() as conn:
            reads.mark_cc_read(conn, me, unread)
    return {"workflow": workflow, "transitions": transitions, "flows": shown,
            "state": record.get(workflow.field), "people": active_users()}


def history_entry(flow, entry: dict[str, Any], names, lang: str) -> dict[str, Any]:
    details = entry.get("details") or {}
    extra = []
    if details.get("users"):
        extra.append(", ".join(names.get(u, f"#{u}") for u in details["users"]))
    for key in ("to", "user"):
        value = details.get(key)
        if isinstance(value, int):
            extra.append("→ " + names.get(value, f"#{value}"))
        elif key == "to" and isinstance(value, str):
            extra.append("→ " + (_("the submitter") if value == "submitter" else flow.node_label(value, lang)))
    if entry.get("action") == "condition":
        extra.append(_("case %(case)s", case=details.get("case")) if details.get("case") != "default"
                     else _("no case held: default"))
    if isinstance(details.get("on_behalf_of"), int):
        extra.append(_("as administrator, for %(name)s", name=names.get(details["on_behalf_of"], "")))
    if details.get("then"):
        extra.append(history_labels().get(details["then"], details["then"]) if details["then"] != "remind"
                     else _("reminded"))
    return {"at": entry["at"], "who": names.get(entry["user_id"]) if entry.get("user_id") else _("System"),
            "action": entry["action"], "label": history_labels().get(entry["action"], entry["action"]),
            "node": flow.node_label(entry["node"], lang) if entry.get("node") in flow.nodes else "",
            "comment": entry.get("comment"), "extra": "; ".join(x for x in extra if x)}


def _pick_choices(entity: Entity, transition) -> list[dict[str, Any]]:
    """For a transition starting a flow with `picked` approvers: the nodes and whom to pick."""
    if not transition.approval:
        return []
    workflow = model().workflow_of(entity.name)
    flow = workflow.flows[transition.approval]
    found = []
    with service().reading() as conn:
        for name, node in flow.nodes.items():
            for item in node.get("approvers") or []:
                if "picked" in item:
                    allowed = picking_range(conn, item)
                    names = user_names(set(allowed))
                    found.append({"node": name, "label": flow.node_label(name, language()),
                                  "people": [(u, names.get(u, f"#{u}")) for u in allowed],
                                  "max": item.get("max")})
    return found


@bp.route("/e/<entity>/<id:record_id>/do/<name>", methods=["GET", "POST"])
def run_transition(entity: str, record_id: int, name: str):
    current = entity_or_404(entity)
    ctx = context()
    record = service().get(current.name, record_id, ctx)
    workflow = model().workflow_of(current.name)
    if workflow is None or name not in workflow.transitions:
        abort(404)
    transition = workflow.transitions[name]
    picks = _pick_choices(current, transition)
    fields = [current.fields[n] for n in transition.requires if n in current.fields]
    problem, errors = None, {}
    status = 200
    if request.method == "POST":
        allowed = {"csrf_token", "version", "comment"} | {f"field-{f.name}" for f in fields} \
            | {f"picked-{p['node']}" for p in picks}
        if set(request.form) - allowed:
            abort(400, description=_("This form has fields it should not have."))
        data = {f.name: request.form.get(f"field-{f.name}") or None for f in fields}
        picked = {p["node"]: request.form.getlist(f"picked-{p['node']}") for p in picks}
        try:
            service().flows.run_transition(current.name, record_id, name, ctx, version=request.form.get("version"),
                                           data={k: v for k, v in data.items() if v is not None},
                                           comment=request.form.get("comment", ""), picked=picked)
            return redirect(url_for("pages.record_page", entity=current.name, record_id=record_id), code=303)
        except ConflictError as exc:
            problem, status = say_error(exc), 409
        except ValidationError as exc:
            errors, status = {k: [say(m) for m in v] for k, v in exc.errors.items()}, 422
            problem = "; ".join(errors.get("", [])) or _("Please correct the marked fields.")
        except RecordError as exc:
            if exc.status == 404:
                raise
            problem, status = say_error(exc), exc.status
        record = service().get(current.name, record_id, ctx)
    return render("transition", current, record=record, transition=transition, fields=fields, picks=picks,
                  problem=problem, errors=errors, form=request.form, people=active_users()), status


# -- tasks and flows ---------------------------------------------------------------------------
def _back(default: str) -> str:
    """Where to go after an operation: a path of this site only (never another host)."""
    target = request.form.get("next", "")
    parts = urlsplit(target)
    local = target.startswith("/") and not parts.scheme and not parts.netloc and target.isprintable() \
        and "\\" not in target and not target.startswith("//")
    return target if local else default


def _number(raw: str) -> int | None:
    """An id of the engine's tables (a task, a notification) or a page number, else None."""
    return id_or_none(raw, 32)


@bp.post("/approvals/tasks")
def chosen_task_operation():
    """The inbox's pass-on form: the task is chosen in the form."""
    task_id = _number(request.form.get("task", ""))
    if task_id is None:
        abort(400, description=_("Choose an approval."))
    return task_operation(task_id, extra={"task"})


@bp.post("/approvals/tasks/<id(bits=32):task_id>")
def task_operation(task_id: int, extra: frozenset[str] | set[str] = frozenset()):
    op = request.form.get("op", "")
    known = {"csrf_token", "op", "comment", "to", "user", "next", *extra} \
        | {k for k in request.form if k.startswith("edit-")}
    if op not in TASK_OPS or set(request.form) - known:
        abort(400, description=_("Choose approve, reject, send back, pass on or add an approver."))
    ctx = context()
    flows_engine = service().flows
    comment = request.form.get("comment", "")
    try:
        if op == "approve":
            edits = {k[len("edit-"):]: (v or None) for k, v in request.form.items() if k.startswith("edit-")}
            flows_engine.approve(task_id, ctx, comment, edits or None)
        elif op == "reject":
            flows_engine.reject(task_id, ctx, comment)
        elif op == "send_back":
            flows_engine.send_back(task_id, ctx, comment, request.form.get("to") or "submitter")
        elif op == "transfer":
            flows_engine.transfer(task_id, ctx, request.form.get("user", ""), comment)
        else:
            flows_engine.add_approver(task_id, ctx, request.form.get("user", ""), op.split("_")[1], comment)
    except RecordError as exc:
        if exc.status == 404:
            raise
        return _refused(exc)
    return redirect(_back(url_for("pages.approvals")), code=303)


@bp.post("/approvals/flows/<id(bits=32):flow_id>/<op>")
def flow_operation(flow_id: int, op: str):
    if op not in FLOW_OPS or set(request.form) - {"csrf_token", "comment", "next"}:
        abort(400, description=_("Choose withdraw, urge or resubmit."))
    try:
        getattr(service().flows, op)(flow_id, context(), request.form.get("comment", ""))
    except RecordError as exc:
        if exc.status == 404:
            raise
        return _refused(exc)
    return redirect(_back(url_for("pages.approvals", tab="mine")), code=303)


def _refused(exc: RecordError):
    """Show why an operation was refused, on the page it came from, in the user's language
    (the engine's messages are marked for translation where it has them)."""
    message = say_error(exc)
    target = _back("")
    parts = target.strip("/").split("/")
    if len(parts) == 3 and parts[0] == "e" and id_or_none(parts[2]) is not None and parts[1] in model().entities:
        from .records import record_view

        entity = entity_or_404(parts[1])
        record = service().get(entity.name, id_or_none(parts[2]), context())
        return record_view(entity, record, status=exc.status, problem=message)
    return approvals_view(request.args.get("tab", "todo"), problem=message, status=exc.status)


# -- the inbox -----------------------------------------------------------------------------------
@bp.get("/approvals")
def approvals():
    return approvals_view(request.args.get("tab", "todo"))


def approvals_view(tab: str, problem: str | None = None, status: int = 200):
    if tab not in reads.TABS:
        tab = "todo"
    page = min(max(_number(request.args.get("page", "1")) or 1, 1), 10_000)
    me = context().actor.id
    with service().reading() as conn:
        rows = reads.inbox(conn, me, tab, PAGE + 1, (page - 1) * PAGE)
        counts = reads.tab_counts(conn, me)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    titles = _titles(rows)
    lang = language()
    for row in rows:
        entity = model().entities.get(row["entity"])
        row["entity_label"] = entity.label_text(lang) if entity else row["entity"]
        row["title"] = titles.get((row["entity"], row["record_id"]), f"#{row['record_id']}")
        workflow = model().workflows.get(row["workflow"])
        flow = workflow.flows.get(row["flow"]) if workflow else None
        row["flow_label"] = flow.label_text(lang) if flow else row["flow"]
        row["node_label"] = flow.node_label(row["node"], lang) if flow and row.get("node") else row.get("node", "")
        row["submitter"] = row.get("submitter_name") or row.get("submitter_username") or "—"
    return render_template("approvals.html", tab=tab, rows=rows, counts=counts, page=page, more=more,
                           problem=problem, statuses=status_labels(),
                           people=active_users() if tab == "todo" and rows else []), status


def _titles(rows) -> dict[tuple[str, int], str]:
    """Titles of the records in the inbox: tasks give their approvers read access, so the
    user's own rights are enough; a record they no longer see keeps its number."""
    wanted: dict[str, set[int]] = {}
    for row in rows:
        wanted.setdefault(row["entity"], set()).add(row["record_id"])
    found = {}
    ctx = context()
    for name, ids in wanted.items():
        entity = model().entities.get(name)
        if entity is None:
            continue
        try:
            titles = read_titles(entity, ids, ctx)
        except RecordError:
            continue
        found.update({(name, record_id): title for record_id, title in titles.items()})
    return found


# -- notifications -------------------------------------------------------------------------------
@bp.get("/notifications")
def notification_list():
    import sqlalchemy as sa

    me = context().actor.id
    with service().reading() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(notifications).where(notifications.c.user_id == me)
                                              .order_by(notifications.c.id.desc()).limit(100)).mappings()]
    for row in rows:
        row["at"] = aware(row["at"])
    return render_template("notifications.html", rows=rows)


@bp.post("/notifications/read")
def notifications_read():
    if set(request.form) - {"csrf_token", "id"}:
        abort(400)
    raw = request.form.get("id", "")
    notification_id = parse_id(raw, "id", bits=32) if raw else None  # none: mark every one read
    with service()._write() as conn:
        mark_read(conn, context().actor.id, context().now, notification_id)
    return redirect(url_for("pages.notification_list"), code=303)


@bp.route("/notifications/<id(bits=32):notification_id>", methods=["GET", "POST"])
def notification_open(notification_id: int):
    """Open a notification. Only a POST (the list's button, with its CSRF token) marks it
    read: a GET changes nothing, so a link prefetched by the browser, followed by a crawler
    or forged on another site does not mark anything read behind the user's back."""
    import sqlalchemy as sa

    if request.method == "POST" and set(request.form) - {"csrf_token"}:
        abort(400)
    me = context().actor.id
    with service().reading() as conn:
        link = conn.execute(sa.select(notifications.c.link).where(notifications.c.id == notification_id,
                                                                  notifications.c.user_id == me)).first()
    if link is None:
        abort(404)
    if request.method == "POST":
        with service()._write() as conn:
            mark_read(conn, me, context().now, notification_id)
    target = link.link if link.link and link.link.startswith("/") and not link.link.startswith("//") else None
    return redirect(target or url_for("pages.notification_list"), code=303)


def transition_label(transition) -> str:
    return text(transition.label, language(), transition.name)
