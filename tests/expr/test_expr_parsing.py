"""Parsing: literals, layout, syntax errors (E501), forbidden constructs (E506), safety."""

from __future__ import annotations

import ast
import builtins
import datetime as dt
from decimal import Decimal

import pytest

from engine.expr import Env, ExpressionError, compile_expression
from engine.expr.parser import MAX_DEPTH, MAX_LENGTH

ENV = Env(
    {"n": "number", "s": "string", "d": "date", "tags": "list", "b": "boolean", "lines": {"amount": "number"}},
    {"user": {"id": "number", "roles": "list"}},
)


def value(source: str, record=None):
    return compile_expression(source, ENV).evaluate(record or {}, {"user": {"id": 1, "roles": []}})


def error(source: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source, ENV)
    return caught.value


@pytest.mark.parametrize(
    "source, expected",
    [
        ("42", Decimal(42)),
        ("-42", Decimal(-42)),
        ("0.1", Decimal("0.1")),
        ("1_000.5", Decimal("1000.5")),
        ("1e3", Decimal(1000)),
        ("0x10", Decimal(16)),
        ("12345678901234567.25", Decimal("12345678901234567.25")),  # no float detour
        ("'it''s'", "its"),  # adjacent literals concatenate, as in Python
        ('"double"', "double"),
        ("'caf\\u00e9'", "café"),
        ("true", True),
        ("True", True),
        ("false", False),
        ("False", False),
        ("null", None),
        ("None", None),
        ("date('2024-02-29')", dt.date(2024, 2, 29)),
        ("datetime('2024-02-29T10:30:00+02:00')", dt.datetime(2024, 2, 29, 8, 30, tzinfo=dt.UTC)),
        ("datetime('2024-02-29 10:30')", dt.datetime(2024, 2, 29, 10, 30, tzinfo=dt.UTC)),  # naive is UTC
        ("[1, 2.5]", [Decimal(1), Decimal("2.5")]),
        ("('a', 'b')", ["a", "b"]),
        ("[]", []),
    ],
)
def test_literals(source, expected):
    result = value(source)
    assert result == expected
    assert type(result) is type(expected)


def test_number_literals_are_decimals_not_floats():
    assert value("0.1 + 0.2 == 0.3") is True
    assert isinstance(value("1"), Decimal)


def test_expressions_may_span_lines_and_carry_comments():
    source = "n > 1  # big enough\n  and s == 'x'\r\n  and not b"
    assert value(source, {"n": 2, "s": "x", "b": False}) is True
    assert value(source, {"n": 2, "s": "y", "b": False}) is False


@pytest.mark.parametrize(
    "source, column, fragment",
    [
        ("n >", 3, "syntax error"),
        ("n +* 2", 3, "syntax error"),
        ("(n + 1", 0, "never closed"),
        ("'abc", 0, "unterminated string"),
        ("n; 1", 1, "syntax error"),
        ("'é' +", 5, "syntax error"),  # columns count characters, not UTF-8 bytes
        ("n > 1\n  + ", 10, "syntax error"),
        ("", 0, "empty"),
        ("  \n ", 0, "empty"),
    ],
)
def test_syntax_errors_are_e501_with_column(source, column, fragment):
    problem = error(source)
    assert problem.code == "E501"
    assert problem.column == column
    assert fragment in problem.message


def test_limits_are_syntax_errors():
    assert error("n" + " + n" * (MAX_LENGTH // 4)).code == "E501"
    deep = "(" * (MAX_DEPTH + 5) + "n" + ")" * (MAX_DEPTH + 5)
    assert compile_expression(deep, ENV).type == "number"  # parentheses alone add no depth
    nested = "abs(" * (MAX_DEPTH + 1) + "n" + ")" * (MAX_DEPTH + 1)
    problem = error(nested)
    assert problem.code == "E501" and "nested" in problem.message
    assert error("n\0").column == 1


def test_columns_of_later_nodes_count_characters():
    problem = error("'éé' + 1")
    assert (problem.code, problem.column) == ("E504", 5)
    problem = error("'éé' == s and\n  zz")
    assert (problem.code, problem.column) == ("E502", 16)


@pytest.mark.parametrize(
    "source, column, fragment",
    [
        ("n[0]", 0, "subscripts"),
        ("lambda: 1", 0, "lambda"),
        ("[x for x in tags]", 0, "comprehensions"),
        ("(x for x in tags)", 0, "generator"),
        ("{x: 1 for x in tags}", 0, "comprehensions"),
        ("(y := 1)", 1, ":="),
        ("f'{s}'", 0, "f-strings"),
        ("{'a': 1}", 0, "dictionaries"),
        ("{1, 2}", 0, "sets"),
        ("lower(*tags)", 6, "unpacking"),
        ("round(n, places=1)", 16, "keyword arguments"),
        ("s.lower()", 0, "method calls"),
        ("(lambda: 1)()", 0, "calling"),
        ("x.y.z", 0, "attribute access"),
        ("n.real", 0, "attribute access on field 'n'"),
        ("user._secret", 5, "starting with '_'"),
        ("__import__('os')", 0, "'__'"),
        ("__builtins__", 0, "'__'"),
        ("().__class__", 3, "starting with '_'"),
        ("n ** 2", 2, "**"),
        ("n // 2", 2, "//"),
        ("n % 2", 2, "%"),
        ("n & 1", 2, "&"),
        ("~n", 0, "~"),
        ("n is 1", 2, "is None"),
        ("b'x'", 0, "bytes"),
        ("1j", 0, "complex"),
        ("...", 0, "this literal"),
    ],
)
def test_constructs_outside_the_whitelist_are_e506(source, column, fragment):
    problem = error(source)
    assert problem.code == "E506", problem
    assert problem.column == column
    assert fragment in problem.message


ESCAPES = [
    "__import__('os').system('touch pwned')",
    "().__class__.__bases__[0].__subclasses__()",
    "[].__class__.__mro__",
    "lower.__globals__",
    "user.__dict__",
    "open('pwned', 'w')",
    "eval('1')",
    "exec('x = 1')",
    "compile('1', 'x', 'eval')",
    "getattr(s, '__class__')",
    "globals()",
    "type(s)",
    "breakpoint()",
    "(lambda: __import__('os'))()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "s.format(s)",
    "f'{open(\"pwned\")}'",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_escape_attempts_are_rejected_and_nothing_runs(source, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    calls = []
    real_compile = builtins.compile

    def only_parse(src, filename, mode, flags=0, *args, **kwargs):
        calls.append(flags)
        assert flags & ast.PyCF_ONLY_AST, "user text may only be parsed, never compiled to code"
        return real_compile(src, filename, mode, flags, *args, **kwargs)

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must never run")

    monkeypatch.setattr(builtins, "compile", only_parse)
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    problem = error(source)
    assert problem.code in ("E503", "E506")
    assert calls, "the source was parsed"
    assert list(tmp_path.iterdir()) == []


def test_dunder_names_cannot_be_fields_or_variables():
    with pytest.raises(ValueError):
        Env({"__class__": "string"})
    with pytest.raises(ValueError):
        Env({}, {"null": {"id": "number"}})
