"""The sidebar of examples/trade: every group the base CRM has, under its heading."""

from __future__ import annotations

import re

from webutil import make_user, sign_in

from engine.model import load_model
from engine.paths import EXAMPLES


def _sidebar(html: str) -> list[tuple[str, list[str]]]:
    """[(group heading, [entity list links])] in the order the sidebar shows them."""
    nav = html.split('<nav class="sidebar"', 1)[1].split("</nav>", 1)[0]
    groups: list[tuple[str, list[str]]] = []
    for kind, value in re.findall(r'<div class="group">([^<]*)</div>|href="/(?:[a-z]+/)?([a-z_]+)/?"', nav):
        if kind or not value:
            groups.append((kind.strip(), []))
        elif groups:
            groups[-1][1].append(value)
    return groups


def test_trade_sidebar_shows_tickets_under_service(make_app):
    app = make_app(EXAMPLES / "trade", users=())
    engine = app.extensions["tailor"].engine
    make_user(engine, load_model(EXAMPLES / "trade", entry_points=False), "manager", roles=("sales_manager",))
    client = app.test_client()
    assert sign_in(client, "manager").status_code == 302
    html = client.get("/home").get_data(as_text=True)
    groups = dict((heading, links) for heading, links in _sidebar(html) if heading)
    assert any(link.endswith("ticket") for link in groups.get("Service", [])), _sidebar(html)
    assert any(link.endswith("campaign") for link in groups.get("Marketing", [])), _sidebar(html)
    assert not any(link.endswith(("ticket", "campaign")) for link in groups.get("Logistics", []))
