"""Checks of money currencies at start-up, with their positions: `currency_field` (E307,
E407), default currencies outside the field's or the project's currencies (E401)."""

from __future__ import annotations

import pytest

from engine.errors import ProjectError
from engine.model import load_model

ENTITY = "entities/deal.yaml"


def problems(make_project, files: dict[str, str]) -> list[tuple[str, str, int, int, str]]:
    """(code, file, line, column, message) of each problem the project has."""
    root = make_project(files)
    with pytest.raises(ProjectError) as info:
        load_model(root, entry_points=False)
    return [(p.code, p.position.file.rsplit("/", 1)[-1], p.position.line, p.position.column, p.message)
            for p in info.value.problems]


def deal(fields: str) -> dict[str, str]:
    return {ENTITY: "entity: deal\nfields:\n" + fields}


def test_currency_field_must_name_a_field_beside_it(make_project):
    found = problems(make_project, deal("  currency: {type: choice, options: [CNY, USD]}\n"
                                        "  amount: {type: money, currency_field: curency}\n"))
    assert found == [("E307", "deal.yaml", 4, 41, "currency_field names unknown field 'curency'")]
    found = problems(make_project, deal("  amount: {type: money, currency_field: amount}\n"))
    assert [p[:4] for p in found] == [("E307", "deal.yaml", 3, 41)]
    # in lines, the field is one of the same row: the record's own does not count
    found = problems(make_project, deal("  currency: {type: choice, options: [CNY, USD]}\n"
                                        "  lines:\n"
                                        "    type: lines\n"
                                        "    fields:\n"
                                        "      price: {type: money, currency_field: currency}\n"))
    assert [p[:4] for p in found] == [("E307", "deal.yaml", 7, 44)]


def test_currency_field_must_be_a_choice_or_string_field(make_project):
    found = problems(make_project, deal("  currency: {type: integer}\n"
                                        "  amount: {type: money, currency_field: currency}\n"))
    assert found == [("E407", "deal.yaml", 4, 41,
                      "currency_field 'currency' is an integer field; it must be a choice or string field")]
    found = problems(make_project, deal("  currency: {type: choice, options: [CNY, euro]}\n"
                                        "  amount: {type: money, currency_field: currency}\n"))
    assert [p[:4] for p in found] == [("E407", "deal.yaml", 3, 43)]
    assert "option 'euro' of 'currency' is not a currency code" in found[0][4]


def test_currency_field_excludes_currency_and_currencies(make_project):
    found = problems(make_project, deal("  code: {type: string}\n"
                                        "  amount: {type: money, currency_field: code, currency: USD, currencies: [USD]}\n"))
    assert [p[:4] for p in found] == [("E407", "deal.yaml", 4, 47), ("E407", "deal.yaml", 4, 62)]
    assert "'currency' does not go with currency_field" in found[0][4]
    found = problems(make_project, deal("  name: {type: string, currency_field: name}\n"))
    assert [p[:2] for p in found] == [("E407", "deal.yaml")]
    assert "'currency_field' is not an option of a string field" in found[0][4]


def test_a_field_currency_must_be_among_the_project_currencies(make_project):
    found = problems(make_project, {"tailor.yaml": "name: t\ncurrency: USD\ncurrencies: [USD, EUR]\n",
                                    **deal("  price: {type: money, currency: CNY}\n")})
    assert found == [("E401", "deal.yaml", 3, 34, "currency CNY is not among the project's currencies "
                      "['USD', 'EUR']")]
    # a field with currencies of its own answers to those alone
    model = load_model(make_project({"tailor.yaml": "name: t\ncurrency: USD\ncurrencies: [USD, EUR]\n",
                                     **deal("  price: {type: money, currency: CNY, currencies: [CNY]}\n"
                                            "  budget: {type: money}\n")}), entry_points=False)
    fields = model.entity("deal").fields
    assert fields["price"].currencies == ("CNY",) and fields["budget"].currencies == ("USD", "EUR")


def test_the_project_currency_must_be_among_its_currencies(make_project):
    found = problems(make_project, {"tailor.yaml": "name: t\ncurrency: USD\ncurrencies: [EUR, CNY]\n",
                                    **deal("  price: {type: money}\n")})
    assert found == [("E401", "tailor.yaml", 2, 11, "currency USD is not among the project's currencies "
                      "['EUR', 'CNY']")]
    found = problems(make_project, {"tailor.yaml": "name: t\ncurrencies: [EUR]\n", **deal("  p: {type: money}\n")})
    assert [p[:4] for p in found] == [("E401", "tailor.yaml", 2, 13)]  # the default CNY is not there either
    found = problems(make_project, {"tailor.yaml": "name: t\ncurrencies: [EUR, eur]\n", **deal("  p: {type: money}\n")})
    assert ("E204", "tailor.yaml", 2, 19) in [p[:4] for p in found]  # not an ISO code: the schema says so
