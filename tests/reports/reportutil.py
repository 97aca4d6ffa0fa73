"""A sales project with reports, an organisation and seeded opportunities (tests/reports)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

CUSTOMER = """
entity: customer
fields:
  name: {type: string, required: true}
"""

OPPORTUNITY = """
entity: opportunity
fields:
  name: {type: string, required: true}
  stage: {type: choice, default: lead, options: [lead, qualified, {value: proposal, color: blue}, won, lost]}
  amount: {type: money, currencies: [CNY, USD]}
  cost: {type: decimal, scale: 2}
  hours: {type: integer}
  close_date: {type: date}
  closed_at: {type: datetime}
  customer: {type: link, to: customer}
  priority: {type: boolean}
  notes: {type: text}
  effort: {type: duration}
  phone: {type: phone, mask: phone}
list:
  columns: [name, stage, amount, close_date, owner]
  filters: [stage, close_date, closed_at, customer, owner, priority]
"""

ROLES = """
roles:
  rep:
    entities:
      opportunity: {actions: [read, create, update], scope: own, fields: {cost: hidden}}
      customer: {actions: [read], scope: all}
  manager:
    entities:
      opportunity: {actions: [read], scope: department}
      customer: {actions: [read], scope: all}
  director:
    entities:
      opportunity: {actions: [read, reveal], scope: all}
      customer: {actions: [read], scope: all}
"""

REPORTS = {
    "reports/by_stage.yaml": """
report: by_stage
label: {en: Pipeline by stage, zh: 按阶段的商机}
entity: opportunity
group_by: [stage]
measures:
  - {name: deals, label: {en: Deals, zh: 商机数}, count: true}
  - {name: revenue, label: {en: Revenue, zh: 金额}, sum: amount}
chart: bar
""",
    "reports/by_owner.yaml": """
report: by_owner
entity: opportunity
filter: "stage != 'lost'"
group_by: [owner]
measures:
  - {name: deals, count: true}
  - {name: hours, sum: hours}
  - {name: won, count: true, filter: "stage == 'won'"}
  - {name: closed, count: true, filter: "stage in ['won', 'lost']"}
  - {name: win_rate, ratio: [won, closed]}
chart: table
""",
    "reports/monthly.yaml": """
report: monthly
entity: opportunity
period: close_date
group_by: [{field: close_date, bucket: month}]
measures:
  - {name: deals, count: true}
  - {name: avg_hours, avg: hours}
  - {name: first_close, min: close_date}
chart: line
""",
    "reports/funnel.yaml": """
report: funnel
entity: opportunity
filter: "stage != 'proposal'"
group_by: [stage]
steps: [lead, qualified, proposal, won]
measures:
  - {name: deals, count: true}
  - {name: cost, sum: cost}
  - {name: avg_hours, avg: hours}
chart: funnel
""",
    "reports/total.yaml": """
report: total
label: {en: Deals this period, zh: 本期商机}
entity: opportunity
period: close_date
measures:
  - {name: deals, count: true}
  - {name: hours, sum: hours}
chart: number
""",
    "reports/by_department.yaml": """
report: by_department
entity: opportunity
group_by: [owner.department, customer]
measures:
  - {name: deals, count: true}
  - {name: customers, count_distinct: customer}
chart: stacked_bar
""",
    "reports/buckets.yaml": """
report: by_week
entity: opportunity
group_by: [{field: closed_at, bucket: week}]
measures: [{name: deals, count: true}]
""",
    "reports/by_quarter.yaml": """
report: by_quarter
entity: opportunity
group_by: [{field: close_date, bucket: quarter}, {field: closed_at, bucket: year}]
measures: [{name: deals, count: true}, {name: last_close, max: closed_at}]
chart: pivot
""",
    "reports/by_day.yaml": """
report: by_day
entity: opportunity
group_by: [closed_at]
measures: [{name: deals, count: true}]
sort: -deals
limit: 5
""",
    "reports/by_customer.yaml": """
report: by_customer
entity: opportunity
group_by: [customer]
measures: [{name: deals, count: true}]
sort: -deals
limit: 2
""",
    "reports/margin.yaml": """
report: margin
entity: opportunity
measures: [{name: cost, sum: cost}, {name: avg_cost, avg: cost}]
""",
    "reports/by_phone.yaml": """
report: by_phone
entity: opportunity
group_by: [phone]
measures: [{name: deals, count: true}]
""",
    "reports/effort.yaml": """
report: effort
entity: opportunity
group_by: [stage]
measures:
  - {name: total, sum: effort}
  - {name: average, avg: effort}
  - {name: longest, max: effort}
  - {name: top_amount, max: amount}
""",
    "reports/best_rate.yaml": """
report: best_rate
entity: opportunity
group_by: [customer]
measures:
  - {name: won, count: true, filter: "stage == 'won'"}
  - {name: closed, count: true, filter: "stage in ['won', 'lost']"}
  - {name: rate, ratio: [won, closed]}
sort: -rate
limit: 3
""",
    "reports/created.yaml": """
report: created
entity: opportunity
period: created_at
group_by: [{field: created_at, bucket: month}, created_by]
measures: [{name: deals, count: true}, {name: first, min: created_at}, {name: owners, count_distinct: owner}]
""",
    "reports/costs.yaml": """
report: costs
entity: opportunity
roles: [director]
group_by: [stage]
measures:
  - {name: cost, sum: cost}
chart: bar
""",
}

STAGES = ["lead", "qualified", "proposal", "won", "lost"]
PEOPLE_CSV = ("username,display_name,department,manager,roles,teams,head\n"
              "dora,Dora Director,Sales,,director,,yes\n"
              "mia,Mia Manager,Sales/East,dora,manager,,yes\n"
              "rita,Rita Rep,Sales/East,mia,rep,,no\n"
              "ravi,Ravi Rep,Sales/West,dora,rep,,no\n"
              "sam,Sam Support,Support,,rep,,no\n")


def files(extra: dict[str, str] | None = None) -> dict[str, str]:
    found = {"entities/customer.yaml": CUSTOMER, "entities/opportunity.yaml": OPPORTUNITY, "roles.yaml": ROLES,
             **REPORTS}
    found.update(extra or {})
    return found


@dataclass
class World:
    service: Any
    people: dict[str, Any]  # username -> Context
    table: str  # the opportunity table's name, for the tests' own SQL
    customers: dict[str, int]

    def sql(self, statement: str, **params) -> list[tuple]:
        with self.service.engine.connect() as conn:
            sql = re.sub(r"\bT\b", self.table, statement)  # T: the opportunity table
            return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def seed(service) -> World:
    """Five people (a director, a manager, three reps in three departments), three customers
    and 60 opportunities over every stage, two currencies, dates across two years."""
    from engine.permissions.org import import_org, load_actor
    from engine.records import Context
    from engine.storage import users, write_engine
    from engine.users import create_user

    with write_engine(service.engine).begin() as conn:
        import_org(conn, PEOPLE_CSV, service.model.roles)
        create_user(conn, "root", None, is_admin=True)
    people = {}
    with service.engine.connect() as conn:
        for row in conn.execute(sa.select(users)).mappings():
            people[row["username"]] = Context(actor=load_actor(conn, row))
    root = people["root"]
    customers = {n: service.create("customer", {"name": n}, root)["id"] for n in ("Acme", "Globex", "Initech")}
    owners = ["rita", "ravi", "sam", "rita", "mia", "dora"]
    with service.transaction():
        for i in range(60):
            month = 1 + (i * 5) % 12
            year = 2025 + (i % 2)
            data = {
                "name": f"Deal {i}",
                "stage": STAGES[(i * i + i // 3) % 5],
                "amount": None if i % 11 == 0 else {"amount": str(Decimal(1000 + i * 37) / 4),
                                                    "currency": "USD" if i % 3 == 0 else "CNY"},
                "cost": str(Decimal(i * 13) / 10),
                "hours": None if i % 7 == 0 else i % 9 + 1,
                "close_date": None if i % 13 == 0 else date(year, month, 1 + (i * 7) % 28).isoformat(),
                "closed_at": datetime(year, month, 1 + i % 28, (i * 5) % 24, 30, tzinfo=UTC).isoformat(),
                "customer": None if i % 8 == 0 else list(customers.values())[i % 3],
                "priority": i % 4 == 0,
                "phone": "13912345678",
                "effort": None if i % 6 == 0 else f"{i % 5}h {i * 7 % 60}m",
                "owner": people[owners[i % 6]].actor.id,
            }
            service.create("opportunity", data, root)
    return World(service, people, service.model.entity("opportunity").table.name, customers)
