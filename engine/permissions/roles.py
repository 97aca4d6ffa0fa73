"""Roles from roles.yaml: checked against the project (positions, error codes) and compiled
into immutable rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import did_you_mean
from ..expr import Expression
from ..spec.yamlload import PosDict

ACTIONS = ("read", "create", "update", "delete", "export", "import", "reveal")
SCOPES = ("all", "department", "team", "own", "none")
FIELD_RULES = ("edit", "read", "hidden", "deny")  # most open first
ROLE_ACTIONS = ("design",)  # granted to a role as a whole (`actions:` of the role), not per entity


@dataclass(frozen=True)
class EntityRule:
    """What one role may do with one entity."""

    actions: frozenset[str]
    deny: frozenset[str] = frozenset()
    scope: str = "all"  # one of SCOPES, or "where" with `condition`
    condition: Expression | None = None
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Role:
    name: str
    label: Mapping[str, str]
    rules: Mapping[str, EntityRule]
    require_two_factor: bool = False  # its users sign in with a second factor (engine/web/two_factor.py)
    grants: frozenset[str] = frozenset()  # role-wide actions: `design` (the designer at /design)


def check_roles(checker: Any, roles: Mapping[str, PosDict], extra_actions: tuple[str, ...]) -> None:
    """Unknown entities, fields, actions and scopes, and scope conditions that do not
    compile, are reported like every other YAML problem."""
    entities = checker.spec.entities
    actions = (*ACTIONS, *extra_actions)
    for role_name, role in roles.items():
        rules = role.get("entities") if isinstance(role, PosDict) else None
        if not isinstance(rules, PosDict):
            continue
        for entity_name, rule in rules.items():
            where = rules.position_of(entity_name, of_key=True)
            if entity_name not in entities:
                checker.add("E306", f"role '{role_name}' names unknown entity '{entity_name}'", where,
                            did_you_mean(entity_name, entities))
                continue
            if not isinstance(rule, PosDict):
                continue
            for key in ("actions", "deny"):
                names = rule.get(key)
                for i, action in enumerate(names if isinstance(names, list) else ()):
                    if action not in actions:
                        checker.add("E801", f"role '{role_name}' names unknown action '{action}' for '{entity_name}'",
                                    names.position_of(i), did_you_mean(action, actions) or
                                    f"actions are {', '.join(actions)}")
            fields = entities[entity_name].get("fields")
            rule_fields = rule.get("fields")
            listing = entities[entity_name].get("list")
            sort = listing.get("sort") if isinstance(listing, PosDict) else None
            sorted_on = {str(k).lstrip("-") for k in ([sort] if isinstance(sort, str) else sort or [])}
            if isinstance(rule_fields, PosDict):
                for fname in rule_fields:
                    if not isinstance(fields, PosDict) or fname not in fields:
                        checker.add("E307", f"role '{role_name}' names unknown field '{fname}' of '{entity_name}'",
                                    rule_fields.position_of(fname, of_key=True),
                                    did_you_mean(fname, fields if isinstance(fields, PosDict) else {}))
                    elif rule_fields[fname] in ("hidden", "deny") and fname in sorted_on:
                        checker.add("E204", f"role '{role_name}' hides '{fname}', which the list of '{entity_name}' "
                                    "is sorted by", rule_fields.position_of(fname),
                                    "sort the list by a field every role may see, or make it read-only")
            scope = rule.get("scope")
            if isinstance(scope, str) and scope not in SCOPES:
                env = checker.envs.get(entity_name)
                bare = scope.strip().isidentifier()
                if bare and (env is None or scope.strip() not in env.fields):
                    checker.add("E802", f"role '{role_name}' has unknown scope '{scope}' for '{entity_name}'",
                                rule.position_of("scope"), did_you_mean(scope, SCOPES) or
                                f"a scope is {', '.join(SCOPES)}, or a condition such as 'owner == user.id'")
                elif env is not None:
                    expression = checker.compile(("role", role_name, entity_name, "scope"), rule, "scope", env,
                                                 "boolean")
                    if expression is not None:
                        _check_sql_scope(checker, role_name, entity_name, rule, expression, fields)


def _check_sql_scope(checker: Any, role: str, entity: str, rule: PosDict, expression: Any, fields: Any) -> None:
    """A scope condition filters lists in SQL: it may only read stored columns."""
    unstored = sorted(n for n in expression.fields if isinstance(fields, PosDict) and isinstance(fields.get(n), PosDict)
                      and (fields[n].get("type") in ("lines", "links")
                           or (fields[n].get("type") == "computed" and fields[n].get("stored") is False)))
    if isinstance(fields, PosDict) and checker.refuse_encrypted(
            expression, fields, rule.position_of("scope"),
            f"role '{role}' has a scope for '{entity}' that filters in SQL and cannot compare",
            "the database holds only its ciphertext: scope on another field (owner, a department, a choice)"):
        return
    if unstored or not expression.sql_supported:
        what = f"'{unstored[0]}' is not stored in the table" if unstored else "it uses a function SQL cannot run"
        checker.add("E802", f"role '{role}' has a scope for '{entity}' that cannot filter lists in SQL: {what}",
                    rule.position_of("scope"), "use stored fields (a computed field with stored: true is fine)")


def compile_roles(roles: Mapping[str, PosDict], expressions: Mapping[tuple, Any],
                  label_of: Any) -> Mapping[str, Role]:
    compiled = {}
    for role_name, role in roles.items():
        rules = {}
        for entity_name, rule in (role.get("entities") or {}).items():
            scope = rule.get("scope") or "all"
            condition = None
            if scope not in SCOPES:
                condition = expressions.get(("role", role_name, entity_name, "scope"))
                scope = "where"
            rules[entity_name] = EntityRule(
                actions=frozenset(rule.get("actions") or ()),
                deny=frozenset(rule.get("deny") or ()),
                scope=scope,
                condition=condition,
                fields=MappingProxyType(dict(rule.get("fields") or {})),
            )
        compiled[role_name] = Role(role_name, label_of(role.get("label") or role_name), MappingProxyType(rules),
                                   require_two_factor=role.get("require_two_factor") is True,
                                   grants=frozenset(role.get("actions") or ()))
    return MappingProxyType(compiled)
