"""Masking per role (`mask:`) on every page and export, and the audited reveal (SQLite and
PostgreSQL): a role without `reveal` sees 138****8000 in lists, record pages, forms, CSV,
search results, link titles and the history; a role granted it reveals a record's values
with a POST that the audit trail records."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from webutil import csrf_of, make_user, sign_in

from engine.fields import encryption
from engine.records import Actor, Context, ValidationError
from engine.records.masking import mask_text
from engine.storage import audit_log

CONTACT = """
entity: contact
label: {en: Contact, zh: 联系人}
fields:
  name: {type: string, mask: name, label: {en: Name, zh: 姓名}}
  phone: {type: phone, encrypted: true, mask: phone, label: {en: Phone, zh: 电话}}
  email: {type: email, mask: email, label: {en: E-mail, zh: 邮箱}}
  city: {type: string, label: {en: City, zh: 城市}}
title: name
list:
  columns: [name, phone, email, city]
  filters: [phone, city]
  search: [name, phone, email, city]
"""
DEAL = """
entity: deal
label: {en: Deal, zh: 商机}
fields:
  title: {type: string, label: {en: Title, zh: 标题}}
  contact: {type: link, to: contact, label: {en: Contact, zh: 联系人}}
title: title
"""
ROLES = """
roles:
  clerk:
    entities:
      contact: {actions: [read, create, update, export], scope: all}
      deal: {actions: [read, create, update], scope: all}
  manager:
    entities:
      contact: {actions: [read, create, update, export, reveal], scope: all}
      deal: {actions: [read, create, update], scope: all}
"""
PHONE = "138 0013 8000"
SECRETS = ("0013 8000", "wei.wang@", "Wang Wei")  # the value as stored, in whole or in part


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv(encryption.KEY_ENV, encryption.generate_key())
    monkeypatch.delenv(encryption.KEY_FILE_ENV, raising=False)
    monkeypatch.delenv(encryption.OLD_KEYS_ENV, raising=False)


@pytest.fixture
def app(make_project, make_app):
    root = make_project({"entities/contact.yaml": CONTACT, "entities/deal.yaml": DEAL, "roles.yaml": ROLES})
    app = make_app(root, users=())
    state = app.extensions["tailor"]
    app.clerk = make_user(state.engine, state.model, "clerk", ("clerk",))
    app.manager = make_user(state.engine, state.model, "manager", ("manager",))
    app.wang = state.service.create("contact", {"name": "Wang Wei", "phone": PHONE, "email": "wei.wang@example.cn",
                                                "city": "Qingdao"})
    app.deal = state.service.create("deal", {"title": "Big order", "contact": app.wang["id"]})
    return app


def client_of(app, username):
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def test_mask_texts():
    assert mask_text("phone", PHONE) == "138****8000"
    assert mask_text("phone", "+1 (415) 555-0188") == "141****0188"
    assert mask_text("email", "wei.wang@example.cn") == "w***@example.cn"
    assert mask_text("name", "王伟") == "王*" and mask_text("name", "Wang Wei") == "W*** W**"
    assert mask_text("phone", None) is None


def test_a_role_without_reveal_sees_masked_values_everywhere(app):
    clerk = client_of(app, "clerk")
    wang, deal = app.wang, app.deal
    pages = {
        "list": clerk.get("/e/contact"),
        "record": clerk.get(f"/e/contact/{wang['id']}"),
        "form": clerk.get(f"/e/contact/{wang['id']}/edit"),
        "csv": clerk.get("/e/contact/export.csv"),
        "search": clerk.get("/e/contact?q=13800138000"),
        "link title": clerk.get(f"/e/deal/{deal['id']}"),
        "deal list": clerk.get("/e/deal"),
    }
    for what, response in pages.items():
        text = response.get_data(as_text=True)
        assert response.status_code == 200, what
        for secret in SECRETS:
            assert secret not in text, (what, secret)
        if what != "search":  # (the search box holds what was typed)
            assert "13800138000" not in text, what
    assert "138****8000" in pages["list"].get_data(as_text=True)
    assert "138****8000" in pages["search"].get_data(as_text=True)  # found by the exact number, shown masked
    assert "W*** W**" in pages["link title"].get_data(as_text=True)
    assert "w***@example.cn" in pages["csv"].get_data(as_text=True)
    assert "Qingdao" in pages["list"].get_data(as_text=True)  # other fields as they are
    assert "Reveal" not in pages["record"].get_data(as_text=True)
    # the list filter on an encrypted field compares the exact number; its column offers no sort
    filtered = clerk.get("/e/contact?phone=138-0013-8000").get_data(as_text=True)
    assert "138****8000" in filtered
    assert "138****8000" not in clerk.get("/e/contact?phone=0013").get_data(as_text=True)
    assert clerk.get("/e/contact?sort=phone").status_code == 400
    token = csrf_of(pages["record"].get_data(as_text=True))
    assert clerk.post(f"/e/contact/{wang['id']}/reveal", data={"csrf_token": token}).status_code == 403


def test_a_masked_value_is_kept_when_the_form_is_untouched_and_cannot_be_changed(app):
    service = app.extensions["tailor"].service
    clerk = Context(actor=Actor(id=app.clerk, username="clerk", roles=("clerk",)))
    wang = service.get("contact", app.wang["id"], clerk)
    assert wang["phone"] == "138****8000"
    # the masked text sent back: no change, the stored value is kept
    saved = service.update("contact", wang["id"], {"phone": "138****8000", "city": "Jinan"}, version=wang["version"],
                           context=clerk)
    full = service.get("contact", wang["id"])
    assert full["phone"] == PHONE and full["city"] == "Jinan" and saved["phone"] == "138****8000"
    with pytest.raises(ValidationError) as refused:
        service.update("contact", wang["id"], {"phone": "139 0000 0000"}, version=saved["version"], context=clerk)
    assert "masked" in str(refused.value.errors["phone"])
    assert service.get("contact", wang["id"])["phone"] == PHONE
    # the hidden value typed in clear is refused too: "saved" would confirm a right guess
    with pytest.raises(ValidationError) as guessed:
        service.update("contact", wang["id"], {"phone": PHONE}, version=saved["version"], context=clerk)
    assert "masked" in str(guessed.value.errors["phone"])


def test_the_web_form_keeps_the_stored_value(app):
    clerk = client_of(app, "clerk")
    wang = app.wang
    html = clerk.get(f"/e/contact/{wang['id']}/edit").get_data(as_text=True)
    assert 'value="138****8000"' in html
    data = {"csrf_token": csrf_of(html), "version": "1", "name": "W*** W**", "phone": "138****8000",
            "email": "w***@example.cn", "city": "Weihai"}
    response = clerk.post(f"/e/contact/{wang['id']}/edit", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    full = app.extensions["tailor"].service.get("contact", wang["id"])
    assert (full["name"], full["phone"], full["email"], full["city"]) == ("Wang Wei", PHONE, "wei.wang@example.cn",
                                                                         "Weihai")


def test_a_role_with_reveal_reveals_and_the_reveal_is_audited(app):
    manager = client_of(app, "manager")
    wang = app.wang
    page = manager.get(f"/e/contact/{wang['id']}").get_data(as_text=True)
    assert "138****8000" in page and PHONE not in page and "Reveal" in page
    response = manager.post(f"/e/contact/{wang['id']}/reveal", data={"csrf_token": csrf_of(page)})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert PHONE in text and "wei.wang@example.cn" in text and "Wang Wei" in text
    assert "Revealed" in text  # the history says so at once
    with app.extensions["tailor"].engine.connect() as conn:
        entries = conn.execute(sa.select(audit_log).where(audit_log.c.action == "reveal")).mappings().all()
    assert len(entries) == 1
    assert entries[0]["user_id"] == app.manager and entries[0]["record_id"] == wang["id"]
    assert sorted(entries[0]["changes"]) == ["email", "name", "phone"] and entries[0]["at"] is not None
    # a reveal is no lasting state: the next page is masked again; the export holds full values
    assert PHONE not in manager.get(f"/e/contact/{wang['id']}").get_data(as_text=True)
    assert PHONE in manager.get("/e/contact/export.csv").get_data(as_text=True)
    assert manager.get(f"/e/contact/{wang['id']}/reveal").status_code == 405  # a GET reveals nothing


def test_chinese_labels(app):
    manager = client_of(app, "manager")
    page = manager.get("/home").get_data(as_text=True)
    manager.post("/language", data={"language": "zh", "next": "/home", "csrf_token": csrf_of(page)})
    page = manager.get(f"/e/contact/{app.wang['id']}").get_data(as_text=True)
    assert "显示完整信息" in page
    text = manager.post(f"/e/contact/{app.wang['id']}/reveal", data={"csrf_token": csrf_of(page)}).get_data(as_text=True)
    assert "已查看完整信息" in text
