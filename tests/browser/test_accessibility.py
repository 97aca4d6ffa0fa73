"""Accessibility (issue 15): axe-core, from the npm registry, checks the main pages in English
and Chinese in a real browser: no serious or critical violation (labels, contrast, keyboard
focus, landmarks, names of links and buttons)."""

from __future__ import annotations

import json

from browserutil import PHONE, opened, sign_in, use_language

from engine.paths import ROOT

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PAGES = ("/home", "/e/customer", "/e/customer/1", "/e/customer/new", "/e/opportunity", "/e/opportunity/1",
         "/e/opportunity/board", "/approvals", "/search?q=华信", "/e/customer/import")
RUN = """async () => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
  return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
}"""


def violations(page) -> list[dict]:
    page.evaluate(AXE.read_text(encoding="utf-8"))  # through the DevTools protocol: no inline script for the CSP
    return page.evaluate(RUN)


def test_main_pages_have_no_serious_accessibility_violations_in_both_languages(page, live_server):
    sign_in(page, live_server)
    found = {}
    for language in ("en", "zh"):
        use_language(page, live_server, language)
        for path in PAGES:
            page.goto(live_server.url + path)
            problems = violations(page)
            if problems:
                found[f"{language} {path}"] = problems
    assert not found, json.dumps(found, ensure_ascii=False, indent=1)


def test_the_phone_layout_has_no_serious_accessibility_violations(browser, live_server):
    """At 390 px lists are cards and forms one column: the same rules, the pages a rep opens
    on a phone, in Chinese."""
    with opened(browser, PHONE, is_mobile=True, has_touch=True) as page:
        sign_in(page, live_server, language="zh")
        found = {}
        for path in ("/home", "/e/opportunity", "/e/opportunity/1", "/e/activity/new", "/approvals"):
            page.goto(live_server.url + path)
            problems = violations(page)
            if problems:
                found[path] = problems
        assert not found, json.dumps(found, ensure_ascii=False, indent=1)
