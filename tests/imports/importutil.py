"""Shared helpers of the import tests (and, later, the import pages' tests): a small CRM
project, its users, and real files made in the test (CSV in any encoding, XLSX)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from engine.permissions.org import import_org, load_actor
from engine.records import Context
from engine.storage import users, write_engine
from engine.users import create_user

FILES = {
    "tailor.yaml": "name: shop\nlanguages: [en, zh]\n",
    "entities/region.yaml": """
        entity: region
        label: {en: Region, zh: 区域}
        title: name
        fields:
          name: {type: string, label: {en: Name, zh: 名称}, required: true}
          code: {type: string, label: {en: Code, zh: 代码}, unique: true, max_length: 10}
        """,
    "entities/customer.yaml": """
        entity: customer
        label: {en: Customer, zh: 客户}
        title: name
        fields:
          number: {type: autonumber, format: "C-{#####}", label: {en: Number, zh: 编号}}
          name: {type: string, label: {en: Name, zh: 名称}, required: true, unique: true, max_length: 120}
          erp_code: {type: string, label: {en: ERP code, zh: ERP编码}, unique: true, max_length: 20}
          level:
            type: choice
            label: {en: Level, zh: 等级}
            options:
              - {value: high, label: {en: High, zh: 高}}
              - {value: low, label: {en: Low, zh: 低}}
          tags:
            type: multichoice
            label: {en: Tags, zh: 标签}
            options:
              - {value: vip, label: {en: VIP, zh: 重要}}
              - {value: government, label: {en: Government, zh: 政府}}
          since: {type: date, label: {en: Customer since, zh: 合作日期}}
          revenue: {type: money, label: {en: Revenue, zh: 营业额}, min: 0, currencies: [CNY, USD]}
          employees: {type: integer, label: {en: Employees, zh: 员工人数}, min: 0}
          double: {type: computed, returns: number, expression: "employees * 2", label: {en: Double, zh: 双倍}}
          region: {type: link, to: region, label: {en: Region, zh: 区域}}
          secret: {type: text, label: {en: Secret, zh: 机密}}
          approved: {type: boolean, label: {en: Approved, zh: 已审核}}
        """,
    "roles.yaml": """
        roles:
          rep:
            entities:
              customer:
                actions: [read, create, update, import]
                scope: department
                fields: {secret: hidden, erp_code: read}
              region: {actions: [read], scope: all}
          viewer:
            entities:
              customer: {actions: [read, create, update], scope: all}
        """,
}

STAFF = ("username,display_name,department,manager,roles,teams,head\n"
         "boss,Boss,Sales,,rep,,yes\n"
         "rep1,Rep One,Sales/East,boss,rep,,no\n"
         "rep2,Rep Two,Sales/West,boss,rep,,no\n"
         "viewer,Viewer,Support,,viewer,,no\n")


def world(service) -> dict[str, Context]:
    """Users (rep1 in Sales/East, rep2 in Sales/West, boss heading Sales, an admin root)
    and two regions; {username: Context}."""
    engine = write_engine(service.engine)
    with engine.begin() as conn:
        import_org(conn, STAFF, service.model.roles)
        create_user(conn, "root", None, is_admin=True)
    people = {}
    with service.engine.connect() as conn:
        for row in conn.execute(sa.select(users)).mappings():
            people[row["username"]] = Context(actor=load_actor(conn, row))
    root = people["root"]
    service.create("region", {"name": "East China", "code": "EC"}, root)
    service.create("region", {"name": "North", "code": "N1"}, root)
    service.create("region", {"name": "North", "code": "N2"}, root)  # two regions titled North
    return people


def administrator(service) -> Context:
    """A new administrator `root` (the is_admin flag) and their Context."""
    with write_engine(service.engine).begin() as conn:
        create_user(conn, "root", None, is_admin=True)
    with service.engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == "root")).mappings().one()
        return Context(actor=load_actor(conn, row))


def csv_bytes(rows: Sequence[Sequence[Any]], encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows: Iterable[Sequence[Any]], merges: Iterable[str] = (), sheet: str = "Sheet1",
               extra_sheets: dict[str, list[list[Any]]] | None = None) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    first = workbook.active
    first.title = sheet
    for row in rows:
        first.append(list(row))
    for ref in merges:
        first.merge_cells(ref)
    for name, more in (extra_sheets or {}).items():
        other = workbook.create_sheet(name)
        for row in more:
            other.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def records(service, entity: str = "customer") -> list[dict[str, Any]]:
    table = service.model.entity(entity).table
    with service.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.id)).mappings()]


def count(service, entity: str = "customer") -> int:
    table = service.model.entity(entity).table
    with service.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
