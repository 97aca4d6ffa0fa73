"""Expressions in documents, compiled with their errors at their characters: shared by the
project checker (engine/spec/checks.py) and checks run against a compiled model (reports
built on a page, engine/reports/built.py). A module of its own so that neither imports the
other's dependencies."""

from __future__ import annotations

from typing import Any

from ..errors import Position
from ..expr import Env, ExpressionError, compile_expression
from .yamlload import PosDict

# what `user.…` names in expressions (Context.variables supplies the values)
USER_VARIABLES = {"id": "number", "username": "string", "roles": "list", "department": "number",
                  "departments": "list", "teams": "list", "team_members": "list", "language": "string",
                  "is_admin": "boolean"}


class ExpressionChecks:
    """Compiling a document's expressions with their errors at their characters, for the
    project checker and for checks run against a compiled model (reports built on a page).
    Needs `add(code, message, where, hint)` and an `expressions` dict."""

    expressions: dict[tuple, Any]

    def add(self, code: str, message: str, where: Position, hint: str | None = None) -> None:
        raise NotImplementedError

    def compile(self, key: tuple, holder: PosDict, item: str, env: Env | None, expected: str | None) -> Any:
        source = holder.get(item)
        if not isinstance(source, str) or env is None:
            return None
        if expected == "any":
            expected = None
        try:
            expression = compile_expression(source, env, expected=expected)
        except ExpressionError as exc:
            for error in exc.errors:
                self.add(error.code, f"in expression {source!r}: {error.message}",
                         holder.position_in_value(item, error.column), error.hint)
            return None
        self.expressions[key] = expression
        return expression

    def refuse_encrypted(self, expression: Any, fields: PosDict, where: Position, what: str, hint: str) -> bool:
        """E412 when `expression` reads an encrypted field where its clear text would end up
        stored or compared in the database (whose column holds only ciphertext)."""
        sealed = sorted(n for n in expression.fields if isinstance(fields.get(n), PosDict)
                        and fields[n].get("encrypted") is True)
        if sealed:
            self.add("E412", f"{what} encrypted field '{sealed[0]}'", where, hint)
        return bool(sealed)
