"""The Chinese UI says the engine's messages in Chinese (issue 15, "Chinese everywhere").

Every demo role's user, reading in zh, walks the demo CRM's main pages (home, each
entity's list, a record, a new and an edit form, the approvals inbox) and provokes the
everyday mistakes (an empty required field, a text too long, a value already used, a number
below its minimum, deciding on one's own request, withdrawing someone else's, rejecting
without a comment). Every engine message (engine/messages.py) made meanwhile is recorded:
its English text must reach no page, and it must have a zh translation. Besides, the error
areas of each page (`.errors`, `.field-error`, role=alert) must hold no English sentence.
A catalogue that is complete is not enough: this looks at what reaches the page.
"""

from __future__ import annotations

import html as htmllib
import re
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from formutil import form_values
from webutil import csrf_of, sign_in
from werkzeug.datastructures import MultiDict

from engine.messages import Message, translations
from engine.storage import flow_tasks, flows, users

# a demo user of each role (examples/crm/demo/00_users.yaml)
ROLES = {"admin": "demo-admin-1", "chen.jie": "demo-pass-1", "zhao.min": "demo-pass-1", "wang.lei": "demo-pass-1",
         "liu.yang": "demo-pass-1", "sun.li": "demo-pass-1", "david.wu": "demo-pass-1"}
ENGLISH = re.compile(r"\b[A-Za-z][a-z]+,? [a-z]{2,}\s[a-z]{2,}\b")  # three words of an English sentence
QUOTED = re.compile(r"“[^”]*”|'[^']*'|\"[^\"]*\"")  # values echoed back (the user's own input)


class ErrorAreas(HTMLParser):
    """The text inside elements that show errors: class errors / field-error / error, or
    role=alert."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth = 0  # >0 inside an error area (counting nested elements)
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        if self.depth:
            self.depth += tag not in ("br", "input", "img", "hr", "meta", "link")
        elif classes & {"errors", "field-error", "error"} or a.get("role") == "alert":
            self.depth = 1
            self.texts.append("")

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.texts[-1] += data


def error_texts(page: str) -> list[str]:
    parser = ErrorAreas()
    parser.feed(page)
    return [" ".join(t.split()) for t in parser.texts if t.strip()]


class Walk:
    """Pages seen, and the checks made on each."""

    def __init__(self, seen: list[Message]):
        self.seen = seen
        self.pages = 0
        self.errors_shown = 0

    def check(self, response, where: str) -> str:
        assert response.status_code < 500, (where, response.status_code)
        page = htmllib.unescape(response.get_data(as_text=True))
        self.pages += 1
        for shown in error_texts(page):
            self.errors_shown += 1
            english = ENGLISH.search(QUOTED.sub("", shown))
            assert english is None, f"{where}: English in an error area: {shown!r}"
        for message in self.seen:
            if len(message) >= 8:  # (a word such as 'read' may be part of other text)
                assert str(message) not in page, f"{where}: the English engine message {str(message)!r} is shown"
        return page


@pytest.fixture
def recorded(monkeypatch):
    """Every Message made while the test runs."""
    seen: list[Message] = []
    monkeypatch.setattr(Message, "__init__", lambda self, *args, **kwargs: seen.append(self))
    return seen


def _form(client, url: str, walk: Walk, where: str) -> MultiDict:
    page = walk.check(client.get(url), where)
    return MultiDict(form_values(page)) if 'class="record-form' in page else MultiDict()


def _post(client, url: str, values: MultiDict, walk: Walk, where: str, status: int) -> str:
    response = client.post(url, data=values)
    assert response.status_code == status, (where, response.status_code)
    return walk.check(response, where)


def test_every_role_reads_the_engine_in_chinese(crm_app, recorded):
    engine = crm_app.extensions["tailor"].engine
    model = crm_app.extensions["tailor"].model
    with engine.begin() as conn:
        conn.execute(users.update().values(language="zh"))
        first = {name: conn.execute(sa.select(sa.func.min(entity.table.c.id))).scalar()
                 for name, entity in model.entities.items()}
        customers = list(conn.execute(sa.select(model.entity("customer").table.c.name)).scalars())
    walk = Walk(recorded)

    for username, password in ROLES.items():
        client = crm_app.test_client()
        assert sign_in(client, username, password).status_code == 302, username
        walk.check(client.get("/"), f"{username} /")
        walk.check(client.get("/approvals"), f"{username} /approvals")
        walk.check(client.get("/approvals?tab=mine"), f"{username} /approvals mine")
        for name, record_id in first.items():
            walk.check(client.get(f"/e/{name}"), f"{username} /e/{name}")
            walk.check(client.get(f"/e/{name}/new"), f"{username} /e/{name}/new")
            if record_id is not None:
                walk.check(client.get(f"/e/{name}/{record_id}"), f"{username} /e/{name}/{record_id}")
                walk.check(client.get(f"/e/{name}/{record_id}/edit"), f"{username} /e/{name}/{record_id}/edit")

        # the everyday mistakes on a customer: by those who may create one, else refused in zh
        where = f"{username} new customer"
        values = _form(client, "/e/customer/new", walk, where)
        if "name" not in values:
            continue
        values.setlist("name", [""])
        values.setlist("employees", ["-5"])
        page = _post(client, "/e/customer/new", values, walk, f"{where}: empty name, -5 employees", 422)
        assert "必填" in page and "不能小于 0" in page
        values.setlist("employees", [""])
        values.setlist("name", ["很长的名字" * 30])
        page = _post(client, "/e/customer/new", values, walk, f"{where}: a name too long", 422)
        assert "最多 120 个字符（当前 150 个）" in page
        values.setlist("name", [customers[0]])
        page = _post(client, "/e/customer/new", values, walk, f"{where}: a name already used", 422)
        assert f"“{customers[0]}”已被其他记录使用" in page
        values.setlist("name", ["零下的客户"])
        values.setlist("annual_revenue", ["很多"])
        page = _post(client, "/e/customer/new", values, walk, f"{where}: a revenue that is no number", 422)
        assert "“很多”不是数字" in page
        values.setlist("annual_revenue", [""])
        values.setlist("credit_code", ["12345"])  # a plugin's validator (plugins/cn_fields.py)
        page = _post(client, "/e/customer/new", values, walk, f"{where}: a credit code too short", 422)
        assert "统一社会信用代码为 18 位" in page

    _approvals(crm_app, engine, walk)
    assert walk.pages > 100 and walk.errors_shown >= 10
    untranslated = {m.msgid for m in recorded if translations("zh").ugettext(m.msgid) == m.msgid}
    assert not untranslated, f"engine messages without a zh translation: {sorted(untranslated)}"


def _approvals(crm_app, engine, walk: Walk) -> None:
    """Deciding on one's own request, withdrawing someone else's, rejecting without a comment."""
    with engine.begin() as conn:
        running = conn.execute(sa.select(flows.c.id, flows.c.submitter_id, flows.c.entity, flows.c.record_id)
                               .where(flows.c.status == "running").order_by(flows.c.id)).all()
        tasks = conn.execute(sa.select(flow_tasks.c.id, flow_tasks.c.flow_id, flow_tasks.c.user_id)
                             .where(flow_tasks.c.status == "open", flow_tasks.c.kind == "approval")
                             .order_by(flow_tasks.c.id)).all()
        names = dict(conn.execute(sa.select(users.c.id, users.c.username)).all())
    assert running and tasks
    flow = running[0]
    task = next(t for t in tasks if t.flow_id == flow.id)
    approver, submitter = names[task.user_id], names[flow.submitter_id]

    client = crm_app.test_client()
    assert sign_in(client, approver, ROLES.get(approver, "demo-pass-1")).status_code == 302
    page = walk.check(client.get("/approvals"), f"{approver} inbox")
    token = csrf_of(page)
    record_url = f"/e/{flow.entity}/{flow.record_id}"
    # withdrawing someone else's request: shown on the record page it came from
    page = walk.check(client.post(f"/approvals/flows/{flow.id}/withdraw", data={"csrf_token": token,
                                                                               "next": record_url}),
                      f"{approver} withdraws {submitter}'s request")
    assert "只有提交人可以执行此操作" in page
    # rejecting without a comment, and naming the submitter as a further approver
    page = walk.check(client.post(f"/approvals/tasks/{task.id}", data={"csrf_token": token, "op": "reject"}),
                      f"{approver} rejects without a comment")
    assert "必须填写意见" in page
    page = walk.check(client.post(f"/approvals/tasks/{task.id}",
                                  data={"csrf_token": token, "op": "add_after", "user": str(flow.submitter_id),
                                        "comment": "请提交人自己审批"}),
                      f"{approver} asks the submitter to approve")
    assert "提交人不能审批自己提交的申请：请选择其他人。" in page

