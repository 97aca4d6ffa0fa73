"""Built-in behaviour, registered as a plugin through the same hooks third parties use."""

from __future__ import annotations

from .hookspecs import hookimpl


@hookimpl
def tailor_field_types():
    from .fields import BUILTIN_FIELD_TYPES

    return BUILTIN_FIELD_TYPES


@hookimpl
def tailor_expression_functions():
    from .expr.builtins import BUILTIN_FUNCTIONS

    return BUILTIN_FUNCTIONS
