"""Shared helpers of the designer tests (tests/design): a small project on a migrated
database, the actors, and a snapshot of what a refused change must leave alone.

Plain functions, not fixtures that pull in other conftest files: the designer page tests
import them too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from engine.design.service import record_version
from engine.migrate import apply_plan, plan_migration
from engine.model import load_model
from engine.records import Actor
from engine.storage import design_changes, make_engine, metadata_version, write_engine

CUSTOMER = """
entity: customer
label: {en: Customer, zh: 客户}
fields:
  name: {type: string, required: true, label: {en: Name, zh: 名称}}
  phone: {type: string, label: {en: Phone, zh: 电话}}
  level: {type: choice, options: [a, b, c], default: a}
form:
  sections:
    - section: {en: Main, zh: 主要}
      fields: [name, phone, level]
list:
  columns: [name, phone]
"""

DEAL = """
entity: deal
fields:
  title: {type: string, required: true}
  customer: {type: link, to: customer}
"""

ROLES = """
roles:
  rep:
    label: {en: Sales rep, zh: 销售代表}
    entities:
      customer: {actions: [read, create, update], scope: all}
      deal: {actions: [read], scope: all}
  designer:
    actions: [design]
    entities:
      customer: {actions: [read], scope: all}
"""

FILES = {
    "tailor.yaml": "name: shop\nlanguages: [en, zh]\n",
    "entities/customer.yaml": CUSTOMER,
    "entities/deal.yaml": DEAL,
    "roles.yaml": ROLES,
}

ADMIN = Actor(id=None, username="boss", is_admin=True)
REP = Actor(id=None, username="rita", roles=("rep",))
DESIGNER = Actor(id=None, username="dora", roles=("designer",))

WECHAT = {"type": "string", "label": {"en": "WeChat ID", "zh": "微信号"}, "max_length": 40}


def add_wechat(entity: str = "customer") -> list[dict[str, Any]]:
    return [{"path": f"entities.{entity}.fields.wechat_id", "value": dict(WECHAT)}]


def migrate(root: Path, url: str, engine: sa.engine.Engine | None = None, designer: Any = None):
    """Migrate the database to the project (with these change sets) and record its version,
    as `tailor migrate` does; returns (model, engine)."""
    model = load_model(root, entry_points=False, designer=designer)
    engine = engine or make_engine(url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    with write_engine(engine).begin() as conn:
        record_version(conn, model)
    return model, engine


def columns(engine: sa.engine.Engine, table: str = "customer") -> list[str]:
    with engine.connect() as conn:
        return sorted(c["name"] for c in sa.inspect(conn).get_columns(table))


def snapshot(engine: sa.engine.Engine) -> tuple[Any, ...]:
    """What a refused change must not alter: the customer table's columns, the stored
    change sets and the metadata versions."""
    with engine.connect() as conn:
        changes = conn.execute(sa.select(design_changes).order_by(design_changes.c.id)).all() \
            if sa.inspect(conn).has_table(design_changes.name) else []
        versions = conn.execute(sa.select(metadata_version.c.id, metadata_version.c.version)
                                .order_by(metadata_version.c.id)).all()
    return columns(engine), [tuple(r) for r in changes], [tuple(r) for r in versions]


def latest(engine: sa.engine.Engine) -> str | None:
    from engine.design import latest_version

    return latest_version(engine)
