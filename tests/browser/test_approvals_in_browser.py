"""Approval flows in a real browser: a sales rep submits an order with a comment; the
manager finds it in "My approvals" (with the count in the navigation) and approves it with
a comment on the record page; the history and the diagram show it."""

from __future__ import annotations

import sqlalchemy as sa
from browserutil import DEMO_PASSWORD, screenshot, sign_in

from engine.records import SYSTEM, Context, Query
from engine.storage import users


def new_order(server) -> dict:
    service = server.app.extensions["tailor"].service
    with service.engine.connect() as conn:
        wang = conn.execute(sa.select(users.c.id).where(users.c.username == "wang.lei")).scalar_one()
    system = Context(actor=SYSTEM)
    customer = service.list("customer", Query(limit=1), system)[0]
    product = service.list("product", Query(limit=1), system)[0]
    return service.create("sales_order", {"customer": customer["id"], "owner": wang,
                                          "lines": [{"product": product["id"], "quantity": 3, "unit_price": 900}]},
                          system, trusted=True)


def test_submit_then_approve_with_a_comment_from_the_inbox(browser, live_server):
    order = new_order(live_server)
    rep = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(rep, live_server, "wang.lei", language="zh", password=DEMO_PASSWORD)
    rep.goto(f"{live_server.url}/e/sales_order/{order['id']}")
    rep.click(f"a[href$='/e/sales_order/{order['id']}/do/submit']")
    rep.fill("textarea[name=comment]", "客户要求月底前发货，请尽快审批")
    rep.click("form.card button.primary")
    rep.wait_for_url(f"**/e/sales_order/{order['id']}")
    assert rep.locator("svg.flow-diagram g.node.current").count() == 1
    rep.context.close()

    manager = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(manager, live_server, "zhao.min", language="zh", password=DEMO_PASSWORD)
    badge = manager.locator("a.nav-approvals .badge")
    assert int(badge.inner_text()) >= 1
    manager.click("a.nav-approvals")
    manager.wait_for_url("**/approvals")
    row = manager.locator("table.inbox tr", has_text=order["number"])
    assert row.count() == 1
    row.locator("a").first.click()
    manager.wait_for_url(f"**/e/sales_order/{order['id']}")
    assert "客户要求月底前发货" in manager.locator(".flow-history").inner_text()
    manager.fill("#my-task textarea[name=comment]", "同意，注意交期")
    manager.click("#my-task button[value=approve]")
    manager.wait_for_url(f"**/e/sales_order/{order['id']}")
    history = manager.locator(".flow-history").inner_text()
    assert "同意，注意交期" in history
    assert manager.locator("#my-task").count() == 0
    assert manager.locator("svg.flow-diagram g.node.end.taken").count() == 1
    screenshot(manager, "approval-approved")
    service = live_server.app.extensions["tailor"].service
    assert service.get("sales_order", order["id"])["status"] == "approved"
    manager.goto(live_server.url + "/approvals?tab=done")
    assert manager.locator("table.inbox", has_text=order["number"]).count() == 1
    manager.context.close()
