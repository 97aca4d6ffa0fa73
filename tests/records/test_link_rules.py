"""A link's `filter` and a field's `copy_from`, enforced by the records service on every
door (create, update, rows of lines, imports), within the user's rows and field rules
(SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from engine.imports import dry_run, run, start
from engine.permissions.org import load_actor, set_roles
from engine.records import Context, Query, ValidationError
from engine.storage import users, write_engine
from engine.users import create_user

FILES = {
    "tailor.yaml": "name: shop\nlanguages: [en, zh]\n",
    "entities/product.yaml": """
        entity: product
        label: {en: Product, zh: 产品}
        title: name
        fields:
          name: {type: string, required: true, label: {en: Name, zh: 名称}}
          active: {type: boolean, default: true, label: {en: Active, zh: 在售}}
          list_price: {type: money, label: {en: List price, zh: 标准售价}}
          cost: {type: decimal, scale: 2, label: {en: Cost, zh: 成本}}
        """,
    "entities/customer.yaml": """
        entity: customer
        title: name
        fields:
          name: {type: string}
          region: {type: string}
        """,
    "entities/contact.yaml": """
        entity: contact
        label: {en: Contact, zh: 联系人}
        title: name
        fields:
          name: {type: string}
          customer: {type: link, to: customer}
        """,
    "entities/deal.yaml": """
        entity: deal
        fields:
          title: {type: string}
          customer: {type: link, to: customer}
          contact: {type: link, to: contact, filter: "customer == record.customer", label: {en: Contact, zh: 联系人}}
          product: {type: link, to: product, filter: "active", label: {en: Product, zh: 产品}}
          price: {type: decimal, scale: 2, copy_from: product.list_price}
          cost: {type: decimal, scale: 2, readonly: true, copy_from: product.cost}
          lines:
            type: lines
            fields:
              product: {type: link, to: product, filter: "active", label: {en: Product, zh: 产品}}
              unit_price: {type: decimal, scale: 2, required: true, copy_from: product.list_price}
              quantity: {type: integer, default: 1}
              contact: {type: link, to: contact, filter: "customer == parent.customer"}
        """,
    "roles.yaml": """
        roles:
          rep:
            entities:
              deal: {actions: [read, create, update, import], scope: all}
              product: {actions: [read], scope: "name != 'Secret'", fields: {cost: hidden}}
              customer: {actions: [read], scope: all}
              contact: {actions: [read], scope: all}
        """,
}


@pytest.fixture
def shop(service_for):
    service = service_for(FILES)
    acme = service.create("customer", {"name": "Acme"})
    beta = service.create("customer", {"name": "Beta"})
    made = {
        "ann": service.create("contact", {"name": "Ann", "customer": acme["id"]}),
        "bob": service.create("contact", {"name": "Bob", "customer": beta["id"]}),
        "pump": service.create("product", {"name": "Pump", "list_price": "120.50", "cost": "80"}),
        "valve": service.create("product", {"name": "Valve", "list_price": "9", "cost": "4"}),
        "old": service.create("product", {"name": "Old pump", "list_price": "99", "active": False}),
        "secret": service.create("product", {"name": "Secret", "list_price": "1000", "cost": "1"}),
    }
    return service, acme, beta, made


def _rep(service) -> Context:
    with write_engine(service.engine).begin() as conn:
        user_id = create_user(conn, "rep", None)
        set_roles(conn, user_id, ["rep"], service.model.roles)
    with service.engine.connect() as conn:
        return Context(actor=load_actor(conn, conn.execute(sa.select(users).where(users.c.id == user_id))
                                        .mappings().one()))


def _refused(call) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as info:
        call()
    return info.value.errors


def test_a_link_outside_its_filter_is_a_field_error_in_the_users_language(shop):
    service, acme, beta, made = shop
    errors = _refused(lambda: service.create("deal", {"customer": acme["id"], "contact": made["bob"]["id"],
                                                      "product": made["old"]["id"]}))
    assert set(errors) == {"contact", "product"}
    [message] = errors["contact"]
    assert message == f"Contact {made['bob']['id']} cannot be chosen for Contact: it does not meet the field's condition"
    assert message.text("zh") == f"联系人 {made['bob']['id']} 不能用于联系人：不符合该字段的条件"
    deal = service.create("deal", {"customer": acme["id"], "contact": made["ann"]["id"], "product": made["pump"]["id"]})
    assert deal["contact"] == made["ann"]["id"]
    # no customer chosen: `customer == record.customer` allows only contacts without one
    assert "contact" in _refused(lambda: service.create("deal", {"contact": made["ann"]["id"]}))


def test_the_filter_is_checked_when_it_is_at_stake_on_update(shop):
    service, acme, beta, made = shop
    deal = service.create("deal", {"customer": acme["id"], "contact": made["ann"]["id"], "product": made["valve"]["id"]})
    # the customer changes and the contact stays: the filter reads record.customer
    assert set(_refused(lambda: service.update("deal", deal["id"], {"customer": beta["id"]},
                                               version=deal["version"]))) == {"contact"}
    moved = service.update("deal", deal["id"], {"customer": beta["id"], "contact": made["bob"]["id"]},
                           version=deal["version"])
    # the product stops being sold: the deal that has it can still be edited
    service.update("product", made["valve"]["id"], {"active": False}, version=made["valve"]["version"])
    edited = service.update("deal", deal["id"], {"title": "renamed"}, version=moved["version"])
    assert edited["product"] == made["valve"]["id"]
    assert set(_refused(lambda: service.update("deal", deal["id"], {"product": made["old"]["id"]},
                                               version=edited["version"]))) == {"product"}


def test_rows_of_lines_obey_their_links_filter(shop):
    service, _acme, _beta, made = shop
    errors = _refused(lambda: service.create("deal", {"lines": [{"product": made["pump"]["id"]},
                                                                {"product": made["old"]["id"], "unit_price": 5}]}))
    assert list(errors) == ["lines.2.product"]
    deal = service.create("deal", {"lines": [{"product": made["pump"]["id"]}]})
    service.update("product", made["pump"]["id"], {"active": False}, version=made["pump"]["version"])
    row = deal["lines"][0]
    # the stored row keeps its product; a new row may not take an inactive one
    kept = service.update("deal", deal["id"], {"lines": [{"id": row["id"], "quantity": 3}]}, version=deal["version"])
    assert kept["lines"][0]["quantity"] == 3
    errors = _refused(lambda: service.update("deal", deal["id"], {"lines": [
        {"id": row["id"]}, {"product": made["pump"]["id"], "unit_price": 1}]}, version=kept["version"]))
    assert list(errors) == ["lines.2.product"]


def test_copy_from_fills_what_the_caller_leaves_out(shop):
    service, _acme, _beta, made = shop
    deal = service.create("deal", {"product": made["pump"]["id"]})
    assert (deal["price"], deal["cost"]) == (Decimal("120.50"), Decimal("80.00"))
    mine = service.create("deal", {"product": made["pump"]["id"], "price": "99"})
    assert mine["price"] == Decimal("99.00")  # given: kept (the field is editable)
    # the link changes: the copy follows, unless the update gives the field
    again = service.update("deal", deal["id"], {"product": made["valve"]["id"]}, version=deal["version"])
    assert (again["price"], again["cost"]) == (Decimal("9.00"), Decimal("4.00"))
    kept = service.update("deal", mine["id"], {"product": made["valve"]["id"], "price": "50"}, version=mine["version"])
    assert (kept["price"], kept["cost"]) == (Decimal("50.00"), Decimal("4.00"))
    # an unchanged link copies nothing again: the price agreed stays after the list price moves
    service.update("product", made["valve"]["id"], {"list_price": "11"}, version=made["valve"]["version"])
    later = service.update("deal", kept["id"], {"title": "x"}, version=kept["version"])
    assert later["price"] == Decimal("50.00")
    # a read-only copy cannot be given by a user
    assert "cost" in _refused(lambda: service.create("deal", {"product": made["pump"]["id"], "cost": "1"}))


def test_copy_from_in_rows(shop):
    service, _acme, _beta, made = shop
    deal = service.create("deal", {"lines": [{"product": made["pump"]["id"]},
                                             {"product": made["valve"]["id"], "unit_price": "7.5"}]})
    assert [r["unit_price"] for r in deal["lines"]] == [Decimal("120.50"), Decimal("7.50")]
    first, second = deal["lines"]
    changed = service.update("deal", deal["id"], {"lines": [{"id": first["id"], "product": made["valve"]["id"]},
                                                            {"id": second["id"], "quantity": 4}]},
                             version=deal["version"])
    assert [(r["unit_price"], r["quantity"]) for r in changed["lines"]] == [(Decimal("9.00"), 1), (Decimal("7.50"), 4)]
    # a required copy whose link is missing stays empty, and is an error like any other
    assert "lines.1.unit_price" in _refused(lambda: service.create("deal", {"lines": [{"quantity": 2}]}))


def test_a_copy_shows_nothing_the_user_may_not_read(shop):
    service, _acme, _beta, made = shop
    rep = _rep(service)
    deal = service.create("deal", {"product": made["pump"]["id"]}, rep)
    assert deal["price"] == Decimal("120.50")
    assert service.get("deal", deal["id"])["cost"] is None  # product.cost is hidden from reps
    # a product outside the rep's rows is refused as missing, and copies nothing
    errors = _refused(lambda: service.create("deal", {"product": made["secret"]["id"]}, rep))
    assert list(errors) == ["product"] and "does not exist" in errors["product"][0]
    assert service.links.values_for(service.model.entity("deal"), "product", made["secret"]["id"], rep) == {}
    assert service.links.values_for(service.model.entity("deal"), "lines.product", made["pump"]["id"], rep) == {
        "unit_price": Decimal("120.50")}


def test_link_choices_apply_the_filter_within_the_users_rows(shop):
    service, acme, beta, made = shop
    rep = _rep(service)
    names = lambda rows: sorted(r["name"] for r in rows)  # noqa: E731
    query = Query(limit=20, columns=("name",))
    assert names(service.link_choices("deal", "product", {}, query, rep)) == ["Pump", "Valve"]
    assert names(service.link_choices("deal", "product", {}, query)) == ["Pump", "Secret", "Valve"]
    assert names(service.link_choices("deal", "lines.product", {}, Query(limit=20, search="pu"), rep)) == ["Pump"]
    assert names(service.link_choices("deal", "contact", {"customer": beta["id"]}, query, rep)) == ["Bob"]
    assert names(service.link_choices("deal", "contact", {}, query, rep)) == []
    assert names(service.link_choices("deal", "customer", {}, query, rep)) == ["Acme", "Beta"]  # no filter
    with pytest.raises(ValidationError):
        service.link_choices("deal", "title", {}, query, rep)


def test_an_import_copies_and_filters_like_a_form(shop):
    service, _acme, _beta, made = shop
    rep = _rep(service)
    data = b"title,product,price\none,Pump,\ntwo,Valve,3\nthree,Old pump,\n"
    summary = dry_run(service, "deal", data, "d.csv", context=rep)
    assert (summary.created, summary.failed) == (2, 1), summary.to_dict()
    assert summary.errors[0].row == 4 and "does not meet" in summary.errors[0].to_dict()["message"]
    summary = run(service, start(service, "deal", data, "d.csv", context=rep))
    assert (summary.created, summary.failed) == (2, 1)
    got = {r["title"]: r["price"] for r in service.list("deal", Query(limit=10))}
    assert got == {"one": Decimal("120.50"), "two": Decimal("3.00")}


def test_a_rows_link_filter_reads_the_record_above_it(shop):
    """`parent.customer` in a row's filter is the deal's customer: on create, when the deal's
    customer changes under a row that keeps its contact, and in the row's lookup."""
    service, acme, beta, made = shop
    row = {"product": made["pump"]["id"], "contact": made["bob"]["id"]}
    assert list(_refused(lambda: service.create("deal", {"customer": acme["id"], "lines": [row]}))) == \
        ["lines.1.contact"]
    deal = service.create("deal", {"customer": acme["id"], "lines": [{**row, "contact": made["ann"]["id"]}]})
    kept = [{"id": deal["lines"][0]["id"]}]
    errors = _refused(lambda: service.update("deal", deal["id"], {"customer": beta["id"], "lines": kept},
                                             version=deal["version"]))
    assert list(errors) == ["lines.1.contact"]
    moved = service.update("deal", deal["id"], {"customer": beta["id"], "lines": [{**kept[0], "contact": made["bob"]["id"]}]},
                           version=deal["version"])
    assert moved["lines"][0]["contact"] == made["bob"]["id"]
    query = Query(limit=20, columns=("name",))
    names = lambda rows: sorted(r["name"] for r in rows)  # noqa: E731
    assert names(service.link_choices("deal", "lines.contact", {}, query, parent={"customer": acme["id"]})) == ["Ann"]
    assert names(service.link_choices("deal", "lines.contact", {}, query, parent={"customer": beta["id"]})) == ["Bob"]
    assert names(service.link_choices("deal", "lines.contact", {}, query)) == []  # no customer: no contact
