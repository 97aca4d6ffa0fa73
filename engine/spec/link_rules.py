"""Checks of a link's `filter:` and of a field's `copy_from:`, once every entity is known
(both read another entity's fields).

* `filter` is a condition on the *target's* fields (`active == true`), in the expression
  language; `record.NAME` is a value of the record being edited (for a field inside
  `lines`: of the row, and `parent.NAME` one of the record holding the row), `user.…` the user. It becomes the WHERE of the link's suggestions
  and of the records service's check on save, so it must translate to SQL (E413) and may
  not compare an encrypted column (E412). Unknown names are E502 at their character.
* `copy_from: LINK.FIELD` names a `link` of the same record (or row) and a field of its
  target whose value fits this field (E307 unknown, E414 not a link, another kind of value,
  or a field no user should read through a copy: hidden, masked or encrypted).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import did_you_mean
from ..expr import Env
from .expressions import USER_VARIABLES
from .yamlload import PosDict

# what a copied value may land in: a field holding one value the user could type
NOT_COPIED_INTO = frozenset({"computed", "autonumber", "rollup", "polymorphic_link", "lines", "links"})
# fields of a target that never hold a value worth copying
NOT_COPIED_FROM = frozenset({"lines", "links", "polymorphic_link"})


class LinkRuleChecks:
    """Run by SpecChecker after the entities (it needs their environments). `checker`
    supplies `add`, `compile`, `refuse_encrypted`, `env_for`, `envs`, `value_type`,
    `types`, `spec` and `expressions`."""

    def __init__(self, checker: Any):
        self.checker = checker

    def run(self) -> None:
        for entity_name, entity in self.checker.spec.entities.items():
            fields = entity.get("fields") if isinstance(entity, PosDict) else None
            if not isinstance(fields, PosDict):
                continue
            self.check_fields(entity_name, (), fields)
            for fname, fspec in fields.items():
                sub = fspec.get("fields") if isinstance(fspec, PosDict) and fspec.get("type") == "lines" else None
                if isinstance(sub, PosDict):
                    self.check_fields(entity_name, (fname,), sub, fields)

    def check_fields(self, entity: str, prefix: tuple, fields: PosDict, parent: PosDict | None = None) -> None:
        record_types: dict[str, Any] | None = None
        for fname, fspec in fields.items():
            if not isinstance(fspec, PosDict) or fspec.get("type") not in self.checker.types:
                continue
            if isinstance(fspec.get("filter"), str) and fspec.get("type") == "link":
                if record_types is None:
                    record_types = self.record_types(fields)
                self.check_filter(entity, (*prefix, fname), fspec, record_types,
                                  self.record_types(parent) if parent is not None else None)
            if isinstance(fspec.get("copy_from"), str):
                self.check_copy(fname, fspec, fields)

    def record_types(self, fields: PosDict) -> dict[str, str]:
        """What `record.NAME` may name: the record's (row's) fields holding one value or a
        list of them (not child rows)."""
        return {name: kind for name, kind in self.checker.env_types(fields).items() if isinstance(kind, str)}

    def check_filter(self, entity: str, path: tuple, fspec: PosDict, record_types: Mapping[str, str],
                     parent_types: Mapping[str, str] | None = None) -> None:
        checker = self.checker
        target = fspec.get("to")
        target_spec = checker.spec.entities.get(target) if isinstance(target, str) else None
        if not isinstance(target_spec, PosDict):
            return  # an unknown target: E306 already
        target_fields = target_spec.get("fields") if isinstance(target_spec.get("fields"), PosDict) else PosDict()
        variables = {"user": USER_VARIABLES, "record": dict(record_types)}
        if parent_types is not None:  # a row's link: the record holding the row too
            variables["parent"] = dict(parent_types)
        env = Env(fields=checker.env_types(target_fields), variables=variables, functions=checker.functions)
        key = (entity, *path, "filter")
        expression = checker.compile(key, fspec, "filter", env, "boolean")
        if expression is None:
            return
        where = fspec.position_of("filter")
        if not expression.sql_supported or _reads_rows(expression, target_fields):
            checker.add("E413", f"a link's filter must translate to SQL (no child rows, no computed field "
                        f"worked out when read, no Python-only functions): '{expression.source}'", where,
                        "it limits the records the link's lookup offers, in the database")
            checker.expressions.pop(key, None)
        elif checker.refuse_encrypted(expression, target_fields, where, "a link's filter runs in SQL and cannot compare",
                                      "the database holds only its ciphertext: filter on another field"):
            checker.expressions.pop(key, None)
        else:
            self.warn_unseen(target, target_fields, expression, fspec)

    def warn_unseen(self, target: str, target_fields: PosDict, expression: Any, fspec: PosDict) -> None:
        """W401: the filter reads a target field some users may not see (a role hides it, or
        it is masked). The lookup then tells them which records pass: `cost > 100` offers
        exactly the products that cost more, to a user who may not read costs."""
        for name in sorted(expression.fields & set(target_fields)):
            spec = target_fields.get(name)
            why = "masked" if isinstance(spec, PosDict) and spec.get("mask") else None
            for role_name, role in (self.checker.spec.roles or {}).items():
                if why:
                    break
                rules = role.get("entities") if isinstance(role, PosDict) else None
                rule = rules.get(target) if isinstance(rules, PosDict) else None
                fields = rule.get("fields") if isinstance(rule, PosDict) else None
                if isinstance(fields, PosDict) and fields.get(name) in ("hidden", "deny"):
                    why = f"hidden from role '{role_name}'"
            if why:
                found = re.search(rf"(?<![\w.]){re.escape(name)}\b", expression.source)  # the name's first use
                where = fspec.position_in_value("filter", found.start()) if found else fspec.position_of("filter")
                self.checker.add("W401", f"a link's filter reads {target}.{name}, which is {why}: its lookup "
                                 "tells those users which records pass", where,
                                 "filter on a field every user of the link may read (or accept what it reveals)")

    def check_copy(self, fname: str, fspec: PosDict, fields: PosDict) -> None:
        checker = self.checker
        add: Callable[..., None] = checker.add
        where = fspec.position_of("copy_from")
        kind = fspec.get("type")
        ftype = checker.types.get(kind)
        if kind in NOT_COPIED_INTO or ftype is None or ftype.storage != "column" or ftype.derived:
            add("E407", f"a {kind} field cannot copy_from another record: its value is not typed in",
                fspec.position_of("copy_from", of_key=True))
            return
        link_name, _, target_name = str(fspec["copy_from"]).partition(".")
        link = fields.get(link_name)
        if link_name == fname or not isinstance(link, PosDict):
            add("E307", f"copy_from names unknown field '{link_name}'", where,
                did_you_mean(link_name, [n for n, f in fields.items() if isinstance(f, PosDict)
                                         and f.get("type") == "link"]) or "name a link field beside this one")
            return
        if link.get("type") != "link":
            add("E414", f"copy_from: '{link_name}' is {_article(str(link.get('type')))} field, not a link", where,
                "copy_from: LINK.FIELD names a link of the same record (or row) and a field of its target")
            return
        target_spec = checker.spec.entities.get(link.get("to"))
        if not isinstance(target_spec, PosDict):
            return  # unknown target: E306 already
        target_fields = target_spec.get("fields") if isinstance(target_spec.get("fields"), PosDict) else PosDict()
        source = target_fields.get(target_name)
        if not isinstance(source, PosDict):
            add("E307", f"entity '{link.get('to')}' has no field '{target_name}'", where,
                did_you_mean(target_name, target_fields))
            return
        source_kind = source.get("type")
        if source_kind in NOT_COPIED_FROM or checker.value_type(source) is None:
            add("E414", f"copy_from: {link_name}.{target_name} is {_article(str(source_kind))} field: "
                "it holds no single value to copy", where)
            return
        secret = "hidden" if source.get("hidden") else "masked" if source.get("mask") else \
            "encrypted" if source.get("encrypted") else None
        if secret:
            add("E414", f"copy_from: {link_name}.{target_name} is {secret}: a copy would show it to "
                "users who may not read it", where, "copy a field every reader of the target may see")
            return
        mine, theirs = checker.value_type(fspec), checker.value_type(source)
        choices = ("choice", "multichoice")
        if mine != theirs or (kind in choices and source_kind != kind):
            add("E414", f"copy_from: {link_name}.{target_name} is {_article(str(source_kind))} field; "
                f"'{fname}' is {_article(str(kind))} field", where,
                "copy a field holding the same kind of value (a number into a number, a date into a date…)")


def _reads_rows(expression: Any, fields: PosDict) -> bool:
    """Whether the filter reads something that is no column of the target: child rows, or a
    computed field worked out when read."""
    return any(isinstance(fields.get(n), PosDict) and (fields[n].get("type") in ("lines", "links") or (
        fields[n].get("type") == "computed" and fields[n].get("stored") is False)) for n in expression.fields)


def _article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word
