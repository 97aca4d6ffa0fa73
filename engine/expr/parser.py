"""Turning expression text into a Python syntax tree, and tree positions back into columns.

We reuse Python's parser (`ast.parse(..., mode="eval")`), which only *parses*: nothing
is compiled or executed, and the checker then accepts only a whitelist of node types.
The text is wrapped in parentheses so an expression may span lines (YAML block
scalars); `SourceMap` converts the parser's (line, UTF-8 byte offset) positions into
0-based character offsets in the original text, which is what error columns use.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from .errors import ExpressionError

MAX_LENGTH = 10_000  # characters
MAX_DEPTH = 60  # nesting of the syntax tree; keeps every recursive walk far from Python's limit

_PREFIX = "("
_SUFFIX = "\n)"


@dataclass(frozen=True)
class SourceMap:
    source: str
    wrapped: str
    line_starts: tuple[int, ...]  # character offset of each line of `wrapped`

    @classmethod
    def of(cls, source: str) -> SourceMap:
        wrapped = _PREFIX + source + _SUFFIX
        starts = [0]
        for index, char in enumerate(wrapped):
            if char == "\n":
                starts.append(index + 1)
        return cls(source, wrapped, tuple(starts))

    def _clamp(self, offset: int) -> int:
        return max(0, min(len(self.source), offset - len(_PREFIX)))

    def char_column(self, lineno: int, byte_col: int) -> int:
        """Column in `source` of a (1-based line, UTF-8 byte offset) position of `wrapped`."""
        if lineno < 1 or lineno > len(self.line_starts):
            return len(self.source)
        start = self.line_starts[lineno - 1]
        line = self.wrapped[start:].split("\n", 1)[0]
        chars = len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))
        return self._clamp(start + chars)

    def start(self, node: ast.AST) -> int:
        return self.char_column(node.lineno, node.col_offset)  # type: ignore[attr-defined]

    def end(self, node: ast.AST) -> int:
        return self.char_column(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]

    def text(self, node: ast.AST) -> str:
        return self.source[self.start(node) : self.end(node)]

    def operator_between(self, left: ast.AST, right: ast.AST) -> int:
        """Column of the operator between two operands (first non-blank, non-bracket character)."""
        position = self.end(left)
        stop = self.start(right)
        while position < stop and (self.source[position].isspace() or self.source[position] in ")"):
            position += 1
        return position if position < stop else self.start(left)

    def syntax_column(self, error: SyntaxError) -> int:
        if not error.lineno or not error.offset:
            return len(self.source)
        start = self.line_starts[min(error.lineno, len(self.line_starts)) - 1]
        # SyntaxError.offset is 1-based and counts characters, unlike ast's byte offsets.
        return self._clamp(start + error.offset - 1)


def parse(source: str) -> tuple[ast.expr, SourceMap]:
    """Parse `source` as one expression; raise E501 for anything that is not one."""
    if not isinstance(source, str):
        raise TypeError(f"expression source must be a string, not {type(source).__name__}")
    # CR is whitespace to us; replacing it keeps character offsets and spares the tokenizer.
    text = source.replace("\r", " ")
    if not text.strip():
        raise ExpressionError("E501", "expression is empty", 0)
    if len(text) > MAX_LENGTH:
        raise ExpressionError("E501", f"expression is longer than {MAX_LENGTH} characters", MAX_LENGTH)
    if "\0" in text:
        raise ExpressionError("E501", "expression contains a NUL character", text.index("\0"))
    source_map = SourceMap.of(text)
    try:
        tree = ast.parse(source_map.wrapped, mode="eval")
    except SyntaxError as error:
        message = re.sub(r" \(detected at line \d+\)", "", error.msg or "invalid syntax")
        message = message.replace("'(' was never closed", "'(' is never closed")
        raise ExpressionError("E501", f"syntax error: {message}", source_map.syntax_column(error)) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("E501", "expression is too complex to parse", 0) from None
    body = tree.body
    _check_depth(body, source_map)
    return body, source_map


def _check_depth(root: ast.AST, source_map: SourceMap) -> None:
    stack: list[tuple[ast.AST, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            column = source_map.start(node) if hasattr(node, "lineno") else 0
            raise ExpressionError("E501", f"expression is nested more than {MAX_DEPTH} levels deep", column)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
