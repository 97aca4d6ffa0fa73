"""A polymorphic parent picked in a real browser (Debian's chromium): choose the kind, type,
pick, change the kind (the record goes), pick again, save."""

from __future__ import annotations

import re

import pytest
from browserutil import LiveServer, screenshot, sign_in

FILES = {
    "tailor.yaml": "name: poly\nlanguages: [en, zh]\n",
    "entities/customer.yaml": "entity: customer\nlabel: {en: Customer, zh: 客户}\n"
                              "fields:\n  name: {type: string, required: true}\n",
    "entities/deal.yaml": "entity: deal\nlabel: {en: Deal, zh: 商机}\nfields:\n  name: {type: string, required: true}\n",
    "entities/activity.yaml": "entity: activity\nlabel: {en: Activity, zh: 活动}\nfields:\n"
                              "  subject: {type: string, required: true}\n"
                              "  parent: {type: polymorphic_link, to: [customer, deal], label: {en: Regarding, zh: 相关}}\n",
}


@pytest.fixture
def server(make_project, tmp_path):
    live = LiveServer(make_project(FILES), tmp_path)
    service = live.app.extensions["tailor"].service
    live.customer = service.create("customer", {"name": "Acme Trading"})
    live.deal = service.create("deal", {"name": "Acme renewal"})
    yield live
    live.stop()


def re_shown(page, action) -> None:
    """Do something that changes the form, and wait until the server's fields are in."""
    with page.expect_response(lambda r: "/form-fields" in r.url):
        action()
    # a locator, not a JavaScript predicate: the page's Content-Security-Policy forbids eval
    page.locator("#form-fields.htmx-request, #form-fields.htmx-swapping, #form-fields.htmx-settling"
                 ).first.wait_for(state="detached")


def pick(page, text: str, expected: str) -> None:
    """Type into the record lookup as a person does and pick the match."""
    page.click("#parent-q")
    with page.expect_response(lambda r: "/lookup?q=" + text in r.url):
        page.locator("#parent-q").press_sequentially(text, delay=30)
    re_shown(page, lambda: page.locator("#parent-results .lookup-pick", has_text=expected).first.click())


def test_pick_a_polymorphic_parent(page, server):
    sign_in(page, server)
    page.goto(server.url + "/e/activity/new")
    assert page.locator("#parent-q").is_disabled()  # the kind first
    page.fill("input[name=subject]", "Renewal call")
    re_shown(page, lambda: page.select_option("select[name=parent_entity]", "deal"))
    assert page.locator(".lookup[data-kind=deal] #parent-q").is_enabled()
    pick(page, "Acme", "Acme renewal")
    assert page.locator("input[name=parent]").input_value() == f"deal:{server.deal['id']}"
    assert page.locator("#parent-q").input_value() == "Acme renewal"
    # another kind: the deal goes, and the lookup searches customers
    re_shown(page, lambda: page.select_option("select[name=parent_entity]", "customer"))
    assert page.locator(".lookup[data-kind=customer]").count() == 1
    assert page.locator("input[name=parent]").input_value() == ""
    assert page.locator("#parent-q").input_value() == ""
    pick(page, "Acme", "Acme Trading")
    assert page.locator("#parent-results .lookup-pick").count() == 0
    page.click("form.record-form button[type=submit]")
    page.wait_for_load_state()
    assert re.search(r"/e/activity/\d+$", page.url), page.locator("main").inner_text()[:500]
    assert "Customer · Acme Trading" in page.locator("main").inner_text()
    saved = server.app.extensions["tailor"].service.get("activity", int(page.url.rsplit("/", 1)[1]))
    assert (saved["parent"], saved["parent_entity"]) == (server.customer["id"], "customer")
    screenshot(page, "polymorphic-parent")
