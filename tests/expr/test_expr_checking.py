"""Checking: names (E502), functions (E503), types (E504), arity (E505), results, metadata."""

from __future__ import annotations

import pytest

from engine.errors import Position
from engine.expr import Env, Expression, ExpressionError, ValueType, compile_expression

ENV = Env(
    {
        "amount": "number",
        "level": "string",
        "close_date": "date",
        "created": "datetime",
        "is_active": "boolean",
        "tags": "list",
        "lines": {"qty": "number", "price": "number", "sku": "string"},
    },
    {"user": {"id": "number", "roles": "list", "region": "string"}},
)


def error(source: str, expected: str | None = None) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source, ENV, expected)
    return caught.value


def test_unknown_names_are_e502_with_a_hint():
    problem = error("ammount > 5")
    assert (problem.code, problem.column, problem.hint) == ("E502", 0, "did you mean 'amount'?")
    problem = error("amount > 5 and levl == 'x'")
    assert (problem.code, problem.column, problem.hint) == ("E502", 15, "did you mean 'level'?")
    problem = error("zzz")
    assert problem.hint is None


def test_unknown_attributes_point_at_the_attribute():
    problem = error("user.regoin == 'EU'")
    assert (problem.code, problem.column, problem.hint) == ("E502", 5, "did you mean 'region'?")
    problem = error("sum(lines.prise)")
    assert (problem.code, problem.column, problem.hint) == ("E502", 10, "did you mean 'price'?")
    problem = error("usr.id == 1")
    assert (problem.code, problem.column, problem.hint) == ("E502", 0, "did you mean 'user'?")


def test_unknown_functions_are_e503_with_a_hint():
    problem = error("amount > 1 and lowr(level) == 'x'")
    assert (problem.code, problem.column, problem.hint) == ("E503", 15, "did you mean 'lower'?")
    problem = error("level(1)")
    assert problem.code == "E503" and "field" in problem.hint


@pytest.mark.parametrize(
    "source, column, fragment",
    [
        ("'a' > 3", 4, "cannot compare string with number"),
        ("close_date > 5", 11, "cannot compare date with number"),
        ("close_date < created", 11, "date with datetime"),
        ("is_active < true", 10, "cannot be ordered"),
        ("amount > None", 7, "None is always false"),
        ("tags == ['a']", 5, "lists cannot be compared"),
        ("amount and is_active", 0, "'and' needs true/false, got number"),
        ("is_active or level", 13, "'or' needs true/false, got string"),
        ("not level", 4, "'not' needs true/false"),
        ("-level", 0, "unary - needs a number"),
        ("level + 1", 6, "cannot apply '+' to string and number"),
        ("close_date + 1", 11, "cannot apply '+'"),
        ("close_date + close_date", 11, "cannot apply '+' to date and date"),
        ("amount * days(1) * level", 17, "cannot apply '*'"),
        ("amount + None", 7, "with None is always None"),
        ("1 if is_active else 'x'", 20, "different types"),
        ("1 if amount else 2", 5, "condition of 'if'"),
        ("[1, 'a']", 4, "one type"),
        ("[1, None]", 4, "None in a list"),
        ("[[1]]", 1, "single values"),
        ("5 in tags", 2, "cannot look for number in list[string]"),
        ("tags in tags", 5, "single value"),
        ("amount in level", 7, "cannot look for number in a string"),
        ("amount in amount", 7, "needs a list or a string"),
        ("1 in lines", 2, "got rows"),
        ("None in tags", 5, "None is never"),
        ("lower(amount)", 6, "argument 1 of lower() must be string, got number"),
        ("coalesce(amount, level)", 17, "argument 2 of coalesce()"),
        ("sum(tags)", 4, "must be list[number]"),
        ("year(amount)", 5, "date|datetime"),
        ("round(amount, 11)", 0, "literal from 0 to 10"),
        ("round(amount, 0.5)", 0, "whole number"),
        ("date('31/01/2024')", 5, "invalid date literal"),
        ("datetime('noon')", 9, "invalid datetime literal"),
        ("1e20", 0, "out of range"),
        ("user", 0, "context object"),
        ("lower", 0, "is a function"),
        ("lines", 0, "child rows are not a value"),
    ],
)
def test_type_errors_are_e504(source, column, fragment):
    problem = error(source)
    assert problem.code == "E504", problem
    assert problem.column == column, problem
    assert fragment in problem.message, problem


@pytest.mark.parametrize(
    "source, expected, ok",
    [
        ("amount > 1", "boolean", True),
        ("amount", "boolean", False),
        ("amount * 2", "number", True),
        ("level", "number", False),
        ("None", "date", True),  # a default of "no value" fits every type
        ("today()", "date", True),
        ("now()", "date", False),
        ("['a', 'b']", "list", True),
        ("tags", "list", True),
        ("sum(lines.qty)", "number", True),
        ("today() - close_date", "duration", True),
        ("level", "any", True),
    ],
)
def test_expected_result_type(source, expected, ok):
    if ok:
        assert compile_expression(source, ENV, expected).source == source
    else:
        problem = error(source, expected)
        assert problem.code == "E504" and problem.column == 0
        assert f"expected a {expected} result" in problem.message


@pytest.mark.parametrize(
    "source, fragment",
    [
        ("lower()", "lower() takes 1 argument, got 0"),
        ("lower(level, level)", "lower() takes 1 argument, got 2"),
        ("today(1)", "today() takes 0 arguments, got 1"),
        ("round()", "round() takes 1 to 2 arguments, got 0"),
        ("round(amount, 1, 2)", "got 3"),
    ],
)
def test_wrong_argument_counts_are_e505(source, fragment):
    problem = error(source)
    assert problem.code == "E505"
    assert problem.column == 0
    assert fragment in problem.message
    assert problem.hint.startswith("usage: ")


def test_all_problems_are_collected_first_is_raised():
    problem = error("ammount > 1 and lowr(level) and 'a' > 3 and foo.bar")
    codes = [(e.code, e.column) for e in problem.errors]
    assert codes == [("E502", 0), ("E503", 16), ("E504", 36), ("E502", 44)]
    assert problem.errors[0] is problem
    assert (problem.code, problem.column) == ("E502", 0)


def test_errors_become_problems_at_the_yaml_position():
    problem = error("ammount > 1 or lowr(level)")
    problems = problem.to_problems(Position("entities/deal.yaml", 12, 15))
    assert [str(p) for p in problems] == [
        "entities/deal.yaml:12:15: E502 unknown name 'ammount' (hint: did you mean 'amount'?)",
        "entities/deal.yaml:12:30: E503 unknown function 'lowr' (hint: did you mean 'lower'?)",
    ]


def test_one_mistake_does_not_cascade():
    problem = error("lowr(level) == 'x' and amount > 1")
    assert len(problem.errors) == 1


@pytest.mark.parametrize(
    "source, type_, item",
    [
        ("amount * 2", ValueType.NUMBER, None),
        ("level + 'x'", ValueType.STRING, None),
        ("amount > 1", ValueType.BOOLEAN, None),
        ("close_date + days(1)", ValueType.DATE, None),
        ("days(1) + close_date", ValueType.DATE, None),
        ("created - hours(1)", ValueType.DATETIME, None),
        ("close_date - close_date", ValueType.DURATION, None),
        ("created - created", ValueType.DURATION, None),
        ("2 * days(1)", ValueType.DURATION, None),
        ("-days(1)", ValueType.DURATION, None),
        ("tags", ValueType.LIST, ValueType.STRING),
        ("lines.qty", ValueType.LIST, ValueType.NUMBER),
        ("user.roles", ValueType.LIST, ValueType.ANY),
        ("max(lines.sku)", ValueType.STRING, None),
        ("coalesce(None, close_date)", ValueType.DATE, None),
        ("None", ValueType.NULL, None),
        ("close_date if is_active else None", ValueType.DATE, None),
    ],
)
def test_result_types(source, type_, item):
    expression = compile_expression(source, ENV)
    assert expression.type == type_
    assert expression.item_type == item


def test_value_types_are_strings():
    assert ValueType.NUMBER == "number"
    assert {v.value for v in ValueType} >= {"string", "number", "boolean", "date", "datetime", "duration", "list", "any"}


def test_metadata_lists_what_the_expression_reads():
    expression = compile_expression(
        "amount > 1 and owner_ok if user.id == 1 else sum(lines.qty) > 0 and lower(level) == user.region",
        Env({"amount": "number", "owner_ok": "boolean", "level": "string", "lines": {"qty": "number"}},
            {"user": {"id": "number", "region": "string"}, "org": {"id": "number"}}),
    )  # fmt: skip
    assert expression.fields == frozenset({"amount", "owner_ok", "lines", "level"})
    assert expression.variables == frozenset({"user"})
    assert expression.functions == frozenset({"sum", "lower"})
    assert expression.sql_supported is False  # lines


def test_expressions_are_immutable_and_comparable():
    first = compile_expression("amount > 1", ENV)
    with pytest.raises(AttributeError):
        first.source = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del first.type
    assert first == compile_expression("amount > 1", ENV)
    assert first != compile_expression("amount > 2", ENV)
    assert isinstance(first, Expression) and "amount > 1" in repr(first)


def test_env_validates_its_declarations():
    with pytest.raises(ValueError, match="unknown type"):
        Env({"x": "strng"})
    with pytest.raises(ValueError, match="hide"):
        Env({"user": "number"}, {"user": {"id": "number"}})
    with pytest.raises(ValueError, match="scalar"):
        Env({"lines": {"tags": "list"}})
    assert Env({"tags": "list[number]"}).fields["tags"].item.kind is ValueType.NUMBER


@pytest.mark.parametrize(
    "source, code, hint",
    [
        ("today() + 1", "E504", "use days(n) or hours(n) for durations"),
        ("close_date < created", "E504", "convert with date(datetime), or compare with today() / now()"),
        ("amount > None", "E504", "test for None with == None"),
        ("tags == []", "E504", "use 'in' or is_empty()"),
        ("date('2024-1-1')", "E504", "write ISO 8601, e.g. date('2024-01-31')"),
        ("round(amount, 20)", "E504", "usage: round(number[, number]) -> number"),
        ("level.lower()", "E506", "call functions by name, e.g. lower(x)"),
        ("amount is 1", "E506", "use =="),
        ("today", "E504", "call it: today(...)"),
    ],
)
def test_hints(source, code, hint):
    problem = error(source)
    assert (problem.code, problem.hint) == (code, hint)
