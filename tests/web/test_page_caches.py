"""Pieces of a page kept between requests (pages/home.py menu_html): the sidebar follows
the user's roles, language and page, and the model, at once."""

from __future__ import annotations

import re

import pytest
from webutil import csrf_of, make_user, sign_in

from engine.model import load_model
from engine.paths import EXAMPLES
from engine.permissions.org import set_roles
from engine.storage import users, write_engine


def sidebar(html: str) -> str:
    return html.split('<nav class="sidebar"', 1)[1].split("</nav>", 1)[0]


def links(html: str) -> set[str]:
    return set(re.findall(r'href="/e/([a-z_]+)"', sidebar(html)))


@pytest.fixture
def two(make_app):
    """The CRM with a sales rep (reads opportunities, not tickets) and a service agent
    (reads tickets, not opportunities), each signed in on a client of their own."""
    app = make_app(EXAMPLES / "crm", users=())
    engine = app.extensions["tailor"].engine
    model = load_model(EXAMPLES / "crm", entry_points=False)
    ids = {name: make_user(engine, model, name, roles=(role,))
           for name, role in (("rep", "sales_rep"), ("agent", "service_agent"))}
    clients = {}
    for name in ids:
        clients[name] = app.test_client()
        assert sign_in(clients[name], name).status_code == 302
    return app, engine, model, ids, clients


def test_each_user_sees_the_menu_of_their_roles(two):
    _app, _engine, _model, _ids, clients = two
    for _ in range(2):  # the second time from what the first page kept
        rep, agent = (links(clients[n].get("/home").get_data(as_text=True)) for n in ("rep", "agent"))
        assert "opportunity" in rep and "ticket" not in rep
        assert "ticket" in agent and "opportunity" not in agent


def test_a_role_change_changes_the_menu_on_the_next_page(two):
    _app, engine, model, ids, clients = two
    assert "opportunity" not in links(clients["agent"].get("/home").get_data(as_text=True))
    with write_engine(engine).begin() as conn:
        set_roles(conn, ids["agent"], ["sales_rep"], model.roles)
    after = links(clients["agent"].get("/home").get_data(as_text=True))
    assert "opportunity" in after and "ticket" not in after


def test_the_menu_marks_the_page_and_speaks_the_users_language(two):
    _app, _engine, _model, _ids, clients = two
    rep = clients["rep"]
    on_deals = sidebar(rep.get("/e/opportunity").get_data(as_text=True))
    on_customers = sidebar(rep.get("/e/customer").get_data(as_text=True))
    assert re.search(r'href="/e/opportunity"\s+class="current"', on_deals)
    assert not re.search(r'href="/e/opportunity"\s+class="current"', on_customers)
    assert re.search(r'href="/e/customer"\s+class="current"', on_customers)
    assert "Opportunities" in on_deals
    page = rep.get("/e/opportunity").get_data(as_text=True)
    rep.post("/language", data={"language": "zh", "next": "/e/opportunity", "csrf_token": csrf_of(page)})
    chinese = sidebar(rep.get("/e/opportunity").get_data(as_text=True))
    assert "Opportunities" not in chinese and "商机" in chinese


def owner_options(html: str) -> list[tuple[str, str, bool]]:
    """(value, text, selected) of the owner filter's options."""
    select = html.split('<select name="owner">', 1)[1].split("</select>", 1)[0]
    return [(value, text, bool(chosen)) for value, chosen, text in
            re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', select)]


def test_the_filters_options_follow_the_users_and_the_url(two):
    _app, engine, _model, ids, clients = two
    rep = clients["rep"]
    first = owner_options(rep.get("/e/opportunity").get_data(as_text=True))
    assert (str(ids["agent"]), "Agent", False) in first and not any(chosen for *_, chosen in first[1:])
    with write_engine(engine).begin() as conn:
        conn.execute(users.update().where(users.c.id == ids["agent"]).values(display_name="Agent <b>Smith</b>"))
    renamed = owner_options(rep.get(f"/e/opportunity?owner={ids['agent']}").get_data(as_text=True))
    assert (str(ids["agent"]), "Agent &lt;b&gt;Smith&lt;/b&gt;", True) in renamed  # escaped, and chosen
    assert [chosen for *_, chosen in renamed].count(True) == 1
    again = owner_options(rep.get("/e/opportunity").get_data(as_text=True))
    assert (str(ids["agent"]), "Agent &lt;b&gt;Smith&lt;/b&gt;", False) in again
