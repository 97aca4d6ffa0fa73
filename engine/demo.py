"""Loading a project's demo data (`demo/*.yaml`) through the records service.

Demo files are read in name order. Each is a mapping:

    users:                       # optional: users to create (demo passwords only!)
      - {username: wang.lei, display_name: 王磊, password: demo-pass-1, language: zh}
    customer:                    # entity -> {key: values}
      huaxin: {name: 华信机械, level: high, account_manager: "@user:wang.lei", owner: "@user:wang.lei"}
    contact:
      zhang: {name: 张伟, customer: "@customer:huaxin"}

`"@ENTITY:KEY"` refers to a record loaded earlier, `"@user:USERNAME"` to a user. Going
through the records service means demo data obeys every rule a user would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .errors import Problems
from .model import CompiledModel
from .records import Actor, Context, RecordService, ValidationError
from .spec.yamlload import load_yaml_file, plain
from .storage import users
from .users import create_user


class DemoError(Exception):
    pass


def load_demo(model: CompiledModel, engine: Engine, project_dir: Path) -> str:
    files = sorted(Path(project_dir, "demo").glob("*.yaml"))
    if not files:
        return "no demo/*.yaml in this project: nothing to load"
    service = RecordService(model, engine)
    for entity in model.entities.values():
        if service.count(entity.name, limit=1):
            return f"demo data not loaded: {entity.name} already has records"
    problems = Problems()
    documents = [(f, load_yaml_file(f, problems)) for f in files]
    problems.raise_if_any()
    keys: dict[str, int] = {}
    counts: dict[str, int] = {}
    with service.transaction() as conn:  # all or nothing: a failed load can simply be run again
        _load_documents(service, conn, model, documents, keys, counts)
    users_count = sum(1 for k in keys if k.startswith("user:"))
    loaded = ", ".join(f"{n} {e}" for e, n in counts.items())
    return f"loaded demo data: {users_count} users, {loaded}"


def _load_documents(service, conn, model, documents, keys, counts) -> None:
    for file, document in documents:
        document = plain(document) or {}
        for username_spec in document.pop("users", []) or []:
            _ensure_user(conn, username_spec, keys)
        for entity_name, records in document.items():
            if entity_name not in model.entities:
                raise DemoError(f"{file}: unknown entity '{entity_name}'")
            for key, values in (records or {}).items():
                data = {k: _resolve(v, keys, file) for k, v in (values or {}).items()}
                owner = data.get("owner")
                actor = Actor(id=owner, username=f"user {owner}") if owner else Actor(system=True)
                try:
                    record = service.create(entity_name, data, Context(actor=actor), trusted=True)
                except ValidationError as exc:
                    raise DemoError(f"{file}: {entity_name} '{key}': {exc}") from exc
                keys[f"{entity_name}:{key}"] = record["id"]
                counts[entity_name] = counts.get(entity_name, 0) + 1


def _ensure_user(conn, spec: dict[str, Any], keys: dict[str, int]) -> None:
    username = spec["username"]
    existing = conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar()
    if existing is None:
        existing = create_user(conn, username, spec.get("password"), display_name=spec.get("display_name"),
                               email=spec.get("email"), is_admin=bool(spec.get("is_admin")),
                               language=spec.get("language", "en"))
    keys[f"user:{username}"] = existing


def _resolve(value: Any, keys: dict[str, int], file: Path) -> Any:
    if isinstance(value, str) and value.startswith("@"):
        ref = value[1:]
        if ref not in keys:
            raise DemoError(f"{file}: reference {value} names nothing loaded before it")
        return keys[ref]
    if isinstance(value, list):
        return [_resolve(v, keys, file) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, keys, file) for k, v in value.items()}
    return value
