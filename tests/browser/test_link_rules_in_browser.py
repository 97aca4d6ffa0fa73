"""Forms that help (issue 15), in a real browser on the demo CRM, on a desktop and a phone
screen, in English and Chinese:

* a link's lookup shows its first matches on focus, also right after the user typed in
  another field (whose change re-draws the form while the lookup takes the focus);
* a filtered link offers only what its filter allows: the chosen customer's contacts, the
  products on sale; a choice the filter no longer allows is refused on save, in the
  user's language;
* picking a product fills a line's unit price from its list price (copy_from), which the
  user may still change, and the order saves with it.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from browserutil import screenshot, sign_in
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from engine.records import Query

SCREENS = [pytest.param(({"width": 1366, "height": 900}, "en"), id="desktop-en"),
           pytest.param(({"width": 390, "height": 844}, "zh"), id="phone-zh")]


@pytest.fixture
def screen(browser, request):
    viewport, language = request.param
    context = browser.new_context(viewport=viewport, locale="zh-CN" if language == "zh" else "en-US")
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page, language
    context.close()


def re_shown(page, action) -> None:
    """Do something that changes the form, and wait until the server's fields are in."""
    with page.expect_response(lambda r: "/form-fields" in r.url):
        action()
    page.locator("#form-fields.htmx-request, #form-fields.htmx-swapping, #form-fields.htmx-settling"
                 ).first.wait_for(state="detached")


def suggested(page, lookup: str) -> list[int]:
    """The ids a lookup's list offers, once it shows some."""
    page.locator(f"#{lookup}-results li").first.wait_for()
    return [int(i) for i in page.locator(f"#{lookup}-results .lookup-pick").evaluate_all(
        "buttons => buttons.map(b => b.dataset.id)")]


def offered_on_focus(page, lookup: str, expected: set[int], tries: int = 4) -> set[int]:
    """What the lookup offers when its input takes the focus. Emptying the input re-draws the
    form (the link is cleared); a focus that lands while the re-draw swaps the input may ask
    nothing (seen once in CI: a user would click again), so focus again a few times."""
    found: set[int] = set()
    for _ in range(tries):
        page.eval_on_selector(f"#{lookup}-q", "input => input.blur()")
        page.click(f"#{lookup}-q")
        try:
            page.locator(f"#{lookup}-results .lookup-pick").first.wait_for(timeout=3000)
        except PlaywrightTimeout:
            continue
        found = set(suggested(page, lookup))
        if found == expected:
            break
    return found


def pick(page, lookup: str, record_id: int) -> None:
    re_shown(page, lambda: page.locator(f"#{lookup}-results .lookup-pick[data-id='{record_id}']").click())


def saved_id(page, entity: str) -> int:
    page.wait_for_load_state()
    assert re.search(rf"/e/{entity}/\d+$", page.url), page.locator("main").inner_text()[:800]
    return int(page.url.rsplit("/", 1)[1])


@pytest.mark.parametrize("screen", SCREENS, indirect=True)
def test_lookups_on_focus_filters_and_copies(screen, live_server):
    page, language = screen
    service = live_server.app.extensions["tailor"].service
    customers = {r["id"]: r for r in service.list("customer", Query(limit=100, columns=("name",)))}
    contacts = service.list("contact", Query(limit=500, columns=("customer",)))
    by_customer: dict[int, set[int]] = {}
    for contact in contacts:
        by_customer.setdefault(contact["customer"], set()).add(contact["id"])
    first, second = sorted((c for c in by_customer if len(by_customer[c]) > 1), key=lambda c: -len(by_customer[c]))[:2]
    products = service.list("product", Query(limit=200, columns=("name", "active", "list_price")))
    on_sale = {p["id"]: p for p in products if p["active"]}
    assert len(on_sale) < len(products)  # the demo has a product no longer sold
    sign_in(page, live_server, "alice", language=language)

    # -- an opportunity: type the title, then the customer lookup offers its first matches
    page.goto(live_server.url + "/e/opportunity/new")
    page.fill("input[name=title]", f"Focus test {language}")
    re_shown(page, lambda: page.click("#customer-q"))  # the title's change re-draws the form meanwhile
    assert len(suggested(page, "customer")) >= 5
    page.locator("#customer-q").press_sequentially(customers[first]["name"][:4], delay=20)
    page.locator(f"#customer-results .lookup-pick[data-id='{first}']").wait_for()
    pick(page, "customer", first)
    # the main contact: only the chosen customer's contacts, on focus, with nothing typed
    page.click("#contact-q")
    assert set(suggested(page, "contact")) == by_customer[first]
    chosen = sorted(by_customer[first])[0]
    pick(page, "contact", chosen)
    # another customer with the same contact: the lookup now offers the other's contacts,
    # and saving with the old contact is refused at the field, in the user's language
    page.fill("#customer-q", "")
    page.click("#customer-q")
    page.locator("#customer-q").press_sequentially(customers[second]["name"][:4], delay=20)
    page.locator(f"#customer-results .lookup-pick[data-id='{second}']").wait_for()
    pick(page, "customer", second)
    page.fill("input[name=amount]", "1000")
    page.click("form.record-form button[type=submit]")
    error = page.locator("#field-contact .field-error")
    error.wait_for()
    expected = "不能用于主要联系人：不符合该字段的条件" if language == "zh" else \
        "cannot be chosen for Main contact: it does not meet the field's condition"
    assert expected in error.inner_text()
    screenshot(page, f"link-filter-refused-{language}")
    page.fill("#contact-q", "")
    assert offered_on_focus(page, "contact", by_customer[second]) == by_customer[second]
    pick(page, "contact", sorted(by_customer[second])[0])
    page.click("form.record-form button[type=submit]")
    deal = service.get("opportunity", saved_id(page, "opportunity"))
    assert (deal["customer"], deal["contact"]) == (second, sorted(by_customer[second])[0])

    # -- a sales order: a line's product lookup offers products on sale; picking one fills
    # the unit price from its list price, which the user may change
    page.goto(live_server.url + "/e/sales_order/new")
    page.click("#customer-q")
    pick(page, "customer", suggested(page, "customer")[0])
    re_shown(page, lambda: page.click("button[value='add:lines']"))
    page.fill("input[name='lines-0-quantity']", "2")
    re_shown(page, lambda: page.click("#lines-0-product-q"))  # right after typing the quantity
    offered = suggested(page, "lines-0-product")
    assert offered and set(offered) <= set(on_sale)
    product = on_sale[offered[0]]
    pick(page, "lines-0-product", product["id"])
    price = page.locator("input[name='lines-0-unit_price']")
    assert Decimal(price.input_value().replace(",", "")) == product["list_price"]
    screenshot(page, f"copy-from-{language}")
    re_shown(page, lambda: page.click("button[value='add:lines']"))
    page.click("#lines-1-product-q")
    second_product = on_sale[suggested(page, "lines-1-product")[-1]]
    pick(page, "lines-1-product", second_product["id"])
    assert Decimal(page.locator("input[name='lines-1-unit_price']").input_value().replace(",", "")) == \
        second_product["list_price"]
    page.fill("input[name='lines-1-unit_price']", "12.5")
    page.fill("input[name='lines-1-quantity']", "1")
    page.click("form.record-form button[type=submit]")
    order = service.get("sales_order", saved_id(page, "sales_order"))
    assert [(line["product"], line["unit_price"]) for line in order["lines"]] == [
        (product["id"], product["list_price"]), (second_product["id"], Decimal("12.50"))]
