"""Rollups on pages: shown like numbers (a count whole, a sum of amounts as money, the first
date as a date) in lists, record pages, boards and CSV; never an input of a form; sorted
and filtered by users who may read every related record, while a rep who reads only their
own deals sees their own total and is offered neither a sort nor a filter on it, and no
page shows them the stored total (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import re

import pytest
from listutil import plain_cells
from test_forms import form_values, service_of, setting
from webutil import make_user, sign_in

from engine.records import SYSTEM, Context

TAILOR = "name: rollups\nlanguages: [en, zh]\n"
CUSTOMER = """
entity: customer
label: {en: Customer, zh: 客户}
stage: level
fields:
  name: {type: string, required: true, label: {en: Name, zh: 名称}}
  level: {type: choice, options: [normal, key], default: normal}
  open_amount:
    type: rollup
    from: deal.customer
    aggregate: sum
    field: amount
    where: "stage != 'lost'"
    label: {en: Open amount, zh: 未结金额}
  deal_count: {type: rollup, from: deal.customer, aggregate: count, label: {en: Deals, zh: 商机数}}
  next_close: {type: rollup, from: deal.customer, aggregate: min, field: close_date, label: {en: Next close, zh: 最近成交}}
  average_size: {type: rollup, from: deal.customer, aggregate: avg, field: size, label: {en: Average size, zh: 平均规模}}
  big: {type: computed, returns: boolean, expression: "open_amount >= 1000", label: {en: Big, zh: 大客户}}
list:
  columns: [name, open_amount, deal_count, next_close, average_size, big]
  filters: [open_amount, deal_count, next_close]
  sort: [-open_amount]
"""
DEAL = """
entity: deal
label: {en: Deal, zh: 商机}
fields:
  name: {type: string, required: true}
  customer: {type: link, to: customer, required: true}
  amount: {type: money}
  size: {type: integer}
  stage: {type: choice, options: [open, won, lost], default: open}
  close_date: {type: date}
"""
ROLES = """
roles:
  admin:
    entities:
      customer: {actions: [read, create, update, export], scope: all}
      deal: {actions: [read, create, update, export], scope: all}
  rep:
    entities:
      customer: {actions: [read, update, export], scope: all}
      deal: {actions: [read, create, update], scope: own}
  manager:
    entities:
      customer: {actions: [read, export], scope: all}
      deal: {actions: [read], scope: all}
  clerk:
    entities:
      customer: {actions: [read], scope: all}
      deal: {actions: [read], scope: all, fields: {amount: hidden}}
"""
FILES = {"tailor.yaml": TAILOR, "entities/customer.yaml": CUSTOMER, "entities/deal.yaml": DEAL, "roles.yaml": ROLES}


@pytest.fixture
def app(make_project, make_app):
    return make_app(make_project(FILES), users=())


def person(app, name: str, roles: tuple[str, ...]) -> tuple[object, Context]:
    state = app.extensions["tailor"]
    user_id = make_user(state.engine, state.model, name, roles)
    client = app.test_client()
    assert sign_in(client, name).status_code == 302
    from engine.records import Actor

    return client, Context(actor=Actor(id=user_id, username=name, roles=roles))


@pytest.fixture
def world(app):
    """Acme: rep1's deals of 100 and 200 (closing Mar 1 and Feb 1), rep2's of 5,000 and a
    lost one; Beta: one deal of rep2's of 1,500; Gamma: none."""
    service = service_of(app)
    people = {name: person(app, name, (role,)) for name, role in
              (("rep1", "rep"), ("rep2", "rep"), ("boss", "manager"), ("clerk", "clerk"))}
    acme = service.create("customer", {"name": "Acme"})
    beta = service.create("customer", {"name": "Beta"})
    gamma = service.create("customer", {"name": "Gamma"})
    for who, customer, amount, size, close, stage in (
            ("rep1", acme, "100", 3, "2026-03-01", "open"), ("rep1", acme, "200", 4, "2026-02-01", "open"),
            ("rep2", acme, "5000", 10, "2026-05-01", "open"), ("rep2", acme, "7777", 1, None, "lost"),
            ("rep2", beta, "1500", 2, "2026-04-01", "open")):
        service.create("deal", {"name": f"{who} deal", "customer": customer["id"], "amount": amount, "size": size,
                                "close_date": close, "stage": stage}, people[who][1])
    return {"people": {k: v[0] for k, v in people.items()}, "acme": acme, "beta": beta, "gamma": gamma}


def row_of(html: str, name: str) -> str:
    start = html.index(f">{name}</a></td>")
    return plain_cells(html[start:html.index("</tr>", start)])


def header(html: str, label: str) -> str:
    return re.search(rf"<th[^>]*>(?:(?!</th>).)*{label}(?:(?!</th>).)*</th>", html, re.S).group(0)


def names_in_order(html: str) -> list[str]:
    return [n for n in re.findall(r'<td><a href="/e/customer/\d+">([^<]+)</a></td>', plain_cells(html))]


def test_a_manager_sees_and_sorts_and_filters_the_totals(app, world):
    boss = world["people"]["boss"]
    listing = boss.get("/e/customer").get_data(as_text=True)
    acme = row_of(listing, "Acme")
    assert '<td class="num">5,300.00</td>' in acme  # amounts summed as money, the lost deal left out
    assert '<td class="num">4</td>' in acme and "Feb 1, 2026" in acme and '<td class="num">4.5</td>' in acme
    assert '<td class="num">0.00</td>' in row_of(listing, "Gamma") and '<td class="num">0</td>' in row_of(
        listing, "Gamma")
    assert names_in_order(listing) == ["Acme", "Beta", "Gamma"]  # the list's default sort: -open_amount
    assert 'href="/e/customer?sort=' in header(listing, "Open amount")
    assert names_in_order(boss.get("/e/customer?sort=open_amount").get_data(as_text=True)) == ["Gamma", "Beta",
                                                                                                "Acme"]
    assert names_in_order(boss.get("/e/customer?sort=-deal_count").get_data(as_text=True))[0] == "Acme"
    filtered = boss.get("/e/customer?open_amount.min=1000&open_amount.max=2000").get_data(as_text=True)
    assert names_in_order(filtered) == ["Beta"]
    filtered = boss.get("/e/customer?next_close.from=2026-01-01&next_close.to=2026-02-28").get_data(as_text=True)
    assert names_in_order(filtered) == ["Acme"]
    assert 'name="open_amount.min"' in filtered and 'name="deal_count.max"' in filtered
    assert boss.get("/e/customer?open_amount.min=lots").status_code == 400
    page = boss.get(f"/e/customer/{world['acme']['id']}").get_data(as_text=True)
    assert "<dd>5,300.00</dd>" in page and "<dd>4</dd>" in page and "<dd>Feb 1, 2026</dd>" in page
    rows = list(csv.reader(io.StringIO(boss.get("/e/customer/export.csv").get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Name", "Open amount", "Deals", "Next close", "Average size", "Big"]
    assert rows[1] == ["Acme", "5300.00", "4", "2026-02-01", "4.5", "Yes"]
    assert rows[3] == ["Gamma", "0.00", "0", "", "", "No"]
    board = boss.get("/e/customer/board").get_data(as_text=True)
    assert "5,300.00" in board and "Feb 1, 2026" in board


def test_a_rep_sees_their_own_totals_and_cannot_order_by_them(app, world):
    rep1 = world["people"]["rep1"]
    listing = rep1.get("/e/customer")
    assert listing.status_code == 200  # the default sort by the total is dropped for them, not refused
    listing = listing.get_data(as_text=True)
    acme = row_of(listing, "Acme")
    assert '<td class="num">300.00</td>' in acme and '<td class="num">2</td>' in acme
    assert '<td class="num">0.00</td>' in row_of(listing, "Beta")
    for stored in ("5,300", "5300", "1,500", "4.5"):
        assert stored not in listing, stored
    assert "Big" not in listing  # computed from the stored total: hidden from them
    assert names_in_order(listing) == ["Gamma", "Beta", "Acme"]  # newest first instead
    for label in ("Open amount", "Deals", "Next close", "Average size"):
        assert "href" not in header(listing, label), label
    assert 'name="open_amount.min"' not in listing and 'name="deal_count.min"' not in listing
    assert 'name="next_close.from"' not in listing
    for url in ("/e/customer?sort=open_amount", "/e/customer?sort=-deal_count", "/e/customer?open_amount.min=1",
                "/e/customer?next_close.from=2026-01-01"):
        assert rep1.get(url).status_code == 400, url
    page = rep1.get(f"/e/customer/{world['acme']['id']}").get_data(as_text=True)
    assert "<dd>300.00</dd>" in page and "<dd>2</dd>" in page and "<dd>Feb 1, 2026</dd>" in page
    assert "5,300" not in page and "May 1, 2026" not in page
    exported = rep1.get("/e/customer/export.csv").get_data(as_text=True)
    assert "Acme,300.00,2,2026-02-01,3.5" in exported and "5300" not in exported
    board = rep1.get("/e/customer/board").get_data(as_text=True)
    assert "300.00" in board and "5,300" not in board
    # a rep's edit form has no input for it, and leaves it as it was
    html = rep1.get(f"/e/customer/{world['acme']['id']}/edit").get_data(as_text=True)
    assert "open_amount" not in html and "Open amount" not in html and "300.00" not in html
    response = rep1.post(f"/e/customer/{world['acme']['id']}/edit", data=setting(form_values(html), name="Acme Co"))
    assert response.status_code == 303
    stored = service_of(app).get("customer", world["acme"]["id"], Context(actor=SYSTEM))
    assert (stored["name"], str(stored["open_amount"])) == ("Acme Co", "5300.00")


def test_a_rollup_over_what_a_user_may_not_see_is_absent(app, world):
    clerk = world["people"]["clerk"]
    listing = clerk.get("/e/customer").get_data(as_text=True)
    assert "Open amount" not in listing and "5,300" not in listing
    assert "Deals" in listing and '<td class="num">4</td>' in row_of(listing, "Acme")
    assert 'href="/e/customer?sort=deal_count"' in listing  # may read every deal: may sort on the count
    assert clerk.get("/e/customer?sort=open_amount").status_code == 400
    page = clerk.get(f"/e/customer/{world['acme']['id']}").get_data(as_text=True)
    assert "Open amount" not in page and "5,300" not in page


def test_forms_never_take_a_rollup(app, world):
    boss, admin = world["people"]["boss"], person(app, "ada", ("admin",))[0]
    assert boss.get("/e/customer/new").status_code == 403
    html = admin.get("/e/customer/new").get_data(as_text=True)
    assert 'name="open_amount"' not in html and "Open amount" not in html and 'id="field-deal_count"' not in html
    response = admin.post("/e/customer/new", data=setting(form_values(html), name="Delta", open_amount="99"))
    assert response.status_code == 422
    assert "worked out from other records" in response.get_data(as_text=True)  # listed above the form
    html = admin.get(f"/e/customer/{world['acme']['id']}/edit").get_data(as_text=True)
    assert "open_amount" not in html and "5,300" not in html
    response = admin.post(f"/e/customer/{world['acme']['id']}/edit", data=setting(form_values(html)))
    assert response.status_code == 303
    assert len(service_of(app).history("customer", world["acme"]["id"])) == 1  # an unchanged edit


def test_chinese(app, world):
    from webutil import csrf_of

    boss = world["people"]["boss"]
    page = boss.get("/home").get_data(as_text=True)
    boss.post("/language", data={"language": "zh", "next": "/home", "csrf_token": csrf_of(page)})
    listing = boss.get("/e/customer").get_data(as_text=True)
    assert "未结金额" in listing and "5,300.00" in listing and "2026年2月1日" in listing
