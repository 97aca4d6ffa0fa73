"""SQL translation: the checked tree becomes one SQLAlchemy column expression.

Agreement with Python evaluation (`evaluator.py`) is the point, so three rules run
through this module:

* Parts that do not read the record (literals, `user.id`, `today() - days(30)`) are
  computed in Python and bound as parameters, so they cannot differ, and comparisons
  stay `column <op> :param`, which indexes serve.
* Every boolean node is built in one of two modes. In *predicate* mode (WHERE, the
  operands of and/or, the test of if) only "is it TRUE" matters, so a NULL may stand for
  false and comparisons stay plain. In *value* mode (== operands, function arguments,
  a selected value) the result must be exactly Python's, so a comparison that may be
  NULL becomes `coalesce(cmp, false)`. `not` always coalesces its operand, because SQL's
  NOT NULL is NULL where Python's `not` of a false comparison is True.
* Equality is null-safe: `IS [NOT] DISTINCT FROM` unless a side is known non-null,
  in which case plain `=` keeps index use.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import Grouping

from . import nodes as n
from . import sqlconstructs as sc
from .errors import NotSQLExpressible
from .evaluator import build as build_python
from .evaluator import make_context
from .sqltypes import ExprDuration, sql_type_for
from .types import Type, ValueType

V = ValueType
_ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_BOOLEAN_NODES = (n.Compare, n.Membership, n.Logical, n.Not)


@dataclass(frozen=True)
class Sql:
    expr: Any  # sa.ColumnElement
    nullable: bool = True


def grouped(expr: Any) -> Any:
    """Parenthesize: SQLAlchemy renders `NOT a IS DISTINCT FROM b`, which PostgreSQL reads
    as `NOT (a IS DISTINCT FROM b)`."""
    return Grouping(expr)


def typed_null(type_: Type) -> Any:
    sql_type = sql_type_for(type_)
    if isinstance(sql_type, sa.types.NullType):
        return sa.null()
    return sa.cast(sa.null(), sql_type)


def _literal_for(value: Any, type_: Type) -> Sql:
    if value is None:
        return Sql(typed_null(type_), True)
    if isinstance(value, bool):
        return Sql(sa.true() if value else sa.false(), False)
    if type_.kind in (V.ANY, V.NULL):
        type_ = _type_of_value(value)
    if type_.kind is V.LIST or isinstance(value, list):
        return Sql(sa.literal(value, sa.JSON()), False)
    return Sql(sa.literal(value, sql_type_for(type_)), False)


def _type_of_value(value: Any) -> Type:
    if isinstance(value, Decimal | int | float):
        return Type(V.NUMBER)
    if isinstance(value, dt.datetime):
        return Type(V.DATETIME)
    if isinstance(value, dt.date):
        return Type(V.DATE)
    if isinstance(value, dt.timedelta):
        return Type(V.DURATION)
    if isinstance(value, str):
        return Type(V.STRING)
    if isinstance(value, list):
        return Type(V.LIST)
    return Type(V.ANY)


def _is_integer_column(expr: Any) -> bool:
    type_ = getattr(expr, "type", None)
    return type_ is not None and isinstance(type_, sa.Integer)


def _value_matches(value: Any, kind: ValueType) -> bool:
    """Whether a list item can equal an operand of `kind` (other kinds never compare equal)."""
    if value is None:
        return False
    if kind is V.NUMBER:
        return isinstance(value, Decimal | int | float) and not isinstance(value, bool)
    if kind is V.STRING:
        return isinstance(value, str)
    if kind is V.BOOLEAN:
        return isinstance(value, bool)
    if kind is V.DATETIME:
        return isinstance(value, dt.datetime)
    if kind is V.DATE:
        return isinstance(value, dt.date) and not isinstance(value, dt.datetime)
    if kind is V.DURATION:
        return isinstance(value, dt.timedelta)
    return True


class SqlBuilder:
    def __init__(self, columns: Mapping[str, Any], variables: Mapping[str, Any] | None, now: dt.datetime | None):
        self.columns = columns
        self.context = make_context({}, variables, now)
        self._reads: dict[int, bool] = {}

    # ------------------------------------------------------------ constants

    def reads(self, node: n.Node) -> bool:
        key = id(node)
        if key not in self._reads:
            self._reads[key] = n.reads_record(node)
        return self._reads[key]

    def value_of(self, node: n.Node) -> Any:
        """Evaluate a subtree that does not read the record (variables, now, literals)."""
        return build_python(node)(self.context)

    def constant(self, node: n.Node) -> tuple[bool, Any]:
        if self.reads(node):
            return False, None
        return True, self.value_of(node)

    # ------------------------------------------------------------ entry

    def build(self, node: n.Node, predicate: bool) -> Sql:
        if not self.reads(node):
            return _literal_for(self.value_of(node), node.type)
        method = getattr(self, "_" + type(node).__name__.lower())
        sql: Sql = method(node, predicate)
        if not predicate and sql.nullable and isinstance(node, _BOOLEAN_NODES):
            sql = Sql(sa.func.coalesce(sql.expr, sa.false()), False)
        return sql

    def value(self, node: n.Node) -> Sql:
        return self.build(node, predicate=False)

    # ------------------------------------------------------------ leaves

    def column(self, name: str) -> Any:
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"to_sql() was given no column for field '{name}'") from None

    def _field(self, node: n.Field, predicate: bool) -> Sql:
        column = self.column(node.name)
        if node.type.kind is V.BOOLEAN and not predicate:
            # A NULL boolean reads as false (Python: values.to_boolean).
            return Sql(sa.func.coalesce(column, sa.false()), False)
        return Sql(column, True)

    def _rows(self, node: n.Rows, predicate: bool) -> Sql:
        raise NotSQLExpressible(f"'{node.name}' holds child rows, which SQL expressions cannot read")

    def _rowscolumn(self, node: n.RowsColumn, predicate: bool) -> Sql:
        raise NotSQLExpressible(f"'{node.name}.{node.attr}' reads child rows, which SQL expressions cannot read")

    def _listof(self, node: n.ListOf, predicate: bool) -> Sql:
        raise NotSQLExpressible("a list built from fields can only be used on the right of 'in'")

    # ------------------------------------------------------------ logic

    def _not(self, node: n.Not, predicate: bool) -> Sql:
        inner = self.build(node.operand, predicate=True)
        expr = sa.func.coalesce(inner.expr, sa.false()) if inner.nullable else inner.expr
        return Sql(grouped(sa.not_(expr)), False)

    def _logical(self, node: n.Logical, predicate: bool) -> Sql:
        parts = [self.build(operand, predicate=True) for operand in node.operands]
        combine = sa.and_ if node.op == "and" else sa.or_
        return Sql(combine(*(p.expr for p in parts)), any(p.nullable for p in parts))

    def _conditional(self, node: n.Conditional, predicate: bool) -> Sql:
        test = self.build(node.test, predicate=True)
        then = self.build(node.then, predicate)
        otherwise = self.build(node.otherwise, predicate)
        expr = sa.case((test.expr, then.expr), else_=otherwise.expr)
        if node.type.kind not in (V.BOOLEAN, V.ANY, V.NULL):
            expr = sa.type_coerce(expr, sql_type_for(node.type))
        return Sql(expr, then.nullable or otherwise.nullable)

    # ------------------------------------------------------------ comparisons

    def _operand_pair(self, left: n.Node, right: n.Node) -> tuple[Sql, Sql]:
        """Both sides in value mode; a numeric constant next to an integer column binds as an
        integer, so PostgreSQL does not cast the column to numeric and skip its index."""
        sides: list[Sql | None] = [None, None]
        for index, (this, other) in enumerate(((left, right), (right, left))):
            is_constant, value = self.constant(this)
            if (
                is_constant
                and isinstance(value, Decimal)
                and isinstance(other, n.Field)
                and _is_integer_column(self.columns.get(other.name))
                and value == value.to_integral_value()
            ):
                sides[index] = Sql(sa.literal(int(value), sa.Integer()), False)
        left_sql = sides[0] or self.value(left)
        right_sql = sides[1] or self.value(right)
        return left_sql, right_sql

    def _compare(self, node: n.Compare, predicate: bool) -> Sql:
        op = node.op
        if op in ("==", "!="):
            for this, other in ((node.left, node.right), (node.right, node.left)):
                is_constant, value = self.constant(this)
                if is_constant and value is None:
                    return Sql(self._is_null(other, negated=op == "!="), False)
        left, right = self._operand_pair(node.left, node.right)
        lexpr, rexpr = left.expr, right.expr
        kind = node.operand_type.kind
        if kind is V.BOOLEAN:
            lexpr, rexpr = grouped(lexpr), grouped(rexpr)
        if kind is V.DATETIME and (self._is_shifted(node.left) or self._is_shifted(node.right)):
            lexpr, rexpr = sc.ComparableDatetime(lexpr), sc.ComparableDatetime(rexpr)
        if op == "==":
            if left.nullable and right.nullable:
                return Sql(lexpr.is_not_distinct_from(rexpr), False)
            return Sql(lexpr == rexpr, left.nullable or right.nullable)
        if op == "!=":
            if left.nullable or right.nullable:
                return Sql(lexpr.is_distinct_from(rexpr), False)
            return Sql(lexpr != rexpr, False)
        if kind is V.STRING:
            lexpr = sc.OrderingKey(lexpr)
        return Sql(_ORDERING[op](lexpr, rexpr), left.nullable or right.nullable)

    def _is_null(self, node: n.Node, negated: bool) -> Any:
        expr = self.value(node).expr
        if node.type.kind is V.LIST:
            test = sc.JsonIsNull(expr)
            return grouped(sa.not_(test)) if negated else test
        return expr.is_not(None) if negated else expr.is_(None)

    def _is_shifted(self, node: n.Node) -> bool:
        return isinstance(node, n.Arithmetic) and node.kind in ("datetime_add", "datetime_subtract") and self.reads(node)

    def _membership(self, node: n.Membership, predicate: bool) -> Sql:
        is_constant, item_value = self.constant(node.item)
        if is_constant and item_value is None:
            found = Sql(sa.false(), False)
        else:
            found = self._found(node)
        if not node.negated:
            return found
        expr = sa.func.coalesce(found.expr, sa.false()) if found.nullable else found.expr
        return Sql(grouped(sa.not_(expr)), False)

    def _found(self, node: n.Membership) -> Sql:
        if node.kind == "substring":
            container, item = self.value(node.container), self.value(node.item)
            return Sql(sc.StringPosition(container.expr, item.expr) > 0, True)
        if node.kind == "json":
            assert isinstance(node.container, n.Field)
            item = self.value(node.item)
            return Sql(sc.JsonContains(self.column(node.container.name), item.expr), True)
        item = self.value(node.item)
        is_constant, candidates = self.constant(node.container)
        if is_constant:
            return self._in_values(node.item, item, candidates)
        if isinstance(node.container, n.ListOf):
            exprs = [self.value(element).expr for element in node.container.items]
            return Sql(item.expr.in_(exprs), True)
        raise NotSQLExpressible("'in' needs a list of values or a list field on the right in SQL")

    def _in_values(self, item_node: n.Node, item: Sql, candidates: Any) -> Sql:
        kind = item_node.type.kind
        if kind in (V.ANY, V.NULL):
            kind = _type_of_value(next((c for c in candidates or () if c is not None), None)).kind
        matching: list[Any] = []
        for candidate in candidates or ():
            if _value_matches(candidate, kind) and candidate not in matching:
                matching.append(candidate)
        if not matching:
            return Sql(sa.false(), False)
        sql_type = sql_type_for(Type(kind))
        if (
            isinstance(item_node, n.Field)
            and _is_integer_column(item.expr)
            and all(Decimal(c) == Decimal(c).to_integral_value() for c in matching)
        ):
            matching, sql_type = [int(c) for c in matching], sa.Integer()
        param = sa.bindparam(None, matching, type_=sql_type, expanding=True)
        return Sql(item.expr.in_(param), item.nullable)

    # ------------------------------------------------------------ arithmetic

    def _negate(self, node: n.Negate, predicate: bool) -> Sql:
        inner = self.value(node.operand)
        expr = sa.type_coerce(-inner.expr, sql_type_for(node.type)) if node.type.kind is not V.ANY else -inner.expr
        return Sql(expr, inner.nullable)

    def _arithmetic(self, node: n.Arithmetic, predicate: bool) -> Sql:
        left, right = self.value(node.left).expr, self.value(node.right).expr
        kind = node.kind
        if kind in _NUMBER_OPS:
            return Sql(_NUMBER_OPS[kind](left, right))
        if kind == "concat":
            return Sql(sa.type_coerce(left.op("||")(right), sa.String()))
        if kind == "date_diff":
            return Sql(sc.DateDiff(left, right))
        if kind == "datetime_diff":
            return Sql(sc.DatetimeDiff(left, right))
        if kind == "date_add":
            return Sql(sc.DateShift(left, sc.FloorDays(right)))
        if kind == "date_subtract":
            return Sql(sc.DateShift(left, sc.FloorDays(-right)))
        if kind == "datetime_add":
            return Sql(sc.DatetimeShift(left, right))
        if kind == "datetime_subtract":
            return Sql(sc.DatetimeShift(left, -right))
        if kind == "duration_add":
            return Sql(sa.type_coerce(left + right, ExprDuration()))
        if kind == "duration_subtract":
            return Sql(sa.type_coerce(left - right, ExprDuration()))
        if kind == "duration_multiply":
            return Sql(sa.type_coerce(sc.round_half_up(left * right, 0), ExprDuration()))
        raise AssertionError(f"unknown arithmetic kind {kind}")  # pragma: no cover

    # ------------------------------------------------------------ calls

    def _call(self, node: n.Call, predicate: bool) -> Sql:
        function = node.function
        if function.sql is None:
            raise NotSQLExpressible(f"function {function.name}() has no SQL translation")
        args = []
        for arg in node.args:
            is_constant, value = self.constant(arg)
            if is_constant and value is None and not function.null_safe:
                # Python does not even call it: null, or false for a boolean function
                return Sql(sa.false() if node.type.kind is V.BOOLEAN else typed_null(node.type), True)
            sql = self.value(arg)
            expr = sql.expr
            if arg.type.kind not in (V.ANY, V.NULL):
                expr = sa.type_coerce(expr, sql_type_for(arg.type))
            args.append(expr)
        if function.pass_context:
            result = function.sql(self.context.call, *args)
        else:
            result = function.sql(*args)
        if node.type.kind is V.BOOLEAN:
            # a boolean function of null is false in Python (values.to_boolean): the same here
            result = sa.func.coalesce(result, sa.false())
        elif node.type.kind not in (V.ANY, V.NULL):
            result = sa.type_coerce(result, sql_type_for(node.type))
        return Sql(result, True)


_NUMBER_OPS = {
    "add": sc.NumberAdd,
    "subtract": sc.NumberSubtract,
    "multiply": sc.NumberMultiply,
    "divide": sc.NumberDivide,
}


def to_sql(root: n.Node, columns: Mapping[str, Any], variables: Mapping[str, Any] | None, now: dt.datetime | None, as_value: bool) -> Any:
    builder = SqlBuilder(columns, variables, now)
    predicate = root.type.kind is V.BOOLEAN and not as_value
    sql = builder.build(root, predicate)
    if predicate or root.type.kind in (V.ANY, V.NULL):
        return sql.expr
    return sa.type_coerce(sql.expr, sql_type_for(root.type))


def supports_sql(root: n.Node) -> bool:
    """Whether `to_sql` can translate the expression (decided without any values)."""
    return _supports(root, container=False)


def _supports(node: n.Node, container: bool) -> bool:
    if not n.reads_record(node):
        return True
    if isinstance(node, n.Rows | n.RowsColumn):
        return False
    if isinstance(node, n.Call) and node.function.sql is None:
        return False
    if isinstance(node, n.ListOf) and not container:
        return False
    if isinstance(node, n.Membership):
        if node.kind == "values" and n.reads_record(node.container) and not isinstance(node.container, n.ListOf):
            return False
        return _supports(node.item, False) and _supports(node.container, True)
    return all(_supports(child, False) for child in node.children())

