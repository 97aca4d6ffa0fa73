"""A sales rep's and a manager's first page, and a record's timeline, in a real browser at a
laptop's and a phone's width, in Chinese and English (issue 15): the home shows their work
beside the dashboard (what is due today and overdue, approvals waiting, records changed),
each entry opens its record, and the record's one timeline, newest first, filters by kind
and takes a comment with an @mention."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from browserutil import DEMO_PASSWORD, LAPTOP, PHONE, opened, overflow, screenshot, sign_in

from engine.records import SYSTEM, Context
from engine.storage import users
from engine.workflows import inbox


def user_id(server, username: str) -> int:
    with server.app.extensions["tailor"].engine.connect() as conn:
        return conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar_one()


def test_a_reps_home_opens_what_is_due_and_the_records_timeline(browser, live_server):
    """wang.lei, in Chinese on a laptop, then in English on a phone."""
    rep = user_id(live_server, "wang.lei")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the demo project's time zone
    lead = live_server.app.extensions["tailor"].service.create(
        "lead", {"name": "今日回访 王总", "email": "wang@example.com", "status": "contacted",
                 "next_follow_up": today.isoformat(), "owner": rep}, Context(actor=SYSTEM), trusted=True)
    for viewport, language, due_heading, comment in ((LAPTOP, "zh", "今日到期", "已电话确认，@zhao.min 请跟进报价"),
                                                      (PHONE, "en", "Due today", "Sent the quote, @zhao.min FYI")):
        with opened(browser, viewport) as page:
            sign_in(page, live_server, "wang.lei", language=language, password=DEMO_PASSWORD)
            agenda = page.locator("#my-agenda")
            assert due_heading in agenda.locator("h2").first.inner_text()
            assert agenda.locator("#my-agenda-overdue li").count() >= 1  # the demo's follow-ups left undone
            assert page.locator("[data-dashboard]").count() == 1  # beside the dashboard
            assert overflow(page) <= 0
            screenshot(page, f"home-rep-{language}-{viewport['width']}")
            agenda.locator(f"#my-agenda-today a[href='/e/lead/{lead['id']}']").click()
            page.wait_for_url(f"**/e/lead/{lead['id']}")

            # the timeline: newest first; a comment with an @mention lands on top and notifies
            page.fill("textarea[name=body]", comment)
            with page.expect_navigation():
                page.locator("form:has(textarea[name=body]) button.primary").click()
            entries = page.locator("#timeline ul.timeline > li")
            assert "comment" in (entries.first.get_attribute("class") or "")
            assert comment in entries.first.inner_text()
            assert entries.count() >= 2  # the comment and the record's creation
            page.locator("#timeline .timeline-kinds a[href*='show=changes']").click()
            page.wait_for_url("**show=changes**")
            kinds = page.locator("#timeline ul.timeline > li").evaluate_all("els => els.map(e => e.className)")
            assert kinds and all("kind-changes" in k for k in kinds), kinds
            assert overflow(page) <= 0
            screenshot(page, f"timeline-{language}-{viewport['width']}")
    with live_server.app.extensions["tailor"].engine.connect() as conn:
        from engine.storage import notifications

        notified = conn.execute(sa.select(sa.func.count()).select_from(notifications).where(
            notifications.c.user_id == user_id(live_server, "zhao.min"),
            notifications.c.entity == "lead", notifications.c.record_id == lead["id"])).scalar_one()
    assert notified == 2  # one per @mention


def test_a_managers_home_opens_the_approvals_waiting(browser, live_server):
    """zhao.min, in English on a laptop and in Chinese on a phone: the approvals waiting with
    their count (the inbox's own), the first opening its record."""
    manager = user_id(live_server, "zhao.min")
    with live_server.app.extensions["tailor"].engine.connect() as conn:
        waiting = inbox.tab_counts(conn, manager)["todo"]
        first = inbox.inbox(conn, manager, "todo", limit=1)[0]
    assert waiting >= 1
    for viewport, language, heading in ((LAPTOP, "en", "Waiting for your approval"), (PHONE, "zh", "待你审批")):
        with opened(browser, viewport) as page:
            sign_in(page, live_server, "zhao.min", language=language, password=DEMO_PASSWORD)
            approvals = page.locator("#my-approvals")
            assert heading in approvals.locator("h2").inner_text()
            assert approvals.locator(".badge").inner_text() == str(waiting)
            assert page.locator("#my-agenda").count() == 1  # reads activities and leads: nothing of his due
            assert overflow(page) <= 0
            screenshot(page, f"home-manager-{language}-{viewport['width']}")
            approvals.locator(f"a[href='/e/{first['entity']}/{first['record_id']}']").click()
            page.wait_for_url(f"**/e/{first['entity']}/{first['record_id']}")
            assert page.locator("#my-task").count() == 1  # his decision is asked for there
    with opened(browser, LAPTOP) as page:
        sign_in(page, live_server, "zhao.min", language="zh", password=DEMO_PASSWORD)  # his demo language
