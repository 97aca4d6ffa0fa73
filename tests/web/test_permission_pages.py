"""What the demo CRM's roles mean on the pages: guessed ids, hidden fields in HTML and CSV,
read-only fields, counts, search and autocomplete that do not leak (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from webutil import csrf_of, sign_in

from engine.records import SYSTEM, Context, Query

DEMO_PASSWORD = "demo-pass-1"


@pytest.fixture
def service(crm_app):
    return crm_app.extensions["tailor"].service


def as_user(crm_app, username: str):
    client = crm_app.test_client()
    assert sign_in(client, username, DEMO_PASSWORD).status_code == 302
    return client


def customers(service, username: str | None = None) -> list[dict]:
    rows = service.list("customer", Query(limit=100), Context(actor=SYSTEM))
    if username is None:
        return rows
    with service.engine.connect() as conn:
        user_id = conn.execute(sa.text("SELECT id FROM tailor_user WHERE username = :u"), {"u": username}).scalar()
    return [r for r in rows if r["owner"] == user_id]


def count_of(html: str) -> int:
    """The record count a list page shows next to its title (in any language)."""
    return int(re.search(r'</h1>\s*<span class="muted">\D*(\d+)', html).group(1))


def test_a_guessed_id_of_a_hidden_record_is_404(crm_app, service):
    wang = as_user(crm_app, "wang.lei")
    theirs = customers(service, "emily.chen")[0]
    mine = customers(service, "wang.lei")[0]
    assert wang.get(f"/e/customer/{mine['id']}").status_code == 200
    for path in (f"/e/customer/{theirs['id']}", f"/e/customer/{theirs['id']}/edit"):
        assert wang.get(path).status_code == 404
    assert wang.get(f"/e/customer/{theirs['id'] + 100000}").status_code == 404  # same answer as a missing id
    token = csrf_of(wang.get("/home").get_data(as_text=True))
    assert wang.post(f"/e/customer/{theirs['id']}/comments", data={"csrf_token": token, "body": "hi"}).status_code == 404


def test_lists_counts_search_and_autocomplete_do_not_leak(crm_app, service):
    wang = as_user(crm_app, "wang.lei")
    mine, theirs = customers(service, "wang.lei"), customers(service, "emily.chen")
    html = wang.get("/e/customer").get_data(as_text=True)
    assert count_of(html) == len(mine)
    assert all(c["name"] not in html for c in theirs)
    other = theirs[0]["name"]
    assert other not in wang.get(f"/search?q={other[:4]}").get_data(as_text=True)
    assert other not in wang.get(f"/e/customer/lookup?q={other[:4]}").get_data(as_text=True)
    assert all(c["name"] in html for c in mine)


def test_hidden_fields_are_absent_from_html_and_csv(crm_app, service):
    agent = as_user(crm_app, "liu.yang")  # service agent: customers read-only, credit limit hidden
    customer = next(c for c in customers(service) if c.get("credit_limit"))
    page = agent.get(f"/e/customer/{customer['id']}").get_data(as_text=True)
    assert "Credit limit" not in page and "信用额度" not in page
    assert agent.get("/e/customer?cols=name,credit_limit").status_code == 400  # not even as a chosen column
    assert agent.get("/e/customer?sort=credit_limit").status_code == 400
    wang = as_user(crm_app, "wang.lei")  # sales rep: product cost hidden, export allowed for customers only
    products = wang.get("/e/product?cols=sku,name,list_price").get_data(as_text=True)
    assert "Cost price" not in products and "成本价" not in products
    assert wang.get("/e/product/export.csv").status_code == 403
    response = wang.get("/e/customer/export.csv")
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and customers(service, "wang.lei")[0]["name"] in text
    assert all(c["name"] not in text for c in customers(service, "emily.chen"))


def test_a_write_to_a_read_only_field_is_refused_with_a_message(crm_app, service):
    wang = as_user(crm_app, "wang.lei")  # credit_limit is read-only for sales reps
    mine = customers(service, "wang.lei")[0]
    form = wang.get(f"/e/customer/{mine['id']}/edit").get_data(as_text=True)
    assert 'name="credit_limit"' not in form  # shown as text, not as an input
    data = {"csrf_token": csrf_of(form), "version": mine["version"], "name": mine["name"],
            "level": mine["level"], "credit_limit": "9999999"}
    response = wang.post(f"/e/customer/{mine['id']}/edit", data=data)
    assert response.status_code in (400, 422)
    # wang.lei reads Chinese: the service's refusal reaches him in it
    assert "您无权修改此字段" in response.get_data(as_text=True) or response.status_code == 400
    assert service.get("customer", mine["id"], Context(actor=SYSTEM))["credit_limit"] == mine["credit_limit"]


def test_buttons_follow_the_roles(crm_app, service):
    finance = as_user(crm_app, "sun.li")  # orders: read and export only
    html = finance.get("/e/sales_order").get_data(as_text=True)
    assert "/e/sales_order/export.csv" in html and '/e/sales_order/new"' not in html
    assert 'name="action" value="delete"' not in html
    order = service.list("sales_order", Query(limit=1), Context(actor=SYSTEM))[0]
    page = finance.get(f"/e/sales_order/{order['id']}").get_data(as_text=True)
    assert f'/e/sales_order/{order["id"]}/edit"' not in page and "/delete" not in page
    assert finance.get("/e/sales_order/new").status_code == 403
    manager = as_user(crm_app, "zhao.min")
    html = manager.get("/e/opportunity").get_data(as_text=True)
    assert '/e/opportunity/new"' in html and 'name="action" value="delete"' in html
    # the manager's department (Sales and below) covers both reps' records: all 25 demo deals (21 open or recent, 4 won last year)
    assert count_of(html) == len(service.list("opportunity", Query(limit=100), Context(actor=SYSTEM))) == 25


def test_the_owner_shares_a_record_from_its_page(crm_app, service):
    wang = as_user(crm_app, "wang.lei")
    emily = as_user(crm_app, "emily.chen")
    mine = customers(service, "wang.lei")[0]
    assert emily.get(f"/e/customer/{mine['id']}").status_code == 404
    page = wang.get(f"/e/customer/{mine['id']}").get_data(as_text=True)
    assert 'id="sharing"' in page
    with service.engine.connect() as conn:
        emily_id = conn.execute(sa.text("SELECT id FROM tailor_user WHERE username = 'emily.chen'")).scalar()
    token = csrf_of(page)
    for bad in ({"user_id": "x", "access": "read"}, {"user_id": str(emily_id), "access": "all"},
                {"user_id": str(emily_id), "access": "read", "extra": "1"}):
        assert wang.post(f"/e/customer/{mine['id']}/share", data={"csrf_token": token, **bad}).status_code == 400
    response = wang.post(f"/e/customer/{mine['id']}/share",
                         data={"csrf_token": token, "user_id": str(emily_id), "access": "read"})
    assert response.status_code == 303
    shared = emily.get(f"/e/customer/{mine['id']}")
    assert shared.status_code == 200 and 'id="sharing"' not in shared.get_data(as_text=True)  # not the owner
    assert emily.get(f"/e/customer/{mine['id']}/edit").status_code == 403  # read only
    # someone who does not own it cannot share it
    theirs = customers(service, "emily.chen")[0]
    assert wang.post(f"/e/customer/{theirs['id']}/share",
                     data={"csrf_token": token, "user_id": str(emily_id), "access": "read"}).status_code == 404


def test_boards_move_cards_only_for_those_who_may(crm_app, service):
    manager = as_user(crm_app, "zhao.min")  # tickets: read only
    board = manager.get("/e/ticket/board").get_data(as_text=True)
    assert 'class="kcard"' in board and 'class="kcard-move"' not in board and "Sortable.min.js" not in board
    ticket = service.list("ticket", Query(limit=1), Context(actor=SYSTEM))[0]
    token = csrf_of(board)
    refused = manager.post(f"/e/ticket/{ticket['id']}/stage",
                           data={"csrf_token": token, "stage": "closed", "version": ticket["version"]})
    assert refused.status_code == 403
    assert service.get("ticket", ticket["id"], Context(actor=SYSTEM))["status"] == ticket["status"]
    agent = as_user(crm_app, "liu.yang")
    assert 'class="kcard-move"' in agent.get("/e/ticket/board").get_data(as_text=True)
