"""Lists that fit (issue 15), in a real browser: at 1366 px a wide list keeps its first column
while it scrolls sideways, cuts long texts short with the whole text on hover, and shows the
totals of all its records; on a phone (390 px) each record is a card of its key fields."""

from __future__ import annotations

from browserutil import screenshot, sign_in


def test_a_wide_list_on_a_laptop_and_as_cards_on_a_phone(browser, live_server):
    laptop = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = laptop.new_page()
    sign_in(page, live_server, language="zh")
    page.goto(live_server.url + "/e/opportunity")
    wrap = page.locator(".table-wrap")
    first = page.locator("table.list tbody tr:first-child td:nth-child(2)")
    third = page.locator("table.list tbody tr:first-child td:nth-child(3)")
    assert wrap.evaluate("w => w.scrollWidth > w.clientWidth"), "the demo list should be wider than 1366 px"
    before_first, before_third = first.bounding_box()["x"], third.bounding_box()["x"]
    scrolled = wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; return w.scrollLeft; }")
    page.wait_for_timeout(50)
    assert scrolled > 10
    assert abs(first.bounding_box()["x"] - before_first) < 1, "the first column scrolled away"
    assert abs(third.bounding_box()["x"] - (before_third - scrolled)) < 1, "the other columns did not scroll"
    # a long title is cut short in its cell and whole on hover
    cut = page.locator("table.list tbody td:nth-child(2)[title]").first
    assert cut.evaluate("td => td.scrollWidth > td.clientWidth")
    assert cut.get_attribute("title") == cut.locator("a").inner_text()
    # totals of every record (21 in the demo, one page), money with its currency, in Chinese
    totals = page.locator("table.list tfoot tr.totals")
    assert totals.locator("th").inner_text().strip() == "合计"
    assert "CNY" in totals.inner_text()
    screenshot(page, "list-wide-zh")
    laptop.close()

    phone_context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                        is_mobile=True, has_touch=True)
    phone = phone_context.new_page()
    sign_in(phone, live_server, "bob")
    phone.goto(live_server.url + "/e/opportunity")
    assert phone.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert not phone.locator("table.list thead").is_visible()
    card = phone.locator("table.list tbody tr").first
    box = card.bounding_box()
    assert box["width"] <= 390 and box["height"] > 60  # a card, not a table row
    shown = card.locator("td.key").evaluate_all("cells => cells.filter(c => c.offsetParent).length")
    hidden = card.locator("td:not(.key):not(.check)").evaluate_all("cells => cells.filter(c => c.offsetParent).length")
    assert shown >= 3 and hidden == 0
    labels = card.locator("td.key").evaluate_all(
        "cells => cells.map(c => getComputedStyle(c, '::before').content)")
    assert '"Stage"' in labels and '"Amount"' in labels  # the key fields, labelled
    screenshot(phone, "list-cards-phone")
    phone_context.close()
