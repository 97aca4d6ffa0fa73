"""Record forms and a link's `filter` / `copy_from` on the demo CRM, without a browser: the
lookup of a filtered link, the fields part copying from a link just picked."""

from __future__ import annotations

from formutil import form_values
from werkzeug.datastructures import MultiDict

from engine.records import Query


def _service(app):
    return app.extensions["tailor"].service


def test_a_filtered_lookup_offers_what_its_filter_allows(client, crm_app):
    service = _service(crm_app)
    contacts = service.list("contact", Query(limit=500, columns=("customer",)))
    customer = contacts[0]["customer"]
    theirs = {c["id"] for c in contacts if c["customer"] == customer}
    page = client.get("/e/contact/lookup", query_string={"for": "opportunity.contact", "r.customer": customer,
                                                         "format": "json"})
    assert {r["id"] for r in page.get_json()["results"]} == theirs
    # no customer yet: no contact (the filter compares with null); a value that is no id: the same
    for value in ({}, {"r.customer": "not a number"}):
        page = client.get("/e/contact/lookup", query_string={"for": "opportunity.contact", "format": "json", **value})
        assert page.get_json()["results"] == []
    products = service.list("product", Query(limit=200, columns=("active",)))
    page = client.get("/e/product/lookup", query_string={"for": "sales_order.lines.product", "format": "json"})
    assert {r["id"] for r in page.get_json()["results"]} <= {p["id"] for p in products if p["active"]}
    for wrong in ("sales_order.nothing", "sales_order.customer", "nothing.contact", "sales_order.lines.nope"):
        assert client.get("/e/product/lookup", query_string={"for": wrong}).status_code == 400


def test_the_form_asks_its_lookup_with_the_records_values(client, crm_app):
    customer = _service(crm_app).list("customer", Query(limit=1))[0]["id"]
    html = client.get(f"/e/opportunity/new?customer={customer}").get_data(as_text=True)
    assert f"/e/contact/lookup?for=opportunity.contact&amp;r.customer={customer}" in html
    assert "/e/customer/lookup\"" in html  # an unfiltered link's lookup asks as before


def test_picking_a_product_fills_the_lines_unit_price(client, crm_app):
    service = _service(crm_app)
    product = next(p for p in service.list("product", Query(limit=200)) if p["active"])
    html = client.get("/e/sales_order/new").get_data(as_text=True)
    values = MultiDict(form_values(html))
    values.add("_action", "add:lines")
    token = values["csrf_token"]
    html = client.post("/e/sales_order/form-fields", data=values).get_data(as_text=True)
    values = MultiDict(form_values(f'<form class="record-form">{html}</form>'))
    values["csrf_token"] = token
    values["lines-0-product"] = str(product["id"])
    values["_changed"] = "lines-0-product"
    html = client.post("/e/sales_order/form-fields", data=values).get_data(as_text=True)
    assert dict(form_values(f'<form class="record-form">{html}</form>'))["lines-0-unit_price"] == \
        f'{product["list_price"]:.2f}'

    # another input changed: a price the user typed stays
    values = MultiDict(form_values(f'<form class="record-form">{html}</form>'))
    values["csrf_token"] = token
    values["lines-0-unit_price"] = "1.5"
    values["_changed"] = "lines-0-quantity"
    html = client.post("/e/sales_order/form-fields", data=values).get_data(as_text=True)
    assert 'value="1.5"' in html
    # a post naming inputs that are no links copies nothing and is no error
    for changed in ("lines-9-product", "notes", "lines-0-nope", "x" * 300):
        values["_changed"] = changed
        assert client.post("/e/sales_order/form-fields", data=values).status_code == 200


def test_a_rows_lookup_asks_with_the_records_values_it_reads_as_parent(make_project, make_app):
    """A row's link whose filter reads `parent.customer`: the form's lookup URL carries the
    record's customer (`p.customer`), and the lookup offers that customer's contacts only."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "records"))
    from test_link_rules import FILES
    from webutil import make_user, sign_in

    app = make_app(make_project(FILES))
    make_user(app.extensions["tailor"].engine, app.extensions["tailor"].model, "seller", roles=("rep",))
    service = _service(app)
    acme = service.create("customer", {"name": "Acme"})
    beta = service.create("customer", {"name": "Beta"})
    ann = service.create("contact", {"name": "Ann", "customer": acme["id"]})
    service.create("contact", {"name": "Bob", "customer": beta["id"]})
    deal = service.create("deal", {"customer": acme["id"], "lines": [{"unit_price": 1}]})
    client = app.test_client()
    assert sign_in(client, "seller").status_code == 302
    html = client.get(f"/e/deal/{deal['id']}/edit").get_data(as_text=True)
    assert f"/e/contact/lookup?for=deal.lines.contact&amp;p.customer={acme['id']}" in html, html[-3000:]
    page = client.get("/e/contact/lookup", query_string={"for": "deal.lines.contact", "p.customer": acme["id"],
                                                         "format": "json"})
    assert [r["id"] for r in page.get_json()["results"]] == [ann["id"]]
    for value in ({}, {"p.customer": "nope"}, {"r.customer": acme["id"]}):  # the row has no customer of its own
        page = client.get("/e/contact/lookup", query_string={"for": "deal.lines.contact", "format": "json", **value})
        assert page.get_json()["results"] == []
