"""The home page's work (issue 15): approvals waiting for the user and the records they
changed last, beside their dashboard — each only what the user may read."""

from __future__ import annotations

import re

import sqlalchemy as sa
from formutil import form_values
from test_forms import setting
from webutil import sign_in

from engine.storage import users
from engine.workflows import inbox


def _client(app, username: str):
    client = app.test_client()
    assert sign_in(client, username, "demo-pass-1").status_code == 302
    return client


def _section(html: str, name: str) -> str:
    start = html.find(f'id="{name}"')
    return html[start:html.index("</section>", start)] if start >= 0 else ""


def test_a_manager_sees_the_approvals_waiting_and_a_rep_the_records_they_changed(crm_app):
    engine = crm_app.extensions["tailor"].engine
    with engine.connect() as conn:
        manager = conn.execute(sa.select(users.c.id).where(users.c.username == "zhao.min")).scalar_one()
        waiting = inbox.tab_counts(conn, manager)["todo"]
        first = inbox.inbox(conn, manager, "todo", limit=1)
    assert waiting > 0, "the demo's manager has approvals waiting"
    home = _client(crm_app, "zhao.min").get("/home").get_data(as_text=True)
    approvals = _section(home, "my-approvals")
    assert f'<span class="badge orange">{waiting}</span>' in approvals
    assert f'/e/{first[0]["entity"]}/{first[0]["record_id"]}"' in approvals
    assert "data-dashboard" in home  # beside the dashboard, not instead of it

    rep = _client(crm_app, "wang.lei")
    listing = rep.get("/e/customer").get_data(as_text=True)
    mine = int(re.search(r'href="/e/customer/(\d+)"', listing).group(1))
    html = rep.get(f"/e/customer/{mine}/edit").get_data(as_text=True)
    assert rep.post(f"/e/customer/{mine}/edit", data=setting(form_values(html), city="苏州工业园区")).status_code == 303
    recent = _section(rep.get("/home").get_data(as_text=True), "my-recent")
    assert re.search(rf'<li><a href="/e/customer/{mine}">', recent), recent  # newest first
    assert "my-approvals" not in rep.get("/home").get_data(as_text=True)  # a rep approves nothing

    # an administrator's change of a record the rep cannot read: on the administrator's home, not the rep's
    admin = crm_app.test_client()
    assert sign_in(admin).status_code == 302
    others = [int(i) for i in re.findall(r'href="/e/customer/(\d+)"', admin.get("/e/customer").get_data(as_text=True))]
    hidden = next(i for i in others if rep.get(f"/e/customer/{i}").status_code != 200)
    html = admin.get(f"/e/customer/{hidden}/edit").get_data(as_text=True)
    assert admin.post(f"/e/customer/{hidden}/edit", data=setting(form_values(html), city="无锡")).status_code == 303
    assert f'/e/customer/{hidden}"' not in _section(rep.get("/home").get_data(as_text=True), "my-recent")
    assert f'/e/customer/{hidden}"' in _section(admin.get("/home").get_data(as_text=True), "my-recent")
