"""Masking of fields that hold more than one text (issue 11): `mask:` on a list of phones or
e-mail addresses masks every item and the primary, and on a person's name the full name and
every part — on pages, forms, exports, search results and the history. A form sent back
as shown keeps the stored values; a phone added beside masked ones keeps them; a masked
item cannot be changed or taken away by a role that may not reveal it (SQLite and
PostgreSQL)."""

from __future__ import annotations

import pytest
from test_forms import form_values, setting
from webutil import csrf_of, make_user, sign_in

from engine.records import Actor, Context, ValidationError

PERSON = """
entity: person
label: {en: Person, zh: 人员}
fields:
  person: {type: person_name, mask: name, label: {en: Name, zh: 姓名}}
  phones: {type: phones, mask: phone, label: {en: Phones, zh: 电话}}
  emails: {type: emails, mask: email, label: {en: E-mails, zh: 邮箱}}
  city: {type: string, label: {en: City, zh: 城市}}
title: person
list:
  columns: [person, phones, emails, city]
  search: [person, phones, emails, city]
"""
ROLES = """
roles:
  clerk:
    entities:
      person: {actions: [read, create, update, export], scope: all}
  manager:
    entities:
      person: {actions: [read, create, update, export, reveal], scope: all}
"""
MOBILE, DESK = "13800138000", "02161234567"
SECRETS = ("0013", "1234567", "wei.wang@", "Wei", "Wang")


@pytest.fixture
def app(make_project, make_app):
    root = make_project({"entities/person.yaml": PERSON, "roles.yaml": ROLES})
    app = make_app(root, users=())
    state = app.extensions["tailor"]
    app.clerk = make_user(state.engine, state.model, "clerk", ("clerk",))
    app.manager = make_user(state.engine, state.model, "manager", ("manager",))
    app.wang = state.service.create("person", {
        "person": {"first": "Wei", "last": "Wang"},
        "phones": [{"value": MOBILE, "kind": "mobile", "primary": True}, {"value": DESK, "kind": "work"}],
        "emails": ["wei.wang@example.cn"], "city": "Qingdao"})
    return app


def clerk_context(app) -> Context:
    return Context(actor=Actor(id=app.clerk, username="clerk", roles=("clerk",)))


def test_every_item_and_part_is_masked_everywhere(app):
    client = app.test_client()
    assert sign_in(client, "clerk").status_code == 302
    wang = app.wang
    pages = {
        "list": client.get("/e/person"),
        "record": client.get(f"/e/person/{wang['id']}"),
        "form": client.get(f"/e/person/{wang['id']}/edit"),
        "csv": client.get("/e/person/export.csv"),
        "search": client.get(f"/e/person?q={DESK}"),
    }
    for what, response in pages.items():
        text = response.get_data(as_text=True)
        assert response.status_code == 200, what
        for secret in SECRETS:
            assert secret not in text.replace(f"q={DESK}", "").replace(f'value="{DESK}"', ""), (what, secret)
    assert "138****8000" in pages["list"].get_data(as_text=True)
    assert "021****4567" in pages["search"].get_data(as_text=True)  # found by a second phone, shown masked
    assert "W** W***" in pages["record"].get_data(as_text=True)
    assert "w***@example.cn" in pages["csv"].get_data(as_text=True)
    assert "Qingdao" in pages["list"].get_data(as_text=True)
    service = app.extensions["tailor"].service
    record = service.get("person", wang["id"], clerk_context(app))
    assert record["phones"] == "138****8000" and record["phones_items"] == ["138****8000", "021****4567"]
    assert record["phones_kinds"] == ["mobile", "work"]  # the kinds stay readable
    assert (record["person_first"], record["person_last"]) == ("W**", "W***")
    history = service.history("person", wang["id"], clerk_context(app))
    assert MOBILE not in str(history) and "Wang" not in str(history)
    assert MOBILE in str(service.history("person", wang["id"]))  # the engine itself sees the values


def test_masked_items_are_kept_added_to_but_not_changed(app):
    service = app.extensions["tailor"].service
    clerk = clerk_context(app)
    shown = service.get("person", app.wang["id"], clerk)
    # the list sent back as shown, plus a new phone: the stored numbers are kept
    items = [{"value": v, "kind": k, "primary": i == 0}
             for i, (v, k) in enumerate(zip(shown["phones_items"], shown["phones_kinds"], strict=True))]
    saved = service.update("person", shown["id"], {"phones": [*items, {"value": "13900139000", "kind": "home"}],
                                                   "person": {"first": "W**", "last": "W***"}},
                           version=shown["version"], context=clerk)
    full = service.get("person", shown["id"])
    assert full["phones_items"] == [MOBILE, DESK, "13900139000"] and full["phones"] == MOBILE
    assert (full["person_first"], full["person_last"]) == ("Wei", "Wang")
    # taking a masked number away, or changing a part of the name, is refused and changes nothing
    for change in ({"phones": items[:1]}, {"person": {"first": "Li", "last": "W***"}}):
        with pytest.raises(ValidationError) as refused:
            service.update("person", shown["id"], change, version=saved["version"], context=clerk)
        assert "masked" in str(refused.value.errors), change
    assert service.get("person", shown["id"])["phones_items"] == [MOBILE, DESK, "13900139000"]
    # a role granted reveal may change them
    manager = Context(actor=Actor(id=app.manager, username="manager", roles=("manager",)))
    service.update("person", shown["id"], {"phones": [MOBILE]}, version=saved["version"], context=manager)
    assert service.get("person", shown["id"])["phones_items"] == [MOBILE]


def test_the_edit_form_sent_back_as_shown_keeps_every_value(app):
    client = app.test_client()
    assert sign_in(client, "clerk").status_code == 302
    wang = app.wang
    html = client.get(f"/e/person/{wang['id']}/edit").get_data(as_text=True)
    response = client.post(f"/e/person/{wang['id']}/edit", data=setting(form_values(html), city="Weihai"))
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    full = app.extensions["tailor"].service.get("person", wang["id"])
    assert full["city"] == "Weihai" and full["phones_items"] == [MOBILE, DESK]
    assert (full["person_first"], full["person_last"], full["emails"]) == ("Wei", "Wang", "wei.wang@example.cn")
    assert csrf_of(html)
