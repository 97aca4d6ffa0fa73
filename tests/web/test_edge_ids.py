"""Ids at the edge (issue 11, defect 3): an id in a URL, a query string or a form that its
column cannot hold, or that is not written in ASCII digits, is a 404 or a 400 — not the
database's OverflowError (SQLite, 2^63) or `integer out of range` (PostgreSQL, an INTEGER
id column given 2^31) — and no spelling other than plain digits names a record."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import url_for
from webutil import csrf_of, sign_in
from werkzeug.exceptions import BadRequest

from engine.ids import MAX_ID, MAX_ID32, id_or_none
from engine.storage import departments
from engine.web.ids import IdConverter, parse_id

BEYOND_BIGINT = str(2**63)
BEYOND_INTEGER = str(2**31)


def admin_client(crm_app):
    client = crm_app.test_client()
    assert sign_in(client, "admin", "demo-admin-1").status_code == 302
    return client, csrf_of(client.get("/admin/departments").get_data(as_text=True))


def first_id(crm_app, entity: str) -> int:
    with crm_app.extensions["tailor"].engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT min(id) FROM {entity}")).scalar_one()


@pytest.mark.parametrize("raw, bits, expected", [
    ("1", 64, 1), (" 42 ", 64, 42), (str(MAX_ID), 64, MAX_ID), (BEYOND_BIGINT, 64, None),
    (str(MAX_ID32), 32, MAX_ID32), (BEYOND_INTEGER, 32, None), (BEYOND_INTEGER, 64, 2**31),
    ("0", 64, None), ("-1", 64, None), ("+1", 64, None), ("01", 64, None), ("1_000", 64, None),
    ("1e5", 64, None), ("１２", 64, None), ("١٢", 64, None), ("²", 64, None), ("", 64, None),
    ("9" * 400, 64, None), (7, 64, 7), (2**63, 64, None), (True, 64, None), (1.0, 64, None),
])
def test_what_an_id_is(raw, bits, expected):
    assert id_or_none(raw, bits) == expected


def test_parse_id_is_a_400_naming_the_parameter(crm_app):
    with crm_app.test_request_context():
        assert parse_id("12", "task") == 12
        with pytest.raises(BadRequest) as caught:
            parse_id(BEYOND_INTEGER, "task", bits=32)
    assert caught.value.code == 400 and "task" in caught.value.description and BEYOND_INTEGER in caught.value.description


def test_every_route_with_an_id_uses_the_id_converter(crm_app):
    """A route added with `<int:...>` would take `١٢٣` (werkzeug's `\\d+`) and 2^63 again."""
    for rule in crm_app.url_map.iter_rules():
        for name, converter in rule._converters.items():
            if name.endswith("_id"):
                assert isinstance(converter, IdConverter), rule.rule
    engine_tables = {"user_id", "flow_id", "task_id", "notification_id", "view_id"}
    for rule in crm_app.url_map.iter_rules():
        for name, converter in rule._converters.items():
            if name in engine_tables:
                assert converter.maximum == MAX_ID32, rule.rule  # INTEGER columns on PostgreSQL
            elif name == "record_id":
                assert converter.maximum == MAX_ID, rule.rule


def test_ids_round_trip_through_url_for(crm_app):
    with crm_app.test_request_context():
        assert url_for("pages.record_page", entity="customer", record_id=MAX_ID).endswith(f"/{MAX_ID}")


def test_ids_beyond_their_column_are_404(crm_app, client):
    admin, token = admin_client(crm_app)
    for url in (f"/admin/users/{BEYOND_INTEGER}", f"/admin/users/{BEYOND_BIGINT}", f"/admin/users/{MAX_ID}"):
        assert admin.get(url).status_code == 404, url
    assert admin.post(f"/admin/users/{BEYOND_INTEGER}", data={"csrf_token": token}).status_code == 404
    for url in (f"/notifications/{BEYOND_BIGINT}", f"/notifications/{BEYOND_INTEGER}",
                f"/e/customer/{BEYOND_BIGINT}", f"/e/customer/{BEYOND_BIGINT}/edit", f"/e/customer/{MAX_ID}"):
        assert client.get(url).status_code == 404, url
    for url in (f"/e/opportunity/views/{BEYOND_INTEGER}/delete", f"/e/opportunity/views/{BEYOND_BIGINT}/delete",
                f"/approvals/tasks/{BEYOND_INTEGER}", f"/approvals/flows/{BEYOND_BIGINT}/withdraw"):
        assert client.post(url, data={"csrf_token": token}).status_code in (404, 400), url


def test_only_plain_digits_name_a_record(crm_app, client):
    record_id = first_id(crm_app, "customer")
    assert client.get(f"/e/customer/{record_id}").status_code == 200
    arabic = "".join(chr(0x660 + int(d)) for d in str(record_id))
    wide = "".join(chr(0xFF10 + int(d)) for d in str(record_id))
    for spelling in (arabic, wide, f"0{record_id}", f"+{record_id}"):
        assert client.get(f"/e/customer/{spelling}").status_code == 404, spelling


def test_ids_in_forms_and_query_strings_are_400(crm_app, client):
    token = csrf_of(client.get("/e/customer/new").get_data(as_text=True))
    record_id = first_id(crm_app, "customer")
    for bad in ("²", BEYOND_INTEGER, "1_000", "١"):
        response = client.post(f"/e/customer/{record_id}/share",
                               data={"csrf_token": token, "user_id": bad, "access": "read"})
        assert response.status_code == 400, bad  # users' ids are INTEGERs
    for bad in ("²", BEYOND_BIGINT, "1_000", "١"):  # records' ids are BIGINTs
        assert client.post("/e/customer/bulk-delete", data={"csrf_token": token, "ids": bad}).status_code == 400
        assert client.get("/e/opportunity", query_string={"customer": bad}).status_code == 400
    response = client.post("/notifications/read", data={"csrf_token": token, "id": BEYOND_BIGINT})
    assert response.status_code == 400 and "is not a record id" in response.get_data(as_text=True)


def test_department_ids_out_of_range_change_nothing(crm_app):
    admin, token = admin_client(crm_app)
    with crm_app.extensions["tailor"].engine.connect() as conn:
        before = conn.execute(sa.select(departments).order_by(departments.c.id)).all()
    for bad in ("²", BEYOND_INTEGER, BEYOND_BIGINT):
        assert admin.post("/admin/departments",
                          data={"csrf_token": token, "name": "Logistics", "parent_id": bad}).status_code == 422
        assert admin.post("/admin/departments",
                          data={"csrf_token": token, "name": "Logistics", "id": bad}).status_code == 404
    with crm_app.extensions["tailor"].engine.connect() as conn:
        assert conn.execute(sa.select(departments).order_by(departments.c.id)).all() == before
