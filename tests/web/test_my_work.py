"""The home page's work (issue 15): approvals waiting for the user and the records they
changed last, beside their dashboard — each only what the user may read."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from formutil import form_values
from test_forms import setting
from webutil import sign_in

from engine.records import Actor, Context, Query
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


def _user_id(app, username: str) -> int:
    with app.extensions["tailor"].engine.connect() as conn:
        return conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar_one()


def test_home_lists_what_the_user_owns_that_is_due_today_or_overdue(crm_app):
    """`agenda:` (activities, leads' follow-ups, tickets): the owner's open records due today
    and overdue, days and times in the project's time zone (Asia/Shanghai); done records,
    other people's and later ones are left out."""
    service = crm_app.extensions["tailor"].service
    rep, other = _user_id(crm_app, "wang.lei"), _user_id(crm_app, "liu.yang")
    zone = ZoneInfo("Asia/Shanghai")
    now = datetime.now(zone)
    today = now.date()
    midnight = datetime.combine(today + timedelta(days=1), time(), zone)
    customer = service.list("customer", Query(limit=1, filters=(("owner", "eq", rep),)),
                            Context(actor=Actor(system=True)))[0]["id"]

    def activity(subject: str, due: datetime, owner: int = rep, done: bool = False) -> int:
        values = {"subject": subject, "kind": "call", "parent": {"entity": "customer", "id": customer},
                  "due_at": due.isoformat(), "done": done, "owner": owner}
        if done:
            values["outcome"] = "ok"
        return service.create("activity", values, Context(actor=Actor(id=owner, system=True)), trusted=True)["id"]

    late = activity("逾期的电话 late call", now - timedelta(hours=30))
    activity("已完成 done call", now - timedelta(hours=2), done=True)
    activity("别人的 someone else's", now - timedelta(hours=2), owner=other)
    activity("明天 tomorrow", midnight + timedelta(hours=10))
    coming = activity("今天稍后 later today", now + (midnight - now) / 2) if midnight - now > timedelta(minutes=10) \
        else None
    lead = service.create("lead", {"name": "今日跟进 follow up today", "status": "contacted",
                                   "next_follow_up": today.isoformat(), "owner": rep, "email": "lead@example.com"},
                          Context(actor=Actor(id=rep, system=True)), trusted=True)["id"]

    client = _client(crm_app, "wang.lei")
    home = client.get("/home").get_data(as_text=True)
    due_today = _section(home, "my-agenda")
    today_list = due_today[due_today.find('id="my-agenda-today"'):due_today.find("</ul>", due_today.find(
        'id="my-agenda-today"'))]
    overdue_list = due_today[due_today.find('id="my-agenda-overdue"'):]
    assert f'/e/lead/{lead}"' in today_list and f'/e/lead/{lead}"' not in overdue_list
    if coming is not None:
        assert f'/e/activity/{coming}"' in today_list
    assert f'/e/activity/{late}"' in overdue_list
    for left_out in ("done call", "someone else", "tomorrow"):
        assert left_out not in due_today, left_out
    # the overdue call shows when it was due in Beijing time, not UTC
    shown = (now - timedelta(hours=30)).strftime("%H:%M")
    assert shown in overdue_list[overdue_list.index(f'/e/activity/{late}"'):], overdue_list
    counts = [int(n) for n in re.findall(r'<span class="badge (?:blue|red)">(\d+)</span>', due_today)]
    with crm_app.extensions["tailor"].engine.connect() as conn:
        table = crm_app.extensions["tailor"].model.entities["activity"].table
        overdue_activities = conn.execute(sa.select(sa.func.count()).select_from(table).where(
            table.c.owner == rep, table.c.done.is_(False), table.c.due_at < now.astimezone(UTC))).scalar_one()
        leads = crm_app.extensions["tailor"].model.entities["lead"].table
        overdue_leads = conn.execute(sa.select(sa.func.count()).select_from(leads).where(
            leads.c.owner == rep, leads.c.status.in_(["new", "contacted"]),
            leads.c.next_follow_up < today)).scalar_one()
    assert counts[1] == overdue_activities + overdue_leads + _overdue_tickets(crm_app, rep, now)
    assert counts[0] >= 1 + (coming is not None)

    # a user owning nothing due still sees the card, saying so (in Chinese: zhao.min reads zh)
    empty = _section(_client(crm_app, "zhao.min").get("/home").get_data(as_text=True), "my-agenda")
    assert 'id="my-agenda-overdue"' not in empty and "今日到期" in empty and "今天没有其他到期事项" in empty
    # a user who may read none of the agenda's entities gets no card
    assert 'id="my-agenda"' not in _client(crm_app, "sun.li").get("/home").get_data(as_text=True)


def _overdue_tickets(app, owner: int, now: datetime) -> int:
    table = app.extensions["tailor"].model.entities["ticket"].table
    with app.extensions["tailor"].engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(
            table.c.owner == owner, table.c.status.not_in(["resolved", "closed"]),
            table.c.due_at < now.astimezone(UTC))).scalar_one()
