"""Tailor's expression language: one safe, typed language for conditions, computed
fields, defaults, validation rules, permission scopes and approval conditions.

    env = Env({"amount": "number", "stage": "string"}, {"user": {"id": "number"}})
    expr = compile_expression("amount > 100000 and stage == 'won'", env, expected="boolean")
    expr.evaluate({"amount": 120000, "stage": "won"})          # True
    select(deal.c.id).where(expr.to_sql({"amount": deal.c.amount, "stage": deal.c.stage}))

Text is parsed once (Python's parser, then a strict whitelist; nothing is ever
eval'd), checked against the fields, variables and functions of an `Env`, and can then
be evaluated in Python or translated to SQL with the same results. See
docs/expressions.md.
"""

from .builtins import BUILTIN_FUNCTIONS
from .env import Env
from .errors import ExpressionError, NotSQLExpressible
from .expression import Expression, compile_expression
from .functions import ArgInfo, CallContext, Function, FunctionRegistry, default_registry, reference_table
from .types import ValueType

__all__ = [
    "BUILTIN_FUNCTIONS",
    "ArgInfo",
    "CallContext",
    "Env",
    "Expression",
    "ExpressionError",
    "Function",
    "FunctionRegistry",
    "NotSQLExpressible",
    "ValueType",
    "compile_expression",
    "default_registry",
    "reference_table",
]
