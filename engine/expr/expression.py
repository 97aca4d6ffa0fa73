"""`compile_expression()` and the immutable `Expression` it returns.

An expression is parsed and checked once, when the project loads; afterwards it only
evaluates (Python) or translates (SQL), so errors surface at `tailor check` time with a
column, never while serving a request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from . import nodes as n
from .checker import check
from .env import Env
from .errors import ExpressionError
from .evaluator import Evaluate, build, make_context
from .parser import parse
from .sql import supports_sql, to_sql
from .types import LIST_OF_ANY, Type, ValueType, parse_type, unify


class Expression:
    """A compiled expression. Immutable; safe to share between threads and requests."""

    __slots__ = ("source", "type", "item_type", "fields", "variables", "functions", "sql_supported", "_root", "_run")

    source: str
    type: ValueType
    item_type: ValueType | None
    fields: frozenset[str]
    variables: frozenset[str]
    functions: frozenset[str]
    sql_supported: bool

    def __init__(self, source: str, root: n.Node):
        values = {
            "source": source,
            "type": root.type.kind,
            "item_type": root.type.item.kind if root.type.item is not None else None,
            "fields": frozenset(
                node.name for node in root.walk() if isinstance(node, n.Field | n.Rows | n.RowsColumn)
            ),
            "variables": frozenset(node.name for node in root.walk() if isinstance(node, n.Variable)),
            "functions": frozenset(node.function.name for node in root.walk() if isinstance(node, n.Call)),
            "sql_supported": supports_sql(root),
            "_root": root,
            "_run": build(root),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Expression is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Expression is immutable")

    def __repr__(self) -> str:
        return f"Expression({self.source!r}, type={self.type.value})"

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        # the texts first: two expressions of different text (most) differ without a walk of their trees
        return isinstance(other, Expression) and self.source == other.source and self._root == other._root

    def __hash__(self) -> int:
        return hash((self.source, self.type))

    def attributes(self, variable: str) -> frozenset[str]:
        """The attributes of a context variable the expression reads (`record.customer`
        gives {"customer"} for "record"): what a caller must supply, and what, changing,
        changes the result."""
        return frozenset(node.attr for node in self._root.walk()
                         if isinstance(node, n.Variable) and node.name == variable)

    def evaluate(
        self,
        record: Mapping[str, Any],
        variables: Mapping[str, Any] | None = None,
        now: dt.datetime | None = None,
    ) -> Any:
        """The value for one record. `now` fixes today()/now() (default: the current time).

        Numbers come back as Decimal, datetimes aware UTC, durations as timedelta.
        Comparisons, and/or/not and boolean functions give True or False (a boolean
        function of null, e.g. `contains(name, 'x')` with no name, is False); other
        functions of null give None.
        """
        run: Evaluate = self._run
        return run(make_context(record, variables, now))

    def to_sql(
        self,
        columns: Mapping[str, Any],
        variables: Mapping[str, Any] | None = None,
        now: dt.datetime | None = None,
        *,
        as_value: bool = False,
    ) -> Any:
        """An SQLAlchemy column expression computing the same thing as `evaluate`.

        `columns` maps field names to column expressions. A boolean expression is built
        for WHERE (rows where it is TRUE are those where `evaluate` is true); pass
        `as_value=True` to select it as a value that is never NULL where Python gives
        False. Raises NotSQLExpressible for child rows and Python-only functions.
        """
        return to_sql(self._root, columns, variables, now, as_value)


def compile_expression(source: str, env: Env, expected: str | ValueType | None = None) -> Expression:
    """Parse and check `source` against `env`; raise ExpressionError listing every problem found.

    `expected` ("boolean" for a condition, a field's type for a default or computed
    field) makes a result of another type an E504 error.
    """
    tree, source_map = parse(source)
    root, errors = check(tree, env, source_map)
    if not errors:
        if root.type.kind is ValueType.ROWS:
            errors.append(ExpressionError("E504", "child rows are not a value", 0, "use count(...) or sum(...)"))
        elif expected is not None:
            wanted: Type = LIST_OF_ANY if str(expected) == ValueType.LIST.value else parse_type(expected)
            if wanted.kind is not ValueType.ANY and unify(root.type, wanted) is None:
                errors.append(ExpressionError("E504", f"expected a {wanted} result, got {_describe(root.type)}", 0))
    if errors:
        first = errors[0]
        raise ExpressionError(first.code, first.message, first.column, first.hint, errors[1:])
    return Expression(source, root)


def _describe(type_: Type) -> str:
    return "None" if type_.kind is ValueType.NULL else str(type_)
