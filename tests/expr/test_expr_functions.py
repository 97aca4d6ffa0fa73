"""Built-in functions (Python and SQL, both databases) and the function registry."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from expr_helpers import FIELDS, NOW, USER, VARIABLES, columns_of, same_value, sql_scalar

from engine.expr import (
    BUILTIN_FUNCTIONS,
    Env,
    ExpressionError,
    Function,
    FunctionRegistry,
    NotSQLExpressible,
    compile_expression,
    default_registry,
)
from engine.expr.sqlconstructs import DateDiff
from engine.expr.sqltypes import ExprDate

UTC = dt.UTC
NEW_YEAR_EVE = dt.datetime(2024, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)

CASES = [
    ("today()", {}, NOW.date()),
    ("now()", {}, NOW),
    ("days(n)", {"n": Decimal("1.5")}, dt.timedelta(days=1.5)),
    ("days(n)", {"n": None}, None),
    ("days(-2)", {}, dt.timedelta(days=-2)),
    ("hours(i)", {"i": -3}, dt.timedelta(hours=-3)),
    ("hours(0.25)", {}, dt.timedelta(minutes=15)),
    ("len(s)", {"s": "héllo"}, Decimal(5)),
    ("len(s)", {"s": ""}, Decimal(0)),
    ("len(s)", {"s": None}, None),
    ("len(tags)", {"tags": ["a", "b"]}, Decimal(2)),
    ("len(tags)", {"tags": []}, Decimal(0)),
    ("len(tags)", {"tags": None}, None),
    ("lower(s)", {"s": "AbC-€"}, "abc-€"),
    ("upper(s)", {"s": "AbC-€"}, "ABC-€"),
    ("upper(s)", {"s": None}, None),
    ("trim(s)", {"s": "  a b  "}, "a b"),
    ("trim(s)", {"s": "\ta "}, "\ta"),  # spaces only, like SQL's trim()
    ("contains(s, 'b')", {"s": "abc"}, True),
    ("contains(s, 'B')", {"s": "abc"}, False),
    ("contains(s, '%')", {"s": "ab"}, False),  # no LIKE wildcards
    ("contains(s, '_')", {"s": "a_b"}, True),
    ("contains(s, '')", {"s": "ab"}, True),
    ("contains(s, t)", {"s": "ab", "t": None}, False),  # a boolean function of null is false
    ("startswith(s, 'ab')", {"s": "abc"}, True),
    ("startswith(s, 'ab')", {"s": "xabc"}, False),
    ("startswith(s, 'A')", {"s": "abc"}, False),
    ("startswith(s, '%')", {"s": "abc"}, False),
    ("startswith(s, '')", {"s": "abc"}, True),
    ("startswith(s, t)", {"s": None, "t": "a"}, False),
    ("coalesce(n, m)", {"n": None, "m": 2}, Decimal(2)),
    ("coalesce(n, m)", {"n": 1, "m": 2}, Decimal(1)),
    ("coalesce(s, 'x')", {"s": None}, "x"),
    ("coalesce(b, true)", {"b": None}, False),  # a NULL boolean already reads as false
    ("coalesce(n > 1, true)", {"n": None}, False),  # a comparison with NULL is false, not null
    ("coalesce(d, today())", {"d": None}, NOW.date()),
    ("round(n)", {"n": Decimal("2.5")}, Decimal(3)),
    ("round(n)", {"n": Decimal("-2.5")}, Decimal(-3)),
    ("round(n, 1)", {"n": Decimal("0.25")}, Decimal("0.3")),
    ("round(n, 1)", {"n": Decimal("0.35")}, Decimal("0.4")),
    ("round(n, 1)", {"n": Decimal("-0.35")}, Decimal("-0.4")),
    ("round(n, 2)", {"n": Decimal("2.675")}, Decimal("2.68")),
    ("round(n / 3, 2)", {"n": 2}, Decimal("0.67")),
    ("round(n, 0)", {"n": None}, None),
    ("abs(n)", {"n": Decimal("-2.5")}, Decimal("2.5")),
    ("abs(i)", {"i": 3}, Decimal(3)),
    ("year(d)", {"d": dt.date(2024, 2, 29)}, Decimal(2024)),
    ("month(d)", {"d": dt.date(2024, 2, 29)}, Decimal(2)),
    ("year(dt)", {"dt": NEW_YEAR_EVE}, Decimal(2024)),
    ("month(dt)", {"dt": NEW_YEAR_EVE}, Decimal(12)),
    ("year(dt + hours(1))", {"dt": NEW_YEAR_EVE}, Decimal(2025)),
    ("date(dt)", {"dt": NEW_YEAR_EVE}, dt.date(2024, 12, 31)),
    ("date(dt)", {"dt": None}, None),
    ("is_empty(s)", {"s": ""}, True),
    ("is_empty(s)", {"s": None}, True),
    ("is_empty(s)", {"s": " "}, False),
    ("is_empty(tags)", {"tags": []}, True),
    ("is_empty(tags)", {"tags": None}, True),
    ("is_empty(tags)", {"tags": ["a"]}, False),
    ("is_empty(n)", {"n": 0}, False),
    ("is_empty(n)", {"n": None}, True),
    ("is_empty(d)", {"d": dt.date(2024, 1, 1)}, False),
]


@pytest.mark.parametrize("source, row, expected", CASES, ids=[f"{c[0]}|{c[1]}" for c in CASES])
def test_builtin_in_python_and_sql(db_engine, items, env, source, row, expected):
    expression = compile_expression(source, env)
    got = expression.evaluate(row, {"user": USER}, NOW)
    assert same_value(got, expected), got
    assert expression.sql_supported
    from_sql = sql_scalar(db_engine, items, expression, row, {"user": USER})
    assert same_value(from_sql, expected), from_sql


def test_every_builtin_is_exercised_and_described():
    exercised = " ".join(case[0] for case in CASES)
    for function in BUILTIN_FUNCTIONS:
        assert function.description, function.name
        if function.sql is not None:
            assert f"{function.name}(" in exercised, function.name


@pytest.mark.parametrize("source", ["sum(lines.qty)", "count(lines)", "min(lines.qty) > 1", "max(lines.qty)"])
def test_aggregates_are_python_only(source):
    env = Env({"lines": {"qty": "number"}})
    expression = compile_expression(source, env)
    assert expression.sql_supported is False
    with pytest.raises(NotSQLExpressible):
        expression.to_sql({"lines": sa.column("lines")})


def test_aggregates_on_constant_lists_still_fold_into_sql():
    env = Env({"n": "number"}, {"user": {"scores": "list[number]"}})
    expression = compile_expression("n > max(user.scores)", env)
    assert expression.sql_supported
    sql = expression.to_sql({"n": sa.column("n")}, {"user": {"scores": [1, 5, 2]}})
    assert sql.right.value == Decimal(5)


# ------------------------------------------------------------------ registry and plugins


def test_default_registry_is_fresh_each_time():
    first, second = default_registry(), default_registry()
    assert first is not second
    assert set(first.names()) >= {
        "today", "now", "days", "hours", "len", "lower", "upper", "trim", "contains", "startswith",
        "coalesce", "round", "abs", "year", "month", "sum", "count", "min", "max", "is_empty",
    }  # fmt: skip
    first.register(Function("extra", [], "number", lambda: 1))
    assert "extra" in first and "extra" not in second
    assert second.get("extra") is None
    assert len(first) == len(second) + 1


def test_registering_a_name_twice_is_rejected():
    registry = default_registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Function("lower", ["string"], "string", str.lower))
    with pytest.raises(TypeError):
        registry.register("lower")  # type: ignore[arg-type]


def test_copy_is_independent():
    registry = FunctionRegistry()
    registry.register(Function("one", [], "number", lambda: 1))
    copy = registry.copy()
    copy.register(Function("two", [], "number", lambda: 2))
    assert registry.names() == ["one"]
    assert copy.names() == ["one", "two"]
    assert [f.name for f in copy] == ["one", "two"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "Bad"},
        {"name": "_hidden"},
        {"name": "1st"},
        {"min_args": 2},
        {"max_args": 5},
        {"python": "not callable"},
        {"params": ["strng"]},
        {"returns": "list[rows]"},
    ],
)
def test_function_declarations_are_validated(kwargs):
    base = {"name": "ok", "params": ["number"], "returns": "number", "python": abs}
    with pytest.raises(ValueError):
        Function(**{**base, **kwargs})


def test_signature_text():
    registry = default_registry()
    assert registry.get("round").signature == "round(number[, number]) -> number"
    assert registry.get("today").signature == "today() -> date"
    assert registry.get("min").signature == "min(list[T]) -> T"


def _plugin_registry() -> FunctionRegistry:
    registry = default_registry()
    registry.register(
        Function(
            "double", ["number"], "number", lambda x: x * 2, sql=lambda x: x * 2,
            description="Twice the number.",
        )
    )  # fmt: skip
    registry.register(
        Function(
            "age", ["date"], "duration", lambda ctx, d: ctx.today - d, pass_context=True,
            sql=lambda ctx, d: DateDiff(sa.literal(ctx.today, ExprDate()), d),
        )
    )  # fmt: skip
    registry.register(Function("initials", ["string"], "string", lambda s: "".join(w[0] for w in s.split())))
    registry.register(
        Function(
            "pick", ["list", "number"], "any", lambda xs, i: xs[int(i)] if 0 <= i < len(xs) else None,
            check=lambda args: None if args[1].is_literal else "pick's index must be a literal",
        )
    )  # fmt: skip
    return registry


def test_plugin_function_is_used_in_python_and_sql(db_engine, items):
    env = Env(FIELDS, VARIABLES, _plugin_registry())
    expression = compile_expression("double(n) > 3 and age(d) > days(10)", env)
    rows = [
        {"n": 2, "d": NOW.date() - dt.timedelta(days=11)},
        {"n": 1, "d": NOW.date() - dt.timedelta(days=11)},
        {"n": 2, "d": NOW.date() - dt.timedelta(days=10)},
    ]
    assert [expression.evaluate(r, now=NOW) for r in rows] == [True, False, False]
    from expr_helpers import insert_rows, sql_ids

    insert_rows(db_engine, items, rows)
    assert sql_ids(db_engine, items, expression) == {1}


def test_python_only_plugin_functions():
    env = Env(FIELDS, VARIABLES, _plugin_registry())
    on_field = compile_expression("initials(s) == 'AB'", env)
    assert on_field.evaluate({"s": "Alpha Beta"}) is True
    assert on_field.sql_supported is False
    with pytest.raises(NotSQLExpressible, match="initials"):
        on_field.to_sql({"s": sa.column("s")})
    on_constant = compile_expression("s == initials(user.region)", env)  # computed in Python, bound in SQL
    assert on_constant.sql_supported is True
    sql = on_constant.to_sql({"s": sa.column("s")}, {"user": {"region": "East Union"}})
    assert sql.right.value == "EU"


def test_plugin_check_hook_and_any_results():
    env = Env(FIELDS, VARIABLES, _plugin_registry())
    assert compile_expression("pick(tags, 1)", env).evaluate({"tags": ["a", "b"]}) == "b"
    with pytest.raises(ExpressionError) as caught:
        compile_expression("pick(tags, i)", env)
    assert caught.value.code == "E504" and "literal" in caught.value.message


def test_unknown_functions_depend_on_the_registry():
    bare = Env(FIELDS, VARIABLES, FunctionRegistry())
    with pytest.raises(ExpressionError) as caught:
        compile_expression("lower(s)", bare)
    assert caught.value.code == "E503"
    assert compile_expression("date('2024-01-01')", bare).type == "date"  # a literal, not a call


def test_registry_hint_and_columns_in_sql(db_engine, items, env):
    """Function arguments arrive in SQL as typed expressions (e.g. JSON for lists)."""
    seen = []
    registry = default_registry()
    registry.register(Function("spy", ["list"], "number", len, sql=lambda x: seen.append(x.type) or sa.literal(1)))
    expression = compile_expression("spy(tags)", Env(FIELDS, VARIABLES, registry))
    expression.to_sql(columns_of(items))
    assert isinstance(seen[0], sa.JSON)
