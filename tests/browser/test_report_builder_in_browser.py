"""The report builder in a real browser on a phone-sized screen (390 px): pick what to
count, a group and a measure; the preview (htmx) redraws as the form changes; a problem
shows next to its input; save; the saved report's page shows the table. Nothing is wider
than the screen."""

from __future__ import annotations

from browserutil import PHONE, opened, overflow, screenshot, sign_in


def test_build_preview_and_save_a_report_on_a_phone(browser, live_server):
    with opened(browser, PHONE) as page:
        sign_in(page, live_server)
        page.goto(live_server.url + "/reports/builder")
        page.select_option("select[name=entity]", "opportunity")
        page.click("form.builder-entity button")
        page.wait_for_url("**/reports/builder?entity=opportunity")
        page.wait_for_selector("#builder-preview table")  # the first preview, on load: one count
        page.fill("input[name=title]", "Deals by stage")
        page.select_option("select[name=g1]", "stage")
        page.wait_for_selector("#builder-preview tbody tr:nth-child(2)")  # a row per stage
        rows = page.locator("#builder-preview tbody tr").count()
        # the chart chosen is drawn in the preview, as the saved report will show it
        page.select_option("select[name=chart]", "bar")
        page.wait_for_selector("#builder-preview .report-chart[data-drawn] canvas")
        painted = page.locator("#builder-preview .report-chart canvas").first.evaluate(
            "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
            " for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } return n; }")
        assert painted > 500, "the preview's chart is blank"
        assert page.locator("#builder-preview tbody tr").count() == rows  # the table under it
        # a problem: a bucket on a choice field, said next to the groups, the preview withheld
        page.select_option("select[name=g1_bucket]", "month")
        page.wait_for_selector("#problems-groups .builder-problem[data-code=E003]")
        assert page.locator("#builder-preview table").count() == 0
        page.select_option("select[name=g1_bucket]", "")
        page.wait_for_selector("#builder-preview table")
        assert page.locator("#problems-groups .builder-problem").count() == 0
        assert overflow(page) <= 0
        screenshot(page, "report-builder-phone")
        page.click("button.primary:has-text('Save')")
        page.wait_for_url("**/reports/saved/*")
        assert page.locator("h1").inner_text() == "Deals by stage"
        assert page.locator("table tbody tr").count() == rows
        assert page.locator(".report-chart[data-drawn]").count() == 1
        assert overflow(page) <= 0


def test_a_pivot_on_a_phone_scrolls_sideways_inside_its_box(browser, live_server):
    """chart: pivot with two groups shows a cross-tab (owners by stage, totals) in the
    preview and on the saved page; wider than the phone, it scrolls inside its own box
    while the page itself stays the screen's width."""
    import sqlalchemy as sa

    from engine.permissions.org import load_actor
    from engine.records import Context, Query
    from engine.storage import users

    with opened(browser, PHONE) as page:
        sign_in(page, live_server)
        page.goto(live_server.url + "/reports/builder?entity=opportunity")
        page.wait_for_selector("#builder-preview table")
        page.fill("input[name=title]", "Deals by owner and stage")
        page.select_option("select[name=g1]", "owner")
        page.select_option("select[name=g2]", "stage")
        page.select_option("select[name=chart]", "pivot")
        page.wait_for_selector("#builder-preview table.pivot tfoot")
        page.click("button.primary:has-text('Save')")
        page.wait_for_url("**/reports/saved/*")
        pivot = page.locator("table.pivot")
        assert pivot.count() == 1
        service = live_server.app.extensions["tailor"].service
        with service.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == "alice")).mappings().one()
            alice = Context(actor=load_actor(conn, row))
        grand = pivot.locator("tfoot td").last.inner_text().replace(",", "")
        assert int(grand) == service.count("opportunity", Query(), alice)  # every deal she may read, once
        wrap = page.locator(".report-pivot")
        widths = wrap.evaluate("w => [w.scrollWidth, w.clientWidth]")
        assert widths[0] > widths[1], widths  # wider than the phone: scrolls inside its box
        assert overflow(page) <= 0
        screenshot(page, "report-pivot-phone")
