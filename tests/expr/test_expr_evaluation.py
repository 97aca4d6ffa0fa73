"""Python evaluation: nulls, numbers, strings, dates, membership, child rows, variables."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engine.expr import Env, compile_expression

UTC = dt.UTC
NOW = dt.datetime(2024, 5, 17, 13, 45, tzinfo=UTC)
ENV = Env(
    {
        "amount": "number",
        "qty": "number",
        "price": "number",
        "discount": "number",
        "level": "string",
        "name": "string",
        "close_date": "date",
        "start": "date",
        "created": "datetime",
        "is_active": "boolean",
        "tags": "list",
        "status": "string",
        "owner": "number",
        "lines": {"qty": "number", "price": "number", "amount": "number", "sku": "string"},
    },
    {"user": {"id": "number", "roles": "list", "team_members": "list", "region": "string"}},
)
USER = {"id": 7, "roles": ["admin"], "team_members": [7, 8.0, Decimal(9)], "region": "EU"}


def ev(source: str, record=None, variables=None, now=NOW):
    return compile_expression(source, ENV).evaluate(record or {}, {"user": USER} if variables is None else variables, now)


# ------------------------------------------------------------------ the examples of the brief


@pytest.mark.parametrize(
    "source, record, expected",
    [
        ("amount > 100000 and level == 'high'", {"amount": 100001, "level": "high"}, True),
        ("amount > 100000 and level == 'high'", {"amount": 100000, "level": "high"}, False),
        ("owner == user.id", {"owner": 7}, True),
        ("owner == user.id", {"owner": 8}, False),
        ("today() - close_date > days(30)", {"close_date": dt.date(2024, 4, 16)}, True),
        ("today() - close_date > days(30)", {"close_date": dt.date(2024, 4, 17)}, False),
        ("'vip' in tags", {"tags": ["new", "vip"]}, True),
        ("'vip' in tags", {"tags": ["VIP"]}, False),
        ("status in ['won', 'lost']", {"status": "lost"}, True),
        ("status in ['won', 'lost']", {"status": "open"}, False),
        ("not is_active or amount >= 10", {"is_active": True, "amount": 9}, False),
        ("not is_active or amount >= 10", {"is_active": None, "amount": 9}, True),
        ("lower(name) == 'acme'", {"name": "ACME"}, True),
        ("close_date is None", {}, True),
        ("close_date == None", {"close_date": dt.date(2024, 1, 1)}, False),
        ("close_date is not None", {"close_date": dt.date(2024, 1, 1)}, True),
        ("owner in user.team_members", {"owner": 8}, True),
        ("owner in user.team_members", {"owner": 10}, False),
    ],
)
def test_brief_examples(source, record, expected):
    assert ev(source, record) is expected


def test_computed_price():
    assert ev("qty * price * (1 - discount / 100)", {"qty": 3, "price": Decimal("19.99"), "discount": 15}) == Decimal(
        "50.9745"
    )
    assert ev("sum(lines.amount)", {"lines": [{"amount": 2}, {"amount": Decimal("0.5")}, {"amount": None}]}) == 2.5


# ------------------------------------------------------------------ nulls


@pytest.mark.parametrize(
    "source, expected",
    [
        ("amount + 1", None),
        ("amount * qty", None),
        ("-amount", None),
        ("lower(name)", None),
        ("name + 'x'", None),
        ("close_date + days(1)", None),
        ("today() - close_date", None),
        ("days(amount)", None),
        ("amount > 1", False),
        ("amount < 1", False),
        ("amount <= amount", False),
        ("amount == amount", True),  # null-safe equality
        ("amount == None", True),
        ("amount != 1", True),
        ("amount != None", False),
        ("not amount > 1", True),  # negating a false comparison with NULL is True
        ("not (amount == 1)", True),
        ("amount in [1, 2]", False),
        ("amount not in [1, 2]", True),
        ("'vip' in tags", False),
        ("'vip' not in tags", True),
        ("name in 'abc'", False),
        ("is_active", False),  # a NULL boolean is false
        ("is_active == false", True),
        ("is_active == None", False),
        ("not is_active", True),
        ("is_active or amount > 1", False),
        ("coalesce(amount, 5)", Decimal(5)),
        ("is_empty(name)", True),
        ("1 if amount > 0 else 2", Decimal(2)),
    ],
)
def test_null_rules(source, expected):
    result = ev(source, {})
    assert result == expected
    assert type(result) is type(expected)


def test_logic_always_returns_booleans():
    assert ev("is_active and contains(name, 'x')", {"is_active": True}) is False
    assert ev("is_active or contains(name, 'x')", {"is_active": None}) is False
    assert ev("not contains(name, 'x')", {}) is True


# ------------------------------------------------------------------ numbers


@pytest.mark.parametrize(
    "source, record, expected",
    [
        ("amount + qty", {"amount": 1, "qty": 0.1}, Decimal("1.1")),
        ("amount + qty", {"amount": Decimal("0.1"), "qty": 0.2}, Decimal("0.3")),
        ("amount * 3 == 0.3", {"amount": 0.1}, True),
        ("amount / 3", {"amount": 1}, Decimal("0.3333333333")),
        ("amount / 3", {"amount": 2}, Decimal("0.6666666667")),
        ("amount / 3 * 3", {"amount": 1}, Decimal("0.9999999999")),
        ("amount / -3", {"amount": 2}, Decimal("-0.6666666667")),
        ("amount / 0", {"amount": 2}, None),
        ("amount / qty", {"amount": 2, "qty": Decimal("0.00")}, None),
        ("amount - qty", {"amount": 10**15, "qty": Decimal("0.0000000001")}, Decimal("999999999999999.9999999999")),
        ("amount * 2", {"amount": "1.5"}, Decimal(3)),
        ("amount == 2", {"amount": 2.0}, True),
    ],
)
def test_numbers(source, record, expected):
    result = ev(source, record)
    assert result == expected
    assert type(result) is type(expected)


def test_numbers_never_equal_booleans_or_strings():
    env = Env({"x": "any", "flag": "boolean"})
    assert compile_expression("x == 1", env).evaluate({"x": True}) is False
    assert compile_expression("x == '1'", env).evaluate({"x": 1}) is False
    assert compile_expression("x == 1", env).evaluate({"x": 1}) is True


def test_bad_record_values_name_the_field():
    with pytest.raises(TypeError, match="field 'amount'"):
        ev("amount + 1", {"amount": "lots"})
    with pytest.raises(TypeError, match="field 'is_active'"):
        ev("is_active", {"is_active": "yes"})
    with pytest.raises(TypeError, match="field 'tags'"):
        ev("'a' in tags", {"tags": "a,b"})


# ------------------------------------------------------------------ strings


def test_strings():
    assert ev("name + ' ' + level", {"name": "a", "level": "b"}) == "a b"
    assert ev("name < level", {"name": "B", "level": "a"}) is True  # code-point order: upper case first
    assert ev("name < level", {"name": "z", "level": "é"}) is True
    assert ev("'cm' in name", {"name": "acme"}) is True
    assert ev("'CM' in name", {"name": "acme"}) is False


# ------------------------------------------------------------------ dates and durations


@pytest.mark.parametrize(
    "source, record, expected",
    [
        ("close_date - start", {"close_date": dt.date(2024, 3, 1), "start": dt.date(2024, 2, 1)}, dt.timedelta(days=29)),
        ("close_date + days(1)", {"close_date": dt.date(2024, 2, 28)}, dt.date(2024, 2, 29)),
        ("close_date + days(1.5)", {"close_date": dt.date(2024, 2, 28)}, dt.date(2024, 2, 29)),  # whole days, floored
        ("close_date - days(0.5)", {"close_date": dt.date(2024, 3, 1)}, dt.date(2024, 2, 29)),
        ("close_date + hours(-1)", {"close_date": dt.date(2024, 3, 1)}, dt.date(2024, 2, 29)),
        ("close_date + hours(23)", {"close_date": dt.date(2024, 3, 1)}, dt.date(2024, 3, 1)),
        ("created + hours(1.5)", {"created": dt.datetime(2024, 1, 1, tzinfo=UTC)}, dt.datetime(2024, 1, 1, 1, 30, tzinfo=UTC)),
        ("created - created", {"created": NOW}, dt.timedelta(0)),
        ("now() - created", {"created": dt.datetime(2024, 5, 17, 11, 45)}, dt.timedelta(hours=2)),  # naive = UTC
        (
            "now() - created",
            {"created": dt.datetime(2024, 5, 17, 13, 45, tzinfo=dt.timezone(dt.timedelta(hours=2)))},
            dt.timedelta(hours=2),
        ),
        ("days(1) + hours(12) == days(1.5)", {}, True),
        ("days(2) > hours(47)", {}, True),
        ("2 * days(1) == days(2)", {}, True),
        ("days(1) * 0.5 == hours(12)", {}, True),
        ("-days(1) < days(0)", {}, True),
        ("today()", {}, dt.date(2024, 5, 17)),
        ("now()", {}, NOW),
        ("year(created)", {"created": dt.datetime(2024, 12, 31, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-2)))}, Decimal(2025)),
        ("date(created)", {"created": dt.datetime(2024, 12, 31, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-2)))}, dt.date(2025, 1, 1)),
        ("close_date < today()", {"close_date": "2024-05-16"}, True),
    ],
)
def test_dates_and_durations(source, record, expected):
    result = ev(source, record)
    assert result == expected
    assert type(result) is type(expected)


def test_now_defaults_to_the_current_time():
    before = dt.datetime.now(UTC)
    result = compile_expression("now()", ENV).evaluate({})
    assert before <= result <= dt.datetime.now(UTC)
    assert result.tzinfo is not None


def test_dates_beyond_year_9999_are_none():
    assert ev("close_date + days(10)", {"close_date": dt.date(9999, 12, 25)}) is None


# ------------------------------------------------------------------ membership, lists, conditionals


def test_membership():
    assert ev("status in ('won', 'lost')", {"status": "won"}) is True
    assert ev("amount in [1, 2.5]", {"amount": Decimal("2.50")}) is True
    assert ev("amount in [qty, 3]", {"amount": 3}) is True
    assert ev("amount in [qty, 3]", {"amount": 4, "qty": 4}) is True
    assert ev("amount in [qty, 3]", {"amount": None, "qty": None}) is False
    assert ev("'admin' in user.roles") is True
    assert ev("'sales' in user.roles") is False
    assert ev("owner in user.team_members", {"owner": 9}) is True  # int, float and Decimal ids compare equal
    assert ev("status in []", {"status": "won"}) is False
    assert ev("status not in []", {"status": "won"}) is True
    assert ev("'vip' in tags", {"tags": ()}) is False


def test_conditional():
    assert ev("'big' if amount > 10 else 'small'", {"amount": 11}) == "big"
    assert ev("'big' if amount > 10 else 'small'", {"amount": None}) == "small"
    assert ev("close_date if is_active else None", {"is_active": True, "close_date": dt.date(2024, 1, 1)}) == dt.date(
        2024, 1, 1
    )


def test_chained_comparisons():
    assert ev("1 < amount <= 3", {"amount": 3}) is True
    assert ev("1 < amount <= 3", {"amount": 4}) is False
    assert ev("1 < amount <= 3", {"amount": None}) is False


# ------------------------------------------------------------------ child rows and variables


@pytest.mark.parametrize(
    "source, lines, expected",
    [
        ("sum(lines.amount)", [{"amount": 1}, {"amount": 2.5}], Decimal("3.5")),
        ("sum(lines.amount)", [], Decimal(0)),
        ("sum(lines.amount)", None, Decimal(0)),
        ("count(lines)", [{"amount": 1}, {"amount": None}], Decimal(2)),
        ("count(lines.amount)", [{"amount": 1}, {"amount": None}], Decimal(1)),
        ("len(lines)", [{}, {}, {}], Decimal(3)),
        ("min(lines.amount)", [{"amount": 3}, {"amount": None}, {"amount": -1}], Decimal(-1)),
        ("max(lines.sku)", [{"sku": "a"}, {"sku": "b"}], "b"),
        ("max(lines.amount)", [], None),
        ("5 in lines.qty", [{"qty": 5}], True),
        ("sum(lines.qty) * 2", [{"qty": 1}, {"qty": 2}], Decimal(6)),
    ],
)
def test_child_rows(source, lines, expected):
    result = ev(source, {"lines": lines})
    assert result == expected
    assert type(result) is type(expected)


def test_child_rows_may_be_objects():
    class Line:
        def __init__(self, amount):
            self.amount = amount

    assert ev("sum(lines.amount)", {"lines": [Line(2), Line(3)]}) == 5


def test_variables_may_be_objects_and_must_be_given():
    class User:
        id = 7
        roles = ["admin"]
        team_members: list[int] = []
        region = "EU"

    assert ev("user.id == 7", {}, {"user": User()}) is True
    with pytest.raises(KeyError, match="user"):
        ev("user.id == 7", {}, {})
    assert ev("user.region == None", {}, {"user": {}}) is True


def test_missing_fields_read_as_none():
    assert ev("amount == None", {}) is True


def test_unparsable_text_is_a_type_error():
    with pytest.raises(TypeError, match="field 'close_date'"):
        ev("close_date == today()", {"close_date": "2024-13-01"})
