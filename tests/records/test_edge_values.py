"""Values at the edge, through the records service on SQLite and PostgreSQL (issue 11,
defects 3 and 6): ids and integers beyond their columns, decimals beyond their precision
and scale (SQLite keeps NUMERIC as a double), e-mail addresses checked by email-validator,
and which digits make a number. Each is refused with a message and writes nothing — never
a database error, never a silently different value."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.fields.base import FieldValueError
from engine.fields.numbers import parse_number
from engine.permissions.org import import_org
from engine.records import Actor, Context, ValidationError
from engine.storage import write_engine
from engine.users import UserError, create_user

PROJECT = {
    "entities/customer.yaml": """
        entity: customer
        fields:
          name:    {type: string}
          qty:     {type: integer}
          ratio:   {type: decimal, scale: 3}
          whole:   {type: decimal, precision: 10, scale: 0}
          credit:  {type: money, currency: CNY}
          email:   {type: email}
          emails:  {type: emails}
          parent:  {type: link, to: customer}
          manager: {type: user}
          lines:
            type: lines
            fields:
              amount: {type: money, currency: CNY}
        """,
}
EN = Context(actor=Actor(id=None, username="ann", language="en", system=True, is_admin=True))
ZH = Context(actor=Actor(id=None, username="li", language="zh", system=True, is_admin=True))


@pytest.fixture
def service(service_for):
    return service_for(PROJECT)


def refused(service, data, context=EN) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as info:
        service.create("customer", {"name": "X", **data}, context)
    assert service.count("customer") == 0  # nothing written
    return info.value.errors


def on_sqlite(service) -> bool:
    return service.engine.dialect.name == "sqlite"


# -- ids ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [2**63, str(2**63), "9" * 40, 0, -1, "1_000", "١", "１", "²", " 1 2", True, 1.5])
def test_links_beyond_bigint_or_oddly_written_name_no_record(service, value):
    assert "record id" in refused(service, {"parent": value})["parent"][0]


@pytest.mark.parametrize("value", [2**31, str(2**31), 2**63 - 1])
def test_users_beyond_an_integer_column_are_refused_not_a_database_error(service, value):
    """tailor_user.id is an INTEGER: on PostgreSQL 2^31 was `integer out of range`."""
    assert "is not a record id" in refused(service, {"manager": value})["manager"][0]
    assert "is not a record id" in refused(service, {"owner": value})["owner"][0]


def test_service_reads_ids_beyond_bigint_as_not_found(service):
    from engine.records import NotFound

    for record_id in (2**63, 2**31, "١"):
        with pytest.raises((NotFound, ValidationError)):
            service.get("customer", record_id, EN)


# -- integers -----------------------------------------------------------------------------------
def test_integers_within_bigint(service):
    assert service.create("customer", {"name": "A", "qty": 2**63 - 1}, EN)["qty"] == 2**63 - 1
    assert service.create("customer", {"name": "B", "qty": -(2**63) + 1}, EN)["qty"] == -(2**63) + 1


@pytest.mark.parametrize("value, message", [
    (2**63, "number too large"), (-(2**63), "number too large"), (str(2**64), "number too large"),
    ("1_000", "is not a number"), ("1e5", "scientific notation"), ("1E5", "scientific notation"),
    ("1٢3", "mixes digits of different scripts"), ("１2３", None), ("𝟏𝟐", "is not a digit"),
    ("٣²", "is not a digit"), ("0x10", "is not a number"), ("1.5", "not a whole number"),
])
def test_what_an_integer_field_accepts(service, value, message):
    if message is None:  # full-width and ASCII digits are one script (what an IME types)
        assert service.create("customer", {"name": "A", "qty": value}, ZH)["qty"] == 123
        return
    assert message in refused(service, {"qty": value})["qty"][0]


def test_full_width_and_native_digits_are_read(service):
    record = service.create("customer", {"name": "A", "qty": "１２３", "ratio": "１２．５"}, ZH)
    assert (record["qty"], record["ratio"]) == (123, Decimal("12.500"))
    assert service.create("customer", {"name": "B", "qty": "٤٢"}, EN)["qty"] == 42
    assert parse_number("१२३", whole=True) == 123  # one script, whichever it is


# -- decimals and money -------------------------------------------------------------------------
def test_money_at_the_limit_of_its_precision(service):
    """NUMERIC(18, 2): sixteen digits before the point. PostgreSQL keeps every digit; SQLite
    stores a double, which would have saved 10000000000000000 — refused there instead."""
    value = "9999999999999999.99"
    assert "number too large" in refused(service, {"credit": "99999999999999999.99"})["credit"][0]
    if on_sqlite(service):
        errors = refused(service, {"credit": value})
        assert "at most 15 significant digits" in errors["credit"][0]
        saved = service.create("customer", {"name": "A", "credit": "9999999999999.99"}, EN)
        assert saved["credit"] == Decimal("9999999999999.99")
    else:
        assert service.create("customer", {"name": "A", "credit": value}, EN)["credit"] == Decimal(value)


def test_digits_beyond_the_scale_are_refused_when_typed(service):
    assert "too many digits after the decimal mark (at most 2)" in refused(service, {"credit": "12.345"})["credit"][0]
    assert "too many digits after the decimal mark (at most 3)" in refused(service, {"ratio": "0.0001"})["ratio"][0]
    assert "must be a whole number here" in refused(service, {"whole": "1.5"})["whole"][0]
    errors = refused(service, {"lines": [{"amount": "1.005"}]})
    assert any("after the decimal mark" in m for k, ms in errors.items() for m in ms if k.startswith("lines"))
    # trailing zeros lose nothing; numbers from code are rounded half-up to the scale
    record = service.create("customer", {"name": "A", "credit": "12.3400", "ratio": Decimal("1.23456")}, EN)
    assert (record["credit"], record["ratio"]) == (Decimal("12.34"), Decimal("1.235"))


def test_sqlite_digit_limit_applies_to_updates_too(service):
    record = service.create("customer", {"name": "A", "credit": "1"}, EN)
    big = "12345678901234.56"  # 16 significant digits
    if on_sqlite(service):
        with pytest.raises(ValidationError) as info:
            service.update("customer", record["id"], {"credit": big}, version=record["version"], context=EN)
        assert "at most 15 significant digits" in info.value.errors["credit"][0]
        assert service.get("customer", record["id"], EN)["credit"] == Decimal("1")
    else:
        saved = service.update("customer", record["id"], {"credit": big}, version=record["version"], context=EN)
        assert saved["credit"] == Decimal(big)


# -- e-mail addresses ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["x@y.co<script>", "a@b", "a..b@example.com", "Ann <ann@example.com>",
                                   "a@[127.0.0.1]", "a b@example.com", "a@example.com\nBcc: b@example.com", "@example.com",
                                   "ann@localhost", "a@-example.com"])
def test_bad_e_mail_addresses_are_refused(service, value):
    assert "is not an e-mail address" in refused(service, {"email": value})["email"][0]


def test_e_mail_addresses_are_normalised(service):
    record = service.create("customer", {"name": "A", "email": " Zhang.San@Example.COM "}, EN)
    assert record["email"] == "zhang.san@example.com"
    assert service.create("customer", {"name": "B", "email": "张三@例子.中国"}, EN)["email"] == "张三@例子.中国"


def test_every_item_of_an_e_mail_list_is_checked(service):
    errors = refused(service, {"emails": ["ok@example.com", "x@y.co<script>"]})
    assert "is not an e-mail address" in errors["emails.2"][0]


def test_users_e_mail_addresses_are_checked(service):
    with pytest.raises(UserError, match="is not an e-mail address"):
        create_user(service.engine, "mallory", "long-password-1", email="x@y.co<script>")
    user_id = create_user(service.engine, "ann", "long-password-1", email="Ann@Example.com")
    assert user_id > 0
    with write_engine(service.engine).begin() as conn:
        with pytest.raises(Exception, match="is not an e-mail address"):
            import_org(conn, "username,email\nbob,bob@x.co<script>\n", [])


def test_parse_number_refuses_mixed_scripts_directly():
    with pytest.raises(FieldValueError, match="mixes digits"):
        parse_number("١2", whole=True)
