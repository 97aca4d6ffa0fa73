"""What an expression may name: the entity's fields, context variables and functions."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .functions import FunctionRegistry, default_registry
from .types import LIST_OF_STRING, Type, ValueType, parse_type, rows_of

LITERAL_NAMES = {"true": True, "false": False, "null": None}


class Env:
    """The names an expression is checked against.

    `fields`: field name -> type string, or for a child-rows ("lines") field a mapping of
    its columns' types. A bare `"list"` field is a list of strings (tags, multichoice).
    `variables`: context objects such as `user`, each a mapping attribute -> type; a bare
    `"list"` attribute holds any scalars (user ids, role names).
    """

    def __init__(
        self,
        fields: Mapping[str, str | Mapping[str, str]],
        variables: Mapping[str, Mapping[str, str]] | None = None,
        functions: FunctionRegistry | None = None,
    ):
        parsed_fields: dict[str, Type] = {}
        for name, spec in fields.items():
            if isinstance(spec, Mapping):
                columns = {col: parse_type(t, bare_list_item=LIST_OF_STRING.item) for col, t in spec.items()}
                for col, col_type in columns.items():
                    if not col_type.is_scalar:
                        raise ValueError(f"column {name}.{col} must have a scalar type, not {col_type}")
                parsed_fields[name] = rows_of(columns)
            else:
                parsed_fields[name] = parse_type(spec, bare_list_item=LIST_OF_STRING.item)  # type: ignore[arg-type]
        parsed_variables: dict[str, dict[str, Type]] = {}
        for name, attrs in (variables or {}).items():
            if name in parsed_fields:
                raise ValueError(f"field {name!r} would hide the context variable of the same name")
            parsed_variables[name] = {attr: parse_type(t) for attr, t in attrs.items()}
        for name in (*parsed_fields, *parsed_variables):
            if name in LITERAL_NAMES or name.startswith("__"):
                raise ValueError(f"{name!r} cannot be used as a field or variable name in expressions")
        self.fields: Mapping[str, Type] = MappingProxyType(parsed_fields)
        self.variables: Mapping[str, Mapping[str, Type]] = MappingProxyType(
            {k: MappingProxyType(v) for k, v in parsed_variables.items()}
        )
        self.functions = functions if functions is not None else default_registry()

    def field_type(self, name: str) -> Type | None:
        return self.fields.get(name)

    def is_rows(self, name: str) -> bool:
        field = self.fields.get(name)
        return field is not None and field.kind is ValueType.ROWS
