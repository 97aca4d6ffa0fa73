"""The permission matrix of examples/crm, generated from its roles.yaml: for every role ×
entity × action, the allowed ones succeed and the denied ones fail, through the records
service and through HTTP (SQLite and PostgreSQL).

Each role gets a user of its own in a department, holding only that role; the records it
acts on are its own, so that every scope (own, department, all) reaches them: what is
tested is the action, row scopes have tests of their own (tests/permissions)."""

from __future__ import annotations

import itertools

import pytest
from webutil import PASSWORD, csrf_of, sign_in

from engine.model import load_model
from engine.paths import EXAMPLES
from engine.permissions.org import department_path, load_actor, set_roles
from engine.records import SYSTEM, Context, NotFound, PermissionDenied, Query
from engine.storage import users, write_engine
from engine.users import create_user

ACTIONS = ("read", "create", "update", "delete", "export")
ROLES = sorted(load_model(EXAMPLES / "crm", entry_points=False).roles)
serial = itertools.count(1)


def sample(service, entity: str, ctx: Context) -> dict:
    """Valid values for a new record of each entity of examples/crm (unique where needed),
    linking to a customer the user owns (links must point to records the user may read)."""
    n = next(serial)
    customer = service.create("customer", {"name": f"Linked customer {n}", "level": "medium", "owner": ctx.actor.id},
                              Context(actor=SYSTEM), trusted=True)
    any_of = {"customer": customer["id"],
              "product": service.list("product", Query(limit=1), Context(actor=SYSTEM))[0]["id"]}
    return {
        "customer": {"name": f"Matrix customer {n}", "level": "medium"},
        "contact": {"name": {"last": f"Contact {n}"}, "customer": any_of["customer"], "mobile": "13800000000"},
        "activity": {"subject": f"Call {n}", "parent": f"customer:{any_of['customer']}"},
        "lead": {"name": f"Lead {n}", "email": f"lead{n}@example.com"},
        "opportunity": {"title": f"Deal {n}", "customer": any_of["customer"], "amount": 1000},
        "sales_order": {"customer": any_of["customer"], "order_date": "2026-11-01",
                        "lines": [{"product": any_of["product"], "quantity": 1, "unit_price": 10}]},
        "product": {"sku": f"MX-{n}", "name": f"Product {n}", "list_price": 5},
        "ticket": {"subject": f"Ticket {n}", "customer": any_of["customer"]},
        "campaign": {"name": f"Campaign {n}"},
        "quote": {"customer": any_of["customer"],
                  "lines": [{"product": any_of["product"], "quantity": 1, "unit_price": 10}]},
        "contract": {"title": f"Contract {n}", "customer": any_of["customer"], "amount": 1000,
                     "start_date": "2026-12-01"},
    }[entity]


CHANGE = {"customer": "notes", "contact": "notes", "activity": "subject", "lead": "name", "opportunity": "description",
          "sales_order": "notes", "product": "description", "ticket": "description", "campaign": "description",
          "quote": "reason", "contract": "terms"}


def expected(model, role: str, entity: str, action: str) -> bool:
    rule = model.roles[role].rules.get(entity)
    return rule is not None and action in rule.actions and action not in rule.deny


@pytest.fixture
def people(crm_app):
    """One user per role, in a department, holding only that role."""
    state = crm_app.extensions["tailor"]
    found = {}
    with write_engine(state.engine).begin() as conn:
        department = department_path(conn, "Matrix")
        for role in ROLES:
            user_id = create_user(conn, f"m.{role}", PASSWORD)
            conn.execute(users.update().where(users.c.id == user_id).values(department_id=department))
            set_roles(conn, user_id, [role], state.model.roles)
    with state.engine.connect() as conn:
        for role in ROLES:
            row = conn.execute(users.select().where(users.c.username == f"m.{role}")).mappings().one()
            found[role] = Context(actor=load_actor(conn, row))
    return found


def owned_record(service, entity: str, ctx: Context) -> dict:
    """A record of the role's user, created by the engine in their name."""
    return service.create(entity, {**sample(service, entity, ctx), "owner": ctx.actor.id},
                          Context(actor=SYSTEM), trusted=True)


def attempt(service, entity: str, action: str, ctx: Context) -> bool:
    """Do the action through the records service: True if it succeeded, False if refused."""
    try:
        if action == "read":
            record = owned_record(service, entity, ctx)
            service.list(entity, Query(limit=5), ctx)
            service.get(entity, record["id"], ctx)
        elif action == "create":
            service.create(entity, sample(service, entity, ctx), ctx)
        elif action == "update":
            record = owned_record(service, entity, ctx)
            service.update(entity, record["id"], {CHANGE[entity]: "changed"}, version=record["version"], context=ctx)
        elif action == "delete":
            record = owned_record(service, entity, ctx)
            service.delete(entity, record["id"], context=ctx)
        else:
            service.authorize(entity, action, ctx)
        return True
    except (PermissionDenied, NotFound):
        return False


@pytest.mark.parametrize("role", ROLES)
def test_matrix_through_the_records_service(crm_app, people, role):
    service = crm_app.extensions["tailor"].service
    model = service.model
    wrong = []
    for entity in sorted(model.entities):
        for action in ACTIONS:
            if attempt(service, entity, action, people[role]) != expected(model, role, entity, action):
                wrong.append(f"{role} {action} {entity}: expected {'allowed' if expected(model, role, entity, action) else 'denied'}")
    assert wrong == []


@pytest.mark.parametrize("role", ROLES)
def test_matrix_through_http(crm_app, people, role):
    service = crm_app.extensions["tailor"].service
    model = service.model
    client = crm_app.test_client()
    assert sign_in(client, f"m.{role}").status_code == 302
    token = csrf_of(client.get("/home").get_data(as_text=True))
    wrong = []
    for entity in sorted(model.entities):
        for action in ACTIONS:
            if action == "read":
                record = owned_record(service, entity, people[role])
                statuses = [client.get(f"/e/{entity}").status_code, client.get(f"/e/{entity}/{record['id']}").status_code]
                ok = statuses == [200, 200]
                refused = statuses == [403, 404]
            elif action == "create":
                status = client.get(f"/e/{entity}/new").status_code
                ok, refused = status == 200, status == 403
            elif action == "update":
                record = owned_record(service, entity, people[role])
                status = client.get(f"/e/{entity}/{record['id']}/edit").status_code
                ok, refused = status == 200, status in (403, 404)
            elif action == "delete":
                record = owned_record(service, entity, people[role])
                status = client.post(f"/e/{entity}/{record['id']}/delete",
                                     data={"csrf_token": token, "version": record["version"]}).status_code
                gone = _missing(service, entity, record["id"])
                ok, refused = status == 303 and gone, status in (403, 404) and not gone
            else:
                response = client.get(f"/e/{entity}/export.csv")
                response.get_data()  # a CSV streams: read it to the end
                response.close()
                ok, refused = response.status_code == 200, response.status_code == 403
            allowed = expected(model, role, entity, action)
            if not (ok if allowed else refused):
                wrong.append(f"{role} {action} {entity}: expected {'allowed' if allowed else 'denied'}")
    assert wrong == []


def _missing(service, entity: str, record_id: int) -> bool:
    try:
        service.get(entity, record_id, Context(actor=SYSTEM))
        return False
    except NotFound:
        return True


def test_menu_shows_only_what_a_role_reads(crm_app, people):
    client = crm_app.test_client()
    sign_in(client, "m.service_agent")
    html = client.get("/home").get_data(as_text=True)
    assert 'href="/e/ticket"' in html and 'href="/e/customer"' in html
    assert 'href="/e/opportunity"' not in html and 'href="/e/campaign"' not in html
