"""Numbers, money and phone numbers through the real pages, as signed-in users posting what
a browser would (SQLite and PostgreSQL): text read in the user's language, unchanged forms
that change nothing, the currencies a money field offers, amounts whose currency is another
field's, phone numbers as people type them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from listutil import plain_cells
from test_forms import field_html, form_values, setting
from webutil import sign_in
from werkzeug.datastructures import MultiDict

from engine.storage import users, write_engine

SETTINGS = "name: shop\nlanguages: [en, zh, de]\ncurrency: CNY\ncurrencies: [CNY, USD, EUR]\n"

ITEM = """
entity: item
label: {en: Item, zh: 物品}
title: name
fields:
  name:  {type: string, label: {en: Name, zh: 名称}, required: true}
  qty:   {type: integer, label: {en: Quantity, zh: 数量}}
  ratio: {type: decimal, label: {en: Ratio, zh: 比率}}
  price: {type: money, label: {en: Price, zh: 价格}}
  share: {type: percent, label: {en: Share, zh: 占比}}
  phone: {type: phone, label: {en: Phone, zh: 电话}}
list:
  columns: [name, qty, ratio, price]
  filters: [ratio, price]
"""

DEAL = """
entity: deal
label: {en: Deal, zh: 交易}
title: title
fields:
  title:    {type: string, label: {en: Title, zh: 标题}, required: true}
  currency: {type: choice, label: {en: Currency, zh: 币种}, options: [CNY, USD, EUR], default: CNY}
  amount:   {type: money, label: {en: Amount, zh: 金额}, currency_field: currency, min: 0}
list:
  columns: [title, amount]
  filters: [amount]
"""


@pytest.fixture
def shop(make_project, make_app):
    root = make_project({"tailor.yaml": SETTINGS, "entities/item.yaml": ITEM, "entities/deal.yaml": DEAL})
    app = make_app(root, users=("alice", "bob"))
    with write_engine(app.extensions["tailor"].engine).begin() as conn:  # bob reads and writes German
        conn.execute(users.update().where(users.c.username == "bob").values(language="de"))
    return app


def service_of(app):
    return app.extensions["tailor"].service


def signed_in(app, username="alice"):
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def created_id(response) -> int:
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    return int(response.headers["Location"].rsplit("/", 1)[1])


# -- numbers read in the user's language ----------------------------------------------------------
def test_number_inputs_are_text_with_a_numeric_keyboard(shop):
    html = signed_in(shop).get("/e/item/new").get_data(as_text=True)
    assert 'type="number"' not in html
    assert 'inputmode="numeric" name="qty" type="text"' in html
    assert 'inputmode="decimal" name="ratio" type="text"' in html
    assert 'inputmode="decimal" name="price" type="text"' in html
    assert 'inputmode="decimal" name="share" type="text"' in html
    assert 'name="phone" type="tel"' in html


def test_a_decimal_comma_is_refused_next_to_the_field_and_nothing_saved(shop):
    client = signed_in(shop)
    html = client.get("/e/item/new").get_data(as_text=True)
    response = client.post("/e/item/new", data=setting(form_values(html), name="Bolt", ratio="0,012", price="1,5"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "ambiguous: in this language &#39;,&#39; separates thousands; write 0.012 or 12" in field_html(page, "ratio")
    assert "write 1.5 or 15" in field_html(page, "price")
    assert 'value="0,012"' in page  # the input is kept as typed
    assert service_of(shop).count("item") == 0
    record_id = created_id(client.post("/e/item/new", data=setting(form_values(html), name="Bolt", ratio="0.012",
                                                                   price="1,234.5", qty="１２")))
    saved = service_of(shop).get("item", record_id)
    assert (saved["ratio"], saved["price"], saved["qty"]) == (Decimal("0.0120"), Decimal("1234.50"), 12)


def test_editing_without_changing_a_number_keeps_it_exactly(shop):
    service = service_of(shop)
    record = service.create("item", {"name": "Nut", "qty": 1234567, "ratio": "1234.5678", "price": "1234567.89",
                                     "share": "12.5"})
    for username, shown in (("alice", ("1234.5678", "1234567.89", "12.50")),
                            ("bob", ("1234,5678", "1234567,89", "12,50"))):
        client = signed_in(shop, username)
        html = client.get(f"/e/item/{record['id']}/edit").get_data(as_text=True)
        assert f'name="ratio" type="text" value="{shown[0]}"' in html
        assert f'name="price" type="text" value="{shown[1]}"' in html
        assert f'name="share" type="text" value="{shown[2]}"' in html
        assert 'name="qty" type="text" value="1234567"' in html
        response = client.post(f"/e/item/{record['id']}/edit", data=MultiDict(form_values(html)))
        assert response.status_code == 303, response.get_data(as_text=True)[:2000]
        again = service.get("item", record["id"])
        assert (again["qty"], again["ratio"], again["price"], again["share"], again["version"]) == (
            1234567, Decimal("1234.5678"), Decimal("1234567.89"), Decimal("12.50"), 1)
    assert len(service.history("item", record["id"])) == 1  # no update at all


def test_a_german_user_types_german_numbers(shop):
    client = signed_in(shop, "bob")
    html = client.get("/e/item/new").get_data(as_text=True)
    record_id = created_id(client.post("/e/item/new", data=setting(form_values(html), name="Schraube",
                                                                   ratio="0,012", price="1.234,5")))
    saved = service_of(shop).get("item", record_id)
    assert (saved["ratio"], saved["price"]) == (Decimal("0.0120"), Decimal("1234.50"))
    html = client.get(f"/e/item/{record_id}/edit").get_data(as_text=True)
    response = client.post(f"/e/item/{record_id}/edit", data=setting(form_values(html), ratio="2.5"))
    assert response.status_code == 422
    assert "write 2,5 or 25" in field_html(response.get_data(as_text=True), "ratio")
    assert service_of(shop).get("item", record_id)["ratio"] == Decimal("0.0120")


def test_list_number_filters_read_the_users_language(shop):
    service = service_of(shop)
    for name, ratio in (("small", "0.5"), ("big", "1234.5")):
        service.create("item", {"name": name, "ratio": ratio})
    alice, bob = signed_in(shop), signed_in(shop, "bob")
    page = alice.get("/e/item?ratio.min=1,000.5").get_data(as_text=True)
    assert "big" in page and "small" not in page
    page = bob.get("/e/item?ratio.min=1.000,5").get_data(as_text=True)
    assert "big" in page and "small" not in page
    page = bob.get("/e/item?ratio.max=0,5").get_data(as_text=True)
    assert "small" in page and "big" not in page
    for url in ("/e/item?ratio.min=0,012", "/e/item?ratio.max=1e400", "/e/item?price.min=NaN",
                "/e/item?ratio.min=" + "9" * 500, "/e/item/export.csv?ratio.min=0,5"):
        response = alice.get(url)
        assert response.status_code == 400, url
    assert "write 0.012 or 12" in alice.get("/e/item?ratio.min=0,012").get_data(as_text=True)


# -- money: the currencies offered are the ones accepted -----------------------------------------
def test_money_offers_exactly_its_currencies(shop):
    client = signed_in(shop)
    html = client.get("/e/item/new").get_data(as_text=True)
    offered = field_html(html, "price")
    for code in ("CNY", "USD", "EUR"):
        assert f'value="{code}"' in offered
    assert offered.count("<option") == 3
    response = client.post("/e/item/new", data=setting(form_values(html), name="Gold", price="5", price_currency="GBP"))
    assert response.status_code == 422
    assert "currency must be one of CNY, USD, EUR (got GBP)" in field_html(response.get_data(as_text=True), "price")
    assert service_of(shop).count("item") == 0
    record_id = created_id(client.post("/e/item/new", data=setting(form_values(html), name="Gold", price="5",
                                                                   price_currency="EUR")))
    assert service_of(shop).get("item", record_id)["price_currency"] == "EUR"


def test_a_record_keeps_a_currency_no_longer_offered(shop):
    table = shop.extensions["tailor"].model.entity("item").table
    now = datetime.now(UTC)
    with shop.extensions["tailor"].engine.begin() as conn:
        record_id = conn.execute(table.insert().values(name="Old", price=Decimal("9"), price_currency="GBP", version=1,
                                                       created_at=now, updated_at=now).returning(table.c.id)).scalar_one()
    client = signed_in(shop)
    html = client.get(f"/e/item/{record_id}/edit").get_data(as_text=True)
    assert '<option selected value="GBP">GBP</option>' in field_html(html, "price")
    response = client.post(f"/e/item/{record_id}/edit", data=setting(form_values(html), price="10"))
    assert response.status_code == 303
    saved = service_of(shop).get("item", record_id)
    assert (saved["price"], saved["price_currency"]) == (Decimal("10.00"), "GBP")


# -- money whose currency is another field's ------------------------------------------------------
def test_an_amount_in_the_currency_of_another_field(shop):
    client = signed_in(shop)
    html = client.get("/e/deal/new").get_data(as_text=True)
    assert 'name="amount"' in html and "amount_currency" not in html
    response = client.post("/e/deal/new", data=setting(form_values(html), title="Export", amount="1,200.5",
                                                       currency="EUR"))
    record_id = created_id(response)
    saved = service_of(shop).get("deal", record_id)
    assert (saved["amount"], saved["currency"]) == (Decimal("1200.50"), "EUR") and "amount_currency" not in saved
    assert "1,200.50 EUR" in client.get(f"/e/deal/{record_id}").get_data(as_text=True)
    listing = client.get("/e/deal").get_data(as_text=True)
    assert '<td class="num">1,200.50 EUR</td>' in plain_cells(listing)
    assert "Currency" not in listing.split("<thead>", 1)[1].split("</thead>", 1)[0]  # not a column of its own
    assert "1,200.50 EUR" in client.get("/e/deal?amount.min=1000").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(client.get("/e/deal/export.csv").get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Title", "Amount", "Amount (currency)"] and rows[1] == ["Export", "1200.50", "EUR"]
    # an unchanged edit changes nothing; a new currency changes only the currency
    html = client.get(f"/e/deal/{record_id}/edit").get_data(as_text=True)
    assert 'name="amount" type="text" value="1200.50"' in html
    assert created_id(client.post(f"/e/deal/{record_id}/edit", data=MultiDict(form_values(html)))) == record_id
    assert service_of(shop).get("deal", record_id)["version"] == 1
    client.post(f"/e/deal/{record_id}/edit", data=setting(form_values(html), currency="USD"))
    assert "1,200.50 USD" in client.get(f"/e/deal/{record_id}").get_data(as_text=True)


# -- phone numbers ---------------------------------------------------------------------------------
def test_a_tel_input_takes_everyday_phone_numbers(shop):
    client = signed_in(shop)
    html = client.get("/e/item/new").get_data(as_text=True)
    for typed, stored in (("+1 415 555 0188 ext. 12", "+1 415 555 0188 ext. 12"),
                          ("(415) 555-0188", "(415) 555-0188"),
                          ("010-6552 9988 转 123", "010-6552 9988 转 123"),
                          ("１３８ ００１３ ８０００", "138 0013 8000")):
        html = client.get("/e/item/new").get_data(as_text=True)  # a new form each time: a form creates once
        record_id = created_id(client.post("/e/item/new", data=setting(form_values(html), name="Caller",
                                                                       phone=typed)))
        assert service_of(shop).get("item", record_id)["phone"] == stored
        assert 'href="tel:' in client.get(f"/e/item/{record_id}").get_data(as_text=True)
    before = service_of(shop).count("item")
    html = client.get("/e/item/new").get_data(as_text=True)
    response = client.post("/e/item/new", data=setting(form_values(html), name="Caller", phone="call me maybe"))
    assert response.status_code == 422
    assert "letters are only allowed to mark an extension" in field_html(response.get_data(as_text=True), "phone")
    assert service_of(shop).count("item") == before


def test_the_users_language_is_only_for_their_request(shop):
    """A German request leaves nothing behind: code after it reads numbers in English."""
    signed_in(shop, "bob").get("/e/item/new")
    from engine.fields.numbers import input_language

    assert input_language() == "en"
    with shop.extensions["tailor"].engine.connect() as conn:
        assert conn.execute(sa.select(users.c.language).where(users.c.username == "bob")).scalar_one() == "de"


def test_history_shows_numbers_in_the_readers_language(shop):
    """The audit trail keeps numbers as JSON text (`1234.5000`): a German reader sees them
    formatted for German, not refused as an English number and shown raw."""
    service = service_of(shop)
    record = service.create("item", {"name": "Washer", "ratio": "1"})
    service.update("item", record["id"], {"ratio": "1234.5"}, version=record["version"])
    page = signed_in(shop, "bob").get(f"/e/item/{record['id']}").get_data(as_text=True)
    assert "1.234,5" in page and "1234.5000" not in page
    page = signed_in(shop).get(f"/e/item/{record['id']}").get_data(as_text=True)
    assert "1,234.5" in page and "1234.5000" not in page
