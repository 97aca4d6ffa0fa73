"""emails and phones on pages (SQLite and PostgreSQL): the repeating group of a form over
HTTP (add a row, remove a row, change the primary, errors next to their row, an unchanged
edit, posted keys checked), lists (the primary and "+2", filter, search), the record page
(every item with its kind, mailto:/tel: links), CSV export, kanban cards, the timeline,
Chinese, and a role that hides the field."""

from __future__ import annotations

import csv
import io

import pytest
from test_forms import field_html, form_values, service_of, setting
from webutil import csrf_of, make_user, sign_in
from werkzeug.datastructures import MultiDict

from engine.records import Actor, Context

CONTACT = """
entity: contact
label: {en: Contact, zh: 联系人}
title: name
stage: stage
fields:
  name: {type: string, required: true, label: {en: Name, zh: 姓名}}
  emails: {type: emails, label: {en: E-mails, zh: 邮箱}, max_items: 4}
  phones:
    type: phones
    label: {en: Phones, zh: 电话}
    kinds: [work, mobile, {value: fax, label: {en: Fax, zh: 传真}, hidden: true}]
  stage: {type: choice, options: [new, won], default: new}
list:
  columns: [name, emails, phones, stage]
  filters: [emails, stage]
"""

ROLES = """
roles:
  rep:
    entities:
      contact: {actions: [read, create, update, export], scope: all, fields: {phones: hidden}}
"""


COMPANY = """
entity: company
label: {en: Company, zh: 公司}
fields:
  title: {type: string, required: true, label: {en: Title, zh: 名称}}
"""


@pytest.fixture
def app(make_project, make_app):
    with_company = CONTACT.replace("  stage: {type: choice", "  company: {type: link, to: company}\n  stage: {type: choice")
    root = make_project({"entities/contact.yaml": with_company, "entities/company.yaml": COMPANY})
    return make_app(root)


@pytest.fixture
def client(app):
    client = app.test_client()
    assert sign_in(client).status_code == 302
    return client


def _seed(service):
    ctx = Context()
    return [service.create("contact", record, ctx) for record in (
        {"name": "Ann", "emails": ["ann@acme.com", {"value": "ann@home.org", "kind": "personal"}, "a.l@old.com"],
         "phones": ["+1 415 555 0188", {"value": "+86 138 0013 8000", "kind": "mobile", "primary": True}]},
        {"name": "Bob", "emails": ["bob@beta.com"], "stage": "won"},
        {"name": "Cy"},
    )]


def rows_of(html: str, name: str) -> list[tuple[str, str, str]]:
    """(kind, value, row number) of each row of an items field, as a browser would post them."""
    values = dict(form_values(html))
    found = []
    for n in range(20):
        if f"{name}-{n}-value" in values:
            found.append((values.get(f"{name}-{n}-kind", ""), values[f"{name}-{n}-value"], str(n)))
    return found


def test_create_with_added_rows_and_another_primary(app, client):
    service = service_of(app)
    html = client.get("/e/contact/new").get_data(as_text=True)
    emails = field_html(html, "emails")
    assert 'name="emails-0-value"' in emails and 'type="email"' in emails and 'name="emails-0-kind"' in emails
    assert 'name="emails-primary" value="0" checked' in emails and "Add e-mail address" in emails
    assert 'type="tel"' in field_html(html, "phones") and "Fax" not in field_html(html, "phones")  # hidden kind
    assert 'name="emails"' not in html and 'name="emails_items"' not in html
    # a new form filled from its address (`?emails=…`): the one row holds it
    prefilled = client.get("/e/contact/new?emails=Ann@Acme.com").get_data(as_text=True)
    assert rows_of(prefilled, "emails") == [("work", "ann@acme.com", "0")]
    # add a row: the fields part comes back with two rows, the new one of the next kind
    values = setting(form_values(html), name="Ann", **{"emails-0-value": "ann@acme.com"})
    added = client.post("/e/contact/form-fields", data=setting(values, _action="add:emails"),
                        headers={"HX-Request": "true"})
    assert added.status_code == 200 and service.count("contact") == 0
    part = added.get_data(as_text=True)
    assert 'value="ann@acme.com"' in part and 'name="emails-1-value"' in part
    assert rows_of("<form class='record-form'>" + part + "</form>", "emails") == [
        ("work", "ann@acme.com", "0"), ("personal", "", "1")]
    # without htmx the page itself comes back with the row (nothing saved)
    page = client.post("/e/contact/new", data=setting(values, _action="add:emails"))
    assert page.status_code == 200 and service.count("contact") == 0
    values = setting(form_values(page.get_data(as_text=True)), **{
        "emails-1-value": "Ann@Home.org", "emails-primary": "1", "phones-0-value": "138-0013-8000",
        "phones-0-kind": "mobile"})
    response = client.post("/e/contact/new", data=values)
    assert response.status_code == 303, response.get_data(as_text=True)
    saved = service.get("contact", int(response.headers["Location"].rsplit("/", 1)[1]))
    assert saved["emails"] == "ann@home.org"
    assert saved["emails_items"] == ["ann@acme.com", "ann@home.org"]
    assert saved["emails_kinds"] == ["work", "personal"]
    assert (saved["phones"], saved["phones_kinds"]) == ("138-0013-8000", ["mobile"])


def test_edit_remove_a_row_change_the_primary_and_an_unchanged_edit(app, client):
    service = service_of(app)
    ann, _bob, _cy = _seed(service)
    url = f"/e/contact/{ann['id']}/edit"
    html = client.get(url).get_data(as_text=True)
    assert rows_of(html, "emails") == [("work", "ann@acme.com", "0"), ("personal", "ann@home.org", "1"),
                                       ("work", "a.l@old.com", "2")]
    assert 'name="phones-primary" value="1" checked' in html  # the second phone is the primary
    # an unchanged post changes nothing
    assert client.post(url, data=MultiDict(form_values(html))).status_code == 303
    assert service.get("contact", ann["id"])["version"] == 1 and len(service.history("contact", ann["id"])) == 1
    # remove the second row: the rest keeps its order, the form comes back (nothing saved)
    page = client.post(url, data=setting(form_values(html), _action="remove:emails:1"))
    assert page.status_code == 200 and service.get("contact", ann["id"])["version"] == 1
    html = page.get_data(as_text=True)
    assert rows_of(html, "emails") == [("work", "ann@acme.com", "0"), ("work", "a.l@old.com", "1")]
    # and make the last one the primary, as another kind
    response = client.post(url, data=setting(form_values(html), **{"emails-primary": "1", "emails-1-kind": "other"}))
    assert response.status_code == 303, response.get_data(as_text=True)
    saved = service.get("contact", ann["id"])
    assert saved["emails"] == "a.l@old.com" and saved["emails_items"] == ["ann@acme.com", "a.l@old.com"]
    assert saved["emails_kinds"] == ["work", "other"] and saved["version"] == 2
    assert saved["phones_items"] == ann["phones_items"]  # the other field was not touched
    assert set(service.history("contact", ann["id"])[-1]["changes"]) == {"emails", "emails_items", "emails_kinds"}
    # removing the primary row makes the first row left the primary
    html = client.get(url).get_data(as_text=True)
    assert 'name="emails-primary" value="1" checked' in html
    page = client.post(url, data=setting(form_values(html), _action="remove:emails:1"))
    assert 'name="emails-primary" value="0" checked' in page.get_data(as_text=True)
    response = client.post(url, data=MultiDict(form_values(page.get_data(as_text=True))))
    assert response.status_code == 303
    saved = service.get("contact", ann["id"])
    assert (saved["emails"], saved["emails_items"]) == ("ann@acme.com", ["ann@acme.com"])
    # every row removed: no e-mail at all
    html = client.get(url).get_data(as_text=True)
    page = client.post(url, data=setting(form_values(html), _action="remove:emails:0"))
    assert 'name="emails-0-value"' not in field_html(page.get_data(as_text=True), "emails")
    response = client.post(url, data=MultiDict(form_values(page.get_data(as_text=True))))
    assert response.status_code == 303
    assert service.get("contact", ann["id"])["emails_items"] is None


def test_errors_go_next_to_their_row_and_nothing_is_saved(app, client):
    service = service_of(app)
    html = client.get("/e/contact/new").get_data(as_text=True)
    page = client.post("/e/contact/new", data=setting(form_values(html), _action="add:phones"))
    values = setting(form_values(page.get_data(as_text=True)), name="Ann", **{
        "phones-0-value": "", "phones-1-value": "call me", "emails-0-value": "ann@acme.com"})
    page = client.post("/e/contact/new", data=setting(values, _action="add:phones"))
    values = setting(form_values(page.get_data(as_text=True)), **{"phones-2-value": "(415) 555-0188",
                                                                   "phones-3-value": "415.555.0188"})
    response = client.post("/e/contact/new", data=values)
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and service.count("contact") == 0
    phones = field_html(text, "phones")
    # the blank first row is no item: the service's items 1..3 are rows 2..4
    row = phones[phones.find('name="phones-1-value"'):phones.find('name="phones-2-value"')]
    assert "letters are only allowed to mark an extension" in row
    last = phones[phones.find('name="phones-3-value"'):]
    assert "is the same phone number as item 2" in last and 'aria-invalid="true"' in phones
    assert 'value="ann@acme.com"' in text  # what was typed is kept


@pytest.mark.parametrize("extra", [
    {"emails": "x@y.com"}, {"emails_items": "x@y.com"}, {"emails-0-rank": "1"}, {"emails-primary": "one"},
    {"emails-x-value": "a@b.com"}, {"_action": "remove:emails:7"}, {"_action": "add:emails:1"},
])
def test_posted_keys_are_checked(app, client, extra):
    html = client.get("/e/contact/new").get_data(as_text=True)
    response = client.post("/e/contact/new", data=setting(form_values(html), name="Ann", **extra))
    assert response.status_code == 400
    assert service_of(app).count("contact") == 0


def test_too_many_rows(app, client):
    html = client.get("/e/contact/new").get_data(as_text=True)
    values = setting(form_values(html), name="Ann", **{f"emails-{n}-value": f"a{n}@b.com" for n in range(5)})
    response = client.post("/e/contact/new", data=values)
    assert response.status_code == 422 and "at most 4 e-mail addresses" in response.get_data(as_text=True)
    page = client.post("/e/contact/new", data=setting(values, **{"emails-4-value": None}, _action="add:emails"))
    assert page.status_code == 400  # a fifth row is not offered: the button is gone at the limit
    values = setting(form_values(html), **{f"emails-{n}-value": "x" for n in range(101)})
    assert client.post("/e/contact/new", data=values).status_code == 400


def test_lists_record_page_export_board_and_timeline(app, client):
    service = service_of(app)
    ann, bob, cy = _seed(service)
    listing = client.get("/e/contact").get_data(as_text=True)
    assert 'ann@acme.com <span class="muted more-items" title="ann@home.org, a.l@old.com">+2</span>' in listing
    assert '+86 138 0013 8000 <span class="muted more-items" title="+1 415 555 0188">+1</span>' in listing
    assert "bob@beta.com" in listing and "bob@beta.com <span" not in listing
    # the text filter works on the primary; the search box on every item
    page = client.get("/e/contact?emails=acme").get_data(as_text=True)
    assert ">Ann<" in page and ">Bob<" not in page
    assert ">Ann<" not in client.get("/e/contact?emails=home.org").get_data(as_text=True)
    page = client.get("/e/contact?q=home.org").get_data(as_text=True)
    assert ">Ann<" in page and ">Bob<" not in page
    assert ">Ann<" in client.get("/e/contact?q=4155550188").get_data(as_text=True)
    # the record page: every item, the primary first, with its kind and its link
    page = client.get(f"/e/contact/{ann['id']}").get_data(as_text=True)
    assert page.index('href="mailto:ann@acme.com"') < page.index('href="mailto:ann@home.org"') \
        < page.index('href="mailto:a.l@old.com"')
    assert 'href="tel:+8613800138000">+86 138 0013 8000</a> <span class="muted">Mobile</span>' in page
    assert page.index("+86 138 0013 8000") < page.index("+1 415 555 0188")  # the primary first
    assert 'href="tel:+14155550188"' in page and "Personal" in page and "Primary" in page
    # CSV: the primary, and the others with their kinds in a column of their own
    response = client.get("/e/contact/export.csv?sort=name")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Name", "E-mails", "E-mails (others)", "Phones", "Phones (others)", "Stage"]
    assert rows[1] == ["Ann", "ann@acme.com", "ann@home.org (Personal); a.l@old.com (Work)",
                       "'+86 138 0013 8000", "'+1 415 555 0188 (Work)", "New"]  # (a leading + is no formula)
    assert rows[2][:3] == ["Bob", "bob@beta.com", ""] and rows[3][:3] == ["Cy", "", ""]
    # kanban cards show what lists show
    board = client.get("/e/contact/board").get_data(as_text=True)
    assert 'ann@acme.com <span class="muted more-items"' in board and ">+2</span>" in board
    # the timeline says what changed among the items
    service.update("contact", bob["id"], {"emails": ["bob@beta.com", {"value": "bob@home.org", "kind": "personal"}]},
                   version=bob["version"])
    page = client.get(f"/e/contact/{bob['id']}").get_data(as_text=True)
    assert "bob@beta.com, bob@home.org" in page and "Work, Personal" in page


def test_chinese(app, client):
    service = service_of(app)
    ann, _bob, _cy = _seed(service)
    page = client.get("/home").get_data(as_text=True)
    client.post("/language", data={"language": "zh", "next": "/home", "csrf_token": csrf_of(page)})
    page = client.get(f"/e/contact/{ann['id']}").get_data(as_text=True)
    assert "手机" in page and "个人" in page and "首选" in page
    html = client.get(f"/e/contact/{ann['id']}/edit").get_data(as_text=True)
    assert "添加邮箱" in html and "添加电话" in html and ">工作</option>" in html
    response = client.get("/e/contact/export.csv?sort=name")
    assert "邮箱 (其他)" in response.get_data(as_text=True)


def test_a_role_that_hides_the_field(make_project, make_app):
    root = make_project({"entities/contact.yaml": CONTACT, "roles.yaml": ROLES})
    app = make_app(root, users=())
    service = service_of(app)
    rita = make_user(app.extensions["tailor"].engine, app.extensions["tailor"].model, "rita", ("rep",))
    ann, _bob, _cy = _seed(service)
    client = app.test_client()
    assert sign_in(client, "rita").status_code == 302
    for url in (f"/e/contact/{ann['id']}", "/e/contact", "/e/contact/export.csv", f"/e/contact/{ann['id']}/edit"):
        text = client.get(url).get_data(as_text=True)
        assert "ann@acme.com" in text or url.endswith("edit")
        for secret in ("415", "138 0013", "Phones", "phones-0"):
            assert secret not in text, (url, secret)
    assert ">Ann<" not in client.get("/e/contact?q=4155550188").get_data(as_text=True)
    html = client.get(f"/e/contact/{ann['id']}/edit").get_data(as_text=True)
    response = client.post(f"/e/contact/{ann['id']}/edit",
                           data=setting(form_values(html), **{"phones-0-value": "555-0100"}))
    assert response.status_code == 422 and service.get("contact", ann["id"])["version"] == 1
    rep = Context(actor=Actor(id=rita, username="rita", roles=("rep",)))
    assert not {k for k in service.get("contact", ann["id"], rep) if k.startswith("phones")}


def test_related_lists_and_an_edit_conflict(app, client):
    service = service_of(app)
    acme = service.create("company", {"title": "Acme"})
    ann = service.create("contact", {"name": "Ann", "company": acme["id"], "emails": ["ann@acme.com", "ann@home.org"]})
    page = client.get(f"/e/company/{acme['id']}").get_data(as_text=True)
    assert 'ann@acme.com <span class="muted more-items" title="ann@home.org">+1</span>' in page
    # someone else changes the items while the form is open: both versions are shown
    html = client.get(f"/e/contact/{ann['id']}/edit").get_data(as_text=True)
    service.update("contact", ann["id"], {"emails": ["ann@acme.com", "ann@new.org"]}, version=ann["version"])
    response = client.post(f"/e/contact/{ann['id']}/edit",
                           data=setting(form_values(html), **{"emails-1-value": "ann@mine.org"}))
    text = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "ann@acme.com (Work); ann@new.org (Work)" in text and "ann@acme.com (Work); ann@mine.org (Work)" in text
    assert service.get("contact", ann["id"])["emails_items"] == ["ann@acme.com", "ann@new.org"]
