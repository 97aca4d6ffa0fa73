"""A record's one timeline (issue 15): changes, comments, approval decisions and notifications
sent, newest first, filterable by kind; comments @mention colleagues, who are notified only
when they may read the record."""

from __future__ import annotations

import re

import sqlalchemy as sa
from formutil import form_values
from test_forms import service_of, setting
from webutil import csrf_of

from engine.permissions.org import load_actor
from engine.records import Context, NotFound, PermissionDenied
from engine.storage import notifications, users

DEMO_PEOPLE = ("wang.lei", "zhao.min", "chen.jie", "liu.yang", "sun.li", "david.wu")


def _context(app, username: str) -> tuple[int, Context]:
    engine = app.extensions["tailor"].engine
    with engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).mappings().one()
        return row["id"], Context(actor=load_actor(conn, row))


def _reads(app, username: str, entity: str, record_id: int) -> bool:
    try:
        service_of(app).get(entity, record_id, _context(app, username)[1])
        return True
    except (NotFound, PermissionDenied):
        return False


def _comment(client, path: str, body: str):
    page = client.get(path).get_data(as_text=True)
    return client.post(path + "/comments", data={"body": body, "csrf_token": csrf_of(page)})


def test_mentions_notify_the_colleagues_who_may_read_the_record(client, crm_app):
    readers = [u for u in DEMO_PEOPLE if _reads(crm_app, u, "customer", 1)]
    others = [u for u in DEMO_PEOPLE if u not in readers]
    assert readers and others, (readers, others)  # the demo has both
    reader, other = readers[0], others[0]
    body = f"@{reader} please call them; @{other} FYI; mail me at boss@example.com, @nobody-here."
    assert _comment(client, "/e/customer/1", body).status_code == 303
    engine = crm_app.extensions["tailor"].engine
    with engine.connect() as conn:
        sent = conn.execute(sa.select(notifications.c.user_id, notifications.c.kind, notifications.c.link)
                            .where(notifications.c.kind == "mention")).all()
    assert [(r.user_id, r.link) for r in sent] == [(_context(crm_app, reader)[0], "/e/customer/1")]


def test_one_timeline_newest_first_filtered_by_kind(client, crm_app):
    html = client.get("/e/customer/1/edit").get_data(as_text=True)
    assert client.post("/e/customer/1/edit", data=setting(form_values(html), city="昆山")).status_code == 303
    assert _comment(client, "/e/customer/1", "A note after the change").status_code == 303
    page = client.get("/e/customer/1").get_data(as_text=True)
    timeline = page[page.index('id="timeline"'):]
    kinds = re.findall(r'<li class="kind-(\w+)', timeline)
    assert kinds[:2] == ["comments", "changes"]
    assert timeline.index("A note after the change") < timeline.index("昆山")  # newest first
    only = client.get("/e/customer/1?show=comments").get_data(as_text=True)
    only = only[only.index('id="timeline"'):]
    assert set(re.findall(r'<li class="kind-(\w+)', only)) == {"comments"} and 'aria-current="true">Comments' in only
    changes = client.get("/e/customer/1?show=changes").get_data(as_text=True)
    assert set(re.findall(r'<li class="kind-(\w+)', changes[changes.index('id="timeline"'):])) == {"changes"}
    # an unknown kind is "all", never an error
    assert client.get("/e/customer/1?show=%3Cscript%3E").status_code == 200


def test_approvals_and_notifications_join_the_timeline(client, crm_app):
    """A record under approval: the decisions and the notifications they sent are in its timeline."""
    engine = crm_app.extensions["tailor"].engine
    with engine.connect() as conn:
        row = conn.execute(sa.select(notifications.c.entity, notifications.c.record_id)
                           .where(notifications.c.record_id.is_not(None)).limit(1)).first()
    assert row is not None, "the demo data sends approval notifications"
    page = client.get(f"/e/{row.entity}/{row.record_id}").get_data(as_text=True)
    timeline = page[page.index('id="timeline"'):]
    kinds = set(re.findall(r'<li class="kind-(\w+)', timeline))
    assert {"approvals", "notifications"} <= kinds, kinds
    assert "Notified " in timeline
