"""Errors raised while compiling or translating an expression.

An `ExpressionError` carries a column *inside the expression text*; the project loader
knows where that text starts in the YAML file and turns it into a `Problem` with
`to_problems()`, so the user sees `deal.yaml:12:31: E504 ...` at the exact character.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.errors import CODES, Position, Problem


class ExpressionError(Exception):
    """A problem in an expression: code E501-E506, message, 0-based column, optional hint.

    Compilation collects every problem it can; the exception describes the first one and
    `errors` holds all of them: itself, then `others`.
    """

    def __init__(
        self,
        code: str,
        message: str,
        column: int,
        hint: str | None = None,
        others: Sequence[ExpressionError] = (),
    ):
        if code not in CODES or not code.startswith("E5"):
            raise ValueError(f"{code} is not an expression error code")
        self.code = code
        self.message = message
        self.column = column
        self.hint = hint
        self.errors: tuple[ExpressionError, ...] = (self, *others)
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.code} {self.message} (column {self.column})"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def __repr__(self) -> str:
        return f"ExpressionError({self.code!r}, {self.message!r}, {self.column!r}, {self.hint!r})"

    def to_problems(self, start: Position) -> list[Problem]:
        """Every collected error as a Problem, `start` being where the expression text begins."""
        return [
            Problem(e.code, e.message, Position(start.file, start.line, start.column + e.column), e.hint)
            for e in self.errors
        ]


class NotSQLExpressible(Exception):
    """Raised by `Expression.to_sql` for a part SQL cannot compute (child rows, Python-only functions).

    Callers fall back to evaluating the expression in Python, e.g. after loading the rows.
    """
