"""Record pages: layout, formatted values, related lists, timeline, comments, delete, bad ids."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from test_forms import form_values, setting
from webutil import csrf_of, sign_in

from engine.storage import comments


def service_of(app):
    return app.extensions["tailor"].service


def section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start:html.index("</section>", start)]


def test_record_page_follows_the_layout(client):
    page = client.get("/e/customer/1")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<a href="?tab=0" class="current" aria-current="page">Overview</a>' in html
    assert '<a href="?tab=1">Finance</a>' in html
    assert html.index("<h2>Basics</h2>") < html.index("<h2>Contact details</h2>")
    assert "Company data" not in html  # another tab
    assert 'style="--cols: 2"' in html
    assert '<dd><span class="badge red">Key account</span></dd>' in html
    assert "<dd>王磊</dd>" in html  # a user field shows the user's name
    finance = client.get("/e/customer/1?tab=1").get_data(as_text=True)
    assert "<h2>Company data</h2>" in finance and 'style="--cols: 1"' in finance
    assert "<dt>Credit limit</dt>" in finance and "2,000,000.00 CNY" in finance
    assert client.get("/e/customer/1?tab=99").status_code == 200  # an unknown tab shows the first
    # credit_limit is visible only for key accounts
    regular = service_of(client.application).list("customer", where="classification == 'regular'", limit=1)[0]
    html = client.get(f"/e/customer/{regular['id']}?tab=1").get_data(as_text=True)
    assert "<dt>Credit limit</dt>" not in html and "<dt>Employees</dt>" in html


def test_values_are_formatted(client):
    contact = client.get("/e/contact/1").get_data(as_text=True)
    assert '<a href="/e/customer/1">苏州华信精密机械有限公司</a>' in contact  # a link shows its target's title
    order = client.get("/e/sales_order/1").get_data(as_text=True)
    lines = order[order.index("<table class=\"grid lines\">"):]
    assert '<a href="/e/product/1">' in lines and "1,036,000" in lines  # lines with computed amounts
    assert '<span class="badge purple">Shipped</span>' in order
    opportunity = client.get("/e/opportunity/1").get_data(as_text=True)
    assert "1,036,000.00 CNY" in opportunity and "100 %" in opportunity
    assert "<dt>Overdue</dt>" in opportunity  # a virtual computed value


def test_labels_in_the_users_language(client):
    page = client.get("/home").get_data(as_text=True)
    client.post("/language", data={"language": "zh", "next": "/home", "csrf_token": csrf_of(page)})
    html = client.get("/e/customer/1").get_data(as_text=True)
    assert '<span class="badge red">重点客户</span>' in html and "<dt>客户分类</dt>" in html and "概况" in html


def test_related_lists(client):
    html = client.get("/e/customer/1").get_data(as_text=True)
    contacts = section(html, "related-contact-customer")
    assert "张伟" in contacts and "李娜" in contacts and '<span class="badge">3</span>' in contacts
    assert 'href="/e/contact?customer=1"' in contacts and 'href="/e/contact/new?customer=1"' in contacts
    assert "长江" not in contacts
    orders = section(html, "related-sales_order-customer")
    assert "SO-2026-0001" in orders
    other = client.get("/e/customer/2").get_data(as_text=True)
    assert "张伟" not in section(other, "related-contact-customer")


def test_timeline_shows_who_changed_what(client):
    html = client.get("/e/customer/3/edit").get_data(as_text=True)
    old_city = service_of(client.application).get("customer", 3)["city"]
    response = client.post("/e/customer/3/edit", data=setting(form_values(html), city="无锡", classification="partner"))
    assert response.status_code == 303
    timeline = section(client.get("/e/customer/3").get_data(as_text=True), "timeline")
    assert "Alice" in timeline and "<strong>Changed</strong>" in timeline and "<strong>Created</strong>" in timeline
    assert f'<span class="muted">City:</span> <del>{old_city}</del> → <ins>无锡</ins>' in timeline
    assert re.search(r"Classification:</span> <del>[^<]+</del> → <ins>Partner</ins>", timeline)
    assert timeline.index("Changed") < timeline.index("Created")  # newest first


def test_hidden_fields_are_never_shown(make_project, make_app):
    root = make_project({"entities/note.yaml": """
        entity: note
        title: subject
        fields:
          subject: {type: string}
          secret: {type: string, hidden: true, label: {en: Secret code}}
    """})
    app = make_app(root)
    record = service_of(app).create("note", {"subject": "Hello", "secret": "s3cr3t"}, trusted=True)
    service_of(app).update("note", record["id"], {"secret": "n3w"}, version=1, trusted=True)
    client = app.test_client()
    sign_in(client)
    for url in (f"/e/note/{record['id']}", f"/e/note/{record['id']}/edit"):
        html = client.get(url).get_data(as_text=True)
        assert "Hello" in html and "s3cr3t" not in html and "n3w" not in html and "Secret code" not in html


def test_comments(client, crm_app):
    html = client.get("/e/customer/1").get_data(as_text=True)
    token = csrf_of(html)
    response = client.post("/e/customer/1/comments", data={"csrf_token": token, "body": "<script>alert(1)</script>\nok"})
    assert response.status_code == 303 and response.headers["Location"] == "/e/customer/1#comments"
    page = section(client.get("/e/customer/1").get_data(as_text=True), "timeline")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "Alice" in page
    with crm_app.extensions["tailor"].engine.connect() as conn:
        stored = conn.execute(sa.select(comments.c.body, comments.c.entity, comments.c.record_id)).all()
    assert [tuple(r) for r in stored] == [("<script>alert(1)</script>\nok", "customer", 1)]
    # empty, too long, unknown fields, no token, a missing record: nothing stored
    empty = client.post("/e/customer/1/comments", data={"csrf_token": token, "body": "   "})
    assert empty.status_code == 422 and 'class="field-error"' in empty.get_data(as_text=True)
    long = client.post("/e/customer/1/comments", data={"csrf_token": token, "body": "x" * 5001})
    assert long.status_code == 422 and "x" * 5001 in long.get_data(as_text=True)  # the text is kept
    assert client.post("/e/customer/1/comments", data={"csrf_token": token, "body": "a", "user_id": "1"}
                       ).status_code == 400
    assert client.post("/e/customer/1/comments", data={"body": "a"}).status_code == 400
    assert client.post("/e/customer/999999/comments", data={"csrf_token": token, "body": "a"}).status_code == 404
    assert client.post("/e/nope/1/comments", data={"csrf_token": token, "body": "a"}).status_code == 404
    assert client.post("/e/customer/1/comments", data={"csrf_token": token, "body": "a\x00"}).status_code == 422
    assert client.post("/e/customer/1/comments", data={"csrf_token": token, "body": "x" * 5000}).status_code == 303
    with crm_app.extensions["tailor"].engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(comments)).scalar_one() == 2


def test_delete(client, crm_app):
    service = service_of(crm_app)
    html = client.get("/e/activity/1").get_data(as_text=True)
    token = csrf_of(html)
    assert 'name="version" value="1"' in html
    # a stale version: nothing deleted, the page says why
    service.update("activity", 1, {"subject": "changed meanwhile"}, version=1)
    stale = client.post("/e/activity/1/delete", data={"csrf_token": token, "version": "1"})
    assert stale.status_code == 409 and "nothing was deleted" in stale.get_data(as_text=True)
    assert "changed meanwhile" in stale.get_data(as_text=True)
    assert client.post("/e/activity/1/delete", data={"csrf_token": token}).status_code == 400
    assert client.post("/e/activity/1/delete", data={"csrf_token": token, "version": "x"}).status_code == 400
    assert client.post("/e/activity/1/delete", data={"version": "2"}).status_code == 400
    assert service.get("activity", 1)["version"] == 2
    done = client.post("/e/activity/1/delete", data={"csrf_token": token, "version": "2"})
    assert done.status_code == 303 and done.headers["Location"] == "/e/activity"
    assert client.get("/e/activity/1").status_code == 404
    assert client.post("/e/activity/1/delete", data={"csrf_token": token, "version": "2"}).status_code == 404
    # restricted: a customer with orders and opportunities stays, with the reason shown
    refused = client.post("/e/customer/1/delete", data={"csrf_token": token, "version": "1"})
    assert refused.status_code == 422
    assert "cannot delete: still used by" in refused.get_data(as_text=True)
    assert service.get("customer", 1)["name"] == "苏州华信精密机械有限公司"


@pytest.mark.parametrize("url", ["/e/customer/abc", "/e/customer/999999", "/e/nope/1", "/e/customer/0",
                                 "/e/customer/-1", "/e/customer/99999999999999999999999", "/e/customer/1.5"])
def test_bad_ids_are_404(client, url):
    response = client.get(url)
    assert response.status_code == 404 and "Not found" in response.get_data(as_text=True)


def test_data_is_escaped_everywhere(client, crm_app):
    record = service_of(crm_app).create("customer", {"name": "<img src=x onerror=alert(1)>", "notes": "<b>bold</b>",
                                                     "website": "https://x.example/?q=\"><script>"})
    for url in (f"/e/customer/{record['id']}", f"/e/customer/{record['id']}/edit", "/e/customer/lookup?q=img"):
        html = client.get(url).get_data(as_text=True)
        assert "<img src=x" not in html and "<b>bold</b>" not in html and '"><script>' not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_pages_work_on_a_phone(client):
    html = client.get("/e/sales_order/1").get_data(as_text=True)
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
    assert '<div class="table-wrap"><table class="grid lines">' in html  # wide tables scroll on their own
    form = client.get("/e/sales_order/1/edit").get_data(as_text=True)
    assert "@media (max-width: 700px) { .fields { --cols: 1; } }" in form


def test_show_all_related_link_lists_them(client):
    assert client.get("/e/contact?customer=1").status_code == 200
    # a link field that is not among list.filters can still narrow the list (record pages link so)
    narrowed = client.get("/e/lead?converted_customer=1").get_data(as_text=True)
    everything = client.get("/e/lead").get_data(as_text=True)
    assert narrowed.count("<tr") < everything.count("<tr")
    assert client.get("/e/lead?no_such_field=1").status_code == 400
