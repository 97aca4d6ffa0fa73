"""Polymorphic links on pages: the form (choose the kind, then the record; changing the
kind drops the record; an unchanged edit changes nothing; a record the user may not read is
refused next to the field), prefilled from a record page, lists (shown, filtered by kind
or record, not sorted), the related lists of the records pointed at, CSV, boards, the
timeline, and an entity with a workflow (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import re

import pytest
from test_forms import field_html, form_values, service_of, setting
from webutil import csrf_of, make_user, sign_in
from werkzeug.datastructures import MultiDict

from engine.records import Actor, Context

TAILOR = "name: poly\nlanguages: [en, zh]\n"
CUSTOMER = """
entity: customer
label: {en: Customer, zh: 客户}
fields:
  name: {type: string, required: true, label: {en: Name, zh: 名称}}
  region: {type: choice, options: [east, west], label: {en: Region, zh: 区域}}
"""
DEAL = """
entity: deal
label: {en: Deal, zh: 商机}
fields:
  name: {type: string, required: true, label: {en: Name, zh: 名称}}
"""
TICKET = """
entity: ticket
label: {en: Ticket, zh: 工单}
fields:
  subject: {type: string, label: {en: Subject, zh: 主题}}
"""
ACTIVITY = """
entity: activity
label: {en: Activity, zh: 活动}
plural: {en: Activities, zh: 活动}
stage: status
fields:
  subject: {type: string, required: true, label: {en: Subject, zh: 主题}}
  parent: {type: polymorphic_link, to: [customer, deal, ticket], label: {en: Regarding, zh: 相关}}
  status: {type: choice, options: [open, done], default: open, label: {en: Status, zh: 状态}}
list:
  columns: [subject, parent, status]
"""
ROLES = """
roles:
  admin:
    entities:
      customer: {actions: [read, create, update, delete, export], scope: all}
      deal: {actions: [read, create, update, delete, export], scope: all}
      ticket: {actions: [read, create, update, delete, export], scope: all}
      activity: {actions: [read, create, update, delete, export], scope: all}
  east:
    entities:
      customer: {actions: [read], scope: "region == 'east'"}
      deal: {actions: [read], scope: all}
      activity: {actions: [read, create, update, export], scope: all}
  reader:
    entities:
      customer: {actions: [read], scope: all}
      activity: {actions: [read], scope: all}
"""
FILES = {"tailor.yaml": TAILOR, "entities/customer.yaml": CUSTOMER, "entities/deal.yaml": DEAL,
         "entities/ticket.yaml": TICKET, "entities/activity.yaml": ACTIVITY, "roles.yaml": ROLES}


@pytest.fixture
def app(make_project, make_app):
    return make_app(make_project(FILES))


@pytest.fixture
def alice(app):
    client = app.test_client()
    assert sign_in(client).status_code == 302
    return client


@pytest.fixture
def world(app):
    """Acme (east) and Westco (west); a deal and a ticket that have Acme's id (another
    record of another kind)."""
    service = service_of(app)
    acme = service.create("customer", {"name": "Acme Ltd", "region": "east"})
    west = service.create("customer", {"name": "Westco", "region": "west"})
    deal = service.create("deal", {"name": "Big deal"})
    ticket = service.create("ticket", {"subject": "Broken pump"})
    assert deal["id"] == ticket["id"] == acme["id"]
    return {"acme": acme, "west": west, "deal": deal, "ticket": ticket}


def signed_in_as(app, name: str, roles: tuple[str, ...]):
    state = app.extensions["tailor"]
    make_user(state.engine, state.model, name, roles)
    client = app.test_client()
    assert sign_in(client, name).status_code == 302
    return client


def options(html: str, name: str) -> list[tuple[str, str]]:
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', select)


def selected(html: str, name: str) -> str:
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    found = [v for tag, v in re.findall(r'(<option[^>]*value="([^"]*)"[^>]*>)', select) if " selected" in tag]
    return found[0] if found else ""


def hidden_value(html: str, name: str) -> str:
    return re.search(rf'<input id="{name}" name="{name}" type="hidden" value="([^"]*)"', html).group(1)


def search_text(html: str, name: str) -> str:
    return re.search(rf'id="{name}-q"[^>]*?value="([^"]*)"', html, re.S).group(1)


def fields_part(client, values, record_id: int | None = None) -> str:
    url = "/e/activity/form-fields" + (f"?record={record_id}" if record_id else "")
    response = client.post(url, data=values)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def test_create_and_edit_through_the_form(app, alice, world):
    service = service_of(app)
    acme, deal = world["acme"], world["deal"]
    html = alice.get("/e/activity/new").get_data(as_text=True)
    part = field_html(html, "parent")
    assert options(part, "parent_entity") == [("", "—"), ("customer", "Customer"), ("deal", "Deal"),
                                              ("ticket", "Ticket")]
    assert hidden_value(part, "parent") == "" and "Choose the kind of record first" in part
    assert "hx-get" not in part  # nothing to search before the kind is chosen
    # choose the kind: the form comes back with a lookup of customers
    values = setting(form_values(html), subject="Call about the pump", parent_entity="customer")
    part = field_html(fields_part(alice, values), "parent")
    assert selected(part, "parent_entity") == "customer"
    assert 'hx-get="/e/customer/lookup"' in part and 'data-kind="customer"' in part
    lookup = alice.get("/e/customer/lookup?q=acm").get_data(as_text=True)
    assert f'data-id="{acme["id"]}"' in lookup and "Westco" not in lookup
    # pick it (the lookup stores KIND:ID), save
    response = alice.post("/e/activity/new", data=setting(values, parent=f"customer:{acme['id']}"))
    assert response.status_code == 303, response.get_data(as_text=True)
    record_id = int(response.headers["Location"].rsplit("/", 1)[1])
    saved = service.get("activity", record_id)
    assert (saved["parent"], saved["parent_entity"]) == (acme["id"], "customer")
    page = alice.get(f"/e/activity/{record_id}").get_data(as_text=True)
    assert f'<a href="/e/customer/{acme["id"]}">Customer · Acme Ltd</a>' in page

    # the edit form shows the kind and the record; an unchanged post changes nothing
    html = alice.get(f"/e/activity/{record_id}/edit").get_data(as_text=True)
    part = field_html(html, "parent")
    assert selected(part, "parent_entity") == "customer"
    assert hidden_value(part, "parent") == f"customer:{acme['id']}" and search_text(part, "parent") == "Acme Ltd"
    response = alice.post(f"/e/activity/{record_id}/edit", data=MultiDict(form_values(html)))
    assert response.status_code == 303
    assert service.get("activity", record_id)["version"] == 1 and len(service.history("activity", record_id)) == 1

    # changing the kind drops the record, which was a customer
    values = setting(form_values(html), parent_entity="deal")
    part = field_html(fields_part(alice, values, record_id), "parent")
    assert selected(part, "parent_entity") == "deal" and hidden_value(part, "parent") == ""
    assert search_text(part, "parent") == "" and 'hx-get="/e/deal/lookup"' in part
    # a post that still carries the customer under the new kind saves no customer (not
    # deal number acme's id, which exists too)
    response = alice.post(f"/e/activity/{record_id}/edit", data=values)
    assert response.status_code == 303
    saved = service.get("activity", record_id)
    assert (saved["parent"], saved["parent_entity"]) == (None, None)
    html = alice.get(f"/e/activity/{record_id}/edit").get_data(as_text=True)
    assert selected(field_html(html, "parent"), "parent_entity") == ""
    response = alice.post(f"/e/activity/{record_id}/edit",
                          data=setting(form_values(html), parent_entity="deal", parent=f"deal:{deal['id']}"))
    assert response.status_code == 303
    saved = service.get("activity", record_id)
    assert (saved["parent"], saved["parent_entity"], saved["version"]) == (deal["id"], "deal", 3)
    # the timeline tells each change as one, with the kinds
    page = alice.get(f"/e/activity/{record_id}").get_data(as_text=True)
    timeline = page[page.index('id="timeline"'):]
    assert "Regarding:</span> <del>Customer · Acme Ltd</del> → <ins>—</ins>" in timeline
    assert "Regarding:</span> <del>—</del> → <ins>Deal · Big deal</ins>" in timeline
    assert "(Entity)" not in timeline and "parent_entity" not in timeline
    # back to Acme, whose id is the deal's: the audit trail holds only the kind's change
    html = alice.get(f"/e/activity/{record_id}/edit").get_data(as_text=True)
    response = alice.post(f"/e/activity/{record_id}/edit", data=setting(
        form_values(html), parent_entity="customer", parent=f"customer:{acme['id']}"))
    assert response.status_code == 303
    assert set(service.history("activity", record_id)[-1]["changes"]) == {"parent_entity"}
    page = alice.get(f"/e/activity/{record_id}").get_data(as_text=True)
    assert "Regarding:</span> <del>Deal · Big deal</del> → <ins>Customer · Acme Ltd</ins>" in page


def test_bad_input_is_refused_next_to_the_field(app, alice, world):
    service = service_of(app)
    html = alice.get("/e/activity/new").get_data(as_text=True)
    for parent, kind, message in ((f"customer:{10**6}", "customer", f"customer {10**6} does not exist"),
                                  ("customer:abc", "customer", "is not a record id"),
                                  ("7", "", "say which kind of record 7 is"),
                                  ("customer:" + "9" * 30, "customer", "is not a record id"),
                                  ("customer:²", "customer", "is not a record id"),
                                  ("customer:-3", "customer", "is not a record id"),
                                  ("ghost:1", "ghost", "&#39;ghost&#39; is not one of customer, deal, ticket"),
                                  ("x" * 500 + ":1", "x" * 500, "is not one of customer, deal, ticket")):
        values = setting(form_values(html), subject="x", parent=parent, parent_entity=kind)
        assert alice.post("/e/activity/form-fields", data=values).status_code == 200, parent
        response = alice.post("/e/activity/new", data=values)
        assert response.status_code == 422, parent
        assert message in field_html(response.get_data(as_text=True), "parent"), parent
    assert service.count("activity") == 0
    response = alice.post("/e/activity/new", data=setting(form_values(html), subject="x", parent_entity="\x00"))
    assert response.status_code == 400 and service.count("activity") == 0


def test_a_record_the_user_may_not_read_cannot_be_chosen_or_seen(app, world):
    service = service_of(app)
    acme, west, ticket = world["acme"], world["west"], world["ticket"]
    eve = signed_in_as(app, "eve", ("east",))
    html = eve.get("/e/activity/new").get_data(as_text=True)
    # only the kinds she may read (not tickets), in her language's labels
    assert [v for v, _label in options(field_html(html, "parent"), "parent_entity")] == ["", "customer", "deal"]
    assert "Westco" not in eve.get("/e/customer/lookup?q=co").get_data(as_text=True)
    response = eve.post("/e/activity/new", data=setting(form_values(html), subject="x", parent_entity="customer",
                                                        parent=f"customer:{west['id']}"))
    assert response.status_code == 422
    assert f"customer {west['id']} does not exist" in field_html(response.get_data(as_text=True), "parent")
    assert service.count("activity") == 0
    response = eve.post("/e/activity/new", data=setting(form_values(html), subject="x", parent_entity="ticket",
                                                        parent=f"ticket:{ticket['id']}"))
    assert response.status_code == 422 and service.count("activity") == 0

    # records pointing where she may not look: the kind and number, never the title
    on_west = service.create("activity", {"subject": "West call", "parent": f"customer:{west['id']}"})
    on_ticket = service.create("activity", {"subject": "Pump visit", "parent": f"ticket:{ticket['id']}"})
    service.create("activity", {"subject": "Acme call", "parent": f"customer:{acme['id']}"})
    listing = eve.get("/e/activity").get_data(as_text=True)
    assert f"Customer #{west['id']}" in listing and f"Ticket #{ticket['id']}" in listing
    assert "Westco" not in listing and "Broken pump" not in listing
    assert f'href="/e/customer/{west["id"]}"' not in listing and "/e/ticket/" not in listing
    assert f'<a href="/e/customer/{acme["id"]}">Customer · Acme Ltd</a>' in listing
    page = eve.get(f"/e/activity/{on_ticket['id']}").get_data(as_text=True)
    assert f"Ticket #{ticket['id']}" in page and "Broken pump" not in page
    # her edit keeps it: the kind stays offered, the record cannot be searched, nothing changes
    html = eve.get(f"/e/activity/{on_ticket['id']}/edit").get_data(as_text=True)
    part = field_html(html, "parent")
    assert selected(part, "parent_entity") == "ticket" and "Broken pump" not in part
    assert "hx-get" not in part and " readonly" in part
    response = eve.post(f"/e/activity/{on_ticket['id']}/edit", data=setting(form_values(html), subject="Pump visit 2"))
    assert response.status_code == 303, response.get_data(as_text=True)
    saved = service.get("activity", on_ticket["id"])
    assert (saved["subject"], saved["parent"], saved["parent_entity"]) == ("Pump visit 2", ticket["id"], "ticket")
    exported = eve.get("/e/activity/export.csv").get_data(as_text=True)
    assert f"Customer #{west['id']}" in exported and "Westco" not in exported and "Broken pump" not in exported
    assert on_west["id"]


def test_new_from_a_customer_page_is_prefilled(app, alice, world):
    acme = world["acme"]
    page = alice.get(f"/e/customer/{acme['id']}").get_data(as_text=True)
    section = page[page.index('id="related-activity-parent"'):]
    assert f'href="/e/activity/new?parent=customer:{acme["id"]}"' in section
    html = alice.get(f"/e/activity/new?parent=customer:{acme['id']}").get_data(as_text=True)
    part = field_html(html, "parent")
    assert selected(part, "parent_entity") == "customer" and hidden_value(part, "parent") == f"customer:{acme['id']}"
    assert search_text(part, "parent") == "Acme Ltd"
    response = alice.post("/e/activity/new", data=setting(form_values(html), subject="Follow-up"))
    assert response.status_code == 303
    saved = service_of(app).get("activity", int(response.headers["Location"].rsplit("/", 1)[1]))
    assert (saved["parent"], saved["parent_entity"]) == (acme["id"], "customer")
    # a kind alone chooses the kind; what names no kind of it leaves the input empty
    part = field_html(alice.get("/e/activity/new?parent=deal").get_data(as_text=True), "parent")
    assert selected(part, "parent_entity") == "deal" and hidden_value(part, "parent") == ""
    for odd in ("ghost:1", "7", "customer:abc", "%00"):
        response = alice.get(f"/e/activity/new?parent={odd}")
        assert response.status_code == 200, odd
        assert hidden_value(field_html(response.get_data(as_text=True), "parent"), "parent") == ""


def _activities(service, world):
    acme, west, deal = world["acme"], world["west"], world["deal"]
    for subject, parent in (("Acme call", f"customer:{acme['id']}"), ("Acme visit", f"customer:{acme['id']}"),
                            ("West call", f"customer:{west['id']}"), ("Deal review", f"deal:{deal['id']}"),
                            ("Loose note", None)):
        service.create("activity", {"subject": subject, "parent": parent})


def subjects(html: str) -> set[str]:
    return {s for s in ("Acme call", "Acme visit", "West call", "Deal review", "Loose note") if s in html}


def test_lists_show_and_filter_it(app, alice, world):
    service = service_of(app)
    acme, deal = world["acme"], world["deal"]
    _activities(service, world)
    listing = alice.get("/e/activity").get_data(as_text=True)
    assert f'<a href="/e/customer/{acme["id"]}">Customer · Acme Ltd</a>' in listing
    assert f'<a href="/e/deal/{deal["id"]}">Deal · Big deal</a>' in listing
    assert "<th>Regarding</th>" in listing  # not sortable
    assert alice.get("/e/activity?sort=parent").status_code == 400
    # the filter: by kind (a default filter of the list), or by record (a record page's "show all")
    assert [v for v, _t in options(listing, "parent")] == ["", "customer", "deal", "ticket"]
    assert subjects(alice.get("/e/activity?parent=customer").get_data(as_text=True)) == \
        {"Acme call", "Acme visit", "West call"}
    assert subjects(alice.get("/e/activity?parent=deal").get_data(as_text=True)) == {"Deal review"}
    filtered = alice.get(f"/e/activity?parent=customer:{acme['id']}").get_data(as_text=True)
    assert subjects(filtered) == {"Acme call", "Acme visit"}  # not the deal with the same id
    assert (f"customer:{acme['id']}", "Customer · Acme Ltd") in options(filtered, "parent")
    assert selected(filtered, "parent") == f"customer:{acme['id']}"
    assert subjects(alice.get(f"/e/activity?parent=deal:{deal['id']}").get_data(as_text=True)) == {"Deal review"}
    for odd in ("ghost", "ghost:1", "7", "customer:abc", "customer:-1", "customer:" + "9" * 30):
        response = alice.get(f"/e/activity?parent={odd}")
        assert response.status_code == 400, odd
        assert "is neither a kind of record it points at nor one of their records" in response.get_data(as_text=True)
    # a saved view keeps the filter
    response = alice.post("/e/activity/views", data={"csrf_token": csrf_of(listing), "name": "Customers",
                                                     "state": "parent=customer"})
    assert response.status_code == 303 and "parent=customer" in response.headers["Location"]


def test_the_customer_page_lists_its_activities(app, alice, world):
    service = service_of(app)
    acme, deal = world["acme"], world["deal"]
    _activities(service, world)
    page = alice.get(f"/e/customer/{acme['id']}").get_data(as_text=True)
    section = page[page.index('id="related-activity-parent"'):]
    section = section[:section.index("</section>")]
    assert "<h2>Activities" in section and '<span class="badge">2</span>' in section
    assert subjects(section) == {"Acme call", "Acme visit"}
    assert f'href="/e/activity?parent=customer:{acme["id"]}"' in section
    page = alice.get(f"/e/deal/{deal['id']}").get_data(as_text=True)
    section = page[page.index('id="related-activity-parent"'):]
    assert subjects(section[:section.index("</section>")]) == {"Deal review"}
    # someone who may not create activities gets the list, with no "new"
    reader = signed_in_as(app, "rick", ("reader",))
    page = reader.get(f"/e/customer/{acme['id']}").get_data(as_text=True)
    section = page[page.index('id="related-activity-parent"'):]
    section = section[:section.index("</section>")]
    assert subjects(section) == {"Acme call", "Acme visit"} and "/e/activity/new" not in section
    assert reader.get(f"/e/deal/{deal['id']}").status_code in (403, 404)  # deals are not the reader's


def test_csv_kanban_and_chinese(app, alice, world):
    service = service_of(app)
    acme = world["acme"]
    _activities(service, world)
    rows = list(csv.reader(io.StringIO(alice.get("/e/activity/export.csv?parent=customer&sort=subject")
                                       .get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Subject", "Regarding", "Status"]
    assert rows[1:] == [["Acme call", "Customer · Acme Ltd", "Open"], ["Acme visit", "Customer · Acme Ltd", "Open"],
                        ["West call", "Customer · Westco", "Open"]]
    board = alice.get("/e/activity/board").get_data(as_text=True)
    assert f'<a href="/e/customer/{acme["id"]}">Customer · Acme Ltd</a>' in board
    assert "Deal · Big deal" in board
    page = alice.get("/home").get_data(as_text=True)
    alice.post("/language", data={"language": "zh", "next": "/home", "csrf_token": csrf_of(page)})
    listing = alice.get("/e/activity").get_data(as_text=True)
    assert "客户 · Acme Ltd" in listing and "商机 · Big deal" in listing
    html = alice.get("/e/activity/new").get_data(as_text=True)
    assert ("customer", "客户") in options(field_html(html, "parent"), "parent_entity")
    assert "请先选择记录类型" in field_html(html, "parent")


def test_a_role_that_hides_the_field(make_project, make_app):
    roles = ROLES + ("  hiding:\n    entities:\n      customer: {actions: [read], scope: all}\n"
                     "      activity: {actions: [read, create, update], scope: all, fields: {parent: hidden}}\n")
    app = make_app(make_project({**FILES, "roles.yaml": roles}), users=())
    service = service_of(app)
    acme = service.create("customer", {"name": "Acme Ltd", "region": "east"})
    activity = service.create("activity", {"subject": "Secret call", "parent": f"customer:{acme['id']}"})
    hal = signed_in_as(app, "hal", ("hiding",))
    listing = hal.get("/e/activity").get_data(as_text=True)
    assert "Secret call" in listing and "Regarding" not in listing and "Acme" not in listing
    assert hal.get(f"/e/activity?parent=customer:{acme['id']}").status_code == 400
    page = hal.get(f"/e/customer/{acme['id']}").get_data(as_text=True)
    assert 'id="related-activity-parent"' not in page  # which activities point here is the hidden value
    html = hal.get(f"/e/activity/{activity['id']}/edit").get_data(as_text=True)
    assert 'name="parent' not in html
    response = hal.post(f"/e/activity/{activity['id']}/edit",
                        data=setting(form_values(html), parent=f"customer:{acme['id']}", parent_entity="customer"))
    assert response.status_code == 422
    rep = Actor(id=None, username="x", roles=("hiding",))
    assert "parent_entity" not in service.get("activity", activity["id"], Context(actor=rep))


WORKFLOW = """
workflow: activity_review
entity: activity
field: status
states:
  open: {editable: true}
  review: {editable: false}
  done: {editable: false}
transitions:
  submit:
    from: open
    to: review
    requires: [parent]
    approval: check
approvals:
  check:
    outcomes: {approved: done, rejected: open, withdrawn: open, returned: open}
    nodes:
      boss: {type: approval, approvers: [{role: admin}]}
"""


def test_an_entity_with_a_workflow(make_project, make_app):
    activity = ACTIVITY.replace("options: [open, done]", "options: [open, review, done]")
    app = make_app(make_project({**FILES, "entities/activity.yaml": activity, "workflows/activity.yaml": WORKFLOW}),
                   users=("alice", "bob"))
    service = service_of(app)
    acme = service.create("customer", {"name": "Acme Ltd", "region": "east"})
    record = service.create("activity", {"subject": "Quarterly review"})
    alice = app.test_client()
    assert sign_in(alice).status_code == 302
    url = f"/e/activity/{record['id']}/do/submit"
    form = alice.get(url)
    assert form.status_code == 200
    response = alice.post(url, data={"csrf_token": csrf_of(form.get_data(as_text=True)), "version": 1,
                                     "field-parent": f"customer:{acme['id']}", "comment": "please"})
    assert response.status_code == 303, response.get_data(as_text=True)
    saved = service.get("activity", record["id"])
    assert (saved["status"], saved["parent"], saved["parent_entity"]) == ("review", acme["id"], "customer")
    bob = app.test_client()
    assert sign_in(bob, "bob").status_code == 302
    inbox = bob.get("/approvals").get_data(as_text=True)
    assert "Quarterly review" in inbox
    page = bob.get(f"/e/activity/{record['id']}").get_data(as_text=True)
    assert "Customer · Acme Ltd" in page
    assert bob.get("/notifications").status_code == 200


def test_a_conflict_shows_both_targets(app, alice, world):
    service = service_of(app)
    acme, deal = world["acme"], world["deal"]
    record = service.create("activity", {"subject": "Call", "parent": f"customer:{acme['id']}"})
    html = alice.get(f"/e/activity/{record['id']}/edit").get_data(as_text=True)
    service.update("activity", record["id"], {"parent": f"deal:{deal['id']}"}, version=1)  # someone else
    response = alice.post(f"/e/activity/{record['id']}/edit", data=setting(form_values(html), subject="Call back"))
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    row = text[text.index('class="differs-parent"'):]
    row = row[:row.index("</tr>")]
    assert '<td class="theirs">Deal · Big deal</td>' in row and '<td class="yours">Customer · Acme Ltd</td>' in row
