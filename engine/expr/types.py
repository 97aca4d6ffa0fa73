"""Value types of the expression language and the small type algebra the checker needs.

`ValueType` is the public vocabulary (plain strings, so YAML and plugins can write
`"number"`). Internally a `Type` adds what a bare kind cannot say: the item type of a
list (`tags` is `list[string]`, `lines.amount` is `list[number]`) and the columns of a
child-rows field. Function signatures use *patterns* (`"string|list"`, `"list[T]"`,
`"T"`) so built-ins and plugins can be declared as plain data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class ValueType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    DURATION = "duration"
    LIST = "list"  # a list of scalars; a tags/multichoice field is list[string]
    ROWS = "rows"  # child rows of a "lines" field; only usable as `lines.column` or count(lines)
    ANY = "any"  # unchecked (plugin functions); matches every type
    NULL = "null"  # the type of the literal None


SCALAR_KINDS = frozenset(
    {ValueType.STRING, ValueType.NUMBER, ValueType.BOOLEAN, ValueType.DATE, ValueType.DATETIME, ValueType.DURATION}
)
ORDERED_KINDS = frozenset(
    {ValueType.STRING, ValueType.NUMBER, ValueType.DATE, ValueType.DATETIME, ValueType.DURATION}
)


@dataclass(frozen=True)
class Type:
    """A checked type: a kind plus, for lists, the item type and, for rows, the columns."""

    kind: ValueType
    item: Type | None = None
    columns: tuple[tuple[str, Type], ...] = ()

    def __str__(self) -> str:
        if self.kind is ValueType.LIST and self.item is not None and self.item.kind is not ValueType.ANY:
            return f"list[{self.item}]"
        return self.kind.value

    @property
    def is_scalar(self) -> bool:
        return self.kind in SCALAR_KINDS

    def column(self, name: str) -> Type | None:
        return dict(self.columns).get(name)


STRING = Type(ValueType.STRING)
NUMBER = Type(ValueType.NUMBER)
BOOLEAN = Type(ValueType.BOOLEAN)
DATE = Type(ValueType.DATE)
DATETIME = Type(ValueType.DATETIME)
DURATION = Type(ValueType.DURATION)
ANY = Type(ValueType.ANY)
NULL = Type(ValueType.NULL)
LIST_OF_ANY = Type(ValueType.LIST, ANY)
LIST_OF_STRING = Type(ValueType.LIST, STRING)


def list_of(item: Type) -> Type:
    return Type(ValueType.LIST, item)


def rows_of(columns: Mapping[str, Type]) -> Type:
    return Type(ValueType.ROWS, columns=tuple(sorted(columns.items())))


_SPEC = re.compile(r"^\s*(?P<kind>[A-Za-z]+)\s*(?:\[\s*(?P<item>[A-Za-z]+)\s*\])?\s*$")


def parse_type(spec: str | ValueType, *, bare_list_item: Type = ANY) -> Type:
    """`"number"` -> NUMBER, `"list[number]"` -> list_of(NUMBER).

    A bare `"list"` gets `bare_list_item`: fields use it for tags (list of strings),
    variables and function parameters for "any list".
    """
    match = _SPEC.match(str(spec))
    if not match:
        raise ValueError(f"invalid type {spec!r}")
    kind = _kind(match["kind"], spec)
    if match["item"] is not None:
        if kind is not ValueType.LIST:
            raise ValueError(f"only list takes an item type, in {spec!r}")
        item = Type(_kind(match["item"], spec))
        if not (item.is_scalar or item.kind is ValueType.ANY):
            raise ValueError(f"list items must be scalar, in {spec!r}")
        return list_of(item)
    if kind is ValueType.LIST:
        return list_of(bare_list_item)
    if kind is ValueType.ROWS:
        raise ValueError("rows are declared as a mapping of column types, not as a string")
    return Type(kind)


def _kind(word: str, spec: object) -> ValueType:
    try:
        return ValueType(word.lower())
    except ValueError:
        known = ", ".join(v.value for v in ValueType)
        raise ValueError(f"unknown type {word!r} in {spec!r} (known: {known})") from None


def unify(a: Type, b: Type) -> Type | None:
    """The common type of two values (for ==, `in`, branches of `if`), or None if none."""
    if a == b:
        return a
    if a.kind is ValueType.NULL:
        return b
    if b.kind is ValueType.NULL:
        return a
    if a.kind is ValueType.ANY:
        return b
    if b.kind is ValueType.ANY:
        return a
    if a.kind is ValueType.LIST and b.kind is ValueType.LIST:
        item = unify(a.item or ANY, b.item or ANY)
        return list_of(item) if item is not None else None
    return None


# ---------------------------------------------------------------- function signatures

TYPE_VARIABLE = "T"


@dataclass(frozen=True)
class TypePattern:
    """What a function parameter accepts: alternatives such as `string|list[T]`.

    Each alternative is `(kind, item)` where kind is a ValueType or the type variable "T"
    and item (for lists) likewise; `T` binds to the first argument type that meets it.
    """

    alternatives: tuple[tuple[ValueType | str, ValueType | str | None], ...]

    def __str__(self) -> str:
        parts = []
        for kind, item in self.alternatives:
            parts.append(f"{kind}[{item}]" if item is not None else str(kind))
        return "|".join(parts)


def parse_pattern(spec: str | ValueType | TypePattern) -> TypePattern:
    if isinstance(spec, TypePattern):
        return spec
    alternatives = []
    for part in str(spec).split("|"):
        match = _SPEC.match(part)
        if not match:
            raise ValueError(f"invalid type pattern {spec!r}")
        kind: ValueType | str = (
            TYPE_VARIABLE if match["kind"] == TYPE_VARIABLE else _kind(match["kind"], spec)
        )
        item: ValueType | str | None = None
        if match["item"] is not None:
            if kind is not ValueType.LIST:
                raise ValueError(f"only list takes an item type, in {spec!r}")
            item = TYPE_VARIABLE if match["item"] == TYPE_VARIABLE else _kind(match["item"], spec)
            if item != TYPE_VARIABLE and item not in SCALAR_KINDS and item is not ValueType.ANY:
                raise ValueError(f"list items must be scalar, in {spec!r}")
        alternatives.append((kind, item))
    return TypePattern(tuple(alternatives))


def match_pattern(pattern: TypePattern, actual: Type, bindings: dict[str, Type]) -> bool:
    """Whether `actual` fits `pattern`; binds the type variable in `bindings` on success."""
    if actual.kind is ValueType.ANY:
        return True
    for kind, item in pattern.alternatives:
        trial = dict(bindings)
        if _match_one(kind, item, actual, trial):
            bindings.update(trial)
            return True
    return False


def _match_one(kind: ValueType | str, item: ValueType | str | None, actual: Type, bindings: dict[str, Type]) -> bool:
    if kind == TYPE_VARIABLE:
        return _bind(actual, bindings)
    if kind is ValueType.ANY:
        return True
    if actual.kind is ValueType.NULL:
        return kind is not ValueType.ROWS
    if kind is not actual.kind:
        return False
    if kind is ValueType.LIST and item is not None:
        actual_item = actual.item or ANY
        if item == TYPE_VARIABLE:
            return _bind(actual_item, bindings)
        return item is ValueType.ANY or actual_item.kind in (item, ValueType.ANY, ValueType.NULL)
    return True


def _bind(actual: Type, bindings: dict[str, Type]) -> bool:
    bound = bindings.get(TYPE_VARIABLE)
    if bound is None:
        bindings[TYPE_VARIABLE] = actual
        return True
    joined = unify(bound, actual)
    if joined is None:
        return False
    bindings[TYPE_VARIABLE] = joined
    return True


def resolve_pattern(pattern: TypePattern, bindings: Mapping[str, Type]) -> Type:
    """The result type a function declares, with `T` replaced by what the arguments bound."""
    if len(pattern.alternatives) != 1:
        return ANY
    kind, item = pattern.alternatives[0]
    if kind == TYPE_VARIABLE:
        return bindings.get(TYPE_VARIABLE, ANY)
    if kind is ValueType.LIST:
        if item == TYPE_VARIABLE:
            return list_of(bindings.get(TYPE_VARIABLE, ANY))
        return list_of(Type(item) if isinstance(item, ValueType) else ANY)
    assert isinstance(kind, ValueType)
    return Type(kind)
