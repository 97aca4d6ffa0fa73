"""Loading a project's demo data (`demo/*.yaml`) through the records service.

Demo files are read in name order. Each is a mapping:

    users:                       # optional: users to create (demo passwords only!)
      - {username: wang.lei, display_name: 王磊, password: demo-pass-1, language: zh}
    customer:                    # entity -> {key: values}
      huaxin: {name: 华信机械, level: high, account_manager: "@user:wang.lei", owner: "@user:wang.lei"}
    contact:
      zhang: {name: 张伟, customer: "@customer:huaxin"}

`"@ENTITY:KEY"` refers to a record loaded earlier (for a polymorphic link, the record of
that entity), `"@user:USERNAME"` to a user. Going
through the records service means demo data obeys every rule of the records; roles do not
limit it (the engine loads each record in its owner's name). Users may be placed in the
organisation: `department: Sales/East`, `manager: USERNAME`, `roles: [...]`, `teams: [...]`,
`head: true`. A `workflow:` list runs transitions and approval decisions through the flow
engine as the users named (`- {run: submit, record: "@sales_order:KEY", as: wang.lei}`,
`- {approve: "@sales_order:KEY", as: zhao.min, comment: …}`).

Everything is loaded in one transaction: a malformed file or a refused record raises
`DemoError` (naming the file, line and key) and nothing at all is saved, so the load can
simply be run again once the file is fixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .errors import Problems, did_you_mean
from .model import CompiledModel
from .permissions import org
from .records import Actor, Context, RecordError, RecordService
from .spec.yamlload import load_yaml_file, plain
from .storage import department_heads, users
from .users import UserError, create_user

USER_KEYS = ("username", "display_name", "email", "password", "is_admin", "language", "department", "manager",
             "roles", "teams", "head")
USER_TEXT_KEYS = ("username", "display_name", "email", "password", "language", "department", "manager")


class DemoError(Exception):
    pass


def load_demo(model: CompiledModel, engine: Engine, project_dir: Path) -> str:
    files = sorted(Path(project_dir, "demo").glob("*.yaml"))
    if not files:
        return "no demo/*.yaml in this project: nothing to load"
    service = RecordService(model, engine)
    for entity in model.entities.values():
        try:
            if service.count(entity.name, limit=1):
                return f"demo data not loaded: {entity.name} already has records"
        except sa.exc.DBAPIError as exc:
            raise DemoError(f"cannot read the {entity.name} table ({_db_message(exc)}); "
                            "is the database migrated? run `tailor migrate` first") from exc
    problems = Problems()
    documents = [(f, load_yaml_file(f, problems)) for f in files]
    problems.raise_if_any()
    keys: dict[str, int] = {}
    counts: dict[str, int] = {}
    try:
        with service.transaction() as conn:  # all or nothing: a failed load can simply be run again
            for file, document in documents:
                _load_document(service, conn, model, file, document, keys, counts)
    except RecordError as exc:  # refused only when the transaction ended
        raise DemoError(f"{Path(project_dir, 'demo')}: the demo data was refused, nothing was loaded: {exc}") from exc
    users_count = sum(1 for k in keys if k.startswith("user:"))
    loaded = ", ".join(f"{n} {e}" for e, n in counts.items())
    return f"loaded demo data: {users_count} users, {loaded}"


def _load_document(service, conn, model, file: Path, document: Any, keys, counts) -> None:
    if document is None:  # an empty file
        return
    if not isinstance(document, dict):
        raise DemoError(f"{_pos(document, file)}: a demo file is a mapping of `users:` and entity names "
                        f"to records, not {_kind(document)}")
    if "users" in document:
        _load_users(conn, model, file, document, keys)
    for entity_name, records in document.items():
        if entity_name in ("users", "workflow"):
            continue
        where = _at(document, entity_name, file, of_key=True)
        if entity_name not in model.entities:
            hint = did_you_mean(entity_name, model.entities)
            raise DemoError(f"{where}: unknown entity '{entity_name}'" + (f" ({hint})" if hint else ""))
        if records is None:
            continue
        if not isinstance(records, dict):
            raise DemoError(f"{_at(document, entity_name, file)}: {entity_name}: records are a mapping of "
                            f"KEY: {{field: value, …}}, not {_kind(records)}")
        for key, values in records.items():
            _load_record(service, file, entity_name, records, key, values, keys, counts)
    if "workflow" in document:
        _run_workflow(service, conn, file, document, keys, counts)


WORKFLOW_OPS = ("run", "approve", "reject", "send_back")


def _run_workflow(service, conn, file: Path, document: dict, keys: dict[str, int], counts) -> None:
    """Steps of approval flows, each as its user (their roles apply): `run` a transition
    on `record`, or `approve` / `reject` / `send_back` the user's open task on a record."""
    steps = document["workflow"]
    if not isinstance(steps, list):
        raise DemoError(f"{_at(document, 'workflow', file)}: workflow: a list of steps, not {_kind(steps)}")
    for i, step in enumerate(steps):
        where = _at(steps, i, file)
        op = next((k for k in WORKFLOW_OPS if isinstance(step, dict) and k in step), None)
        if op is None or not isinstance(step.get("as"), str):
            raise DemoError(f"{where}: workflow step {i + 1}: give one of {', '.join(WORKFLOW_OPS)} and `as: USERNAME`")
        user_id = keys.get(f"user:{step['as']}")
        ref = step.get("record") if op == "run" else step.get(op)
        if user_id is None or not isinstance(ref, str) or ref[1:] not in keys:
            raise DemoError(f"{where}: workflow step {i + 1}: unknown user or record ({step.get('as')}, {ref})")
        entity, record_id = ref[1:].split(":")[0], keys[ref[1:]]
        row = conn.execute(sa.select(users).where(users.c.id == user_id)).mappings().one()
        context = Context(actor=org.load_actor(conn, row))
        comment = str(step.get("comment") or "")
        try:
            if op == "run":
                picked = {node: [keys[f"user:{u}"] for u in people]
                          for node, people in (step.get("picked") or {}).items()}
                service.flows.run_transition(entity, record_id, step["run"], context, comment=comment, picked=picked)
            else:
                task = service.flows.open_task_of(entity, record_id, user_id)
                if task is None:
                    raise DemoError(f"{where}: workflow step {i + 1}: {step['as']} has no open task on {ref}")
                getattr(service.flows, op)(task, context, comment)
        except (RecordError, KeyError) as exc:
            raise DemoError(f"{where}: workflow step {i + 1}: {exc}") from exc
        counts["workflow step"] = counts.get("workflow step", 0) + 1


def _load_record(service, file, entity_name, records, key, values, keys, counts) -> None:
    where = _at(records, key, file, of_key=True)
    label = f"{entity_name} '{key}'"
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise DemoError(f"{where}: {label}: a record is a mapping of field: value, not {_kind(values)}")
    ref = f"{entity_name}:{key}"
    if ref in keys:
        raise DemoError(f"{where}: {label}: the key '{key}' is used twice for {entity_name}")
    data = {k: _resolve(plain(v), keys, f"{_at(values, k, file)}: {label}: {k}") for k, v in values.items()}
    entity = service.model.entities.get(entity_name)
    for name, value in values.items():  # a polymorphic link names its record's entity too
        field = entity.fields.get(name) if entity is not None else None
        if field is not None and field.type.name == "polymorphic_link" and isinstance(value, str) \
                and value.startswith("@") and ":" in value:
            data[name] = {"entity": value[1:].split(":", 1)[0], "id": data[name]}
    owner = data.get("owner")
    has_owner = isinstance(owner, int) and not isinstance(owner, bool)
    # demo data is loaded by the engine (no role limits it), in the owner's name
    actor = Actor(id=owner, username=f"user {owner}", system=True) if has_owner else Actor(system=True)
    try:
        record = service.create(entity_name, data, Context(actor=actor), trusted=True)
    except RecordError as exc:
        raise DemoError(f"{where}: {label}: {exc}") from exc
    except sa.exc.DBAPIError as exc:
        raise DemoError(f"{where}: {label}: the database refused it: {_db_message(exc)}") from exc
    keys[ref] = record["id"]
    counts[entity_name] = counts.get(entity_name, 0) + 1


def _load_users(conn, model, file: Path, document: dict, keys: dict[str, int]) -> None:
    specs = document["users"]
    if specs is None:
        return
    if not isinstance(specs, list):
        raise DemoError(f"{_at(document, 'users', file)}: users: a list of users "
                        f"(- {{username: …, password: …}}), not {_kind(specs)}")
    for i, spec in enumerate(specs):
        where = _at(specs, i, file)
        if not isinstance(spec, dict):
            raise DemoError(f"{where}: users item {i + 1}: a user is a mapping "
                            f"({', '.join(USER_KEYS)}), not {_kind(spec)}")
        username = spec.get("username")
        label = f"user '{username}'" if isinstance(username, str) else f"users item {i + 1}"
        _check_user(spec, model, label, where, file)
        _ensure_user(conn, spec, label, where, keys)
    for i, spec in enumerate(specs):  # the organisation, once every user exists (managers)
        _place_user(conn, model, spec, f"user '{spec['username']}'", _at(specs, i, file), keys)


def _place_user(conn, model, spec: dict[str, Any], label: str, where: str, keys: dict[str, int]) -> None:
    """Department (a path such as Sales/East), manager, roles, teams, head of department."""
    user_id = keys[f"user:{spec['username']}"]
    try:
        values: dict[str, Any] = {}
        if spec.get("department"):
            values["department_id"] = org.department_path(conn, spec["department"])
        if spec.get("manager"):
            manager = keys.get(f"user:{spec['manager']}")
            if manager is None:
                raise org.OrgError(f"manager '{spec['manager']}' is not a user of this file")
            values["manager_id"] = manager
        if values:
            conn.execute(users.update().where(users.c.id == user_id).values(**values))
        if spec.get("roles") is not None:
            org.set_roles(conn, user_id, _names(spec["roles"], "roles"), model.roles)
        if spec.get("teams") is not None:
            org.set_teams(conn, user_id, _names(spec["teams"], "teams"))
        if spec.get("head"):
            if not values.get("department_id"):
                raise org.OrgError("a head needs a department")
            conn.execute(department_heads.insert().values(department_id=values["department_id"], user_id=user_id))
    except org.OrgError as exc:
        raise DemoError(f"{where}: {label}: {exc}") from exc


def _names(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise org.OrgError(f"{key} is a list of names, e.g. [sales_rep]")
    return value


def _check_user(spec: dict, model, label: str, where: str, file: Path) -> None:
    unknown = [k for k in spec if k not in USER_KEYS]
    if unknown:
        hint = did_you_mean(unknown[0], USER_KEYS)
        raise DemoError(f"{_at(spec, unknown[0], file, of_key=True)}: {label}: unknown key "
                        f"{', '.join(repr(k) for k in unknown)} (allowed: {', '.join(USER_KEYS)})"
                        + (f"; {hint}" if hint else ""))
    if spec.get("username") in (None, ""):
        raise DemoError(f"{where}: {label}: a user needs a username")
    for key in USER_TEXT_KEYS:
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise DemoError(f"{_at(spec, key, file)}: {label}: {key} must be text, not {_kind(spec[key])}"
                            + (" (quote it)" if isinstance(spec[key], (int, float)) else ""))
    for key in ("is_admin", "head"):
        if spec.get(key) is not None and not isinstance(spec[key], bool):
            raise DemoError(f"{_at(spec, key, file)}: {label}: {key} must be true or false")
    if spec.get("is_admin") is not None and not isinstance(spec["is_admin"], bool):
        raise DemoError(f"{_at(spec, 'is_admin', file)}: {label}: is_admin must be true or false")
    language = spec.get("language")
    if language is not None and language not in model.languages:
        raise DemoError(f"{_at(spec, 'language', file)}: {label}: language '{language}' is not one of "
                        f"the project's languages ({', '.join(model.languages)})")


def _ensure_user(conn, spec: dict[str, Any], label: str, where: str, keys: dict[str, int]) -> None:
    username = spec["username"]
    try:
        existing = conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar()
        if existing is None:
            existing = create_user(conn, username, spec.get("password"), display_name=spec.get("display_name"),
                                   email=spec.get("email"), is_admin=bool(spec.get("is_admin")),
                                   language=spec.get("language") or "en")
    except UserError as exc:
        raise DemoError(f"{where}: {label}: {exc}") from exc
    except sa.exc.DBAPIError as exc:
        raise DemoError(f"{where}: {label}: the database refused it: {_db_message(exc)}") from exc
    keys[f"user:{username}"] = existing


def _resolve(value: Any, keys: dict[str, int], where: str) -> Any:
    if isinstance(value, str) and value.startswith("@"):
        ref = value[1:]
        if ref not in keys:
            raise DemoError(f"{where}: reference {value} names nothing loaded before it "
                            "(\"@ENTITY:KEY\" or \"@user:USERNAME\", from this or an earlier file)")
        return keys[ref]
    if isinstance(value, list):
        return [_resolve(v, keys, where) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, keys, where) for k, v in value.items()}
    return value


def _pos(value: Any, file: Path) -> str:
    """Where a loaded mapping or list starts (the file when the loader gave no position)."""
    pos = getattr(value, "pos", None)
    return str(pos) if pos is not None and pos.line else str(file)


def _at(container: Any, key: Any, file: Path, *, of_key: bool = False) -> str:
    """Where `container[key]` is (its key with `of_key`) as FILE:LINE:COLUMN."""
    if hasattr(container, "position_of"):
        pos = container.position_of(key, of_key=of_key) if isinstance(container, dict) else container.position_of(key)
        if pos.line:
            return str(pos)
    return str(file)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if value is None:
        return "an empty value"
    return f"the text {str(value)!r}"


def _db_message(exc: sa.exc.DBAPIError) -> str:
    text = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    return text[:200]
