"""Functions callable from expressions, and the registry plugins add theirs to.

A `Function` is plain data: its signature (type patterns, see `types.py`), a Python
implementation and, optionally, an SQL one. Built-ins are declared exactly like plugin
functions (`builtins.BUILTIN_FUNCTIONS`), so the plugin hook has no special path and the
reference table in docs/expressions.md is generated from the same objects.

Contract for implementations:
* `python(*args)` gets normalized values (numbers as Decimal, datetimes aware UTC,
  durations as timedelta). Unless `null_safe=True`, the function is not called when an
  argument is None and the result is None, as SQL functions do with NULL.
* `sql(*args)` gets SQLAlchemy column expressions and returns one that must give the
  same result; it may return dialect-specific constructs (see `sqlconstructs.py`).
  Durations reach it as microsecond counts. Without `sql`, an expression using the
  function on record data raises NotSQLExpressible in `to_sql` (on constants it is
  still computed in Python and bound).
* `pass_context=True` passes a `CallContext` (the evaluation instant) as first argument
  to both implementations, e.g. for today().
* `check(args)` may reject arguments at compile time (e.g. round's places must be a
  literal); it gets one `ArgInfo` per argument and returns an error message or None.
* Functions must be pure: the same arguments give the same result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .types import Type, TypePattern, parse_pattern

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class CallContext:
    """What a `pass_context` function may know besides its arguments."""

    now: dt.datetime  # aware, UTC

    @property
    def today(self) -> dt.date:
        return self.now.date()


@dataclass(frozen=True)
class ArgInfo:
    """An argument as `Function.check` sees it at compile time."""

    type: Type
    is_literal: bool
    value: Any  # the literal's value, None when not a literal
    column: int


@dataclass(frozen=True)
class Function:
    name: str
    params: Sequence[str | TypePattern]
    returns: str | TypePattern
    python: Callable[..., Any]
    sql: Callable[..., Any] | None = None
    min_args: int | None = None
    max_args: int | None = None
    description: str = ""
    null_safe: bool = False
    pass_context: bool = False
    check: Callable[[Sequence[ArgInfo]], str | None] | None = None
    patterns: tuple[TypePattern, ...] = field(init=False, repr=False, compare=False)
    result_pattern: TypePattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or not set(self.name) <= _NAME_CHARS or self.name[0].isdigit():
            raise ValueError(f"function name {self.name!r} must be lower_snake_case")
        if self.name.startswith("_"):
            raise ValueError(f"function name {self.name!r} must not start with '_'")
        object.__setattr__(self, "params", tuple(self.params))
        object.__setattr__(self, "patterns", tuple(parse_pattern(p) for p in self.params))
        object.__setattr__(self, "result_pattern", parse_pattern(self.returns))
        if self.min_args is None:
            object.__setattr__(self, "min_args", len(self.params))
        if self.max_args is None:
            object.__setattr__(self, "max_args", len(self.params))
        if not 0 <= self.min_args <= self.max_args <= len(self.params):  # type: ignore[operator]
            raise ValueError(f"function {self.name}: need 0 <= min_args <= max_args <= len(params)")
        if not callable(self.python) or (self.sql is not None and not callable(self.sql)):
            raise ValueError(f"function {self.name}: implementations must be callable")

    @property
    def signature(self) -> str:
        """`round(number[, number]) -> number`, for error hints and the reference."""
        required = ", ".join(str(p) for p in self.patterns[: self.min_args])
        optional = "".join(f"[, {p}]" for p in self.patterns[self.min_args : self.max_args])
        if not required and optional:
            optional = optional.replace("[, ", "[", 1)
        return f"{self.name}({required}{optional}) -> {self.result_pattern}"


class FunctionRegistry:
    """Name -> Function. Registering a name twice is an error, never a silent override."""

    def __init__(self, functions: Sequence[Function] = ()):
        self._functions: dict[str, Function] = {}
        for function in functions:
            self.register(function)

    def register(self, function: Function) -> Function:
        if not isinstance(function, Function):
            raise TypeError(f"expected a Function, got {type(function).__name__}")
        if function.name in self._functions:
            raise ValueError(f"function {function.name!r} is already registered")
        self._functions[function.name] = function
        return function

    def get(self, name: str) -> Function | None:
        return self._functions.get(name)

    def names(self) -> list[str]:
        return sorted(self._functions)

    def copy(self) -> FunctionRegistry:
        return FunctionRegistry(list(self._functions.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._functions

    def __iter__(self) -> Iterator[Function]:
        return iter(self._functions[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._functions)


def default_registry() -> FunctionRegistry:
    """A fresh registry holding the built-ins (each call returns a new, independent one)."""
    from .builtins import BUILTIN_FUNCTIONS

    return FunctionRegistry(BUILTIN_FUNCTIONS)


def reference_table(registry: FunctionRegistry) -> str:
    """The Markdown table of functions that docs/expressions.md embeds (a test keeps them equal)."""
    lines = ["| function | SQL | description |", "| --- | --- | --- |"]
    for function in registry:
        sql = "yes" if function.sql is not None else "no"
        signature = function.signature.replace("|", "\\|")  # a bare | would split the table cell
        lines.append(f"| `{signature}` | {sql} | {function.description} |")
    return "\n".join(lines)
