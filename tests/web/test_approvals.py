"""Workflows over HTTP with examples/crm: transitions, the order approval from submit to
approved, the inbox and its counts, decisions with comments from the inbox and the record
page, refusals as 4xx, notifications, and the diagram (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import sqlalchemy as sa
from webutil import csrf_of, sign_in

from engine.records import SYSTEM, Context, Query
from engine.storage import flow_history, flow_tasks, flows, notifications, users

DEMO = "demo-pass-1"


def person(app, username: str):
    signed = app.test_client()
    assert sign_in(signed, username, DEMO).status_code == 302
    return signed


def service_of(app):
    return app.extensions["tailor"].service


def draft_order(app, owner: str = "wang.lei", **values) -> dict:
    """A new draft order of `owner` with one line (total 2 × price)."""
    service = service_of(app)
    with service.engine.connect() as conn:
        owner_id = conn.execute(sa.select(users.c.id).where(users.c.username == owner)).scalar_one()
    customer = service.list("customer", Query(limit=1), Context(actor=SYSTEM))[0]
    product = service.list("product", Query(limit=1), Context(actor=SYSTEM))[0]
    price = values.pop("price", 1000)
    return service.create("sales_order", {"customer": customer["id"], "owner": owner_id,
                                          "lines": [{"product": product["id"], "quantity": 2, "unit_price": price}],
                                          **values}, Context(actor=SYSTEM), trusted=True)


def token(signed, path: str = "/approvals") -> str:
    return csrf_of(signed.get(path).get_data(as_text=True))


def open_task(app, order: dict, username: str) -> int:
    """The user's open task on the order (the demo data has approvals of its own under way)."""
    with service_of(app).engine.connect() as conn:
        return conn.execute(sa.select(flow_tasks.c.id).join(users, users.c.id == flow_tasks.c.user_id)
                            .join(flows, flows.c.id == flow_tasks.c.flow_id).where(
            users.c.username == username, flow_tasks.c.status == "open", flows.c.entity == "sales_order",
            flows.c.record_id == order["id"])).scalar_one()


def open_count(app, username: str) -> int:
    with service_of(app).engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(flow_tasks).join(
            users, users.c.id == flow_tasks.c.user_id).where(users.c.username == username,
                                                             flow_tasks.c.status == "open")).scalar_one()


def submit(app, signed, order: dict, comment: str = "please approve"):
    url = f"/e/sales_order/{order['id']}/do/submit"
    return signed.post(url, data={"csrf_token": token(signed, url), "comment": comment,
                                  "version": order["version"]})


def test_an_order_from_submit_to_approved(crm_app):
    wang, zhao = person(crm_app, "wang.lei"), person(crm_app, "zhao.min")
    order = draft_order(crm_app)
    page = wang.get(f"/e/sales_order/{order['id']}").get_data(as_text=True)
    assert f"/e/sales_order/{order['id']}/do/submit" in page  # the owner may submit
    assert "/do/submit" not in zhao.get(f"/e/sales_order/{order['id']}").get_data(as_text=True)  # `when: owner`
    assert wang.get(f"/e/sales_order/{order['id']}/do/submit").status_code == 200
    response = submit(crm_app, wang, order, "请审批 <b>urgent</b>")
    assert response.status_code == 303
    page = wang.get(f"/e/sales_order/{order['id']}").get_data(as_text=True)
    assert 'class="flow-diagram"' in page and 'node approval current' in page
    assert "请审批 &lt;b&gt;urgent&lt;/b&gt;" in page  # comments are escaped
    assert wang.get(f"/e/sales_order/{order['id']}/edit").status_code == 403  # locked under approval
    inbox = zhao.get("/approvals").get_data(as_text=True)
    assert order["number"] in inbox
    count = open_count(crm_app, "zhao.min")
    assert count >= 2  # the demo's own approvals waiting for zhao.min, and this one
    assert re.search(rf'nav-approvals">[^<]*<span class="badge orange"[^>]*>{count}</span>', inbox)
    task = open_task(crm_app, order, "zhao.min")
    assert "my-task" in zhao.get(f"/e/sales_order/{order['id']}").get_data(as_text=True)
    response = zhao.post(f"/approvals/tasks/{task}", data={"csrf_token": token(zhao), "op": "approve",
                                                          "comment": "同意", "next": f"/e/sales_order/{order['id']}"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/e/sales_order/{order['id']}")
    assert service_of(crm_app).get("sales_order", order["id"])["status"] == "approved"
    copied = sa.select(flow_tasks.c.status).join(flows, flows.c.id == flow_tasks.c.flow_id).where(
        flows.c.record_id == order["id"], flows.c.entity == "sales_order", flow_tasks.c.kind == "cc")
    with service_of(crm_app).engine.connect() as conn:
        assert conn.execute(copied).scalars().all() == ["unread"]  # zhao heads Sales: copied
    zhao.get(f"/e/sales_order/{order['id']}")
    with service_of(crm_app).engine.connect() as conn:
        assert conn.execute(copied).scalars().all() == ["read"]  # seen on the record page
    done = zhao.get("/approvals?tab=done").get_data(as_text=True)
    assert order["number"] in done and "同意" in done
    assert order["number"] in wang.get("/approvals?tab=mine").get_data(as_text=True)
    bell = wang.get("/notifications").get_data(as_text=True)
    assert order["number"] in bell


def test_decisions_from_the_inbox_and_their_refusals(crm_app):
    wang, zhao = person(crm_app, "wang.lei"), person(crm_app, "zhao.min")
    order = draft_order(crm_app)
    assert submit(crm_app, wang, order).status_code == 303
    task = open_task(crm_app, order, "zhao.min")
    # a rejection needs a comment: 422, shown on the inbox, nothing decided
    refused = zhao.post(f"/approvals/tasks/{task}", data={"csrf_token": token(zhao), "op": "reject",
                                                         "next": "/approvals?tab=todo"})
    assert refused.status_code == 422 and "comment" in refused.get_data(as_text=True)
    for bad in ({"op": "explode"}, {"op": "approve", "salary": "1"}):  # malformed posts
        assert zhao.post(f"/approvals/tasks/{task}", data={"csrf_token": token(zhao), **bad}).status_code == 400
    assert zhao.post(f"/approvals/tasks/{task}", data={"op": "approve"}).status_code == 400  # no CSRF token
    assert wang.post(f"/approvals/tasks/{task}", data={"csrf_token": token(wang), "op": "approve"}).status_code == 404
    assert zhao.post("/approvals/tasks/999999", data={"csrf_token": token(zhao), "op": "approve"}).status_code == 404
    ok = zhao.post(f"/approvals/tasks/{task}", data={"csrf_token": token(zhao), "op": "reject", "comment": "价格太低",
                                                    "next": "/approvals?tab=todo"})
    assert ok.status_code == 303
    again = zhao.post(f"/approvals/tasks/{task}", data={"csrf_token": token(zhao), "op": "approve"})
    assert again.status_code == 409  # already decided
    assert service_of(crm_app).get("sales_order", order["id"])["status"] == "rejected"
    with service_of(crm_app).engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(flow_history.c.action == "reject")).scalar() == 1


def test_a_transition_condition_and_a_state_field_refused(crm_app):
    wang = person(crm_app, "wang.lei")
    order = draft_order(crm_app, price=0)  # total 0: `condition: total > 0`
    response = submit(crm_app, wang, order)
    assert response.status_code == 422
    assert "请先添加订单明细再提交审批" in response.get_data(as_text=True)  # the YAML message, in wang's language
    assert service_of(crm_app).get("sales_order", order["id"])["status"] == "draft"
    form = wang.get(f"/e/sales_order/{order['id']}/edit").get_data(as_text=True)
    assert 'name="status"' not in form or 'name="status" disabled' in form  # the state is not a form field
    posted = wang.post(f"/e/sales_order/{order['id']}/do/submit",
                       data={"csrf_token": token(wang), "comment": "x", "status": "approved"})
    assert posted.status_code == 400  # a field the transition does not ask for


def test_transfer_send_back_and_resubmit_over_http(crm_app):
    wang, zhao = person(crm_app, "wang.lei"), person(crm_app, "zhao.min")
    chen = person(crm_app, "chen.jie")
    order = draft_order(crm_app)
    submit(crm_app, wang, order)
    task = open_task(crm_app, order, "zhao.min")
    with service_of(crm_app).engine.connect() as conn:
        chen_id = conn.execute(sa.select(users.c.id).where(users.c.username == "chen.jie")).scalar_one()
    assert zhao.post(f"/approvals/tasks/{task}", data={"csrf_token": token(zhao), "op": "transfer",
                                                      "user": str(chen_id), "comment": "you decide"}).status_code == 303
    task = open_task(crm_app, order, "chen.jie")
    back = chen.post(f"/approvals/tasks/{task}", data={"csrf_token": token(chen), "op": "send_back", "to": "submitter",
                                                      "comment": "add the delivery date",
                                                      "next": f"/e/sales_order/{order['id']}"})
    assert back.status_code == 303
    assert service_of(crm_app).get("sales_order", order["id"])["status"] == "draft"
    page = wang.get(f"/e/sales_order/{order['id']}").get_data(as_text=True)
    flow_id = re.search(r"/approvals/flows/(\d+)/resubmit", page).group(1)
    assert wang.post(f"/approvals/flows/{flow_id}/resubmit",
                     data={"csrf_token": token(wang), "comment": "done"}).status_code == 303
    assert service_of(crm_app).get("sales_order", order["id"])["status"] == "submitted"
    assert zhao.post(f"/approvals/flows/{flow_id}/withdraw", data={"csrf_token": token(zhao)}).status_code == 403
    assert wang.post(f"/approvals/flows/{flow_id}/urge", data={"csrf_token": token(wang)}).status_code == 303
    assert wang.post(f"/approvals/flows/{flow_id}/urge", data={"csrf_token": token(wang)}).status_code == 409
    assert wang.post(f"/approvals/flows/{flow_id}/explode", data={"csrf_token": token(wang)}).status_code == 400


def test_notifications_bell_and_reading(crm_app):
    wang, zhao = person(crm_app, "wang.lei"), person(crm_app, "zhao.min")
    order = draft_order(crm_app)
    submit(crm_app, wang, order)
    page = zhao.get("/notifications").get_data(as_text=True)
    assert order["number"] in page and "unread" in page
    with service_of(crm_app).engine.connect() as conn:
        unread = conn.execute(sa.select(sa.func.count()).select_from(notifications).join(
            users, users.c.id == notifications.c.user_id).where(users.c.username == "zhao.min",
                                                                notifications.c.read_at.is_(None))).scalar_one()
        note = conn.execute(sa.select(sa.func.max(notifications.c.id))).scalar_one()
    assert re.search(rf'nav-bell"[^>]*>.*?<span class="badge red">{unread}</span>', page)
    assert f'action="/notifications/{note}"' in page  # opened by a POST form, not a link
    followed = zhao.get(f"/notifications/{note}")  # a GET (prefetch, a link from elsewhere) changes nothing
    assert followed.status_code == 303 and followed.headers["Location"].endswith(f"/e/sales_order/{order['id']}")
    assert f'badge red">{unread}<' in zhao.get("/notifications").get_data(as_text=True)
    assert zhao.post(f"/notifications/{note}").status_code == 400  # no CSRF token: nothing marked
    opened = zhao.post(f"/notifications/{note}", data={"csrf_token": token(zhao)})
    assert opened.status_code == 303 and opened.headers["Location"].endswith(f"/e/sales_order/{order['id']}")
    assert f'badge red">{unread - 1}<' in zhao.get("/notifications").get_data(as_text=True) or unread == 1
    with service_of(crm_app).engine.connect() as conn:
        assert conn.execute(sa.select(notifications.c.read_at).where(notifications.c.id == note)).scalar() is not None
    assert zhao.post("/notifications/read", data={"csrf_token": token(zhao)}).status_code == 303
    assert 'badge red' not in zhao.get("/notifications").get_data(as_text=True)
    assert wang.get(f"/notifications/{note}").status_code == 404  # someone else's
    assert wang.post(f"/notifications/{note}", data={"csrf_token": token(wang)}).status_code == 404
    assert zhao.post("/notifications/read", data={"csrf_token": token(zhao), "id": "x"}).status_code == 400


def test_labels_from_yaml_are_escaped_in_the_diagram(crm_app):
    """Node labels are written into the SVG by the template: autoescaped like any label."""
    from engine.workflows.definition import Flow
    from engine.workflows.diagram import layout

    flow = Flow({"name": "f", "workflow": "w", "entity": "e", "field": "s",
                 "nodes": {"a": {"type": "approval", "label": "<script>x</script>", "approvers": [], "next": "end"}}})
    with crm_app.test_request_context():
        html = crm_app.jinja_env.from_string(
            '{% import "_flow_diagram.html" as fd %}{{ fd.diagram(d, "t") }}').render(d=layout(flow, "en", [], ["a"]))
    assert "<script>" not in html and "&lt;script&gt;" in html and "current" in html


def test_the_board_moves_a_workflow_state_only_by_a_transition(crm_app):
    zhao = person(crm_app, "zhao.min")
    service = service_of(crm_app)
    order = draft_order(crm_app, delivery_date="2026-12-20")
    headers = {"HX-Request": "true"}
    moved = zhao.post(f"/e/sales_order/{order['id']}/stage", headers=headers,
                      data={"csrf_token": token(zhao), "stage": "approved", "version": order["version"]})
    assert moved.status_code == 422 and service.get("sales_order", order["id"])["status"] == "draft"
    order = service.update("sales_order", order["id"], {"status": "approved"}, version=order["version"])  # system
    shipped = zhao.post(f"/e/sales_order/{order['id']}/stage", headers=headers,
                        data={"csrf_token": token(zhao), "stage": "shipped", "version": order["version"]})
    assert shipped.status_code == 200  # `ship` leads there and a sales manager may run it
    assert service.get("sales_order", order["id"])["status"] == "shipped"
    with service.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(flows).where(
            flows.c.entity == "sales_order", flows.c.record_id == order["id"])).scalar() == 0  # no flow


def test_add_approvers_send_back_to_a_step_and_edit_from_the_pages(crm_app):
    wang, zhao, sun = person(crm_app, "wang.lei"), person(crm_app, "zhao.min"), person(crm_app, "sun.li")
    service = service_of(crm_app)
    with service.engine.connect() as conn:
        ids = dict(conn.execute(sa.select(users.c.username, users.c.id)).all())
    order = draft_order(crm_app, price=60000, discount_percent=25)  # total 90,000: no finance; discount: director
    submit(crm_app, wang, order)
    task = open_task(crm_app, order, "zhao.min")
    inbox = zhao.get("/approvals").get_data(as_text=True)
    assert 'value="add_before"' in inbox and f'<option value="{task}">' in inbox  # from the inbox too
    assert zhao.post("/approvals/tasks", data={"csrf_token": token(zhao), "op": "add_before",
                                               "task": "x"}).status_code == 400
    # zhao asks sun.li first (加签, before), from the inbox's form; zhao's turn comes back after
    assert zhao.post("/approvals/tasks", data={"csrf_token": token(zhao), "op": "add_before", "task": str(task),
                                               "user": str(ids["sun.li"])}).status_code == 303
    sun_task = open_task(crm_app, order, "sun.li")
    assert sun.post(f"/approvals/tasks/{sun_task}", data={"csrf_token": token(sun), "op": "approve",
                                                         "comment": "账期可以"}).status_code == 303
    task = open_task(crm_app, order, "zhao.min")
    # zhao lowers the discount while approving (the node lets managers edit it)
    assert zhao.post(f"/approvals/tasks/{task}", data={"csrf_token": token(zhao), "op": "approve", "comment": "降到 22%",
                                                      "edit-discount_percent": "22"}).status_code == 303
    assert service.get("sales_order", order["id"])["discount_percent"] == 22
    chen = person(crm_app, "chen.jie")
    director = open_task(crm_app, order, "chen.jie")
    page = chen.get(f"/e/sales_order/{order['id']}").get_data(as_text=True)
    assert '<option value="manager">' in page  # a step it passed
    assert chen.post(f"/approvals/tasks/{director}", data={"csrf_token": token(chen), "op": "send_back", "to": "manager",
                                                          "comment": "再核一下"}).status_code == 303
    assert open_task(crm_app, order, "zhao.min")  # back at the manager
    task = open_task(crm_app, order, "zhao.min")
    refused = zhao.post(f"/approvals/tasks/{task}", data={"csrf_token": token(zhao), "op": "approve",
                                                         "edit-notes": "not mine to edit",
                                                         "next": f"/e/sales_order/{order['id']}"})
    assert refused.status_code == 422 and service.get("sales_order", order["id"])["notes"] is None


def test_refused_inputs_and_foreign_redirects(crm_app):
    wang, zhao = person(crm_app, "wang.lei"), person(crm_app, "zhao.min")
    order = draft_order(crm_app)
    url = f"/e/sales_order/{order['id']}/do/submit"
    assert wang.post(url, data={"csrf_token": token(wang, url), "version": "abc"}).status_code == 422
    assert service_of(crm_app).get("sales_order", order["id"])["status"] == "draft"
    submit(crm_app, wang, order)
    flow_id = re.search(r"/approvals/flows/(\d+)/urge", wang.get(f"/e/sales_order/{order['id']}")
                        .get_data(as_text=True)).group(1)
    for evil in ("/\t/evil.example/", "//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = wang.post(f"/approvals/flows/{flow_id}/withdraw" if evil == "//evil.example/"
                             else f"/approvals/flows/{flow_id}/urge",
                             data={"csrf_token": token(wang), "next": evil})
        location = response.headers.get("Location", "")
        assert "evil.example" not in location, (evil, location)
    assert zhao.post("/approvals/tasks", data={"csrf_token": token(zhao), "op": "approve",
                                               "task": "²"}).status_code == 400
    assert zhao.post("/notifications/read", data={"csrf_token": token(zhao), "id": "²"}).status_code == 400
    assert zhao.get("/approvals?page=100000000000000000000").status_code == 200


def test_the_board_sends_moves_that_need_a_form_to_the_record_page(crm_app):
    wang = person(crm_app, "wang.lei")
    service = service_of(crm_app)
    with service.engine.connect() as conn:
        owner = conn.execute(sa.select(users.c.id).where(users.c.username == "wang.lei")).scalar_one()
    customer = service.list("customer", Query(limit=1), Context(actor=SYSTEM))[0]
    contract = service.create("contract", {"title": "Frame", "customer": customer["id"], "amount": 1000,
                                           "start_date": "2027-01-01", "owner": owner}, Context(actor=SYSTEM),
                              trusted=True)
    moved = wang.post(f"/e/contract/{contract['id']}/stage", headers={"HX-Request": "true"},
                      data={"csrf_token": token(wang), "stage": "review", "version": contract["version"]})
    assert moved.status_code == 422  # its flow has a finance reviewer the submitter picks: a form
    assert service.get("contract", contract["id"])["status"] == "draft"
    url = f"/e/contract/{contract['id']}/do/submit"
    form = wang.get(url).get_data(as_text=True)
    assert 'name="picked-finance_review"' in form
    assert wang.post(url, data={"csrf_token": token(wang, url)}).status_code == 422  # no reviewer picked
    with service.engine.connect() as conn:
        sun = conn.execute(sa.select(users.c.id).where(users.c.username == "sun.li")).scalar_one()
    assert wang.post(url, data={"csrf_token": token(wang, url), "picked-finance_review": str(sun)}).status_code == 303
    assert service.get("contract", contract["id"])["status"] == "review"


def user_id(app, username: str) -> int:
    with service_of(app).engine.connect() as conn:
        return conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar_one()


def test_flow_operations_on_a_record_one_cannot_read_answer_404(crm_app):
    """As records do: someone who cannot read the order learns nothing about its approval."""
    wang, zhao, emily = person(crm_app, "wang.lei"), person(crm_app, "zhao.min"), person(crm_app, "emily.chen")
    order = draft_order(crm_app)
    assert submit(crm_app, wang, order).status_code == 303
    with service_of(crm_app).engine.connect() as conn:
        flow_id = conn.execute(sa.select(flows.c.id).where(flows.c.entity == "sales_order",
                                                           flows.c.record_id == order["id"])).scalar_one()
    for op in ("withdraw", "urge", "resubmit"):
        hidden = emily.post(f"/approvals/flows/{flow_id}/{op}", data={"csrf_token": token(emily)})
        missing = emily.post(f"/approvals/flows/{flow_id + 100000}/{op}", data={"csrf_token": token(emily)})
        assert hidden.status_code == missing.status_code == 404  # the same answer as a flow that does not exist
        for answer in (hidden, missing):
            assert "This approval does not exist or you cannot see it." in answer.get_data(as_text=True)
    zh = zhao.post(f"/approvals/flows/{flow_id + 100000}/urge", data={"csrf_token": token(zhao)})
    assert zh.status_code == 404 and "该审批不存在" in zh.get_data(as_text=True)  # zhao reads Chinese
    # someone who can read the order is told they may not (403), and the submitter may
    assert zhao.post(f"/approvals/flows/{flow_id}/withdraw", data={"csrf_token": token(zhao)}).status_code == 403
    assert service_of(crm_app).get("sales_order", order["id"])["status"] == "submitted"
    assert wang.post(f"/approvals/flows/{flow_id}/withdraw", data={"csrf_token": token(wang)}).status_code == 303


def test_passing_an_approval_to_the_submitter_or_a_non_reader_is_refused_in_their_language(crm_app):
    wang, zhao = person(crm_app, "wang.lei"), person(crm_app, "zhao.min")
    order = draft_order(crm_app)
    submit(crm_app, wang, order)
    task = open_task(crm_app, order, "zhao.min")
    back = f"/e/sales_order/{order['id']}"
    to_submitter = zhao.post(f"/approvals/tasks/{task}", data={
        "csrf_token": token(zhao), "op": "transfer", "user": str(user_id(crm_app, "wang.lei")), "next": back})
    assert to_submitter.status_code == 422
    assert "提交人不能审批自己提交的申请" in to_submitter.get_data(as_text=True)
    added = zhao.post(f"/approvals/tasks/{task}", data={
        "csrf_token": token(zhao), "op": "add_after", "user": str(user_id(crm_app, "wang.lei")), "comment": "ok"})
    assert added.status_code == 422 and "提交人不能审批自己提交的申请" in added.get_data(as_text=True)
    blind = zhao.post(f"/approvals/tasks/{task}", data={  # liu.yang (service) may not read orders
        "csrf_token": token(zhao), "op": "transfer", "user": str(user_id(crm_app, "liu.yang")), "next": back})
    assert blind.status_code == 422 and "此人无权查看该记录" in blind.get_data(as_text=True)
    assert open_task(crm_app, order, "zhao.min") == task  # nothing changed
    assert service_of(crm_app).get("sales_order", order["id"])["status"] == "submitted"
