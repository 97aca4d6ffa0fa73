"""The end-user flows of the issue, in a real browser (Debian's chromium)."""

from __future__ import annotations

import re

from browserutil import screenshot, sign_in


def settled(page) -> None:
    """Wait until the form's fields are not on their way back: a change (leaving an input)
    posts them and swaps in a new part, which replaces a lookup's open matches.
    (`wait_for_load_state("networkidle")` returns at once after the page has loaded.)"""
    page.locator("#form-fields.htmx-request").wait_for(state="detached")


def pick(page, field: str, text: str) -> None:
    """Type into a link field as a person does and pick the first match."""
    page.click(f"#{field}-q")
    settled(page)  # the form re-renders after the previous field changed
    page.locator(f"#{field}-q").press_sequentially(text, delay=30)
    page.locator(f"#{field}-results .lookup-pick").first.click()
    settled(page)


def save(page) -> None:
    page.click("form.record-form button[type=submit]")
    page.wait_for_load_state()


def test_create_customer_with_two_contacts_then_edit(page, live_server):
    sign_in(page, live_server)
    page.goto(live_server.url + "/e/customer/new")
    page.fill("input[name=name]", "Browser Test Trading Co.")
    page.select_option("select[name=level]", "low")
    save(page)
    assert re.search(r"/e/customer/\d+$", page.url), page.url
    customer_url = page.url
    for name, phone in (("Li Na", "13800138001"), ("Zhou Jie", "13800138002")):
        page.goto(live_server.url + "/e/contact/new")
        first, last = name.split()  # a contact's name is typed in parts (person_name)
        page.fill("input[name=name_first]", first)
        page.fill("input[name=name_last]", last)
        pick(page, "customer", "Browser Test")
        page.fill("input[name=mobile]", phone)
        save(page)
        assert re.search(r"/e/contact/\d+$", page.url), page.content()[:500]
    page.goto(customer_url)
    body = page.locator("main").inner_text()
    assert "Li Na" in body and "Zhou Jie" in body  # related contacts
    page.goto(customer_url + "/edit")
    page.fill("input[name=city]", "Ningbo")
    save(page)
    assert "Ningbo" in page.locator("main").inner_text()
    screenshot(page, "customer-record")


def test_conditional_field_appears_and_becomes_required(page, live_server):
    sign_in(page, live_server)
    page.goto(live_server.url + "/e/customer/new")
    assert page.locator("input[name=credit_limit]").count() == 0
    page.fill("input[name=name]", "Key Account Browser Ltd")
    page.select_option("select[name=classification]", "key_account")
    page.locator("input[name=credit_limit]").wait_for()
    page.select_option("select[name=level]", "high")
    save(page)
    assert "/new" in page.url or page.locator(".field-error").count() > 0
    assert "required" in page.locator("main").inner_text()
    page.fill("input[name=credit_limit]", "500000")
    save(page)
    assert re.search(r"/e/customer/\d+$", page.url), page.locator("main").inner_text()[:500]
    screenshot(page, "conditional-field-saved")


def test_order_lines_add_and_remove(page, live_server):
    sign_in(page, live_server)
    page.goto(live_server.url + "/e/sales_order/new")
    pick(page, "customer", "华")
    for _ in range(3):
        before = page.locator("button.remove-row").count()
        page.click("button.add-row")
        page.locator("button.remove-row").nth(before).wait_for()  # no JS predicate: the CSP forbids eval
    assert page.locator("button.remove-row").count() == 3
    page.locator("button.remove-row").nth(2).click()
    page.locator("button.remove-row").nth(2).wait_for(state="detached")
    for row in range(2):
        pick(page, f"lines-{row}-product", "-")
        page.fill(f"input[name='lines-{row}-quantity']", str(row + 2))
        page.fill(f"input[name='lines-{row}-unit_price']", "100")
    save(page)
    assert re.search(r"/e/sales_order/\d+$", page.url), page.locator("main").inner_text()[:800]
    text = page.locator("main").inner_text()
    assert "500" in text  # 2 x 100 + 3 x 100
    screenshot(page, "order-with-lines")


def test_two_sessions_editing_the_same_record_see_a_conflict(browser, live_server):
    first, second = browser.new_context(), browser.new_context()
    a, b = first.new_page(), second.new_page()
    sign_in(a, live_server, "alice")
    sign_in(b, live_server, "bob")
    a.goto(live_server.url + "/e/product")
    product_url = a.locator("table.grid tbody a").first.get_attribute("href")
    a.goto(live_server.url + product_url + "/edit")
    b.goto(live_server.url + product_url + "/edit")
    a.fill("textarea[name=description]", "Alice's description")
    save(a)
    b.fill("textarea[name=description]", "Bob's description")
    save(b)
    conflict = b.locator("#conflict")
    assert conflict.is_visible()
    assert "Alice's description" in conflict.inner_text() and "Bob's description" in conflict.inner_text()
    assert b.locator("textarea[name=description]").input_value() == "Bob's description"  # nothing lost
    screenshot(b, "edit-conflict")
    first.close()
    second.close()


def test_drag_an_opportunity_on_the_kanban(page, live_server):
    sign_in(page, live_server)
    page.goto(live_server.url + "/e/opportunity/board")
    source = page.locator(".cards[data-stage=prospecting] .kcard").first
    card_id = source.get_attribute("data-id")
    target = page.locator(".cards[data-stage=qualification]")
    before = target.locator(".kcard").count()
    with page.expect_response(lambda r: f"/opportunity/{card_id}/stage" in r.url) as answer:
        source.drag_to(target)
    assert answer.value.status == 200
    page.reload()
    moved = page.locator(f".cards[data-stage=qualification] #card-{card_id}")
    assert moved.count() == 1
    assert page.locator(".cards[data-stage=qualification] .kcard").count() == before + 1
    screenshot(page, "kanban-after-drag")
