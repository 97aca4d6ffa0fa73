"""Python evaluation and SQL translation must agree, on SQLite and on PostgreSQL.

Hypothesis generates random well-typed expressions over a fixed set of fields (every
type, with NULLs) and random rows. The rows go into a real table; the ids SQL selects
must be exactly the ids `evaluate` finds true, and values selected with
`to_sql(as_value=True)` must equal the evaluated ones.

Run deeper with TAILOR_EXPR_EXAMPLES=5000. Number ranges are chosen so every intermediate result fits in 15 significant digits,
the precision at which SQLite's floating point still agrees with Decimal (see
docs/expressions.md).
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pytest
from expr_helpers import NOW, USER, insert_rows, python_ids, same_value, sql_ids, sql_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.expr import compile_expression

UTC = dt.UTC
# TAILOR_EXPR_EXAMPLES=5000 runs a deeper search locally.
SETTINGS = settings(
    max_examples=int(os.environ.get("TAILOR_EXPR_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ------------------------------------------------------------------ rows

ALPHABET = "aAbBz Z09-€中"  # mixed case (collation order differs by locale), non-ASCII caseless chars
strings = st.none() | st.text(alphabet=ALPHABET, max_size=4) | st.sampled_from(["vip", "new", "Acme", "acme", ""])
numbers = st.none() | st.decimals(min_value=-1000, max_value=1000, places=2) | st.sampled_from([Decimal(0), Decimal("0.5")])
integers = st.none() | st.integers(min_value=-50, max_value=50)
booleans = st.none() | st.booleans()
dates = st.none() | st.dates(min_value=dt.date(2023, 1, 1), max_value=dt.date(2025, 12, 31))
datetimes = st.none() | st.datetimes(
    min_value=dt.datetime(2023, 1, 1), max_value=dt.datetime(2025, 12, 31), timezones=st.just(UTC)
) | st.sampled_from([NOW, NOW.replace(microsecond=999_999), NOW - dt.timedelta(days=1)])
tags = st.none() | st.lists(st.sampled_from(["vip", "new", "old"]), unique=True, max_size=3)

row = st.fixed_dictionaries(
    {
        "s": strings, "t": strings, "n": numbers, "m": numbers, "i": integers, "b": booleans, "c": booleans,
        "d": dates, "e": dates, "dt": datetimes, "du": datetimes, "tags": tags,
    }
)  # fmt: skip
rows = st.lists(row, min_size=1, max_size=6)

# ------------------------------------------------------------------ expressions (source text)


def call(name: str, *args: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*args).map(lambda a: f"{name}({', '.join(a)})")


def infix(left: st.SearchStrategy[str], ops: list[str], right: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(left, st.sampled_from(ops), right).map(lambda p: f"({p[0]} {p[1]} {p[2]})")


def conditional(then: st.SearchStrategy[str], test: st.SearchStrategy[str], otherwise: st.SearchStrategy[str]):
    return st.tuples(then, test, otherwise).map(lambda p: f"({p[0]} if {p[1]} else {p[2]})")


string_literal = st.sampled_from(["'a'", "'A'", "'vip'", "''", "'ab'", "'b'", "'z'", "'€'", "'中'", "'acme'"])
number_literal = st.sampled_from(["0", "1", "2", "3", "-1", "0.5", "2.25", "10", "100", "-3.5", "0.1", "7"])
small_factor = st.sampled_from(["2", "3", "0.5", "-1", "0.1", "i", "1.5"])
divisor = st.sampled_from(["2", "3", "4", "7", "0", "100", "0.5", "i"])
places = st.sampled_from(["0", "1", "2"])
duration_amount = st.sampled_from(["0", "1", "2", "30", "-1", "0.5", "1.25", "-0.75", "365"])


def strings_(depth: int) -> st.SearchStrategy[str]:
    base = st.sampled_from(["s", "t"]) | string_literal
    if depth == 0:
        return base
    sub = strings_(depth - 1)
    return (
        base
        | call("lower", sub)
        | call("upper", sub)
        | call("trim", sub)
        | infix(sub, ["+"], sub)
        | call("coalesce", sub, sub)
        | conditional(sub, booleans_(depth - 1), sub)
    )


def numbers_(depth: int) -> st.SearchStrategy[str]:
    base = st.sampled_from(["n", "m", "i"]) | number_literal
    if depth == 0:
        return base
    sub = numbers_(depth - 1)
    return (
        base
        | infix(sub, ["+", "-"], sub)
        | infix(sub, ["*"], small_factor)
        | infix(st.sampled_from(["n", "m", "i", "7", "-2.5"]), ["/"], divisor)
        | st.sampled_from(["-n", "-(i)"])
        | call("abs", sub)
        | call("round", sub, places)
        | call("round", sub)
        | call("len", strings_(depth - 1))
        | st.sampled_from(["len(tags)", "year(d)", "month(dt)", "year(dt)", "month(e)"])
        | call("coalesce", sub, sub)
        | conditional(sub, booleans_(depth - 1), sub)
    )


def dates_(depth: int) -> st.SearchStrategy[str]:
    base = st.sampled_from(["d", "e", "today()", "date('2024-02-29')", "user.start"])
    if depth == 0:
        return base
    sub = dates_(depth - 1)
    return (
        base
        | infix(sub, ["+", "-"], durations_(depth - 1))
        | call("date", datetimes_(depth - 1))
        | call("coalesce", sub, sub)
        | conditional(sub, booleans_(depth - 1), sub)
    )


def datetimes_(depth: int) -> st.SearchStrategy[str]:
    base = st.sampled_from(["dt", "du", "now()", "datetime('2024-05-17T00:00:00Z')"])
    if depth == 0:
        return base
    sub = datetimes_(depth - 1)
    return (
        base
        | infix(sub, ["+", "-"], durations_(depth - 1))
        | call("coalesce", sub, sub)
        | conditional(sub, booleans_(depth - 1), sub)
    )


def durations_(depth: int) -> st.SearchStrategy[str]:
    base = call("days", duration_amount) | call("hours", duration_amount)
    if depth == 0:
        return base
    sub = durations_(depth - 1)
    return (
        base
        | infix(dates_(depth - 1), ["-"], dates_(depth - 1))
        | infix(datetimes_(depth - 1), ["-"], datetimes_(depth - 1))
        | infix(sub, ["+", "-"], sub)
        | infix(sub, ["*"], st.sampled_from(["2", "0.5", "-1", "1.5"]))
        | call("days", st.sampled_from(["i", "n"]))
        | call("hours", st.sampled_from(["i", "m"]))
        | sub.map(lambda x: f"-{x}")
    )


ORDER = ["==", "!=", "<", "<=", ">", ">="]


def booleans_(depth: int) -> st.SearchStrategy[str]:
    base = (
        st.sampled_from(["b", "c", "true", "false", "(s == None)", "(n != None)", "(d is None)", "(tags is not None)"])
        | st.tuples(st.sampled_from(["s", "t", "'vip'", "'new'"]), st.sampled_from(["in", "not in"])).map(
            lambda p: f"({p[0]} {p[1]} tags)"
        )
        | st.sampled_from(["('admin' in user.roles)", "(i in user.team_members)", "(i not in user.team_members)"])
    )
    if depth == 0:
        return base
    sub = booleans_(depth - 1)
    return (
        base
        | infix(numbers_(depth - 1), ORDER, numbers_(depth - 1))
        | infix(strings_(depth - 1), ORDER, strings_(depth - 1))
        | infix(dates_(depth - 1), ORDER, dates_(depth - 1))
        | infix(datetimes_(depth - 1), ORDER, datetimes_(depth - 1))
        | infix(durations_(depth - 1), ORDER, durations_(depth - 1))
        | infix(sub, ["==", "!="], sub)
        | infix(sub, ["and", "or"], sub)
        | sub.map(lambda x: f"(not {x})")
        | st.tuples(st.sampled_from(["s", "t", "lower(s)"]), st.sampled_from(["in", "not in"])).map(
            lambda p: f"({p[0]} {p[1]} ['a', 'vip', 'A', ''])"
        )
        | st.tuples(numbers_(0), st.sampled_from(["in", "not in"])).map(lambda p: f"({p[0]} {p[1]} [1, 2.5, -3, 0])")
        | st.tuples(numbers_(0), st.sampled_from(["in", "not in"])).map(lambda p: f"({p[0]} {p[1]} [n, m, 7])")
        | infix(strings_(depth - 1), ["in", "not in"], st.sampled_from(["s", "t", "'vip acme'"]))
        | call("contains", strings_(depth - 1), strings_(depth - 1))
        | call("startswith", strings_(depth - 1), strings_(depth - 1))
        | call("is_empty", st.sampled_from(["s", "t", "tags", "n", "d", "dt", "b", "lower(s)"]))
        | call("coalesce", sub, sub)
        | conditional(sub, sub, sub)
        | st.tuples(numbers_(depth - 1), numbers_(depth - 1), numbers_(depth - 1)).map(
            lambda p: f"({p[0]} < {p[1]} <= {p[2]})"
        )
    )


conditions = booleans_(2)
VALUE_STRATEGIES = {
    "number": numbers_(2),
    "string": strings_(2),
    "date": dates_(2),
    "datetime": datetimes_(2),
    "duration": durations_(2),
    "boolean": booleans_(2),
}
any_value = st.sampled_from(sorted(VALUE_STRATEGIES)).flatmap(
    lambda kind: st.tuples(st.just(kind), VALUE_STRATEGIES[kind])
)

# ------------------------------------------------------------------ the properties


@pytest.mark.slow
@SETTINGS
@given(source=conditions, data=rows)
def test_where_selects_exactly_the_rows_evaluate_accepts(db_engine, items, env, source, data):
    expression = compile_expression(source, env, expected="boolean")
    assert expression.sql_supported
    insert_rows(db_engine, items, data)
    variables = {"user": USER}
    expected = python_ids(expression, data, variables)
    assert sql_ids(db_engine, items, expression, variables) == expected, source


@pytest.mark.slow
@SETTINGS
@given(kind_source=any_value, data=rows)
def test_selected_values_equal_evaluated_values(db_engine, items, env, kind_source, data):
    kind, source = kind_source
    expression = compile_expression(source, env, expected=kind)
    insert_rows(db_engine, items, data)
    variables = {"user": USER}
    got = sql_values(db_engine, items, expression, variables)
    for index, record in enumerate(data, start=1):
        want = expression.evaluate(record, variables, NOW)
        assert same_value(got[index], want), (source, record, got[index], want)

