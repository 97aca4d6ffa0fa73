"""Numbers given as text are read in the user's language, through the records service
(create, update, list filters), on SQLite and PostgreSQL: `0,012` is never 12."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.fields.base import FieldValueError
from engine.fields.numbers import edit_text, numbers_in, parse_number
from engine.records import Actor, Context, Query, ValidationError

PROJECT = {
    "entities/item.yaml": """
        entity: item
        fields:
          name:  {type: string}
          qty:   {type: integer}
          ratio: {type: decimal, scale: 4}
          wide:  {type: decimal, precision: 38, scale: 2}
          price: {type: money, currency: CNY}
          share: {type: percent}
          lines:
            type: lines
            fields:
              amount: {type: decimal, scale: 3}
        """,
}

EN = Context(actor=Actor(id=None, username="ann", language="en", system=True, is_admin=True))
ZH = Context(actor=Actor(id=None, username="li", language="zh", system=True, is_admin=True))
DE = Context(actor=Actor(id=None, username="jan", language="de", system=True, is_admin=True))
FR = Context(actor=Actor(id=None, username="zoe", language="fr", system=True, is_admin=True))
KLINGON = Context(actor=Actor(id=None, username="kor", language="tlh", system=True, is_admin=True))


@pytest.fixture
def service(service_for):
    return service_for(PROJECT)


def refused(service, context, data) -> dict[str, list[str]]:
    before = service.count("item")
    with pytest.raises(ValidationError) as info:
        service.create("item", data, context)
    assert service.count("item") == before, "a refused create saved something"
    return info.value.errors


# -- the regression: a decimal comma was dropped ------------------------------------------------
def test_a_decimal_comma_is_not_read_as_thousands(service):
    errors = refused(service, EN, {"ratio": "0,012"})
    assert errors["ratio"] == ["ambiguous: in this language ',' separates thousands; write 0.012 or 12"]
    assert "write 1.5 or 15" in refused(service, EN, {"price": "1,5"})["price"][0]
    assert "write 1.5 or 15" in refused(service, ZH, {"qty": "1,5"})["qty"][0]
    assert service.create("item", {"ratio": "0.012"}, EN)["ratio"] == Decimal("0.0120")


def test_german_users_write_decimal_commas(service):
    record = service.create("item", {"ratio": "0,012", "price": "1.234,5", "qty": "1.234", "share": "12,5"}, DE)
    assert (record["ratio"], record["price"], record["qty"], record["share"]) == (
        Decimal("0.0120"), Decimal("1234.50"), 1234, Decimal("12.50"))
    errors = refused(service, DE, {"ratio": "1.5"})
    assert errors["ratio"] == ["ambiguous: in this language '.' separates thousands; write 1,5 or 15"]
    assert "',' is the decimal mark" in refused(service, DE, {"ratio": "1,234.5"})["ratio"][0]


def test_english_and_chinese_users_group_by_commas(service):
    for context in (EN, ZH):
        record = service.create("item", {"price": "1,234,567.5", "qty": "-1,200", "ratio": "+.5"}, context)
        assert (record["price"], record["qty"], record["ratio"]) == (Decimal("1234567.50"), -1200, Decimal("0.5000"))
    for text in ("1,23,456", "12,3456", "1.234.567", "1,234.5.6", "1.234,5"):
        assert "',' separates thousands" in refused(service, EN, {"ratio": text})["ratio"][0], text


def test_spaces_group_where_the_language_uses_them(service):
    for text in ("1 234,5", "1\u00a0234,5", "1\u202f234,5"):
        assert service.create("item", {"ratio": text}, FR)["ratio"] == Decimal("1234.5000")
    assert "is not a number" in refused(service, EN, {"ratio": "1 234.5"})["ratio"][0]


def test_unicode_digits_count_but_other_numerals_do_not(service):
    record = service.create("item", {"qty": "１２３", "ratio": "１２３．５", "price": "٤٢"}, ZH)
    assert (record["qty"], record["ratio"], record["price"]) == (123, Decimal("123.5000"), Decimal("42.00"))
    assert "'²' is not a digit" in refused(service, EN, {"qty": "2²"})["qty"][0]
    assert "'½' is not a digit" in refused(service, EN, {"ratio": "1½"})["ratio"][0]
    assert "is not a number" in refused(service, EN, {"ratio": "12abc"})["ratio"][0]


@pytest.mark.parametrize("value, message", [
    ("1e5", "scientific notation"),
    ("1E-3", "scientific notation"),
    ("NaN", "is not a number"),
    ("Infinity", "is not a number"),
    ("-inf", "is not a number"),
    ("-", "is not a number"),
    ("9" * 400, "number too large"),
    ("1" + "0" * 5000, "number too large"),
    (float("nan"), "finite"),
    (float("inf"), "finite"),
    (Decimal("NaN"), "finite"),
    (10**400, "number too large"),
    (Decimal("1E+999999"), "number too large"),
    ("0." + "0" * 200 + "1", "too many digits"),
    (True, "expected a"),
])
def test_absurd_numbers_are_refused_without_a_500(service, value, message):
    for field in ("qty", "ratio", "price"):
        errors = refused(service, EN, {field: value})
        assert message in errors[field][0], (field, errors)


def test_integers_stop_at_two_to_the_63rd(service):
    assert service.create("item", {"qty": 2**63 - 1}, EN)["qty"] == 2**63 - 1
    assert service.create("item", {"qty": "-9,223,372,036,854,775,807"}, EN)["qty"] == -(2**63) + 1
    for value in (2**63, "9223372036854775808", -(2**63) - 1, 10**400):
        assert "number too large" in refused(service, EN, {"qty": value})["qty"][0], value
    assert "not a whole number" in refused(service, EN, {"qty": "1.5"})["qty"][0]


def test_wide_decimals_keep_every_digit(service):
    digits = "9" * 36 + ".99"  # more than the 28 digits of Python's default decimal context
    field = service.model.entity("item").fields["wide"]
    assert str(field.type.coerce(digits, field)) == digits
    if service.engine.dialect.name == "postgresql":
        assert str(service.create("item", {"wide": digits}, EN)["wide"]) == digits
    else:  # SQLite keeps NUMERIC as a double: refused rather than rounded (issue 11, defect 6)
        assert "at most 15 significant digits" in refused(service, EN, {"wide": digits})["wide"][0]
    assert "number too large" in refused(service, EN, {"wide": "1" + "0" * 36})["wide"][0]


def test_python_numbers_pass_through_in_any_language(service):
    record = service.create("item", {"qty": 7, "ratio": Decimal("1.5"), "price": 2.25, "share": 12}, DE)
    assert (record["qty"], record["ratio"], record["price"], record["share"]) == (
        7, Decimal("1.5000"), Decimal("2.25"), Decimal("12.00"))


def test_updates_and_rows_read_the_users_language(service):
    record = service.create("item", {"ratio": "1", "lines": [{"amount": "2,5"}]}, DE)
    assert record["lines"][0]["amount"] == Decimal("2.500")
    updated = service.update("item", record["id"], {"ratio": "3,25"}, version=record["version"], context=DE)
    assert updated["ratio"] == Decimal("3.2500")
    with pytest.raises(ValidationError) as info:
        service.update("item", record["id"], {"ratio": "3,25", "lines": [{"amount": "0,5"}]},
                       version=updated["version"], context=EN)
    assert "ambiguous" in info.value.errors["ratio"][0] and "ambiguous" in info.value.errors["lines.1.amount"][0]
    assert service.get("item", record["id"])["ratio"] == Decimal("3.2500")


def test_without_a_user_numbers_read_as_english(service):
    assert service.create("item", {"ratio": "1,234.5"})["ratio"] == Decimal("1234.5000")
    with pytest.raises(ValidationError):
        service.create("item", {"ratio": "0,012"})
    # a language Babel does not know reads like English rather than failing
    assert service.create("item", {"ratio": "1,234.5"}, KLINGON)["ratio"] == Decimal("1234.5000")


def test_list_filters_read_the_users_language(service):
    for value in ("0.5", "2", "1234.5"):
        service.create("item", {"ratio": value})
    rows = service.list("item", Query(filters=[("ratio", "gte", "1.000,5")], sort=("ratio",)), DE)
    assert [r["ratio"] for r in rows] == [Decimal("1234.5000")]
    rows = service.list("item", Query(filters=[("ratio", "lt", "1,5")], sort=("ratio",)), DE)
    assert [r["ratio"] for r in rows] == [Decimal("0.5000")]
    assert service.count("item", Query(filters=[("ratio", "gt", "0,5")]), DE) == 2
    with pytest.raises(ValidationError) as info:
        service.list("item", Query(filters=[("ratio", "gte", "0,012")]), EN)
    assert "ambiguous" in info.value.errors["ratio"][0]
    with pytest.raises(ValidationError) as info:
        service.count("item", Query(filters=[("qty", "lte", "1e400")]), EN)
    assert "scientific notation" in info.value.errors["qty"][0]


# -- the parser and the editing format on their own -----------------------------------------------
def test_parse_number_is_strict_about_grouping():
    assert parse_number("12,34,567.5", language="en_IN") == Decimal("1234567.5")
    assert parse_number("1'234.5", language="de_CH") == Decimal("1234.5")
    assert parse_number("۱٬۲۳۴٫۵", language="fa") == parse_number("1,234.5", language="fa") == Decimal("1234.5")
    assert parse_number("12.5%", percent=True) == Decimal("12.5")
    with pytest.raises(FieldValueError):
        parse_number("12.5%")
    with pytest.raises(FieldValueError, match="write 0.5 or 5"):
        parse_number(",5")
    with numbers_in("de"):
        assert parse_number("1.234,5") == Decimal("1234.5")
    with pytest.raises(FieldValueError):
        parse_number("1.234,5")  # back in English outside the block


def test_edit_text_round_trips_in_every_language():
    for language in ("en", "zh", "de", "fr", "ru", "ar", "hi", "xx"):
        for value in (Decimal("1234.5"), Decimal("-0.012"), Decimal("1000000.00"), 42, Decimal("0")):
            shown = edit_text(value, language)
            assert "," not in shown or language in ("de", "fr", "ru"), (language, shown)
            assert parse_number(shown, language=language) == value, (language, shown)
    assert edit_text(Decimal("1234.50"), "de") == "1234,50" and edit_text(Decimal("1234.50"), "zh") == "1234.50"
