"""Boards: a column per visible stage with counts, cards that move through the records
service (rules, optimistic locking, CSRF) — over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from webutil import csrf_of, sign_in

from engine.records import Query

FETCH = {"X-Requested-With": "fetch"}


def service_of(app):
    return app.extensions["tailor"].service


def lanes(html: str) -> list[tuple[str, str, list[int]]]:
    """(stage, count, card ids) of each column, in order."""
    found = []
    for section in re.findall(r'<section class="column" data-stage="([^"]+)">(.*?)</section>', html, re.S):
        stage, body = section
        count = re.search(r'class="muted count" data-count="\d+">([^<]+)</span>', body).group(1)
        found.append((stage, count, [int(i) for i in re.findall(r'<article class="kcard" id="card-(\d+)"', body)]))
    return found


def move(client, entity: str, record_id: int, stage: str, version, token: str | None, headers=None):
    data = {"stage": stage, "version": version}
    headers = dict(headers or {})
    if token is not None:
        headers["X-CSRFToken"] = token
    return client.post(f"/e/{entity}/{record_id}/stage", data=data, headers=headers)


def test_board_has_a_column_per_stage_with_counts(client, crm_app):
    response = client.get("/e/opportunity/board")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    found = lanes(html)
    assert [stage for stage, _count, _ids in found] == ["prospecting", "qualification", "proposal", "negotiation",
                                                       "won", "lost"]
    service = service_of(crm_app)
    for stage, count, ids in found:
        expected = service.list("opportunity", Query(filters=[("stage", "eq", stage)], limit=100))
        assert count == str(len(expected)) and sorted(ids) == sorted(r["id"] for r in expected)
    assert sum(len(ids) for _s, _c, ids in found) == 25
    # labels and colours of the stages, titles and list columns on the cards
    assert '<span class="badge green">Won</span>' in html and '<span class="badge gray">Prospecting</span>' in html
    assert "华信精密二期扩产 4 台 VMC850" in html and "苏州华信精密机械有限公司" in html
    assert "1,036,000.00 CNY" in html
    # drag and drop: SortableJS from /assets, and a form on each card without JavaScript
    assert re.search(r'<script nonce="[^"]+" src="/assets/Sortable.min.js"></script>', html)
    assert client.get("/assets/Sortable.min.js").status_code == 200
    assert html.count('<select name="stage"') == 25
    for stage, _count, ids in found:  # each card's form starts at its own stage
        assert html.count(f'<option value="{stage}" selected>') == len(ids)
    # other entities with a stage
    lead = lanes(client.get("/e/lead/board").get_data(as_text=True))
    assert [s for s, _c, _i in lead] == ["new", "contacted", "qualified", "disqualified"]
    assert [s for s, _c, _i in lanes(client.get("/e/sales_order/board").get_data(as_text=True))][:2] == [
        "draft", "submitted"]


def test_board_only_for_entities_with_a_stage(client):
    assert client.get("/e/customer/board").status_code == 404
    assert client.get("/e/nonexistent/board").status_code == 404
    assert 'href="/e/opportunity/board"' in client.get("/e/opportunity").get_data(as_text=True)
    assert "/board" not in client.get("/e/customer").get_data(as_text=True)


def test_board_filters_and_bad_parameters(client, crm_app):
    wang = service_of(crm_app).list("opportunity", Query(limit=1, sort=("title",)))[0]["owner"]
    mine = lanes(client.get(f"/e/opportunity/board?owner={wang}").get_data(as_text=True))
    expected = service_of(crm_app).count("opportunity", Query(filters=[("owner", "eq", wang)]))
    assert 0 < sum(len(ids) for _s, _c, ids in mine) == expected < 21
    assert client.get("/e/opportunity/board?amount.min=abc").status_code == 400
    assert client.get("/e/opportunity/board?nonexistent=1").status_code == 400


HIDDEN_STAGE = {
    "entities/task.yaml": """
        entity: task
        title: name
        stage: state
        fields:
          name: {type: string, required: true}
          state:
            type: choice
            default: todo
            options:
              - {value: todo, label: {en: To do}, color: blue}
              - {value: parked, label: {en: Parked}, hidden: true}
              - {value: done, label: {en: Done}, color: "#1e7e34"}
        """,
}


def test_hidden_stage_options_have_no_column_and_are_refused(make_app, make_project):
    app = make_app(make_project(HIDDEN_STAGE))
    task = service_of(app).create("task", {"name": "Write <tests>"})
    client = app.test_client()
    sign_in(client)
    html = client.get("/e/task/board").get_data(as_text=True)
    assert [(s, c, i) for s, c, i in lanes(html)] == [("todo", "1", [task["id"]]), ("done", "0", [])]
    assert "Parked" not in html and "Write &lt;tests&gt;" in html
    assert 'style="background-color: #1e7e34"' in html
    response = move(client, "task", task["id"], "parked", 1, csrf_of(html), FETCH)
    assert response.status_code == 422
    assert service_of(app).get("task", task["id"])["state"] == "todo"


def test_moving_a_card_changes_the_stage_and_bumps_the_version(client, crm_app):
    service = service_of(crm_app)
    record = service.list("opportunity", Query(filters=[("stage", "eq", "prospecting")], limit=1))[0]
    html = client.get("/e/opportunity/board").get_data(as_text=True)
    assert f'data-id="{record["id"]}" data-version="{record["version"]}"' in html
    response = move(client, "opportunity", record["id"], "qualification", record["version"], csrf_of(html), FETCH)
    assert response.status_code == 200
    card = response.get_data(as_text=True)
    assert card.lstrip().startswith("<article class=\"kcard\"") and "<html" not in card
    assert f'data-version="{record["version"] + 1}"' in card
    assert '<option value="qualification" selected>' in card
    saved = service.get("opportunity", record["id"])
    assert saved["stage"] == "qualification" and saved["version"] == record["version"] + 1
    assert service.history("opportunity", record["id"])[-1]["changes"]["stage"] == ["prospecting", "qualification"]
    found = dict((s, ids) for s, _c, ids in lanes(client.get("/e/opportunity/board").get_data(as_text=True)))
    assert record["id"] in found["qualification"] and record["id"] not in found["prospecting"]


def test_a_stale_version_is_409_and_changes_nothing(client, crm_app):
    service = service_of(crm_app)
    record = service.list("opportunity", Query(filters=[("stage", "eq", "proposal")], limit=1))[0]
    html = client.get("/e/opportunity/board").get_data(as_text=True)
    service.update("opportunity", record["id"], {"description": "changed meanwhile"}, version=record["version"])
    response = move(client, "opportunity", record["id"], "negotiation", record["version"], csrf_of(html), FETCH)
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "data-message" in body and "Someone else changed this record" in body and "<html" not in body
    saved = service.get("opportunity", record["id"])
    assert saved["stage"] == "proposal" and saved["version"] == record["version"] + 1


def test_a_move_that_breaks_a_rule_is_422_with_the_message(client, crm_app):
    service = service_of(crm_app)
    record = service.list("opportunity", Query(filters=[("stage", "eq", "negotiation")], limit=1))[0]
    assert record["probability"] < 100
    html = client.get("/e/opportunity/board").get_data(as_text=True)
    response = move(client, "opportunity", record["id"], "won", record["version"], csrf_of(html), FETCH)
    assert response.status_code == 422
    assert "A won opportunity has probability 100 %." in response.get_data(as_text=True)
    saved = service.get("opportunity", record["id"])
    assert saved["stage"] == "negotiation" and saved["version"] == record["version"]


@pytest.mark.parametrize("data", [{"stage": "nonexistent"}, {"stage": ""}, {"version": ""}, {"version": "abc"}])
def test_bad_moves_are_422(client, crm_app, data):
    service = service_of(crm_app)
    record = service.list("opportunity", Query(filters=[("stage", "eq", "qualification")], limit=1))[0]
    html = client.get("/e/opportunity/board").get_data(as_text=True)
    values = {"stage": "proposal", "version": record["version"], **data}
    response = move(client, "opportunity", record["id"], values["stage"], values["version"], csrf_of(html), FETCH)
    assert response.status_code == 422
    assert service.get("opportunity", record["id"]) == record
    assert move(client, "opportunity", 999999, "proposal", 1, csrf_of(html), FETCH).status_code == 404
    assert move(client, "customer", 1, "proposal", 1, csrf_of(html), FETCH).status_code == 404


def test_missing_csrf_is_400_and_changes_nothing(client, crm_app):
    service = service_of(crm_app)
    record = service.list("opportunity", Query(filters=[("stage", "eq", "prospecting")], limit=1))[0]
    response = move(client, "opportunity", record["id"], "qualification", record["version"], None, FETCH)
    assert response.status_code == 400
    response = move(client, "opportunity", record["id"], "qualification", record["version"], "forged", FETCH)
    assert response.status_code == 400
    assert service.get("opportunity", record["id"]) == record


def test_the_form_without_javascript(client, crm_app):
    service = service_of(crm_app)
    record = service.list("opportunity", Query(filters=[("stage", "eq", "prospecting")], limit=1))[0]
    html = client.get("/e/opportunity/board").get_data(as_text=True)
    response = client.post(f"/e/opportunity/{record['id']}/stage", data={
        "stage": "qualification", "version": record["version"], "csrf_token": csrf_of(html)})
    assert response.status_code == 303 and response.headers["Location"] == "/e/opportunity/board"
    assert service.get("opportunity", record["id"])["stage"] == "qualification"
    # refused: a full page with the message
    response = client.post(f"/e/opportunity/{record['id']}/stage", data={
        "stage": "won", "version": record["version"] + 1, "csrf_token": csrf_of(html)})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "<html" in page and "A won opportunity has probability 100 %." in page
