"""The checked, immutable syntax tree that evaluation and SQL translation walk.

The checker builds these from Python's `ast` after whitelisting it, so every node here
is something the language allows, already typed, with the 0-based column of the text
it came from. Operators are resolved to a precise `kind` at check time
(`"date_diff"`, `"concat"`...), so neither back end has to guess from runtime values.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .functions import Function
from .types import Type


@dataclass(frozen=True)
class Node:
    type: Type
    column: int

    def children(self) -> tuple[Node, ...]:
        return ()

    def walk(self) -> Iterator[Node]:
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children()))


@dataclass(frozen=True)
class Literal(Node):
    value: Any


@dataclass(frozen=True)
class Field(Node):
    """A top-level field of the record (not a child-rows field)."""

    name: str


@dataclass(frozen=True)
class Rows(Node):
    """A child-rows ("lines") field as a whole: only `count(lines)` / `len(lines)` use it."""

    name: str


@dataclass(frozen=True)
class RowsColumn(Node):
    """`lines.amount`: the list of one column over the child rows."""

    name: str
    attr: str


@dataclass(frozen=True)
class Variable(Node):
    """`user.id`: an attribute of a context object given at evaluation time."""

    name: str
    attr: str


@dataclass(frozen=True)
class ListOf(Node):
    items: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.items


@dataclass(frozen=True)
class Negate(Node):
    """Unary minus of a number or a duration."""

    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Not(Node):
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


ARITHMETIC_KINDS = frozenset(
    {
        "add", "subtract", "multiply", "divide",  # number op number
        "concat",  # string + string
        "date_diff", "datetime_diff",  # -> duration
        "date_add", "date_subtract",  # date ± duration -> date
        "datetime_add", "datetime_subtract",  # datetime ± duration -> datetime
        "duration_add", "duration_subtract",
        "duration_multiply",  # duration * number (left is always the duration)
    }
)  # fmt: skip


@dataclass(frozen=True)
class Arithmetic(Node):
    kind: str
    left: Node
    right: Node

    def __post_init__(self) -> None:
        if self.kind not in ARITHMETIC_KINDS:
            raise ValueError(f"unknown arithmetic kind {self.kind!r}")

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Compare(Node):
    """One comparison; `a < b < c` becomes `a < b and b < c`. `operand_type` is the unified type."""

    op: str  # == != < <= > >=
    left: Node
    right: Node
    operand_type: Type

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Membership(Node):
    """`item in container`; kind is "values" (a list), "json" (a list field), "substring"."""

    kind: str
    item: Node
    container: Node
    negated: bool

    def children(self) -> tuple[Node, ...]:
        return (self.item, self.container)


@dataclass(frozen=True)
class Logical(Node):
    op: str  # and / or
    operands: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.operands


@dataclass(frozen=True)
class Conditional(Node):
    """`then if test else otherwise`."""

    test: Node
    then: Node
    otherwise: Node

    def children(self) -> tuple[Node, ...]:
        return (self.test, self.then, self.otherwise)


@dataclass(frozen=True)
class Call(Node):
    function: Function
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


def reads_record(node: Node) -> bool:
    """Whether the value depends on the record; if not, SQL binds it as a computed constant."""
    return any(isinstance(n, Field | Rows | RowsColumn) for n in node.walk())
