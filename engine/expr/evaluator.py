"""Python evaluation: the checked tree becomes nested closures, built once per expression.

No Python code is generated or executed: each closure calls a fixed helper from
`values.py` chosen at build time from the node's resolved kind. The semantics here are
the reference that `sql.py` reproduces:

* values are normalized on read (numbers -> Decimal, datetimes -> aware UTC, a NULL
  boolean -> False);
* arithmetic and functions on None give None; `and`/`or`/`not` always give a bool and
  treat None as false; ordering comparisons with None are False; == and != are null-safe.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import nodes as n
from . import values
from .functions import CallContext

Evaluate = Callable[["Context"], Any]


@dataclass(frozen=True)
class Context:
    record: Mapping[str, Any]
    variables: Mapping[str, Any]
    call: CallContext


def make_context(record: Mapping[str, Any] | None, variables: Mapping[str, Any] | None, now: dt.datetime | None) -> Context:
    instant = values.to_utc(now) if now is not None else dt.datetime.now(values.UTC)
    return Context(record or {}, variables or {}, CallContext(instant))


def build(node: n.Node) -> Evaluate:
    builder = _BUILDERS[type(node)]
    return builder(node)


def _literal(node: n.Literal) -> Evaluate:
    value = node.value
    return lambda ctx: value


def _field(node: n.Field) -> Evaluate:
    name, type_ = node.name, node.type

    def read(ctx: Context) -> Any:
        try:
            return values.normalize(ctx.record.get(name), type_)
        except TypeError as error:
            raise TypeError(f"field '{name}': {error}") from None

    return read


def _rows(node: n.Rows) -> Evaluate:
    name, type_ = node.name, node.type
    return lambda ctx: values.to_rows(ctx.record.get(name), type_)


def _rows_column(node: n.RowsColumn) -> Evaluate:
    name, attr = node.name, node.attr
    column_type = node.type.item
    assert column_type is not None

    def read(ctx: Context) -> list[Any]:
        out = []
        for row in ctx.record.get(name) or ():
            value = row.get(attr) if isinstance(row, Mapping) else getattr(row, attr, None)
            out.append(values.normalize(value, column_type))
        return out

    return read


def _variable(node: n.Variable) -> Evaluate:
    name, attr, type_ = node.name, node.attr, node.type

    def read(ctx: Context) -> Any:
        if name not in ctx.variables:
            raise KeyError(f"the expression uses the context variable '{name}', which was not given")
        try:
            return values.normalize(values.attribute(ctx.variables[name], attr), type_)
        except TypeError as error:
            raise TypeError(f"variable '{name}.{attr}': {error}") from None

    return read


def _list(node: n.ListOf) -> Evaluate:
    items = [build(item) for item in node.items]
    return lambda ctx: [item(ctx) for item in items]


def _negate(node: n.Negate) -> Evaluate:
    operand = build(node.operand)

    def negate(ctx: Context) -> Any:
        value = operand(ctx)
        return None if value is None else -value

    return negate


def _not(node: n.Not) -> Evaluate:
    operand = build(node.operand)
    return lambda ctx: not operand(ctx)


def _logical(node: n.Logical) -> Evaluate:
    operands = [build(operand) for operand in node.operands]
    if node.op == "and":
        return lambda ctx: all(operand(ctx) for operand in operands)
    return lambda ctx: any(operand(ctx) for operand in operands)


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": values.add,
    "subtract": values.subtract,
    "multiply": values.multiply,
    "divide": values.divide,
    "concat": lambda a, b: a + b,
    "date_diff": lambda a, b: a - b,
    "datetime_diff": lambda a, b: a - b,
    "date_add": values.shift_date,
    "date_subtract": lambda a, b: values.shift_date(a, -b),
    "datetime_add": lambda a, b: a + b,
    "datetime_subtract": lambda a, b: a - b,
    "duration_add": lambda a, b: a + b,
    "duration_subtract": lambda a, b: a - b,
    "duration_multiply": values.scale_duration,
}


def _arithmetic(node: n.Arithmetic) -> Evaluate:
    left, right = build(node.left), build(node.right)
    operation = _BINARY[node.kind]

    def compute(ctx: Context) -> Any:
        a = left(ctx)
        if a is None:
            return None
        b = right(ctx)
        if b is None:
            return None
        try:
            return operation(a, b)
        except OverflowError:  # a date beyond year 9999
            return None

    return compute


def _compare(node: n.Compare) -> Evaluate:
    left, right, op = build(node.left), build(node.right), node.op
    if op == "==":
        return lambda ctx: values.equal(left(ctx), right(ctx))
    if op == "!=":
        return lambda ctx: not values.equal(left(ctx), right(ctx))
    return lambda ctx: values.ordered(op, left(ctx), right(ctx))


def _membership(node: n.Membership) -> Evaluate:
    item, container, negated = build(node.item), build(node.container), node.negated
    if negated:
        return lambda ctx: not values.member(item(ctx), container(ctx))
    return lambda ctx: values.member(item(ctx), container(ctx))


def _conditional(node: n.Conditional) -> Evaluate:
    test, then, otherwise = build(node.test), build(node.then), build(node.otherwise)
    return lambda ctx: then(ctx) if test(ctx) else otherwise(ctx)


def _call(node: n.Call) -> Evaluate:
    function = node.function
    args = [build(arg) for arg in node.args]
    result_type = node.type
    python = function.python

    def call(ctx: Context) -> Any:
        arguments = [arg(ctx) for arg in args]
        if not function.null_safe and any(a is None for a in arguments):
            return None if result_type.kind is not values.ValueType.BOOLEAN else False
        if function.pass_context:
            result = python(ctx.call, *arguments)
        else:
            result = python(*arguments)
        try:
            return values.normalize(result, result_type)
        except TypeError as error:
            raise TypeError(f"function {function.name}() returned a bad value: {error}") from None

    return call


_BUILDERS: dict[type[n.Node], Callable[[Any], Evaluate]] = {
    n.Literal: _literal,
    n.Field: _field,
    n.Rows: _rows,
    n.RowsColumn: _rows_column,
    n.Variable: _variable,
    n.ListOf: _list,
    n.Negate: _negate,
    n.Not: _not,
    n.Logical: _logical,
    n.Arithmetic: _arithmetic,
    n.Compare: _compare,
    n.Membership: _membership,
    n.Conditional: _conditional,
    n.Call: _call,
}
