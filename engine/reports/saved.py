"""Reports built and saved on the report builder's page (`tailor_saved_report`).

A saved report is a report document exactly as `reports/*.yaml` would state it, checked by
`check_report` (engine/reports/built.py) with the very same checks and codes, so the
builder refuses what the YAML checker refuses. The roles checked for hidden fields are the
roles it is shared with **and its owner's own**: nobody saves a report on a field hidden
from them, or from the people they share it with.

Who sees what (kept here, not in the pages):
* a saved report is visible to its owner, to holders of a role it is shared with, and to
  administrators; to anyone else it does not exist (`SavedReportNotFound`, a 404, so ids
  reveal nothing);
* only its owner and administrators edit or delete it (`PermissionDenied` for the others
  who see it);
* saving or deleting a shared report, and an administrator's change to another user's
  report, write an admin audit entry in the same transaction.

Running it (`report_for`, `run_saved`) checks the document again against the *current*
model: a field removed or hidden in the designer since it was saved gives
`SavedReportOutdated` with the checker's problems, not an error page. The returned Report
is what `engine.reports.run` takes, like a YAML report, named `saved_<id>`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from .. import admin_audit
from ..errors import Problem
from ..records import Context
from ..records.errors import PermissionDenied, RecordError
from ..storage import saved_reports, user_roles, users, write_engine
from .built import build_report, check_report
from .definition import Report

TITLE_MAX = 200
NAME_PREFIX = "saved_"


class SavedReportNotFound(RecordError):
    """No saved report of that id that this user may see (404)."""

    status = 404

    def __init__(self, saved_id: Any):
        self.saved_id = saved_id
        super().__init__(f"no saved report {saved_id}")


class SavedReportRefused(RecordError):
    """The document has problems (the checker's, as for YAML reports): nothing was saved."""

    status = 422

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems) or "the report was refused")


class SavedReportOutdated(SavedReportRefused):
    """A saved report the current model refuses (a field removed or hidden since it was saved)."""


@dataclass(frozen=True)
class SavedReport:
    id: int
    owner_id: int
    owner: str  # the owner's display name (or username)
    entity: str
    title: str
    roles: tuple[str, ...]
    document: Mapping[str, Any]
    form: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime

    @property
    def name(self) -> str:
        return f"{NAME_PREFIX}{self.id}"

    def editable_by(self, context: Context) -> bool:
        actor = context.actor
        return actor.system or actor.is_admin or actor.id == self.owner_id

    def visible_to(self, context: Context) -> bool:
        actor = context.actor
        return self.editable_by(context) or bool(set(actor.roles) & set(self.roles))


def _now() -> datetime:
    return datetime.now(UTC)


def _of(row: Mapping[str, Any]) -> SavedReport:
    return SavedReport(id=row["id"], owner_id=row["user_id"], owner=row["display_name"] or row["username"],
                       entity=row["entity"], title=row["title"], roles=tuple(row["roles"] or ()),
                       document=row["document"] or {}, form=row["form"] or {}, created_at=row["created_at"],
                       updated_at=row["updated_at"])


def _select() -> sa.Select:
    return (sa.select(saved_reports, users.c.username, users.c.display_name)
            .join(users, users.c.id == saved_reports.c.user_id))


def owner_roles(conn: Any, user_id: int | None) -> tuple[str, ...]:
    if user_id is None:
        return ()
    return tuple(sorted(conn.execute(sa.select(user_roles.c.role).where(user_roles.c.user_id == user_id)).scalars()))


def is_admin(conn: Any, user_id: int | None) -> bool:
    return user_id is not None and bool(conn.execute(sa.select(users.c.is_admin).where(users.c.id == user_id)).scalar())


# -- reading ------------------------------------------------------------------------------------
def list_saved(service: Any, context: Context, entity: str | None = None) -> list[SavedReport]:
    """The saved reports the user may see (their own, shared with a role they hold, all for
    administrators), by title."""
    query = _select().order_by(saved_reports.c.title, saved_reports.c.id)
    if entity is not None:
        query = query.where(saved_reports.c.entity == entity)
    actor = context.actor
    if not (actor.system or actor.is_admin):
        # own ones in SQL; shared ones are few (the roles are a JSON list): filtered here
        query = query.where(sa.or_(saved_reports.c.user_id == actor.id,
                                   sa.cast(saved_reports.c.roles, sa.String) != "[]"))
    with service.engine.connect() as conn:
        found = [_of(row) for row in conn.execute(query).mappings()]
    return [s for s in found if s.visible_to(context)]


def get_saved(service: Any, saved_id: Any, context: Context) -> SavedReport:
    """One saved report the user may see; SavedReportNotFound otherwise (unknown or not theirs)."""
    if not isinstance(saved_id, int) or isinstance(saved_id, bool) or not 0 < saved_id < 2**31:
        raise SavedReportNotFound(saved_id)
    with service.engine.connect() as conn:
        row = conn.execute(_select().where(saved_reports.c.id == saved_id)).mappings().first()
    if row is None:
        raise SavedReportNotFound(saved_id)
    saved = _of(row)
    if not saved.visible_to(context):
        raise SavedReportNotFound(saved_id)
    return saved


# -- checking -----------------------------------------------------------------------------------
def checked_document(document: Mapping[str, Any], roles: Sequence[str]) -> dict[str, Any]:
    """The document as the checker sees it: hidden fields checked for `roles` too."""
    checked = copy.deepcopy(dict(document))
    shared = checked.get("roles", [])
    if isinstance(shared, list) and roles:
        checked["roles"] = list(dict.fromkeys([*shared, *(r for r in roles if isinstance(r, str))]))
    return checked


def problems_of(service: Any, document: Mapping[str, Any], owner: Context) -> list[Problem]:
    """What check_report finds in the document, hidden fields checked for the roles it is
    shared with and the owner's own (an administrator sees every field: theirs add nothing)."""
    actor = owner.actor
    # a role the owner still holds but the model no longer defines cannot hide anything
    roles = () if (actor.system or actor.is_admin) else tuple(r for r in actor.roles if r in service.model.roles)
    return check_report(service.model, checked_document(document, roles))


def _document(document: Mapping[str, Any], name: str) -> dict[str, Any]:
    result = copy.deepcopy(dict(document))
    result["report"] = name
    return result


# -- writing ------------------------------------------------------------------------------------
def save(service: Any, context: Context, document: Mapping[str, Any], form: Mapping[str, Any] | None = None,
         saved_id: int | None = None, ip: str | None = None) -> SavedReport:
    """Save a new report (saved_id None, owned by the user) or change one the user may edit.
    Checked first (SavedReportRefused with every problem); its title is the document's label."""
    actor = context.actor
    if actor.id is None or actor.system:
        raise PermissionDenied("report", "save", "only a signed-in user saves reports")
    current = get_saved(service, saved_id, context) if saved_id is not None else None
    if current is not None and not current.editable_by(context):
        raise PermissionDenied(current.entity, "edit", "only its owner and administrators change a saved report")
    owner_id = current.owner_id if current is not None else actor.id
    with service.engine.connect() as conn:
        roles_of_owner = owner_roles(conn, owner_id)
        owner_is_admin = is_admin(conn, owner_id)
    if owner_id == actor.id:
        owner_ctx = context
    else:  # an administrator changing another user's report: still checked for its owner
        owner_ctx = Context(actor=replace(actor, id=owner_id, roles=roles_of_owner, is_admin=owner_is_admin))
    name = current.name if current is not None else f"{NAME_PREFIX}new"
    document = _document(document, name)
    problems = problems_of(service, document, owner_ctx)
    if problems:
        raise SavedReportRefused(problems)
    title = _title(document)
    roles = sorted(set(document.get("roles") or ()))
    now = _now()
    values = {"entity": document["entity"], "title": title, "roles": roles, "form": dict(form or {}),
              "updated_at": now}
    with write_engine(service.engine).begin() as conn:
        if current is None:
            new_id = conn.execute(saved_reports.insert().values(user_id=owner_id, document=document, created_at=now,
                                                                **values)).inserted_primary_key[0]
            document = _document(document, f"{NAME_PREFIX}{new_id}")
            conn.execute(saved_reports.update().where(saved_reports.c.id == new_id).values(document=document))
        else:
            new_id = current.id
            conn.execute(saved_reports.update().where(saved_reports.c.id == new_id).values(document=document, **values))
        shared_before = bool(current is not None and current.roles)
        if roles or shared_before or owner_id != actor.id:
            admin_audit.record(conn, admin_audit.REPORT_SAVE, owner_id, actor_id=actor.id, actor=actor.username, ip=ip,
                               details={"report": new_id, "title": title, "entity": document["entity"],
                                        "roles": roles, "new": current is None})
    return get_saved(service, new_id, context)


def delete(service: Any, context: Context, saved_id: int, ip: str | None = None) -> None:
    current = get_saved(service, saved_id, context)
    if not current.editable_by(context):
        raise PermissionDenied(current.entity, "delete", "only its owner and administrators delete a saved report")
    actor = context.actor
    with write_engine(service.engine).begin() as conn:
        conn.execute(saved_reports.delete().where(saved_reports.c.id == current.id))
        if current.roles or current.owner_id != actor.id:
            admin_audit.record(conn, admin_audit.REPORT_DELETE, current.owner_id, actor_id=actor.id,
                               actor=actor.username, ip=ip,
                               details={"report": current.id, "title": current.title, "entity": current.entity,
                                        "roles": list(current.roles)})


def _title(document: Mapping[str, Any]) -> str:
    label = document.get("label")
    if isinstance(label, Mapping):
        label = next((v for v in label.values() if isinstance(v, str) and v.strip()), None)
    if isinstance(label, str) and label.strip():
        return label.strip()[:TITLE_MAX]
    return str(document.get("report") or "report")


# -- running ------------------------------------------------------------------------------------
def report_of(service: Any, saved: SavedReport) -> Report:
    """The saved report compiled against the current model; SavedReportOutdated when the
    model now refuses it (a field removed, renamed or hidden from a role it is shared with)."""
    document = _document(saved.document, saved.name)
    problems = check_report(service.model, document)
    if problems:
        raise SavedReportOutdated(problems)
    return build_report(service.model, document)


def report_for(service: Any, saved_id: Any, context: Context) -> Report:
    """The Report of a saved id, for `engine.reports.run(service, report, context, ...)`:
    SavedReportNotFound unless the user may see it, SavedReportOutdated when the current
    model refuses it. Its roles are cleared: who may see it was decided here; the run still
    refuses a viewer from whom a field it uses is hidden, and counts within their row scope."""
    saved = get_saved(service, saved_id, context)
    return replace(report_of(service, saved), roles=frozenset())


def run_saved(service: Any, saved_id: Any, context: Context, period: Any = None, extra_filter: Any = None) -> Any:
    from .compute import run

    return run(service, report_for(service, saved_id, context), context, period, extra_filter)


__all__ = ["SavedReport", "SavedReportNotFound", "SavedReportOutdated", "SavedReportRefused", "delete", "get_saved",
           "list_saved", "problems_of", "report_for", "report_of", "run_saved", "save"]
