"""Files (scripts, styles, the icon) are served without touching the database, and the
icon browsers ask for on their own is there (it was a 404 on every page)."""

from __future__ import annotations

import sqlalchemy as sa
from webutil import sign_in

from engine.web.state import WebState


def _statements(app, fetch) -> list[str]:
    seen: list[str] = []
    engine = WebState.of(app).engine

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        fetch()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return seen


def test_files_cost_no_query_and_pages_still_do(crm_app, client):
    sign_in(client, "alice")
    for url in ("/assets/tailor.css", "/assets/htmx.min.js", "/favicon.ico", "/assets/favicon.svg"):
        response = None

        def fetch(url=url):
            nonlocal response
            response = client.get(url)

        assert _statements(crm_app, fetch) == [], url
        assert response.status_code == 200, url
    # the check is not vacuous: a page runs the version check and the session lookup
    assert _statements(crm_app, lambda: client.get("/e/customer")), "a page makes queries"


def test_the_icon_is_an_svg_linked_from_every_page(client):
    response = client.get("/favicon.ico")
    assert response.mimetype == "image/svg+xml"
    assert response.get_data(as_text=True).startswith("<svg")
    sign_in(client, "alice")
    assert 'rel="icon"' in client.get("/e/customer").get_data(as_text=True)
