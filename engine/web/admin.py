"""Admin pages for the organisation: users (department, manager, roles, teams, head of
department, active, admin) and departments (a tree). Only admins (`is_admin`) reach them;
everything else about permissions is in roles.yaml.

    GET       /admin/users               every user, with their place, status and last sign-in
    GET/POST  /admin/users/new           a new user, with a password or a one-time invitation link
    GET/POST  /admin/users/<id>          one user's department, manager, roles, teams…, sessions
                                         and sign-in history
    POST      /admin/users/<id>/reset-password   a one-time link (mailed); the old password and sessions end
    POST      /admin/users/<id>/resend-invite    a new invitation link (mailed), the old one stops working
    POST      /admin/users/<id>/deactivate, /activate, /sign-out, /unlock
    GET       /admin/audit               what admins did to users (engine/admin_audit.py), newest first
    GET/POST  /admin/departments         the tree; add, rename or move a department

Every action on a user is written to the admin audit log in the transaction that makes it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, current_app, g, redirect, render_template, request, url_for
from sqlalchemy.exc import IntegrityError

from .. import admin_audit, invitations, sessions
from ..permissions import org
from ..permissions.org import department_names
from ..storage import (
    department_heads,
    departments,
    sign_in_events,
    sign_in_failures,
    team_members,
    teams,
    user_links,
    user_roles,
    users,
    write_engine,
)
from ..users import USERNAME_RE, UserError, create_user, set_active, user_email
from .account import password_problem
from .auth import WINDOW, session_timeouts
from .i18n import gettext as _
from .ids import id_or_none
from .state import WebState

bp = Blueprint("admin", __name__, url_prefix="/admin")
MAX_NAME = 120


@bp.before_request
def admins_only() -> None:
    user = g.get("user")
    if user is None or not user.get("is_admin"):
        abort(403, description=_("Only administrators can manage the organisation."))


def engine():
    return WebState.of().engine


def audit(conn, action: str, user_id: int, **details: Any) -> None:
    """Record what the signed-in admin did to the user, from which address."""
    admin_audit.record(conn, action, user_id, actor_id=g.user["id"], actor=g.user["username"],
                       ip=request.remote_addr, details=details)


@bp.get("/users")
def user_list():
    with engine().connect() as conn:
        people = conn.execute(sa.select(users).order_by(users.c.username)).mappings().all()
        roles: dict[int, list[str]] = {}
        for user_id, role in conn.execute(sa.select(user_roles.c.user_id, user_roles.c.role)):
            roles.setdefault(user_id, []).append(role)
        names = department_names(conn)
        last = sessions.last_sign_ins(conn)
    by_id = {p["id"]: p["display_name"] or p["username"] for p in people}
    return render_template("admin_users.html", people=people, roles=roles, departments=names, by_id=by_id,
                           last=last)


@bp.route("/users/<id(bits=32):user_id>", methods=["GET", "POST"])
def user_edit(user_id: int):
    model = WebState.of().model
    with engine().connect() as conn:
        person = conn.execute(sa.select(users).where(users.c.id == user_id)).mappings().first()
        if person is None:
            abort(404)
        names = department_names(conn)
        everyone = conn.execute(sa.select(users.c.id, users.c.username, users.c.display_name)
                                .where(users.c.id != user_id).order_by(users.c.username)).all()
        held = {r for (r,) in conn.execute(sa.select(user_roles.c.role).where(user_roles.c.user_id == user_id))}
        team_names = [t for (t,) in conn.execute(sa.select(teams.c.name).join(team_members)
                                                 .where(team_members.c.user_id == user_id).order_by(teams.c.name))]
        heads = {d for (d,) in conn.execute(sa.select(department_heads.c.department_id)
                                            .where(department_heads.c.user_id == user_id))}
    errors: list[str] = []
    values: dict[str, Any] = {}
    if request.method == "POST":
        form = request.form
        unknown = set(form) - {"csrf_token", "display_name", "department_id", "manager_id", "roles", "teams",
                               "head", "is_active", "is_admin"}
        if unknown:
            abort(400, description=_("Unknown fields: %(names)s", names=", ".join(sorted(unknown)[:10])))
        values = _user_values(form, names, {u.id for u in everyone}, errors)
        wanted_roles = form.getlist("roles")
        if not set(wanted_roles) <= set(model.roles):
            errors.append(_("Unknown role."))
        if user_id == g.user["id"] and not values.get("is_admin", True):
            errors.append(_("You cannot take away your own administrator rights."))
        if user_id == g.user["id"] and not values.get("is_active", True):
            errors.append(_("You cannot deactivate yourself."))
        if not errors:
            before = {"display_name": person["display_name"], "department": names.get(person["department_id"]),
                      "manager": _username(everyone, person["manager_id"]), "is_active": bool(person["is_active"]),
                      "is_admin": bool(person["is_admin"]), "roles": sorted(held), "teams": sorted(team_names),
                      "head": person["department_id"] in heads}
            teams_wanted = sorted({t.strip() for t in form.get("teams", "").replace("；", ";").split(";") if t.strip()})
            after = {"display_name": values["display_name"], "department": names.get(values["department_id"]),
                     "manager": _username(everyone, values["manager_id"]), "is_active": values["is_active"],
                     "is_admin": values["is_admin"], "roles": sorted(set(wanted_roles)), "teams": teams_wanted,
                     "head": bool(form.get("head") and values.get("department_id"))}
            changed = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
            try:
                with write_engine(engine()).begin() as conn:
                    conn.execute(users.update().where(users.c.id == user_id).values(**values))
                    if person["is_active"] and not values["is_active"]:
                        set_active(conn, user_id, False)  # ends their sessions
                    org.set_roles(conn, user_id, wanted_roles, model.roles)
                    org.set_teams(conn, user_id, form.get("teams", "").replace("；", ";").split(";"))
                    conn.execute(department_heads.delete().where(department_heads.c.user_id == user_id))
                    if form.get("head") and values.get("department_id"):
                        conn.execute(department_heads.insert().values(department_id=values["department_id"],
                                                                      user_id=user_id))
                    if org.in_manager_loop(conn, user_id):
                        raise org.OrgError(_("Managers would form a loop."))
                    if changed:
                        audit(conn, admin_audit.UPDATE, user_id, **changed)
            except org.OrgError as exc:
                errors.append(str(exc))
            else:
                return redirect(url_for("admin.user_list"), code=303)
        person = {**person, **values}
        held, team_names = set(wanted_roles), [form.get("teams", "")]
        heads = {values.get("department_id")} if form.get("head") else set()
    status = 422 if errors else 200
    return render_template("admin_user.html", person=person, departments=names, everyone=everyone,
                           roles=model.roles, held=held, teams=";".join(team_names), heads=heads,
                           errors=errors, **_account_of(person)), status


def _username(everyone, user_id: int | None) -> str | None:
    return next((u.username for u in everyone if u.id == user_id), None)


def _account_of(person) -> dict[str, Any]:
    """What the user page shows about signing in: live sessions, history, throttling, the
    latest invitation, and what admins did to the user."""
    with engine().connect() as conn:
        live = sessions.live_sessions(conn, person["id"], session_timeouts())
        history = sessions.sign_in_history(conn, person["id"])
        actions = admin_audit.of_user(conn, person["id"])
        invitation = conn.execute(sa.select(user_links.c.created_at, user_links.c.expires_at, user_links.c.used_at)
                                  .where(user_links.c.user_id == person["id"],
                                         user_links.c.purpose == invitations.INVITE)
                                  .order_by(user_links.c.id.desc()).limit(1)).mappings().first()
        failures = conn.execute(sa.select(sa.func.count()).select_from(sign_in_failures).where(
            sign_in_failures.c.key == _failure_key(person["username"]),
            sign_in_failures.c.at > datetime.now(UTC) - WINDOW)).scalar()
    for row in [*live, *history]:
        for key in ("at", "last_seen_at", "created_at"):
            if key in row:
                row[key] = sessions.aware(row[key])
    if invitation is not None:
        invitation = {k: sessions.aware(v) for k, v in invitation.items()}
        invitation["expired"] = invitation["used_at"] is None and invitation["expires_at"] <= datetime.now(UTC)
    return {"live": live, "history": history, "failures": failures, "actions": actions, "invitation": invitation,
            "action_names": action_names()}


def action_names() -> dict[str, str]:
    return {
        admin_audit.CREATE: _("Created with a password"),
        admin_audit.INVITE: _("Invited"),
        admin_audit.RESEND_INVITE: _("Invitation sent again"),
        admin_audit.RESET_PASSWORD: _("Password reset"),
        admin_audit.SET_PASSWORD: _("Password set"),
        admin_audit.UPDATE: _("Changed"),
        admin_audit.DEACTIVATE: _("Deactivated"),
        admin_audit.ACTIVATE: _("Reactivated"),
        admin_audit.UNLOCK: _("Unlocked"),
        admin_audit.SIGN_OUT: _("Signed out everywhere"),
        admin_audit.RESET_TWO_FACTOR: _("Two-factor sign-in reset"),
        admin_audit.IMPORT_CREATE: _("Created by a staff list import"),
        admin_audit.IMPORT_UPDATE: _("Changed by a staff list import"),
        admin_audit.DESIGN_APPLY: _("Model changed in the designer"),
        admin_audit.DESIGN_REVERT: _("Designer change reverted"),
        admin_audit.DESIGN_DROP_COLUMN: _("Hidden field's column dropped"),
        admin_audit.DESIGN_CLEAR: _("Designer layer cleared"),
        admin_audit.REPORT_SAVE: _("Saved report saved"),
        admin_audit.REPORT_DELETE: _("Saved report deleted"),
    }


def _failure_key(username: str) -> str:
    return f"user:{username.lower()}"  # as auth.sign_in counts them


def _person(conn, user_id: int):
    person = conn.execute(sa.select(users).where(users.c.id == user_id)).mappings().first()
    if person is None:
        abort(404)
    return person


def link_url(token: str) -> str:
    """The one-time link, on TAILOR_BASE_URL when set (the address users reach Tailor at)."""
    base = current_app.config["TAILOR_SETTINGS"].extra.get("base_url", "")
    if base:
        return base.rstrip("/") + url_for("account.set_password_page", token=token)
    return url_for("account.set_password_page", token=token, _external=True)


def _show_link(person, link: str, purpose: str, mail: str | None = None):
    """The one-time link, shown once; `mail`: what became of its e-mail (invitations)."""
    response = render_template("admin_link.html", person=person, link=link, purpose=purpose, mail=mail,
                               hours=int(invitations.LIFETIME[purpose].total_seconds() // 3600))
    return response, 200, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    model = WebState.of().model
    with engine().connect() as conn:
        names = department_names(conn)
    errors: list[str] = []
    form = request.form
    values: dict[str, Any] = {"language": model.languages[0], "mode": "invite"}
    if request.method == "POST":
        unknown = set(form) - {"csrf_token", "username", "display_name", "email", "language", "department_id",
                               "roles", "is_admin", "mode", "password", "confirm"}
        if unknown:
            abort(400, description=_("Unknown fields: %(names)s", names=", ".join(sorted(unknown)[:10])))
        values = {key: form.get(key, "").strip() for key in ("username", "display_name", "email", "language",
                                                             "department_id", "mode")}
        values["roles"] = form.getlist("roles")
        values["is_admin"] = form.get("is_admin") == "1"
        if not USERNAME_RE.match(values["username"]):
            errors.append(_("A username is 2 to 80 letters, digits, '.', '_' or '-', starting with a letter or digit."))
        display = values["display_name"] or values["username"]
        if len(display) > MAX_NAME or "\x00" in display:
            errors.append(_("A name is 1 to %(n)s characters.", n=MAX_NAME))
        email = values["email"]
        if email:
            try:
                values["email"] = user_email(email)
            except UserError:
                errors.append(_("That is not an e-mail address."))
        if values["language"] not in model.languages:
            errors.append(_("Choose from the list."))
        department = values["department_id"]
        if department and id_or_none(department, bits=32) not in names:
            errors.append(_("Choose from the list."))
        if not set(values["roles"]) <= set(model.roles):
            errors.append(_("Unknown role."))
        if values["mode"] not in ("invite", "password"):
            errors.append(_("Choose from the list."))
        elif values["mode"] == "password":
            problem = password_problem(form.get("password", ""), form.get("confirm", ""))
            if problem:
                errors.append(problem)
        if not errors:
            try:
                user_id, link, mail = _create(values, display, email, department, model.roles)
            except (UserError, IntegrityError):  # taken meanwhile
                errors.append(_("There is already a user with that username."))
            else:
                if link is None:
                    return redirect(url_for("admin.user_edit", user_id=user_id), code=303)
                with engine().connect() as conn:
                    return _show_link(_person(conn, user_id), link, invitations.INVITE, mail)
    return render_template("admin_user_new.html", values=values, departments=names, roles=model.roles,
                           languages=model.languages, errors=errors), 422 if errors else 200


def _create(values: dict[str, Any], display: str, email: str, department: str,
            known_roles) -> tuple[int, str | None, str | None]:
    """The new user, their roles and department; with "invite", their invitation link and
    what became of its e-mail (invitations.QUEUED, NO_SMTP, NO_EMAIL)."""
    with write_engine(engine()).begin() as conn:
        if conn.execute(sa.select(users.c.id).where(users.c.username == values["username"])).first():
            raise UserError(values["username"])
        user_id = create_user(conn, values["username"], request.form["password"] if values["mode"] == "password"
                              else None, display_name=display, email=email or None, is_admin=values["is_admin"],
                              language=values["language"])
        if department:
            conn.execute(users.update().where(users.c.id == user_id).values(department_id=id_or_none(department, bits=32)))
        org.set_roles(conn, user_id, values["roles"], known_roles)
        details = {"roles": sorted(values["roles"]), "is_admin": values["is_admin"],
                   "department": department_names(conn).get(int(department)) if department else None}
        if values["mode"] != "invite":
            audit(conn, admin_audit.CREATE, user_id, **details)
            return user_id, None, None
        link, mail = _invite(conn, user_id)
        audit(conn, admin_audit.INVITE, user_id, email=mail, **details)
    return user_id, link, mail


def _invite(conn, user_id: int) -> tuple[str, str]:
    """A new invitation link for the user (older ones stop working), its e-mail queued."""
    token = invitations.issue(conn, user_id, invitations.INVITE, g.user["id"])
    link = link_url(token)
    return link, invitations.queue_mail(conn, token, link, g.user.get("display_name") or g.user["username"])


@bp.post("/users/<id(bits=32):user_id>/reset-password")
def user_reset_password(user_id: int):
    with write_engine(engine()).begin() as conn:
        person = _person(conn, user_id)
        token = invitations.reset_password(conn, user_id, g.user["id"])
        link = link_url(token)
        mail = invitations.queue_mail(conn, token, link, g.user.get("display_name") or g.user["username"])
        audit(conn, admin_audit.RESET_PASSWORD, user_id, email=mail)
    return _show_link(person, link, invitations.RESET, mail)


@bp.post("/users/<id(bits=32):user_id>/resend-invite")
def user_resend_invite(user_id: int):
    """A new invitation (mailed when mail is set up) for a user who has not chosen a
    password yet; the earlier link stops working."""
    with write_engine(engine()).begin() as conn:
        person = _person(conn, user_id)
        if person["password_hash"]:
            abort(400, description=_("%(name)s has already chosen a password: use Reset password instead.",
                                     name=person["display_name"] or person["username"]))
        if not person["is_active"]:
            abort(400, description=_("%(name)s is deactivated: reactivate them first.",
                                     name=person["display_name"] or person["username"]))
        link, mail = _invite(conn, user_id)
        audit(conn, admin_audit.RESEND_INVITE, user_id, email=mail)
    return _show_link(person, link, invitations.INVITE, mail)


@bp.post("/users/<id(bits=32):user_id>/deactivate")
def user_deactivate(user_id: int):
    if user_id == g.user["id"]:
        abort(400, description=_("You cannot deactivate yourself."))
    with write_engine(engine()).begin() as conn:
        _person(conn, user_id)
        set_active(conn, user_id, False)
        audit(conn, admin_audit.DEACTIVATE, user_id)
    return redirect(url_for("admin.user_edit", user_id=user_id), code=303)


@bp.post("/users/<id(bits=32):user_id>/activate")
def user_activate(user_id: int):
    with write_engine(engine()).begin() as conn:
        _person(conn, user_id)
        set_active(conn, user_id, True)
        audit(conn, admin_audit.ACTIVATE, user_id)
    return redirect(url_for("admin.user_edit", user_id=user_id), code=303)


@bp.post("/users/<id(bits=32):user_id>/sign-out")
def user_sign_out(user_id: int):
    """Sign out everywhere (the admin's own current session too, if it is theirs)."""
    with write_engine(engine()).begin() as conn:
        _person(conn, user_id)
        ended = sessions.revoke_all(conn, user_id)
        audit(conn, admin_audit.SIGN_OUT, user_id, sessions=ended)
    return redirect(url_for("admin.user_edit", user_id=user_id), code=303)


@bp.post("/users/<id(bits=32):user_id>/unlock")
def user_unlock(user_id: int):
    """Clear the user's failed sign-ins, and those of the addresses they recently failed
    from, so they need not wait out the slow-down."""
    since = datetime.now(UTC) - WINDOW
    with write_engine(engine()).begin() as conn:
        person = _person(conn, user_id)
        addresses = {ip for (ip,) in conn.execute(
            sa.select(sign_in_events.c.ip).distinct().where(
                sign_in_events.c.user_id == user_id, sign_in_events.c.ip.is_not(None), sign_in_events.c.at > since,
                sign_in_events.c.outcome.in_((sessions.FAILURE, sessions.THROTTLED))))}
        keys = [_failure_key(person["username"]), *(f"addr:{ip}" for ip in sorted(addresses))]
        cleared = conn.execute(sign_in_failures.delete().where(sign_in_failures.c.key.in_(keys))).rowcount
        audit(conn, admin_audit.UNLOCK, user_id, failures=cleared, addresses=sorted(addresses))
    return redirect(url_for("admin.user_edit", user_id=user_id), code=303)


def _user_values(form, names: dict[int, str], others: set[int], errors: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {"is_active": form.get("is_active") == "1", "is_admin": form.get("is_admin") == "1"}
    display = form.get("display_name", "").strip()
    if not display or len(display) > MAX_NAME or "\x00" in display:
        errors.append(_("A name is 1 to %(n)s characters.", n=MAX_NAME))
    values["display_name"] = display[:MAX_NAME]
    for key, allowed in (("department_id", set(names)), ("manager_id", others)):
        raw = form.get(key, "")
        if raw == "":
            values[key] = None
        elif id_or_none(raw, 32) in allowed:
            values[key] = id_or_none(raw, 32)
        else:
            errors.append(_("Choose from the list."))
    return values


@bp.get("/audit")
def audit_list():
    """Every admin action on users, newest first, a page at a time."""
    page = id_or_none(request.args.get("page", "1"), bits=32)  # ASCII digits only ('²' is a digit to str.isdigit)
    if page is None or page > 100_000:
        abort(400, description=_("A page is a number from 1."))
    with engine().connect() as conn:
        entries, total = admin_audit.recent(conn, page)
    pages = max(1, -(-total // admin_audit.PAGE))
    if page > pages:
        abort(404)
    return render_template("admin_audit.html", entries=entries, page=page, pages=pages, total=total,
                           action_names=action_names())


@bp.route("/departments", methods=["GET", "POST"])
def department_list():
    errors: list[str] = []
    if request.method == "POST":
        form = request.form
        name = form.get("name", "").strip()
        parent = form.get("parent_id", "")
        target = form.get("id", "")
        parent_id, target_id = id_or_none(parent, 32), id_or_none(target, 32)
        with engine().connect() as conn:
            names = department_names(conn)
        if not name or len(name) > MAX_NAME or "/" in name or "\x00" in name:
            errors.append(_("A department name is 1 to %(n)s characters, without '/'.", n=MAX_NAME))
        if parent and parent_id not in names:
            errors.append(_("Choose from the list."))
        if target and target_id not in names:
            abort(404)
        if target_id is not None and parent_id is not None:
            with engine().connect() as conn:
                if parent_id in org.descendants(org.department_tree(conn), target_id):
                    errors.append(_("A department cannot be moved below itself."))
        if not errors:
            with engine().connect() as conn:  # NULL parents are never equal in a UNIQUE index: ask
                same = conn.execute(sa.select(departments.c.id).where(
                    departments.c.name == name, departments.c.id != (target_id or -1),
                    departments.c.parent_id.is_(None) if parent_id is None else departments.c.parent_id == parent_id,
                )).first()
            if same is not None:
                errors.append(_("There is already a department of that name there."))
        if not errors:
            try:
                with write_engine(engine()).begin() as conn:
                    if target_id is not None:
                        conn.execute(departments.update().where(departments.c.id == target_id)
                                     .values(name=name, parent_id=parent_id))
                    else:
                        conn.execute(departments.insert().values(name=name, parent_id=parent_id))
            except IntegrityError:
                errors.append(_("There is already a department of that name there."))
            else:
                return redirect(url_for("admin.department_list"), code=303)
    with engine().connect() as conn:
        names = department_names(conn)
        parents = {r.id: r.parent_id for r in conn.execute(sa.select(departments))}
        counts = dict(conn.execute(sa.select(users.c.department_id, sa.func.count()).group_by(users.c.department_id))
                      .all())
        head_rows = conn.execute(sa.select(department_heads.c.department_id, users.c.display_name, users.c.username)
                                 .join(users, users.c.id == department_heads.c.user_id)).all()
    heads: dict[int, list[str]] = {}
    for row in head_rows:
        heads.setdefault(row.department_id, []).append(row.display_name or row.username)
    return render_template("admin_departments.html", departments=names, parents=parents, counts=counts,
                           heads=heads, errors=errors), 422 if errors else 200


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
