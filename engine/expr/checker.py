"""Whitelist, resolve and type-check a Python syntax tree into `nodes`.

This is the security boundary: only the node types handled below become part of an
expression; everything else (attribute access on anything but a context variable or a
child-rows field, subscripts, lambdas, comprehensions, `:=`, f-strings, dunder names,
method calls, keyword arguments...) is error E506. Names resolve against an `Env`
(E502), calls against its function registry (E503/E505), and every operator gets
precise types (E504), so evaluation never meets a surprise.

The checker keeps going after an error, using the type `any` for the broken part so
one mistake does not cascade, and reports everything it found.
"""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from engine.errors import did_you_mean

from . import nodes as n
from .env import LITERAL_NAMES, Env
from .errors import ExpressionError
from .functions import ArgInfo, Function
from .parser import SourceMap
from .types import (
    ANY,
    BOOLEAN,
    DATE,
    DATETIME,
    DURATION,
    NULL,
    NUMBER,
    ORDERED_KINDS,
    STRING,
    Type,
    ValueType,
    list_of,
    match_pattern,
    resolve_pattern,
    unify,
)
from .values import to_utc

V = ValueType
MAX_NUMBER_LITERAL = Decimal("1e18")

_NOT_ALLOWED = {
    ast.Lambda: "lambda expressions",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.JoinedStr: "f-strings",
    ast.FormattedValue: "f-strings",
    ast.Subscript: "subscripts (x[...])",
    ast.Starred: "unpacking (*x)",
    ast.Dict: "dictionaries",
    ast.Set: "sets",
    ast.Slice: "slices",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
_OPERATOR_TEXT = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}
_COMPARE_TEXT = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


class Checker:
    def __init__(self, env: Env, source_map: SourceMap):
        self.env = env
        self.map = source_map
        self.errors: list[ExpressionError] = []

    # ------------------------------------------------------------ helpers

    def error(self, code: str, message: str, column: int, hint: str | None = None) -> n.Node:
        """Record a problem and return a stand-in of type `any` so checking can go on."""
        self.errors.append(ExpressionError(code, message, column, hint))
        return n.Literal(type=ANY, column=column, value=None)

    def not_allowed(self, what: str, node: ast.AST, hint: str | None = None) -> n.Node:
        return self.error("E506", f"{what} not allowed", self.map.start(node), hint)

    @staticmethod
    def _describe(type_: Type) -> str:
        return "None" if type_.kind is V.NULL else str(type_)

    # ------------------------------------------------------------ dispatch

    def check(self, node: ast.expr) -> n.Node:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.BoolOp):
            return self.bool_op(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.IfExp):
            return self.conditional(node)
        if isinstance(node, ast.List | ast.Tuple):
            return self.list_literal(node)
        what = _NOT_ALLOWED.get(type(node), f"{type(node).__name__} expressions")
        return self.not_allowed(f"{what} are", node)

    # ------------------------------------------------------------ leaves

    def constant(self, node: ast.Constant) -> n.Node:
        column = self.map.start(node)
        value = node.value
        if value is None:
            return n.Literal(type=NULL, column=column, value=None)
        if isinstance(value, bool):
            return n.Literal(type=BOOLEAN, column=column, value=value)
        if isinstance(value, str):
            return n.Literal(type=STRING, column=column, value=value)
        if isinstance(value, int | float):
            return self.number(node, value, column)
        kind = {bytes: "bytes literals are", complex: "complex numbers are"}.get(type(value), "this literal is")
        return self.not_allowed(kind, node)

    def number(self, node: ast.Constant, value: int | float, column: int) -> n.Node:
        text = self.map.text(node).replace("_", "")
        try:
            number = Decimal(text)
        except InvalidOperation:  # 0x10, 0o7, 0b1: Python already computed the integer
            number = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
        if not number.is_finite() or abs(number) >= MAX_NUMBER_LITERAL:
            return self.error("E504", "number literal out of range", column, "numbers must be below 1e18")
        return n.Literal(type=NUMBER, column=column, value=number)

    def name(self, node: ast.Name) -> n.Node:
        column = self.map.start(node)
        name = node.id
        if name in LITERAL_NAMES:
            value = LITERAL_NAMES[name]
            return n.Literal(type=NULL if value is None else BOOLEAN, column=column, value=value)
        if name.startswith("__"):
            return self.not_allowed("names starting with '__' are", node)
        field = self.env.field_type(name)
        if field is not None:
            if field.kind is V.ROWS:
                return n.Rows(type=field, column=column, name=name)
            return n.Field(type=field, column=column, name=name)
        if name in self.env.variables:
            attrs = sorted(self.env.variables[name])
            example = f"{name}.{attrs[0]}" if attrs else f"{name}.<attribute>"
            return self.error("E504", f"'{name}' is a context object, not a value", column, f"use an attribute, e.g. {example}")
        if name in self.env.functions:
            return self.error("E504", f"'{name}' is a function, not a value", column, f"call it: {name}(...)")
        candidates = [*self.env.fields, *self.env.variables]
        return self.error("E502", f"unknown name '{name}'", column, did_you_mean(name, candidates))

    def attribute(self, node: ast.Attribute) -> n.Node:
        attr_column = max(self.map.start(node), self.map.end(node) - len(node.attr))
        if node.attr.startswith("_"):
            return self.error("E506", "attributes starting with '_' are not allowed", attr_column)
        if not isinstance(node.value, ast.Name):
            return self.not_allowed(
                "attribute access on this value is", node, "only context variables and child rows have attributes: user.id, lines.amount"
            )
        owner = node.value.id
        if owner.startswith("__"):
            return self.not_allowed("names starting with '__' are", node.value)
        if owner in self.env.variables:
            attrs = self.env.variables[owner]
            if node.attr not in attrs:
                return self.error(
                    "E502", f"'{owner}' has no attribute '{node.attr}'", attr_column, did_you_mean(node.attr, attrs)
                )
            return n.Variable(type=attrs[node.attr], column=self.map.start(node), name=owner, attr=node.attr)
        field = self.env.field_type(owner)
        if field is not None and field.kind is V.ROWS:
            column_type = field.column(node.attr)
            if column_type is None:
                names = [name for name, _ in field.columns]
                return self.error(
                    "E502", f"rows of '{owner}' have no column '{node.attr}'", attr_column, did_you_mean(node.attr, names)
                )
            return n.RowsColumn(type=list_of(column_type), column=self.map.start(node), name=owner, attr=node.attr)
        if field is not None:
            return self.not_allowed(
                f"attribute access on field '{owner}' is", node, "only context variables and child rows have attributes"
            )
        candidates = [*self.env.fields, *self.env.variables]
        return self.error("E502", f"unknown name '{owner}'", self.map.start(node), did_you_mean(owner, candidates))

    # ------------------------------------------------------------ logic

    def _require_boolean(self, operand: n.Node, what: str) -> None:
        if operand.type.kind not in (V.BOOLEAN, V.ANY):
            self.error("E504", f"{what} needs true/false, got {self._describe(operand.type)}", operand.column)

    def bool_op(self, node: ast.BoolOp) -> n.Node:
        op = "and" if isinstance(node.op, ast.And) else "or"
        operands = tuple(self.check(value) for value in node.values)
        for operand in operands:
            self._require_boolean(operand, f"'{op}'")
        return n.Logical(type=BOOLEAN, column=self.map.start(node), op=op, operands=operands)

    def unary(self, node: ast.UnaryOp) -> n.Node:
        column = self.map.start(node)
        if isinstance(node.op, ast.Invert):
            return self.not_allowed("the bitwise operator ~ is", node)
        operand = self.check(node.operand)
        if isinstance(node.op, ast.Not):
            self._require_boolean(operand, "'not'")
            return n.Not(type=BOOLEAN, column=column, operand=operand)
        if operand.type.kind not in (V.NUMBER, V.DURATION, V.ANY):
            sign = "-" if isinstance(node.op, ast.USub) else "+"
            return self.error("E504", f"unary {sign} needs a number or a duration, got {self._describe(operand.type)}", column)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(operand, n.Literal) and operand.type.kind is V.NUMBER:
            return n.Literal(type=NUMBER, column=column, value=-operand.value)
        return n.Negate(type=operand.type, column=column, operand=operand)

    def conditional(self, node: ast.IfExp) -> n.Node:
        test = self.check(node.test)
        then = self.check(node.body)
        otherwise = self.check(node.orelse)
        self._require_boolean(test, "the condition of 'if'")
        type_ = unify(then.type, otherwise.type)
        if type_ is None:
            return self.error(
                "E504",
                f"the two results of 'if' have different types: {self._describe(then.type)} and {self._describe(otherwise.type)}",
                otherwise.column,
            )
        if type_.kind is V.ROWS:
            return self.error("E504", "child rows cannot be the result of 'if'", then.column)
        return n.Conditional(type=type_, column=self.map.start(node), test=test, then=then, otherwise=otherwise)

    # ------------------------------------------------------------ arithmetic

    def binary(self, node: ast.BinOp) -> n.Node:
        symbol = _OPERATOR_TEXT.get(type(node.op), "?")
        column = self.map.operator_between(node.left, node.right)
        if symbol not in ("+", "-", "*", "/"):
            return self.error("E506", f"the operator {symbol} is not allowed", column)
        left = self.check(node.left)
        right = self.check(node.right)
        return self.arithmetic(symbol, left, right, column)

    def arithmetic(self, symbol: str, left: n.Node, right: n.Node, column: int) -> n.Node:
        lk, rk = left.type.kind, right.type.kind
        if V.NULL in (lk, rk):
            return self.error("E504", f"'{symbol}' with None is always None", column, "test for None with == None")
        if lk is V.ANY and rk is V.ANY:
            lk = rk = V.NUMBER
        elif lk is V.ANY:
            lk = rk if rk in (V.NUMBER, V.STRING) else lk
        elif rk is V.ANY:
            rk = lk if lk in (V.NUMBER, V.STRING) else rk
        found = _ARITHMETIC.get((symbol, lk, rk))
        if found is None:
            hint = None
            if V.NUMBER in (lk, rk) and ({lk, rk} & {V.DATE, V.DATETIME, V.DURATION}) and symbol in "+-":
                hint = "use days(n) or hours(n) for durations"
            return self.error(
                "E504",
                f"cannot apply '{symbol}' to {self._describe(left.type)} and {self._describe(right.type)}",
                column,
                hint,
            )
        kind, result, swap = found
        if swap:
            left, right = right, left
        return n.Arithmetic(type=result, column=column, kind=kind, left=left, right=right)

    # ------------------------------------------------------------ comparisons

    def compare(self, node: ast.Compare) -> n.Node:
        left_ast: ast.expr = node.left
        left = self.check(left_ast)
        parts: list[n.Node] = []
        for op, right_ast in zip(node.ops, node.comparators, strict=True):
            column = self.map.operator_between(left_ast, right_ast)
            if isinstance(op, ast.Is | ast.IsNot):
                is_none = (isinstance(right_ast, ast.Constant) and right_ast.value is None) or (
                    isinstance(right_ast, ast.Name) and right_ast.id == "null"
                )
                if not is_none:
                    self.error("E506", "'is' is only allowed as 'is None' / 'is not None'", column, "use ==")
                    right = self.check(right_ast)
                    parts.append(n.Literal(type=ANY, column=column, value=None))
                    left_ast, left = right_ast, right
                    continue
                op = ast.Eq() if isinstance(op, ast.Is) else ast.NotEq()
            right = self.check(right_ast)
            if isinstance(op, ast.In | ast.NotIn):
                parts.append(self.membership(left, right, isinstance(op, ast.NotIn), column))
            else:
                parts.append(self.comparison(_COMPARE_TEXT[type(op)], left, right, column))
            left_ast, left = right_ast, right
        if len(parts) == 1:
            return parts[0]
        return n.Logical(type=BOOLEAN, column=self.map.start(node), op="and", operands=tuple(parts))

    def comparison(self, op: str, left: n.Node, right: n.Node, column: int) -> n.Node:
        joined = unify(left.type, right.type)
        lt, rt = self._describe(left.type), self._describe(right.type)
        if joined is None:
            hint = None
            if {left.type.kind, right.type.kind} == {V.DATE, V.DATETIME}:
                hint = "convert with date(datetime), or compare with today() / now()"
            return self.error("E504", f"cannot compare {lt} with {rt}", column, hint)
        if op in ("==", "!="):
            if joined.kind is V.ROWS:
                return self.error("E504", "child rows cannot be compared", column, "use count(...) or a column")
            if joined.kind is V.LIST and V.NULL not in (left.type.kind, right.type.kind):
                return self.error("E504", "lists cannot be compared with == or !=", column, "use 'in' or is_empty()")
        else:
            if V.NULL in (left.type.kind, right.type.kind):
                return self.error("E504", f"'{op}' with None is always false", column, "test for None with == None")
            if joined.kind not in ORDERED_KINDS and joined.kind is not V.ANY:
                return self.error("E504", f"values of type {joined} cannot be ordered with '{op}'", column)
        return n.Compare(type=BOOLEAN, column=column, op=op, left=left, right=right, operand_type=joined)

    def membership(self, item: n.Node, container: n.Node, negated: bool, column: int) -> n.Node:
        word = "not in" if negated else "in"
        kind = container.type.kind
        if item.type.kind is V.NULL:
            return self.error("E504", f"None is never '{word}' anything", column, "test for None with == None")
        if kind is V.STRING:
            if item.type.kind not in (V.STRING, V.ANY):
                return self.error("E504", f"cannot look for {self._describe(item.type)} in a string", column)
            membership_kind = "substring"
        elif kind is V.LIST:
            if not (item.type.is_scalar or item.type.kind is V.ANY):
                return self.error("E504", f"'{word}' needs a single value on the left, got {self._describe(item.type)}", column)
            if unify(item.type, container.type.item or ANY) is None:
                return self.error(
                    "E504", f"cannot look for {self._describe(item.type)} in {self._describe(container.type)}", column
                )
            membership_kind = "json" if isinstance(container, n.Field) else "values"
        elif kind is V.ANY:
            membership_kind = "values"
        else:
            hint = "use a column of the rows, e.g. lines.amount" if kind is V.ROWS else None
            return self.error(
                "E504", f"'{word}' needs a list or a string on the right, got {self._describe(container.type)}", column, hint
            )
        return n.Membership(type=BOOLEAN, column=column, kind=membership_kind, item=item, container=container, negated=negated)

    def list_literal(self, node: ast.List | ast.Tuple) -> n.Node:
        items = tuple(self.check(element) for element in node.elts)
        item_type: Type | None = NULL
        for item in items:
            if item.type.kind is V.NULL:
                self.error("E504", "None in a list never matches anything", item.column, "test for None with == None")
                continue
            if not (item.type.is_scalar or item.type.kind is V.ANY):
                self.error("E504", f"list items must be single values, not {self._describe(item.type)}", item.column)
                continue
            joined = unify(item_type, item.type) if item_type is not None else None
            if joined is None:
                self.error("E504", f"list items must all have one type; found {self._describe(item.type)}", item.column)
                continue
            item_type = joined
        if item_type is None or item_type.kind is V.NULL:
            item_type = ANY
        return n.ListOf(type=list_of(item_type), column=self.map.start(node), items=items)

    # ------------------------------------------------------------ calls

    def call(self, node: ast.Call) -> n.Node:
        column = self.map.start(node)
        func = node.func
        if isinstance(func, ast.Attribute):
            return self.not_allowed("method calls are", node, f"call functions by name, e.g. {func.attr}(x)")
        if not isinstance(func, ast.Name):
            return self.not_allowed("calling this value is", node)
        name = func.id
        if name.startswith("__"):
            return self.not_allowed("names starting with '__' are", func)
        for keyword in node.keywords:
            target = keyword.value
            return self.error("E506", "keyword arguments are not allowed", self.map.start(target))
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                return self.not_allowed("unpacking (*x) is", arg)
        if name in ("date", "datetime") and len(node.args) == 1 and isinstance(node.args[0], ast.Constant):
            literal = node.args[0]
            if isinstance(literal.value, str):
                return self.date_literal(name, literal)
        args = tuple(self.check(arg) for arg in node.args)
        function = self.env.functions.get(name)
        if function is None:
            hint = did_you_mean(name, self.env.functions.names())
            if name in self.env.fields or name in self.env.variables:
                hint = f"'{name}' is a field or variable, not a function"
            return self.error("E503", f"unknown function '{name}'", column, hint)
        return self.typed_call(function, args, column)

    def typed_call(self, function: Function, args: Sequence[n.Node], column: int) -> n.Node:
        count = len(args)
        assert function.min_args is not None and function.max_args is not None
        if not function.min_args <= count <= function.max_args:
            if function.min_args == function.max_args:
                wanted = f"{function.min_args} argument{'s' if function.min_args != 1 else ''}"
            else:
                wanted = f"{function.min_args} to {function.max_args} arguments"
            return self.error(
                "E505", f"{function.name}() takes {wanted}, got {count}", column, f"usage: {function.signature}"
            )
        bindings: dict[str, Type] = {}
        ok = True
        for index, (arg, pattern) in enumerate(zip(args, function.patterns, strict=False), start=1):
            if arg.type.kind is V.NULL and not function.null_safe:
                continue  # calling with None gives None; nothing to check
            if not match_pattern(pattern, arg.type, bindings):
                ok = False
                self.error(
                    "E504",
                    f"argument {index} of {function.name}() must be {pattern}, got {self._describe(arg.type)}",
                    arg.column,
                    f"usage: {function.signature}",
                )
        if not ok:
            return n.Literal(type=ANY, column=column, value=None)
        if function.check is not None:
            infos = [
                ArgInfo(arg.type, isinstance(arg, n.Literal), arg.value if isinstance(arg, n.Literal) else None, arg.column)
                for arg in args
            ]
            problem = function.check(infos)
            if problem:
                return self.error("E504", problem, column, f"usage: {function.signature}")
        result = resolve_pattern(function.result_pattern, bindings)
        return n.Call(type=result, column=column, function=function, args=tuple(args))

    def date_literal(self, name: str, literal: ast.Constant) -> n.Node:
        column = self.map.start(literal)
        text = literal.value
        try:
            if name == "date":
                return n.Literal(type=DATE, column=column, value=dt.date.fromisoformat(text))
            return n.Literal(type=DATETIME, column=column, value=to_utc(dt.datetime.fromisoformat(text)))
        except ValueError:
            example = "'2024-01-31'" if name == "date" else "'2024-01-31T09:30:00Z'"
            return self.error("E504", f"invalid {name} literal {text!r}", column, f"write ISO 8601, e.g. {name}({example})")


# (symbol, left kind, right kind) -> (node kind, result type, swap operands)
_ARITHMETIC: dict[tuple[str, ValueType, ValueType], tuple[str, Type, bool]] = {
    ("+", V.NUMBER, V.NUMBER): ("add", NUMBER, False),
    ("-", V.NUMBER, V.NUMBER): ("subtract", NUMBER, False),
    ("*", V.NUMBER, V.NUMBER): ("multiply", NUMBER, False),
    ("/", V.NUMBER, V.NUMBER): ("divide", NUMBER, False),
    ("+", V.STRING, V.STRING): ("concat", STRING, False),
    ("-", V.DATE, V.DATE): ("date_diff", DURATION, False),
    ("-", V.DATETIME, V.DATETIME): ("datetime_diff", DURATION, False),
    ("+", V.DATE, V.DURATION): ("date_add", DATE, False),
    ("+", V.DURATION, V.DATE): ("date_add", DATE, True),
    ("-", V.DATE, V.DURATION): ("date_subtract", DATE, False),
    ("+", V.DATETIME, V.DURATION): ("datetime_add", DATETIME, False),
    ("+", V.DURATION, V.DATETIME): ("datetime_add", DATETIME, True),
    ("-", V.DATETIME, V.DURATION): ("datetime_subtract", DATETIME, False),
    ("+", V.DURATION, V.DURATION): ("duration_add", DURATION, False),
    ("-", V.DURATION, V.DURATION): ("duration_subtract", DURATION, False),
    ("*", V.DURATION, V.NUMBER): ("duration_multiply", DURATION, False),
    ("*", V.NUMBER, V.DURATION): ("duration_multiply", DURATION, True),
}


def check(tree: ast.expr, env: Env, source_map: SourceMap) -> tuple[n.Node, list[ExpressionError]]:
    checker = Checker(env, source_map)
    root = checker.check(tree)
    return root, checker.errors
