"""Record forms: create, edit, field errors, conditional fields, lines, link lookups, booleans,
conflicts and malformed posts. Forms are read from the page as a browser would send them."""

from __future__ import annotations

import re

import pytest
from formutil import FormValues, form_values  # noqa: F401 (other page tests import them from here)
from webutil import csrf_of, sign_in
from werkzeug.datastructures import MultiDict

from engine.records import Context, Query


def setting(values, **changes) -> MultiDict:
    """The form's values with some replaced (a list sets several, None removes the key)."""
    data = MultiDict(values)
    for key, value in changes.items():
        data.poplist(key)
        for item in value if isinstance(value, list) else [] if value is None else [value]:
            data.add(key, item)
    return data


def without(values, *prefixes) -> list[tuple[str, str]]:
    return [(k, v) for k, v in values if not k.startswith(prefixes)]


def field_html(html: str, name: str) -> str:
    """The markup of one field of a form (its `form-field` block)."""
    start = html.find(f'id="field-{name}"')
    assert start >= 0, f"field {name} is not on the page"
    end = html.find('<div class="form-field', start + 10)
    return html[start:end if end > 0 else len(html)]


def service_of(app):
    return app.extensions["tailor"].service


def count(app, entity):
    return service_of(app).count(entity)


def only_changes(app, entity, record_id):
    return set(service_of(app).history(entity, record_id)[-1]["changes"])


# -- create and edit ----------------------------------------------------------------------------
def test_create_a_customer_through_the_form(client, crm_app):
    page = client.get("/e/customer/new")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="credit_limit"' not in html  # prospect by default: no credit limit
    assert '<option selected value="prospect">Prospect</option>' in html  # the default, labelled
    values = setting(form_values(html), name="Acme <Tools> 有限公司", annual_revenue="1200000.5",
                     tags="vip, new", **{"phones-0-value": "021 5555 0101"})
    response = client.post("/e/customer/new", data=values)
    assert response.status_code == 303, response.get_data(as_text=True)
    record_id = int(response.headers["Location"].rsplit("/", 1)[1])
    saved = service_of(crm_app).get("customer", record_id)
    assert saved["name"] == "Acme <Tools> 有限公司" and saved["classification"] == "prospect"
    assert saved["country"] == "China" and saved["code"].startswith("CUS-")
    assert str(saved["annual_revenue"]) == "1200000.50" and saved["annual_revenue_currency"] == "CNY"
    assert saved["tags"] == ["vip", "new"] and saved["phones"] == "021 5555 0101"
    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Acme &lt;Tools&gt; 有限公司" in shown and "Acme <Tools>" not in shown
    assert "1,200,000.50 CNY" in client.get(response.headers["Location"] + "?tab=1").get_data(as_text=True)


def test_edit_changes_only_what_the_user_changed(client, crm_app):
    html = client.get("/e/customer/1/edit").get_data(as_text=True)
    assert 'name="version" value="1"' in html
    response = client.post("/e/customer/1/edit", data=setting(form_values(html), city="无锡"))
    assert response.status_code == 303 and response.headers["Location"] == "/e/customer/1"
    saved = service_of(crm_app).get("customer", 1)
    assert saved["city"] == "无锡" and saved["version"] == 2 and saved["credit_limit"] == 2000000
    assert only_changes(crm_app, "customer", 1) == {"city"}
    # an activity: its date and time come back from the datetime-local input unchanged
    html = client.get("/e/activity/1/edit").get_data(as_text=True)
    assert 'type="datetime-local"' in html
    response = client.post("/e/activity/1/edit", data=setting(form_values(html), subject="New subject"))
    assert response.status_code == 303
    assert only_changes(crm_app, "activity", 1) == {"subject"}


def test_field_errors_next_to_fields_and_nothing_saved(client, crm_app):
    before = count(crm_app, "customer")
    html = client.get("/e/customer/new").get_data(as_text=True)
    response = client.post("/e/customer/new", data=setting(form_values(html), name="", email="not-an-email",
                                                           employees="-3"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "is required" in field_html(page, "name")
    assert "is not an e-mail address" in field_html(page, "email")
    assert "must be at least 0" in field_html(page, "employees")
    assert 'aria-invalid="true"' in field_html(page, "email")
    assert 'value="not-an-email"' in page  # the input is kept
    assert count(crm_app, "customer") == before
    # a rule of the entity (field: level) lands next to its field too
    response = client.post("/e/customer/new", data=setting(form_values(html), name="Key Co",
                                                           classification="key_account", credit_limit="5",
                                                           level="low"))
    assert response.status_code == 422
    assert "A key account must be of level high." in field_html(response.get_data(as_text=True), "level")
    assert count(crm_app, "customer") == before


def test_record_wide_errors_are_listed_above_the_form(client, crm_app):
    html = client.get("/e/contact/new").get_data(as_text=True)
    response = client.post("/e/contact/new", data=setting(form_values(html), name="Nobody", customer="1"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "Give at least one way to reach the contact." in page
    assert page.index("Give at least one way") < page.index('class="record-form"')


# -- conditional fields ---------------------------------------------------------------------------
def test_credit_limit_appears_and_becomes_required_for_key_accounts(client, crm_app):
    html = client.get("/e/customer/new").get_data(as_text=True)
    values = form_values(html)
    token = csrf_of(html)
    headers = {"X-CSRFToken": token, "HX-Request": "true"}
    regular = client.post("/e/customer/form-fields", data=setting(values, classification="regular"), headers=headers)
    assert regular.status_code == 200 and 'name="credit_limit"' not in regular.get_data(as_text=True)
    key = client.post("/e/customer/form-fields", data=setting(values, classification="key_account", name="X"),
                      headers=headers)
    part = key.get_data(as_text=True)
    assert key.status_code == 200 and part.lstrip().startswith("<div id=\"form-fields\"")
    assert "<html" not in part  # only the fields part
    credit = field_html(part, "credit_limit")
    assert 'name="credit_limit"' in credit and 'aria-required="true"' in credit and 'class="req"' in credit
    assert 'value="X"' in part  # the user's input is kept
    assert 'hx-post="/e/customer/form-fields"' in part and 'hx-trigger="change' in part
    # the full post follows the same rule, decided by the records service
    before = count(crm_app, "customer")
    response = client.post("/e/customer/new", data=setting(values, name="Key Co", classification="key_account",
                                                           level="high"))
    assert response.status_code == 422
    assert "is required" in field_html(response.get_data(as_text=True), "credit_limit")
    assert count(crm_app, "customer") == before
    response = client.post("/e/customer/new", data=setting(values, name="Key Co", classification="key_account",
                                                           level="high", credit_limit="300000"))
    assert response.status_code == 303
    record_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert service_of(crm_app).get("customer", record_id)["credit_limit"] == 300000
    # editing: the field is there for the key account, and goes away live
    edit = client.post(f"/e/customer/form-fields?record={record_id}",
                       data=setting(form_values(client.get(f"/e/customer/{record_id}/edit").get_data(as_text=True)),
                                    classification="partner"), headers=headers)
    assert edit.status_code == 200 and 'name="credit_limit"' not in edit.get_data(as_text=True)


def test_activity_outcome_shows_when_done(client):
    html = client.get("/e/activity/new").get_data(as_text=True)
    assert 'name="outcome"' not in html and '<input type="hidden" name="_present" value="done">' in html
    values = setting(form_values(html), done="1", kind="visit")
    part = client.post("/e/activity/form-fields", data=values, headers={"X-CSRFToken": csrf_of(html)})
    outcome = field_html(part.get_data(as_text=True), "outcome")
    assert 'name="outcome"' in outcome and 'aria-required="true"' in outcome


# -- lines ------------------------------------------------------------------------------------------
def test_lines_add_remove_and_edit_keep_row_ids(client, crm_app):
    service = service_of(crm_app)
    order = service.get("sales_order", 1)  # shipped in the demo data: back to draft, where orders are edited
    order = service.update("sales_order", 1, {"status": "draft"}, version=order["version"])
    ids = [row["id"] for row in order["lines"]]
    assert len(ids) == 2
    html = client.get("/e/sales_order/1/edit").get_data(as_text=True)
    values = form_values(html)
    headers = {"X-CSRFToken": csrf_of(html)}
    # "add row": the fields part comes back with a third, empty row (with the default discount)
    added = client.post("/e/sales_order/form-fields?record=1", data=setting(values, _action="add:lines"),
                        headers=headers).get_data(as_text=True)
    assert 'name="lines-2-id" type="hidden" value=""' in added
    assert 'inputmode="decimal" name="lines-2-discount" type="text" value="0.00"' in added
    # without htmx the same button re-shows the whole form, saving nothing
    page = client.post("/e/sales_order/1/edit", data=setting(values, _action="add:lines"))
    assert page.status_code == 200 and 'name="lines-2-id"' in page.get_data(as_text=True)
    assert service.get("sales_order", 1)["version"] == order["version"]
    # "remove row 1": the second row goes, the first keeps its id
    removed = client.post("/e/sales_order/form-fields?record=1", data=setting(values, _action="remove:lines:1"),
                          headers=headers).get_data(as_text=True)
    assert f'name="lines-0-id" type="hidden" value="{ids[0]}"' in removed and 'name="lines-1-id"' not in removed
    # live computed values: quantity 5 shows the new amount before saving
    live = client.post("/e/sales_order/form-fields?record=1", data=setting(values, **{"lines-0-quantity": "5"}),
                       headers=headers).get_data(as_text=True)
    assert "1,295,000" in live
    # save: row 0 edited, row 1 removed, a new row added
    posted = without(values, "lines-1-")
    posted += [("lines-7-id", ""), ("lines-7-product", "2"), ("lines-7-quantity", "2"),
               ("lines-7-unit_price", "100"), ("lines-7-discount", "")]
    response = client.post("/e/sales_order/1/edit", data=setting(posted, **{"lines-0-quantity": "5"}))
    assert response.status_code == 303, response.get_data(as_text=True)
    saved = service.get("sales_order", 1)
    assert [row["id"] for row in saved["lines"]][0] == ids[0] and ids[1] not in [r["id"] for r in saved["lines"]]
    assert len(saved["lines"]) == 2 and saved["lines"][0]["quantity"] == 5
    assert saved["lines"][1]["product"] == 2 and saved["lines"][1]["amount"] == 200
    assert saved["total"] == 5 * 259000 + 200
    timeline = client.get("/e/sales_order/1").get_data(as_text=True)
    assert "<del>2 rows</del> → <ins>2 rows (1 added, 1 removed, 1 changed)</ins>" in timeline
    # editing again without changes keeps every row id
    html = client.get("/e/sales_order/1/edit").get_data(as_text=True)
    response = client.post("/e/sales_order/1/edit", data=setting(form_values(html), notes="again"))
    assert response.status_code == 303
    assert [r["id"] for r in service.get("sales_order", 1)["lines"]] == [r["id"] for r in saved["lines"]]
    assert only_changes(crm_app, "sales_order", 1) == {"notes"}


def test_line_errors_are_shown_on_their_row(client, crm_app):
    before = count(crm_app, "sales_order")
    html = client.get("/e/sales_order/new?customer=2").get_data(as_text=True)
    values = form_values(html)
    assert ("customer", "2") in values  # filled from the address
    values += [("lines-0-id", ""), ("lines-0-product", ""), ("lines-0-quantity", "abc"), ("lines-0-unit_price", "1")]
    response = client.post("/e/sales_order/new", data=MultiDict(values))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'id="lines-0-product-error"[^>]*>is required', page)
    assert re.search(r'id="lines-0-quantity-error"[^>]*>[^<]*is not a number', page)
    assert 'value="abc"' in page
    assert count(crm_app, "sales_order") == before


def test_a_row_of_another_record_is_refused(client, crm_app):
    order = service_of(crm_app).get("sales_order", 1)  # shipped in the demo data: back to draft, where orders are edited
    service_of(crm_app).update("sales_order", 1, {"status": "draft"}, version=order["version"])
    other = service_of(crm_app).get("sales_order", 2)["lines"][0]["id"]
    html = client.get("/e/sales_order/1/edit").get_data(as_text=True)
    response = client.post("/e/sales_order/1/edit", data=setting(form_values(html), **{"lines-0-id": str(other)}))
    assert response.status_code == 422 and "is not a row of this record" in response.get_data(as_text=True)
    assert service_of(crm_app).get("sales_order", 2)["lines"][0]["id"] == other


# -- link lookups -------------------------------------------------------------------------------------
def test_link_lookup_returns_matching_titles(client):
    html = client.get("/e/customer/lookup?q=华信").get_data(as_text=True)
    assert 'data-id="1"' in html and "苏州华信精密机械有限公司" in html and "长江" not in html
    data = client.get("/e/customer/lookup?q=华信&format=json").get_json()
    assert data["results"] == [{"id": 1, "title": "苏州华信精密机械有限公司"}]
    assert "No matches" in client.get("/e/customer/lookup?q=zzzz-none").get_data(as_text=True)
    assert len(client.get("/e/customer/lookup?q=&format=json").get_json()["results"]) <= 10
    assert client.get("/e/customer/lookup?q=%00%25_").status_code == 200
    assert client.get("/e/nope/lookup?q=a").status_code == 404
    form = client.get("/e/contact/new").get_data(as_text=True)
    assert 'hx-get="/e/customer/lookup"' in form and 'name="q" form="tailor-no-form"' in form


# -- booleans ------------------------------------------------------------------------------------------
def test_an_unticked_checkbox_saves_false(client, crm_app):
    product = service_of(crm_app).get("product", 1)
    assert product["active"] is True
    html = client.get("/e/product/1/edit").get_data(as_text=True)
    values = form_values(html)
    assert ("active", "1") in values
    response = client.post("/e/product/1/edit", data=setting(values, active=None))
    assert response.status_code == 303
    assert service_of(crm_app).get("product", 1)["active"] is False
    html = client.get("/e/product/1/edit").get_data(as_text=True)
    assert ("active", "1") not in form_values(html)
    client.post("/e/product/1/edit", data=setting(form_values(html), active="1"))
    assert service_of(crm_app).get("product", 1)["active"] is True


# -- conflicts -----------------------------------------------------------------------------------------
def test_a_stale_version_shows_both_values_and_keeps_the_input(client, crm_app):
    service = service_of(crm_app)
    html = client.get("/e/customer/1/edit").get_data(as_text=True)
    values = form_values(html)
    service.update("customer", 1, {"city": "无锡"}, version=1)  # someone else saves meanwhile
    response = client.post("/e/customer/1/edit", data=setting(values, city="南京"))
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    row = re.search(r'<tr class="differs-city">.*?</tr>', page, re.S).group(0)
    assert '<td class="theirs">无锡</td>' in row and '<td class="yours">南京</td>' in row
    assert 'name="version" value="2"' in page
    assert 'name="city" type="text" value="南京"' in page  # your input, kept
    assert service.get("customer", 1)["city"] == "无锡"  # nothing changed
    # saving again is a conscious choice: it applies your input over version 2
    response = client.post("/e/customer/1/edit", data=MultiDict(form_values(page)))
    assert response.status_code == 303
    assert service.get("customer", 1)["city"] == "南京" and service.get("customer", 1)["version"] == 3


# -- malformed posts ------------------------------------------------------------------------------------
def test_bad_input_is_a_clear_4xx_and_saves_nothing(client, crm_app):
    service = service_of(crm_app)
    html = client.get("/e/customer/1/edit").get_data(as_text=True)
    values = form_values(html)
    before = service.get("customer", 1)
    customers = count(crm_app, "customer")

    def post(url, data, status, text=None):
        response = client.post(url, data=data)
        assert response.status_code == status, (url, response.status_code, response.get_data(as_text=True)[:500])
        if text:
            assert text in response.get_data(as_text=True)
        return response

    post("/e/customer/1/edit", setting(values, city="X", hacker="1"), 400, "Unknown fields: hacker")
    post("/e/customer/1/edit", setting(values, city="X", **{"lines-0-x": "1"}), 400)
    post("/e/customer/1/edit", setting(values, city="X", version="abc"), 400)
    post("/e/customer/1/edit", setting(values, city="X", version=None), 400)
    post("/e/customer/1/edit", setting(values, city="X", _action="explode"), 400)
    post("/e/customer/1/edit", setting(values, city="X", _present="nothing"), 400)
    post("/e/customer/1/edit", setting(values, city="X", csrf_token=None), 400)
    post("/e/customer/1/edit", setting(values, city="X", code="CUS-99999"), 422, "cannot be written")
    post("/e/customer/1/edit", setting(values, city="X", account_manager="abc"), 422, "is not a record id")
    post("/e/customer/1/edit", setting(values, city="X", account_manager="99999"), 422, "does not exist")
    post("/e/customer/1/edit", setting(values, city="X", classification="nonsense"), 422, "is not one of the options")
    post("/e/customer/1/edit", setting(values, city="X", name="x" * 500), 422, "at most 120 characters")
    token = dict(form_values(client.get("/e/customer/new").get_data(as_text=True)))["form_token"]
    post("/e/customer/new", setting(values, name="Y", version=None, created_at="2020-01-01", form_token=token), 422)
    post("/e/customer/new", MultiDict([("csrf_token", csrf_of(html)), ("name", "a\x00b")]), 400)
    post("/e/customer/1/edit", setting(values, city="X", version="1" + "0" * 30), 400)
    big = client.post("/e/customer/1/edit", data={"csrf_token": csrf_of(html), "notes": "x" * (3 * 1024 * 1024)})
    assert big.status_code == 413
    order = form_values(client.get("/e/sales_order/1/edit").get_data(as_text=True))
    rows = [(f"lines-{i}-quantity", "1") for i in range(501)]
    post("/e/sales_order/1/edit", MultiDict(order + rows), 400, "at most 500 rows")
    post("/e/sales_order/1/edit", MultiDict(order + [("lines-1234567-quantity", "1")]), 400)
    post("/e/sales_order/1/edit", setting(order, total="5"), 422, "is computed")
    assert service.get("customer", 1) == before and count(crm_app, "customer") == customers
    assert service.get("sales_order", 1)["version"] == 1


@pytest.mark.parametrize("url", ["/e/customer/abc/edit", "/e/customer/999999/edit", "/e/nope/1/edit", "/e/nope/new",
                                 "/e/customer/0/edit", "/e/customer/99999999999999999999999/edit"])
def test_forms_of_missing_records_are_404(client, url):
    assert client.get(url).status_code == 404


def test_form_fields_of_a_missing_record_is_404(client):
    html = client.get("/e/customer/new").get_data(as_text=True)
    headers = {"X-CSRFToken": csrf_of(html)}
    assert client.post("/e/customer/form-fields?record=999999", data=MultiDict(form_values(html)),
                       headers=headers).status_code == 404
    assert client.post("/e/customer/form-fields?record=abc", data={}, headers=headers).status_code == 404
    assert client.post("/e/nope/form-fields", data={}, headers=headers).status_code == 404
    assert client.post("/e/customer/form-fields", data={}).status_code == 400  # no CSRF token


# -- every field type, on a project of its own ----------------------------------------------------------
PERSON = """
entity: person
label: {en: Person}
title: name
fields:
  name: {type: string, required: true}
"""

PROJECT = """
entity: project
label: {en: Project, zh: 项目}
title: name
fields:
  name: {type: string, required: true, label: {en: Name, zh: 名称}}
  status:
    type: choice
    label: {en: Status, zh: 状态}
    default: open
    options:
      - {value: open, label: {en: Open, zh: 进行中}, color: green}
      - {value: legacy, label: {en: Legacy, zh: 旧的}, hidden: true}
  locked: {type: boolean}
  budget: {type: money, currency: EUR, currencies: [EUR, USD], readonly_when: "locked"}
  starts_at: {type: datetime}
  areas: {type: multichoice, options: [north, south, east]}
  keywords: {type: tags}
  lead: {type: user}
  site: {type: url}
  secret: {type: string, hidden: true}
  members:
    type: links
    to: person
    payload:
      role: {type: string}
"""


@pytest.fixture
def project_app(make_project, make_app):
    root = make_project({"entities/person.yaml": PERSON, "entities/project.yaml": PROJECT})
    return make_app(root, users=("alice", "bob"))


def test_every_widget_round_trips(project_app):
    client = project_app.test_client()
    sign_in(client)
    service = service_of(project_app)
    ann = service.create("person", {"name": "Ann <b>"})
    html = client.get("/e/project/new").get_data(as_text=True)
    assert 'value="legacy"' not in html  # a hidden option is not offered
    assert 'name="secret"' not in html
    assert 'type="datetime-local"' in html and 'type="url"' in html
    assert '<option value="EUR">EUR</option>' in html and 'name="areas" value="south"' in html
    values = setting(form_values(html), name="P1", budget="10.5", budget_currency="USD", starts_at="2026-03-01T09:30",
                     areas=["north", "east"], keywords="a, b", lead="2", site="https://example.com/?a=1&b=2",
                     **{"members-0-id": str(ann["id"]), "members-0-role": "owner"})
    response = client.post("/e/project/new", data=values)
    assert response.status_code == 303, response.get_data(as_text=True)
    record_id = int(response.headers["Location"].rsplit("/", 1)[1])
    saved = service.get("project", record_id)
    assert saved["budget_currency"] == "USD" and str(saved["budget"]) == "10.50"
    assert saved["starts_at"].isoformat() == "2026-03-01T09:30:00+00:00"
    assert saved["areas"] == ["north", "east"] and saved["keywords"] == ["a", "b"] and saved["lead"] == 2
    assert saved["members"] == [{"id": ann["id"], "role": "owner"}]
    page = client.get(f"/e/project/{record_id}").get_data(as_text=True)
    assert "Ann &lt;b&gt;" in page and "Ann <b>" not in page and "Bob" in page and "10.50 USD" in page
    assert '<span class="badge green">Open</span>' in page
    # the edit form shows every value again; an unchanged post changes nothing
    html = client.get(f"/e/project/{record_id}/edit").get_data(as_text=True)
    assert 'value="2026-03-01T09:30"' in html and 'value="a, b"' in html and "Ann &lt;b&gt;" in html
    response = client.post(f"/e/project/{record_id}/edit", data=MultiDict(form_values(html)))
    assert response.status_code == 303 and len(service.history("project", record_id)) == 1
    assert service.get("project", record_id)["version"] == 1
    # unticking every area empties the field; removing the member row unlinks it
    response = client.post(f"/e/project/{record_id}/edit",
                           data=setting(without(form_values(html), "members-"), areas=None))
    assert response.status_code == 303
    saved = service.get("project", record_id)
    assert saved["areas"] is None and saved["members"] == []
    # a record that holds a hidden option keeps it on offer; locked budgets are read-only
    service.update("project", record_id, {"status": "legacy", "locked": True}, version=saved["version"], trusted=True)
    html = client.get(f"/e/project/{record_id}/edit").get_data(as_text=True)
    assert '<option selected value="legacy">Legacy</option>' in html and 'name="budget"' not in html
    assert "10.50 USD" in field_html(html, "budget")
    response = client.post(f"/e/project/{record_id}/edit", data=setting(form_values(html), budget="99"))
    assert response.status_code == 422 and "is read-only now" in response.get_data(as_text=True)


def test_labels_and_options_in_the_users_language(project_app):
    client = project_app.test_client()
    sign_in(client)
    page = client.get("/home").get_data(as_text=True)
    client.post("/language", data={"language": "zh", "next": "/home", "csrf_token": csrf_of(page)})
    html = client.get("/e/project/new").get_data(as_text=True)
    assert "名称" in html and '<option selected value="open">进行中</option>' in html


def test_form_classes_are_cached_per_model_version(crm_app):
    from engine.web.forms import form_class

    entity = crm_app.extensions["tailor"].model.entities["customer"]
    assert form_class(entity, "v1") is form_class(entity, "v1")
    assert form_class(entity, "v2") is not form_class(entity, "v1")


def test_lookups_use_the_records_service(client, crm_app):
    rows = service_of(crm_app).list("product", Query(search="VMC", limit=10), Context())
    data = client.get("/e/product/lookup?q=VMC&format=json").get_json()
    assert [r["id"] for r in data["results"]] == [r["id"] for r in rows] and rows


# -- repeated posts (engine/web/form_tokens.py) ---------------------------------------------------
def test_a_create_form_posted_twice_makes_one_record(client, crm_app):
    html = client.get("/e/customer/new").get_data(as_text=True)
    assert 'name="form_token"' in html
    values = setting(form_values(html), name="Twice Posted Ltd")
    before = count(crm_app, "customer")
    first = client.post("/e/customer/new", data=values)
    assert first.status_code == 303
    record_id = int(first.headers["Location"].rsplit("/", 1)[1])
    again = client.post("/e/customer/new", data=values)  # a double click, a reload, the back button
    assert again.status_code == 409
    page = again.get_data(as_text=True)
    assert "This form was already sent" in page and "Twice Posted Ltd" in page  # the record it created
    assert f"/e/customer/{record_id}/edit" in page
    assert count(crm_app, "customer") == before + 1
    # a new form is a new token: the same values may be saved again on purpose
    fresh = setting(form_values(client.get("/e/customer/new").get_data(as_text=True)), name="Posted Again Ltd")
    assert client.post("/e/customer/new", data=fresh).status_code == 303
    assert count(crm_app, "customer") == before + 2


def test_a_refused_create_form_keeps_its_token_until_it_is_saved(client, crm_app):
    values = form_values(client.get("/e/customer/new").get_data(as_text=True))
    before = count(crm_app, "customer")
    refused = client.post("/e/customer/new", data=setting(values, name=""))
    assert refused.status_code == 422
    shown = form_values(refused.get_data(as_text=True))
    assert dict(shown)["form_token"] == dict(values)["form_token"]  # the same form, still unused
    assert client.post("/e/customer/new", data=setting(shown, name="Fixed Ltd")).status_code == 303
    assert client.post("/e/customer/new", data=setting(shown, name="Fixed Ltd")).status_code == 409
    assert count(crm_app, "customer") == before + 1


def test_form_tokens_not_issued_here_are_refused(client, crm_app):
    values = form_values(client.get("/e/customer/new").get_data(as_text=True))
    token = dict(values)["form_token"]
    before = count(crm_app, "customer")
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "x", "a" * 1000):
        response = client.post("/e/customer/new", data=setting(values, name="Forged", form_token=bad))
        assert response.status_code == 400
        assert "This form was not issued to you here" in response.get_data(as_text=True)
    other = form_values(client.get("/e/contact/new").get_data(as_text=True))
    response = client.post("/e/customer/new", data=setting(values, name="Forged", form_token=dict(other)["form_token"]))
    assert response.status_code == 400  # a token of another entity's form
    bob = crm_app.test_client()
    assert sign_in(bob, "wang.lei", "demo-pass-1").status_code == 302
    theirs = form_values(bob.get("/e/customer/new").get_data(as_text=True))
    response = client.post("/e/customer/new", data=setting(values, name="Forged", form_token=dict(theirs)["form_token"]))
    assert response.status_code == 400  # someone else's form
    assert count(crm_app, "customer") == before


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_create_form_without_its_token_creates_nothing(client, crm_app, language):
    """A post without the one-time token (a page from before tokens, a script) saves
    nothing: the form comes back, values kept, with a new token to save it once."""
    client.post("/language", data={"language": language,
                                   "csrf_token": csrf_of(client.get("/home").get_data(as_text=True))})
    values = setting(form_values(client.get("/e/customer/new").get_data(as_text=True)), name="Tokenless Ltd",
                     form_token=None)
    before = count(crm_app, "customer")
    for _ in range(2):
        response = client.post("/e/customer/new", data=values)
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert ("nothing was saved" if language == "en" else "什么也没有保存") in page
        assert count(crm_app, "customer") == before
    shown = form_values(page)
    assert dict(shown)["name"] == "Tokenless Ltd" and dict(shown)["form_token"]  # values kept, a new token
    assert client.post("/e/customer/new", data=MultiDict(shown)).status_code == 303
    assert client.post("/e/customer/new", data=MultiDict(shown)).status_code == 409
    assert count(crm_app, "customer") == before + 1


def test_the_form_token_survives_htmx_refreshes_and_added_rows(client, crm_app):
    html = client.get("/e/sales_order/new").get_data(as_text=True)
    values = form_values(html)
    refreshed = client.post("/e/sales_order/form-fields", data=MultiDict(values))
    assert refreshed.status_code == 200  # the token is a known key of the form
    added = client.post("/e/sales_order/new", data=setting(values, _action="add:lines"))
    assert added.status_code == 200
    assert dict(form_values(added.get_data(as_text=True)))["form_token"] == dict(values)["form_token"]


def test_an_edit_form_posted_twice_saves_once(client, crm_app):
    """Edit forms need no token: the version they carry makes a second post change nothing
    more (the same values again), or a conflict when it would change something."""
    html = client.get("/e/customer/1/edit").get_data(as_text=True)
    values = setting(form_values(html), city="常州")
    assert "form_token" not in dict(values)
    version = service_of(crm_app).get("customer", 1)["version"]
    entries = len(service_of(crm_app).history("customer", 1))
    assert client.post("/e/customer/1/edit", data=values).status_code == 303
    assert client.post("/e/customer/1/edit", data=values).status_code in (303, 409)
    assert service_of(crm_app).get("customer", 1)["version"] == version + 1
    assert len(service_of(crm_app).history("customer", 1)) == entries + 1
    stale = client.post("/e/customer/1/edit", data=setting(values, city="杭州"))  # the old version, new values
    assert stale.status_code == 409 and service_of(crm_app).get("customer", 1)["city"] == "常州"
