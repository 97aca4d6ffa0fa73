"""The Content-Security-Policy in a real browser: the pages that run scripts (forms with
htmx, lookups, the board, the inbox) work under it, and what it forbids is reported (so
the `csp_violations` fixture, which fails any browser test on a violation, can see)."""

from __future__ import annotations

from browserutil import sign_in

PAGES = ["/home", "/e/customer", "/e/customer/1", "/e/customer/1/edit", "/e/opportunity/new",
         "/e/opportunity/board", "/approvals", "/notifications", "/search?q=a"]


def test_the_pages_run_under_the_policy(page, live_server, csp_violations):
    sign_in(page, live_server)
    for path in PAGES:
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("typeof htmx") == "object", path  # htmx itself loaded and ran
    assert csp_violations == []


def test_a_form_still_updates_its_fields_without_eval(page, live_server):
    sign_in(page, live_server)
    page.goto(live_server.url + "/e/customer/1/edit")
    page.wait_for_load_state("networkidle")
    field = page.locator("#form-fields select").first
    options = field.locator("option").all()
    with page.expect_response(lambda r: "/form-fields" in r.url):
        field.select_option(index=len(options) - 1)
    page.wait_for_load_state("networkidle")


def test_inline_code_is_refused_and_reported(page, live_server, csp_violations):
    sign_in(page, live_server)
    page.goto(live_server.url + "/home")
    with page.expect_console_message(lambda m: "CSP violation" in m.text):
        page.evaluate("""() => {
            const s = document.createElement('script');
            s.textContent = 'window.injected = true';
            document.body.append(s);
        }""")
    assert page.evaluate("window.injected") is None  # the injected script did not run
    caught = list(csp_violations)
    csp_violations.clear()  # expected here: do not fail this test for it
    assert any("script-src" in line for line in caught), caught
