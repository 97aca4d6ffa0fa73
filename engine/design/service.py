"""preview / apply / revert / drop_column / clear: the designer's changes, all or nothing.

See the package docstring for the rule. Every function takes the project folder and the
database engine, as the CLI commands do; `user` is an `engine.records.Actor` (or the
web's user mapping with id, username, is_admin and roles).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .. import admin_audit
from ..errors import Position, Problem, ProjectError
from ..model import CompiledModel, load_model
from ..storage import design_changes, metadata_version

NEW = "new"  # the change id in positions while a change set is previewed


# -- results and errors -------------------------------------------------------------------
@dataclass(frozen=True)
class DesignChange:
    """One stored change set (a row of tailor_design_change)."""

    id: int
    author: str
    author_id: int | None
    created_at: datetime
    comment: str
    ops: list[dict[str, Any]]
    base_version: str
    version: str
    reverted_at: datetime | None = None
    reverted_by: str | None = None
    reverts: int | None = None
    cleared_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Part of the designer layer now (not reverted, not cleared, not itself a revert)."""
        return self.reverted_at is None and self.cleared_at is None and self.reverts is None


class DesignError(Exception):
    """A designer request refused; `text` holds the message per language (en, zh)."""

    def __init__(self, en: str, zh: str | None = None):
        super().__init__(en)
        self.text = {"en": en, "zh": zh or en}

    def message(self, language: str = "en") -> str:
        return self.text.get(language) or self.text["en"]


class DesignDenied(DesignError):
    """The user may not design (the web answers 404)."""


class DesignConflict(DesignError):
    """The metadata version is not the one the change was made on: another admin (or a
    `tailor migrate`) changed the model first. Nothing was changed."""

    def __init__(self, expected: str | None, current: str | None):
        super().__init__(
            f"the model changed since you opened it (version {expected or 'none'}, now {current or 'none'}); "
            "nothing was changed — reload, review and apply again",
            f"模型在您打开之后已被修改（版本 {expected or '无'}，现为 {current or '无'}）；未做任何更改——请刷新、核对后重新应用")
        self.expected = expected
        self.current = current


class DesignRefused(DesignError):
    """Bad input, or a change the database cannot take: nothing was changed. `problems`
    are the checker's (the same codes as `tailor check`); `reason` explains the rest."""

    def __init__(self, problems: Sequence[Problem] = (), reason: str | None = None, reason_zh: str | None = None):
        en = reason or "; ".join(str(p) for p in problems) or "refused"
        super().__init__(f"{en}; nothing was changed", f"{reason_zh or en}；未做任何更改")
        self.problems = list(problems)
        self.reason = reason


@dataclass
class Preview:
    """What applying `ops` would do; nothing is changed by making one."""

    problems: list[Problem] = field(default_factory=list)
    plan: Any = None  # engine.migrate.MigrationPlan
    sql: list[str] = field(default_factory=list)
    destructive: bool = False
    rows_affected: dict[str, int] = field(default_factory=dict)  # table -> rows it holds (a RowCount: .estimated, .label(lang))
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)  # entity -> {"form": ..., "list": ...} as they become
    model: CompiledModel | None = None
    base_version: str | None = None  # the database's metadata version now
    stale: bool = False  # `version` given and not the database's any more
    refused: str | None = None  # why the plan cannot be applied (destructive, blocked)
    diff: Any = None  # engine.diff.Diff: the change impact, as `tailor diff` shows it (render(diff, "zh"))

    @property
    def ok(self) -> bool:
        return not self.problems and self.model is not None and not self.destructive and not self.stale \
            and self.refused is None


# -- who may design -----------------------------------------------------------------------
def _who(user: Any) -> tuple[int | None, str, bool, tuple[str, ...]]:
    if user is None:
        return None, admin_audit.CLI, True, ()
    if isinstance(user, Mapping):
        return (user.get("id"), str(user.get("username") or admin_audit.CLI), bool(user.get("is_admin")),
                tuple(user.get("roles") or ()))
    return (getattr(user, "id", None), str(getattr(user, "username", admin_audit.CLI)),
            bool(getattr(user, "is_admin", False)), tuple(getattr(user, "roles", ()) or ()))


def can_design(user: Any, model: CompiledModel) -> bool:
    """Admins, and users holding a role granted the `design` action in roles.yaml."""
    if user is None:
        return False
    _, _, is_admin, roles = _who(user)
    if is_admin:
        return True
    return any("design" in getattr(model.roles.get(r), "grants", ()) for r in roles)


def _require(user: Any, model: CompiledModel | None | Callable[[], CompiledModel | None]) -> None:
    """Admins always (also when the model does not compile: they must be able to revert);
    others need a role granted `design` in the model (a callable: compiled only for them)."""
    if user is None or _who(user)[2]:
        return  # the command line, an admin
    if callable(model):
        model = model()
    if model is None or not can_design(user, model):
        raise DesignDenied("you may not change the model", "您无权修改模型")


def _require_admin_for_roles(user: Any, ops: Sequence[Mapping[str, Any]]) -> None:
    """Roles and their permissions are changed by administrators only: a role granted
    `design` could otherwise widen its own access (or grant `design` to others)."""
    if user is None or _who(user)[2]:
        return
    if any(str(op.get("path", "")).split(".", 1)[0] == "roles" for op in ops if isinstance(op, Mapping)):
        raise DesignDenied("only administrators change roles and field permissions",
                           "只有管理员可以修改角色和字段权限")


# -- storage ------------------------------------------------------------------------------
def _has_table(conn: Connection) -> bool:
    return sa.inspect(conn).has_table(design_changes.name)


def _row(row: Any) -> DesignChange:
    values = dict(row._mapping)
    for key in ("created_at", "reverted_at", "cleared_at"):
        if values[key] is not None and values[key].tzinfo is None:
            values[key] = values[key].replace(tzinfo=UTC)
    values["ops"] = list(values["ops"] or [])
    return DesignChange(**values)


def _changes(conn: Connection) -> list[DesignChange]:
    if not _has_table(conn):
        return []
    return [_row(r) for r in conn.execute(sa.select(design_changes).order_by(design_changes.c.id))]


def list_changes(engine: Engine) -> list[DesignChange]:
    """Every change set, oldest first (reverted, cleared and revert entries included)."""
    with engine.connect() as conn:
        return _changes(conn)


def active_changes(bind: Engine | Connection) -> list[DesignChange]:
    """The change sets the designer layer is made of, oldest first."""
    if isinstance(bind, Connection):
        return [c for c in _changes(bind) if c.active]
    with bind.connect() as conn:
        return [c for c in _changes(conn) if c.active]


_LATEST = sa.select(metadata_version.c.version).order_by(metadata_version.c.id.desc()).limit(1)


def latest_version(bind: Engine | Connection, *, quiet: bool = True) -> str | None:
    """The database's metadata version: the newest row of tailor_metadata (one SELECT).
    None when there is none; also when the database cannot be read, unless not `quiet`."""
    query = _LATEST  # built once: every web request used to build and key it again
    if isinstance(bind, Connection):
        return bind.execute(query).scalar()
    try:
        with bind.connect() as conn:
            return conn.execute(query).scalar()
    except sa.exc.DBAPIError:
        if not quiet:
            raise
        return None


_RECORDED = itertools.count(1)
_recorded = 0


def recorded_here() -> int:
    """How many new metadata versions this process has committed (designer apply, revert,
    drop, clear; `tailor migrate`): a web worker that checks the database's version at most
    once a second (design/live.py) checks at once after a change made in its own process."""
    return _recorded


def note_recorded() -> None:
    """Call after the transaction that recorded a version committed (see `recorded_here`)."""
    global _recorded
    _recorded = next(_RECORDED)


def record_version(conn: Connection, model: CompiledModel) -> None:
    """Make `model.version` the database's newest metadata version (a version seen before,
    e.g. after a revert, moves to the top so every worker switches to it)."""
    current = conn.execute(sa.select(metadata_version.c.version)
                           .order_by(metadata_version.c.id.desc()).limit(1)).scalar()
    if current == model.version:
        return
    conn.execute(metadata_version.delete().where(metadata_version.c.version == model.version))
    conn.execute(metadata_version.insert().values(version=model.version, project=model.project,
                                                  applied_at=datetime.now(UTC), spec=dict(model.spec)))


# -- compiling ----------------------------------------------------------------------------
def _compile(project: str | Path, change_sets: Sequence[Any]) -> CompiledModel:
    """YAML + these change sets; DesignRefused with the checker's problems."""
    try:
        return load_model(project, designer=list(change_sets))
    except ProjectError as exc:
        raise DesignRefused(exc.problems) from None


def _current(project: str | Path, changes: Sequence[Any]) -> CompiledModel | None:
    """The model now, or None when it does not compile (a conflict after an upgrade)."""
    try:
        return load_model(project, designer=list(changes) or None)
    except ProjectError:
        return None


def load_project_model(project: str | Path, engine: Engine) -> CompiledModel:
    """YAML layers + the active designer change sets from the database (ProjectError with
    every problem — a change that conflicts with an upgraded base is E606)."""
    try:
        changes = active_changes(engine)
    except sa.exc.DBAPIError:
        changes = []
    return load_model(project, designer=changes or None)


def _check_ops(ops: Any) -> list[dict[str, Any]]:
    if not isinstance(ops, list) or not ops or not all(isinstance(op, Mapping) for op in ops):
        raise DesignRefused([Problem("E607", "a change set is a non-empty list of ops",
                                     Position(f"designer:change-{NEW}"))])
    return [dict(op) for op in ops]


def _forms(before: CompiledModel | None, after: CompiledModel) -> dict[str, dict[str, Any]]:
    """Entities whose form or list the change alters, with the form and list they get."""
    old = before.spec.get("entities", {}) if before is not None else {}
    found = {}
    for name, spec in after.spec.get("entities", {}).items():
        was = old.get(name) or {}
        fields, fields_before = spec.get("fields") or {}, was.get("fields") or {}
        fields_added = set(fields) - set(fields_before)
        renamed = {n: fields[n].get("renamed_from") for n in fields_added if isinstance(fields[n], Mapping)
                   and fields[n].get("renamed_from") in fields_before and fields[n].get("renamed_from") not in fields}
        if spec.get("form") != was.get("form") or spec.get("list") != was.get("list") or fields_added:
            found[name] = {"form": spec.get("form"), "list": spec.get("list"),
                           "new_fields": sorted(fields_added - set(renamed)),
                           "renamed_fields": sorted([old_name, new] for new, old_name in renamed.items())}
    return found


def _rows(engine: Engine, plan: Any) -> dict[str, int]:
    """Rows per table the plan touches: counted on small tables, the database's estimate
    on huge ones (a RowCount with `.estimated`; `.label(language)` says "about N
    (estimated)"), so a preview never reads a million rows to count them."""
    from ..migrate.rowcount import count_rows

    tables = sorted({op.table for op in plan.applying_operations if op.table})
    found: dict[str, int] = {}
    with engine.connect() as conn:
        live = set(sa.inspect(conn).get_table_names())
        for table in tables:
            if table in live:
                found[table] = count_rows(conn, table)
    return found


def _statements(sql: str) -> list[str]:
    """The DDL of `plan.sql()` one statement a piece, each with the comment saying why;
    the transaction's BEGIN/COMMIT and the header are left out."""
    found = []
    for chunk in sql.split(";\n"):
        lines = [line for line in chunk.strip().splitlines() if line.strip()]
        body = [line for line in lines if not line.startswith("--")]
        if not body or body == ["BEGIN"] or body == ["COMMIT"] or body[-1] == "COMMIT":
            continue
        found.append("\n".join(line for line in lines if not line.startswith("-- Tailor migration")) + ";")
    return found


def preview(project: str | Path, engine: Engine, ops: Any, *, user: Any, version: str | None = None) -> Preview:
    """What applying `ops` would do: the checker's problems, the migration plan and its
    SQL, whether anything is destructive, rows per table touched, the forms and lists it
    changes, and the new model. Changes nothing."""
    from ..migrate import plan_migration

    changes = active_changes(engine)
    current_model = _current(project, changes)
    _require(user, current_model)
    _require_admin_for_roles(user, ops if isinstance(ops, list) else [])
    result = Preview(base_version=latest_version(engine))
    result.stale = version is not None and version != result.base_version
    try:
        ops = _check_ops(ops)
        author = _who(user)[1]
        model = _compile(project, [*changes, (NEW, ops, author)])
    except DesignRefused as exc:
        result.problems = exc.problems
        return result
    result.model = model
    plan = plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version)
    result.plan = plan
    result.sql = _statements(plan.sql(engine))
    result.destructive = bool(plan.destructive_operations)
    if plan.destructive_operations:
        result.refused = plan.render()
    result.rows_affected = _rows(engine, plan)
    result.forms = _forms(current_model, model)
    if current_model is not None:
        from ..diff import diff_models

        result.diff = diff_models(current_model, model, plan=plan)
    return result


# -- applying -----------------------------------------------------------------------------
def _migrate(conn: Connection, model: CompiledModel, *, drop_only: frozenset[str] | None = None) -> None:
    """Plan against the database as it is now (under the lock) and apply, in the caller's
    transaction; refuses anything destructive except the drops named."""
    from ..migrate.apply import apply_in
    from ..migrate.execute import OperationFailed
    from ..migrate.planner import build_plan

    plan = build_plan(conn, model.metadata, model.project, model.version,
                      allow_destructive=drop_only is not None, drop_only=drop_only)
    unexpected = [op for op in plan.destructive_operations
                  if drop_only is None or op.blocked or f"{op.table}.{op.column}" not in drop_only]
    if unexpected:
        raise DesignRefused(reason="the change would destroy data:\n" + plan.render(),
                            reason_zh="此更改会销毁数据：\n" + plan.render())
    try:
        apply_in(conn, plan, allow_destructive=drop_only is not None)
    except OperationFailed as exc:
        raise DesignRefused(reason=f"the database refused the migration: {exc}",
                            reason_zh=f"数据库拒绝了迁移：{exc}") from exc


def _begin_checked(conn: Connection, expected_version: str | None, active_ids: list[int]) -> str | None:
    from ..migrate.system import system_tables_current, upgrade_system_tables

    if not system_tables_current(conn):
        upgrade_system_tables(conn)
    current = latest_version(conn)
    if current != expected_version or [c.id for c in active_changes(conn)] != active_ids:
        raise DesignConflict(expected_version, current)
    return current


def _store(conn: Connection, *, user: Any, ops: list[dict[str, Any]], comment: str, base: str | None,
           model: CompiledModel, reverts: int | None = None, now: datetime) -> DesignChange:
    author_id, author, _, _ = _who(user)
    result = conn.execute(design_changes.insert().values(
        author_id=author_id, author=author[:80], created_at=now, comment=comment or "", ops=ops,
        base_version=base or "", version=model.version, reverts=reverts).returning(design_changes.c.id))
    change_id = result.scalar_one()
    return _row(conn.execute(sa.select(design_changes).where(design_changes.c.id == change_id)).one())


def _audit(conn: Connection, action: str, user: Any, details: dict[str, Any], ip: str | None = None) -> None:
    author_id, author, _, _ = _who(user)
    admin_audit.record(conn, action, None, actor_id=author_id, actor=author, ip=ip, details=details)


def apply(project: str | Path, engine: Engine, ops: Any, *, user: Any, comment: str = "",
          expected_version: str | None, ip: str | None = None) -> DesignChange:
    """Validate, migrate, store the change set, record the new metadata version and write
    the admin audit log, in one transaction. DesignConflict when the database is not at
    `expected_version`; DesignRefused (the checker's problems) on bad input. Either way
    nothing changes."""
    ops = _check_ops(ops)
    changes = active_changes(engine)
    _require(user, lambda: _current(project, changes))
    _require_admin_for_roles(user, ops)
    author = _who(user)[1]
    model = _compile(project, [*changes, (NEW, ops, author)])
    from ..migrate.apply import migration_transaction

    with migration_transaction(engine) as conn:
        base = _begin_checked(conn, expected_version, [c.id for c in changes])
        _migrate(conn, model)
        now = datetime.now(UTC)
        change = _store(conn, user=user, ops=ops, comment=comment, base=base, model=model, now=now)
        record_version(conn, model)
        _audit(conn, admin_audit.DESIGN_APPLY, user, {"change": change.id, "comment": comment or "",
                                                      "paths": [op.get("path") for op in ops][:50],
                                                      "version": [base, model.version]}, ip)
    note_recorded()
    return change


def revert(project: str | Path, engine: Engine, change_id: int, *, user: Any, expected_version: str | None,
           comment: str = "", ip: str | None = None) -> DesignChange:
    """Take an active change set back: the model is compiled without it and migrated (a
    field it added keeps its column and data); a revert entry is stored. Returns it."""
    changes = active_changes(engine)
    target = next((c for c in changes if c.id == change_id), None)
    if target is None:
        raise DesignRefused(reason=f"change set {change_id} is not active (unknown, reverted or cleared)",
                            reason_zh=f"变更集 {change_id} 不在生效中（不存在、已撤销或已清除）")
    _require(user, lambda: _current(project, changes))
    _require_admin_for_roles(user, target.ops)
    remaining = [c for c in changes if c.id != change_id]
    model = _compile(project, remaining)
    _refuse_undoing_renames(_current(project, changes), model, change_id)
    from ..migrate.apply import migration_transaction

    with migration_transaction(engine) as conn:
        base = _begin_checked(conn, expected_version, [c.id for c in changes])
        _migrate(conn, model)
        now = datetime.now(UTC)
        _, author, _, _ = _who(user)
        conn.execute(design_changes.update().where(design_changes.c.id == change_id)
                     .values(reverted_at=now, reverted_by=author[:80]))
        change = _store(conn, user=user, ops=[], comment=comment or f"revert {change_id}", base=base, model=model,
                        reverts=change_id, now=now)
        record_version(conn, model)
        _audit(conn, admin_audit.DESIGN_REVERT, user, {"change": change.id, "reverts": change_id,
                                                       "version": [base, model.version]}, ip)
    note_recorded()
    return change


def _refuse_undoing_renames(now: CompiledModel | None, after: CompiledModel, change_id: int) -> None:
    """A revert that would take a rename back is refused: the planner would add an empty
    column under the old name and leave the values under the new one (a revert never moves
    data). Renaming the field back is the way: it renames the column and keeps the values."""
    if now is None:
        return
    for entity in now.entities.values():
        then = after.entities.get(entity.name)
        if then is None:
            continue
        for field_ in entity.fields.values():
            old = field_.renamed_from
            if old and old in then.fields and field_.name not in then.fields:
                where = f"{entity.name}.{old} → {field_.name}"
                raise DesignRefused(
                    reason=f"change set {change_id} renamed {where}: reverting it would leave the values under "
                           f"'{field_.name}'; rename the field back to '{old}' instead (its values follow)",
                    reason_zh=f"变更集 {change_id} 重命名了 {where}：撤销它会把数据留在 '{field_.name}' 下；"
                              f"请改为把字段重命名回 '{old}'（数据随之迁移）")


# -- dropping a column --------------------------------------------------------------------
def _field_of(model: CompiledModel, entity: str, field_name: str):
    ent = model.entities.get(entity)
    if ent is None or field_name not in ent.fields:
        raise DesignRefused(reason=f"no field '{entity}.{field_name}'", reason_zh=f"没有字段 '{entity}.{field_name}'")
    return ent, ent.fields[field_name]


def count_nonempty(engine: Engine, model: CompiledModel, entity: str, field: str) -> int:
    """How many records hold a value in the field (what dropping its column destroys)."""
    from ..migrate.dataloss import non_empty

    ent, fld = _field_of(model, entity, field)
    if fld.type.storage == "table":
        child = ent.child_tables.get(field)
        if child is None:
            return 0
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count(sa.distinct(child.c.parent_id)))).scalar_one()) \
                if "parent_id" in child.c else int(conn.execute(sa.select(sa.func.count()).select_from(child)).scalar_one())
    names = [n for n in fld.type.column_names(fld) if n in ent.table.c]
    if not names:
        return 0
    condition = sa.or_(*[non_empty(ent.table.c[n], ent.table.c[n].type) for n in names])
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(ent.table).where(condition)).scalar_one())


def _without_field(model: CompiledModel, entity: str, field_name: str, overlay_roles: Mapping[str, Any]) -> list[dict]:
    """Ops that take a designer-created field out of the form, the list and role rules."""
    spec = model.spec["entities"][entity]
    ops: list[dict[str, Any]] = []
    form = spec.get("form")
    if form is not None and field_name in repr(form):
        ops.append({"path": f"entities.{entity}.form", "value": _strip_form(form, field_name)})
    listing = spec.get("list") or {}
    for key in ("columns", "filters", "search"):
        values = listing.get(key)
        if isinstance(values, list) and any(_names(v) == field_name for v in values):
            ops.append({"path": f"entities.{entity}.list.{key}", "value": [v for v in values if _names(v) != field_name]})
    sort = listing.get("sort")
    if isinstance(sort, str) and sort.lstrip("-") == field_name:
        ops.append({"path": f"entities.{entity}.list.sort", "value": "-created_at"})
    for role, rule in overlay_roles.items():
        fields = (((rule or {}).get("entities") or {}).get(entity) or {}).get("fields") or {}
        if field_name in fields:
            ops.append({"path": f"roles.{role}.entities.{entity}.fields.{field_name}", "delete": True})
    ops.append({"path": f"entities.{entity}.fields.{field_name}", "delete": True})
    return ops


def _names(value: Any) -> Any:
    return value.get("field") if isinstance(value, Mapping) else value


def _strip_form(form: Any, field_name: str) -> Any:
    """The form without the field (sections keep their order; rows that hold only it go)."""
    if isinstance(form, list):
        out = []
        for item in form:
            if item == field_name or (isinstance(item, Mapping) and item.get("field") == field_name):
                continue
            stripped = _strip_form(item, field_name)
            if isinstance(item, list) and not stripped:
                continue
            out.append(stripped)
        return out
    if isinstance(form, Mapping):
        return {k: _strip_form(v, field_name) for k, v in form.items()}
    return form


def drop_column(project: str | Path, engine: Engine, entity: str, field: str, *, user: Any, confirm: int,
                expected_version: str | None = None, ip: str | None = None) -> DesignChange:
    """Drop the column (and data) of a hidden, designer-created field: the field leaves the
    designer layer (and any form, list or role rule naming it) and its column is dropped,
    in one transaction. `confirm` must equal `count_nonempty` (what is destroyed)."""
    from ..migrate.apply import migration_transaction
    from ..spec.designer import fold
    from ..spec.yamlload import plain

    changes = active_changes(engine)
    model = _compile(project, changes)
    _require(user, model)
    ent, fld = _field_of(model, entity, field)
    if fld.origin is None or fld.origin.defined_in != "designer":
        raise DesignRefused(reason=f"'{entity}.{field}' is defined in the YAML ({fld.origin.position if fld.origin else '?'});"
                            " remove it there and run tailor migrate --allow-destructive",
                            reason_zh=f"'{entity}.{field}' 由 YAML 定义；请在 YAML 中删除后运行 tailor migrate --allow-destructive")
    if not fld.hidden:
        raise DesignRefused(reason=f"hide '{entity}.{field}' first (its column is dropped only once it is removed)",
                            reason_zh=f"请先隐藏 '{entity}.{field}'（移除后才能删除其列）")
    count = count_nonempty(engine, model, entity, field)
    if confirm != count:
        raise DesignRefused(reason=f"dropping '{entity}.{field}' destroys {count} non-empty value(s); confirm with {count}",
                            reason_zh=f"删除 '{entity}.{field}' 会销毁 {count} 个非空值；请以 {count} 确认")
    from ..errors import Problems

    layer = fold(changes, Problems())
    overlay_roles = plain(layer.designer.roles) if layer is not None and layer.designer.roles else {}
    ops = _without_field(model, entity, field, overlay_roles)
    new_model = _compile(project, [*changes, (NEW, ops, _who(user)[1])])
    if fld.type.storage == "table":
        drops = frozenset({t.name for n, t in ent.child_tables.items() if n == field})
    else:
        drops = frozenset(f"{ent.table.name}.{n}" for n in fld.type.column_names(fld))
    with migration_transaction(engine) as conn:
        base = _begin_checked(conn, expected_version if expected_version is not None else latest_version(conn),
                              [c.id for c in changes])
        _migrate(conn, new_model, drop_only=drops)
        now = datetime.now(UTC)
        change = _store(conn, user=user, ops=ops, comment=f"drop column {entity}.{field} ({count} values)", base=base,
                        model=new_model, now=now)
        record_version(conn, new_model)
        _audit(conn, admin_audit.DESIGN_DROP_COLUMN, user, {"change": change.id, "field": f"{entity}.{field}",
                                                            "destroyed": count,
                                                            "version": [base, new_model.version]}, ip)
    note_recorded()
    return change


# -- back to YAML -------------------------------------------------------------------------
def export_layer(project: str | Path, engine: Engine, to: Path) -> Path:
    from .export import write_layer

    return write_layer(Path(project), active_changes(engine), Path(to))


def export_layer_zip(project: str | Path, engine: Engine) -> bytes:
    from .export import zip_layer

    return zip_layer(Path(project), active_changes(engine))


def clear(project: str | Path, engine: Engine, *, user: Any, ip: str | None = None) -> int:
    """Empty the designer layer once the project's YAML holds it (the exported layer was
    committed and is the project now): refused unless the model stays the same. Returns
    how many change sets were cleared."""
    from ..migrate.apply import migration_transaction

    changes = active_changes(engine)
    if not changes:
        return 0
    with_layer = _compile(project, changes)
    _require(user, with_layer)
    try:
        without = load_model(project)
    except ProjectError as exc:
        raise DesignRefused(exc.problems) from None
    if without.version != with_layer.version:
        raise DesignRefused(
            reason=f"the project's YAML does not hold the designer layer (metadata {without.version}, with the layer "
                   f"{with_layer.version}); export it (tailor design export), use the exported folder as the project, "
                   "then clear",
            reason_zh=f"项目 YAML 未包含设计器层（元数据 {without.version}，含设计器层 {with_layer.version}）；"
                      "请先导出（tailor design export）并以导出的文件夹作为项目，再清除")
    with migration_transaction(engine) as conn:
        _begin_checked(conn, latest_version(conn), [c.id for c in changes])
        now = datetime.now(UTC)
        conn.execute(design_changes.update().where(design_changes.c.id.in_([c.id for c in changes]))
                     .values(cleared_at=now))
        record_version(conn, without)
        _audit(conn, admin_audit.DESIGN_CLEAR, user, {"changes": [c.id for c in changes],
                                                      "version": without.version}, ip)
    note_recorded()
    return len(changes)
