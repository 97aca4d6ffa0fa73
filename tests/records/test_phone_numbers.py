"""Phone numbers in everyday formats through the records service (SQLite and PostgreSQL):
accepted and stored tidied, refused with a reason, and the texts a search key holds."""

from __future__ import annotations

import pytest

from engine.fields.phone import phone_digits, phone_search_texts
from engine.records import ValidationError

PROJECT = {
    "tailor.yaml": "name: test\nlanguages: [en, zh]\nplugins: [cn_fields]\n",
    "entities/contact.yaml": """
        entity: contact
        fields:
          name:   {type: string}
          phone:  {type: phone}
          mobile: {type: phone, validators: [cn_mobile]}
        """,
}


@pytest.fixture
def service(service_for):
    return service_for(PROJECT)


@pytest.mark.parametrize("typed, stored", [
    ("(415) 555-0188", "(415) 555-0188"),
    ("+1 415 555 0188 ext. 12", "+1 415 555 0188 ext. 12"),
    ("0532-8888 6666", "0532-8888 6666"),
    ("+86 138 0013 8000", "+86 138 0013 8000"),
    ("138-0013-8000", "138-0013-8000"),
    ("13800138000", "13800138000"),
    ("(021) 5888 6666", "(021) 5888 6666"),
    ("010-6552 9988 转 123", "010-6552 9988 转 123"),
    ("010-6552 9988 分机 123", "010-6552 9988 分机 123"),
    ("+44 20 7946 0958", "+44 20 7946 0958"),
    ("555-0188 x12", "555-0188 x12"),
    ("555-0188 #12", "555-0188 #12"),
    ("+1-415-555-0188;ext=12", "+1-415-555-0188;ext=12"),
    ("１３８ ００１３ ８０００", "138 0013 8000"),
    ("＋８６（０２１）５８８８－６６６６", "+86(021)5888-6666"),
    ("  +1   415\u00a0555  0188 ", "+1 415 555 0188"),
    ("110", "110"),
])
def test_everyday_numbers_are_accepted_and_tidied(service, typed, stored):
    record = service.create("contact", {"phone": typed})
    assert record["phone"] == stored
    assert service.get("contact", record["id"])["phone"] == stored


@pytest.mark.parametrize("typed, message", [
    ("call me", "letters are only allowed to mark an extension"),
    ("415-555-0188 ask for Bob", "letters are only allowed"),
    ("415+555", "a + may only stand at the start"),
    ("++1 415 555 0188", "a + may only stand at the start"),
    ("12", "too short"),
    ("1234 5678 9012 3456", "too many digits"),
    ("555-0188 ext. 1234567", "an extension has at most 6 digits"),
    ("(415 555-0188", "parenthesis"),
    ("---", "is not a phone number"),
    ("( ) - .", "is not a phone number"),
    ("ext. 12", "is not a phone number"),
    ("415²555", "does not belong"),
    ("415_555_0188", "does not belong"),
])
def test_what_is_no_phone_number_is_refused(service, typed, message):
    with pytest.raises(ValidationError) as info:
        service.create("contact", {"phone": typed})
    assert message in info.value.errors["phone"][0], info.value.errors
    assert service.count("contact") == 0


def test_cn_mobile_accepts_the_everyday_forms(service):
    for typed in ("+86 138 0013 8000", "138-0013-8000", "13800138000", "+86-138-0013-8000", "１３８００１３８０００",
                  "0086 138 0013 8000", "+1 415 555 0188"):
        assert service.create("contact", {"mobile": typed})["mobile"]
    for typed in ("12345678901", "+86 10 6552 9988", "138 0013 8000 ext. 5"):
        with pytest.raises(ValidationError) as info:
            service.create("contact", {"mobile": typed})
        assert "mainland China mobile" in info.value.errors["mobile"][0], typed


def test_search_texts_hold_the_digits(service):
    field = service.model.entity("contact").fields["phone"]
    record = service.create("contact", {"phone": "+1 415 555 0188 ext. 12"})
    texts = field.type.search_texts(record, field)
    assert texts[0] == "+1 415 555 0188 ext. 12"
    assert "14155550188" in texts and "4155550188" in texts
    for term in ("4155550188", "415-555-0188", "+1 415 555 0188", "(415) 555 0188"):
        digits = phone_digits(term)
        assert digits and any(digits in t for t in texts), term
    assert phone_search_texts("+44 20 7946 0958") == ["+44 20 7946 0958", "442079460958", "2079460958",
                                                      "02079460958"]
    assert phone_search_texts("(021) 5888 6666") == ["(021) 5888 6666", "02158886666"]
    assert phone_search_texts("not a number, stored long ago") == ["not a number, stored long ago"]
    assert phone_search_texts(None) == [] and field.type.search_texts({}, field) == []


def test_phone_digits_only_for_what_looks_like_a_phone_number():
    assert phone_digits("+86 138 0013 8000") == "8613800138000"
    assert phone_digits("１３８-００１３-８０００") == "13800138000"
    assert phone_digits("555-0188 x12") == "5550188"
    for term in ("Acme", "ORD-2024-0001", "12", "", None, "+", "a@b.c"):
        assert phone_digits(term) is None, term
