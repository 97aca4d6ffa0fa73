""""Save and new" (issue 15, forms that help): a new-record form saves and opens an empty form
for the next record, saying what it saved; an error keeps the user's input and saves nothing."""

from __future__ import annotations

from formutil import form_values
from test_forms import count, service_of, setting


def test_save_and_new_saves_then_offers_an_empty_form_naming_the_saved_record(client, crm_app):
    html = client.get("/e/customer/new").get_data(as_text=True)
    assert 'name="_then" value="new"' in html
    before = count(crm_app, "customer")
    response = client.post("/e/customer/new", data=setting(form_values(html), name="First <Co> 一号", _then="new"))
    assert response.status_code == 303 and response.headers["Location"].endswith("/e/customer/new")
    assert count(crm_app, "customer") == before + 1
    saved = service_of(crm_app).list("customer", limit=1, sort=("-id",))[0]
    assert saved["name"] == "First <Co> 一号"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'href="/e/customer/{saved["id"]}">First &lt;Co&gt; 一号</a>' in page
    assert 'name="name" value=""' in page or 'name="name" value' not in page.split('id="field-name"', 1)[1][:400]
    # the notice is shown once
    assert "First &lt;Co&gt; 一号" not in client.get("/e/customer/new").get_data(as_text=True)
    # the next one, saved the plain way, opens its record
    html = client.get("/e/customer/new").get_data(as_text=True)
    response = client.post("/e/customer/new", data=setting(form_values(html), name="Second Co"))
    assert response.status_code == 303 and "/e/customer/new" not in response.headers["Location"]
    # an edit form has no "save and new"
    assert 'name="_then"' not in client.get(f"/e/customer/{saved['id']}/edit").get_data(as_text=True)


def test_save_and_new_with_an_error_keeps_the_input_and_saves_nothing(client, crm_app):
    html = client.get("/e/customer/new").get_data(as_text=True)
    before = count(crm_app, "customer")
    response = client.post("/e/customer/new", data=setting(form_values(html), name="", city="无锡市 Keep me",
                                                          _then="new"))
    assert response.status_code == 422 and count(crm_app, "customer") == before
    page = response.get_data(as_text=True)
    assert "无锡市 Keep me" in page and 'name="_then" value="new"' in page
