"""What one user may do with one entity, combined across the user's roles.

The records service asks `Policy.access(actor, entity)` on every call and enforces the
answer: the actions allowed, which rows (as SQL for lists and counts, in Python for one
record), and which fields are visible and editable. The precedence is documented in
`engine/permissions/__init__.py` and docs/permissions.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..model.model import Entity
from ..storage import users
from .roles import EntityRule, Role

if TYPE_CHECKING:  # the records service imports this module: no import back at run time
    from ..records.context import Actor


@dataclass(frozen=True)
class Access:
    """One actor's rights on one entity."""

    entity: Entity
    actor: Actor
    bypass: bool  # admin, the engine itself, or a project without roles
    rules: tuple[EntityRule, ...] = ()
    denied_fields: frozenset[str] = frozenset()
    _actions: frozenset[str] = field(default=frozenset())
    _hidden: frozenset[str] = field(default=frozenset())  # worked out by Policy.access
    # rollups this user sees over only the related records they may read: worked out for
    # them when read (never sorted or filtered on), the stored total would tell more
    _scoped: frozenset[str] = field(default=frozenset())

    # -- actions ------------------------------------------------------------------------
    def can(self, action: str) -> bool:
        return self.bypass or action in self._actions

    def denies(self, action: str) -> bool:
        """Whether one of the user's roles denies the action outright (a deny wins)."""
        return not self.bypass and any(action in r.deny for r in self.rules)

    def granting(self, action: str) -> list[EntityRule]:
        return [r for r in self.rules if action in r.actions]

    # -- fields -------------------------------------------------------------------------
    def visible(self, name: str) -> bool:
        """A field the user may see (standard columns are always visible)."""
        return self.bypass or name not in self._hidden

    def editable(self, name: str, action: str = "update") -> bool:
        """A field the user may set when creating or updating (remembered per field and
        action: an import asks for every value of every row, and the answer never changes)."""
        if self.bypass:
            return True
        known = self.__dict__.get("_editable")
        if known is None:
            known = self.__dict__["_editable"] = {}
        found = known.get((name, action))
        if found is None:
            found = known[(name, action)] = self.visible(name) and any(
                r.fields.get(name, "edit") == "edit" for r in self.granting(action))
        return found

    def may_assign(self, owner: Any, current: Any) -> bool:
        """Whether the user may make `owner` the owner of a record (keeping the current
        owner is always fine): within the scope of a role that lets them create or update,
        so that nobody hands a record to someone outside their reach."""
        if self.bypass:
            return True
        try:
            owner = int(owner) if owner not in (None, "") else None
        except (TypeError, ValueError):
            return False
        if owner == current:
            return True
        actor = self.actor
        for rule in self.rules:
            if not {"create", "update"} & rule.actions:
                continue
            if rule.scope in ("all", "where"):
                return True
            if owner is None:
                continue
            if owner == actor.id and rule.scope in ("own", "team", "department"):
                return True
            if (rule.scope == "team" and owner in actor.team_members) or \
                    (rule.scope == "department" and owner in actor.department_members):
                return True
        return False

    def hidden_fields(self) -> frozenset[str]:
        return frozenset() if self.bypass else self._hidden

    def scoped_fields(self) -> frozenset[str]:
        """Rollups worked out for this user over the related records they may read."""
        return frozenset() if self.bypass else self._scoped

    # -- rows ---------------------------------------------------------------------------
    def row_condition(self, action: str, now: datetime | None = None, shared: Iterable[int] = ()) -> Any:
        """SQL for the rows this action reaches; None for every row. `shared`: ids of the
        records shared with the user for this action (`org.shared_ids`): given as a list,
        so that a user without shares gets a plain condition the index in list order serves."""
        if self.bypass:
            return None
        table = self.entity.table
        conditions = []
        for rule in self.granting(action):
            condition = self._scope_sql(rule, table, now)
            if condition is None:
                return None  # a role sees every row
            conditions.append(condition)
        if isinstance(shared, sa.Select):  # very many shares: by subquery
            conditions.append(table.c.id.in_(shared))
        elif ids := sorted(set(shared)):
            conditions.append(table.c.id.in_(ids))
        return sa.or_(*conditions) if conditions else sa.false()

    def _scope_sql(self, rule: EntityRule, table: sa.Table, now: datetime | None) -> Any:
        actor = self.actor
        if rule.scope == "all":
            return None
        if rule.scope == "none" or actor.id is None:
            return sa.false()
        if rule.scope == "own":
            return table.c.owner == actor.id
        if rule.scope == "team":
            return table.c.owner.in_(sorted({actor.id, *actor.team_members}))
        if rule.scope == "department":
            if not actor.departments:
                return table.c.owner == actor.id
            return table.c.owner.in_(sa.select(users.c.id).where(users.c.department_id.in_(actor.departments)))
        columns = {c.name: c for c in table.c}
        return rule.condition.to_sql(columns, {"user": actor.variables()}, now=now)

    def row_allows(self, record: Mapping[str, Any], action: str, shared: str | None = None,
                   now: datetime | None = None) -> bool:
        """The same decision for one record, in Python. `shared`: the user's share of it
        ("read", "write" or None)."""
        if self.bypass:
            return True
        if (shared == "write" and action in ("read", "update")) or (shared == "read" and action == "read"):
            return True  # a share lets read or edit, never delete or anything else
        return any(self._scope_allows(rule, record, now) for rule in self.granting(action))

    def _scope_allows(self, rule: EntityRule, record: Mapping[str, Any], now: datetime | None) -> bool:
        actor = self.actor
        owner = record.get("owner")
        if rule.scope == "all":
            return True
        if rule.scope == "none" or actor.id is None:
            return False
        if rule.scope == "own":
            return owner == actor.id
        if rule.scope == "team":
            return owner == actor.id or owner in actor.team_members
        if rule.scope == "department":
            return owner == actor.id or owner in actor.department_members
        return rule.condition.evaluate(record, {"user": actor.variables()}, now) is True


class Policy:
    """The compiled roles of a project, asked once per call by the records service."""

    def __init__(self, roles: Mapping[str, Role], entities: Mapping[str, Entity] | None = None):
        self.roles = roles
        self.entities = entities or {}  # to judge rollups by the user's access to what they count
        self.enabled = bool(roles)
        # the model is immutable, so the answer for an actor (roles, org, as read per
        # request) and an entity can be kept; bounded, as actors come and go
        self._cache: dict[tuple[Actor, str, bool], Access] = {}

    def access(self, actor: Actor, entity: Entity, *, as_admin: bool = True) -> Access:
        """`as_admin=False`: what the actor's roles alone allow (to tell an admin's bypass)."""
        if actor.system or not self.enabled or (actor.is_admin and as_admin):
            return Access(entity, actor, bypass=True)
        key = (actor, entity.name, as_admin)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) > 10_000:
                self._cache.clear()
            found = self._cache[key] = self._access(actor, entity)
        return found

    def _access(self, actor: Actor, entity: Entity, judging: frozenset[str] = frozenset()) -> Access:
        base, hidden = self._base(actor, entity)
        scoped = self._rollups(actor, entity, hidden, base, judging | {entity.name})
        hidden = with_derived(entity, hidden | scoped) - scoped  # what is computed from them is hidden
        return replace(base, _hidden=frozenset(hidden), _scoped=frozenset(scoped))

    def _base(self, actor: Actor, entity: Entity) -> tuple[Access, set[str]]:
        """The rights the roles give on an entity, rollups not judged yet; with the fields
        the roles hide (before what is computed from them)."""
        rules = tuple(self.roles[r].rules[entity.name] for r in actor.roles
                      if r in self.roles and entity.name in self.roles[r].rules)
        granted = frozenset(a for r in rules for a in r.actions)
        denied = frozenset(a for r in rules for a in r.deny)
        denied_fields = frozenset(f for r in rules for f, rule in r.fields.items() if rule == "deny")
        readers = [r for r in rules if "read" in r.actions]
        hidden = {n for n in entity.fields if n in denied_fields
                  or not any(r.fields.get(n, "edit") in ("edit", "read") for r in readers)}
        access = Access(entity, actor, bypass=False, rules=rules, denied_fields=denied_fields,
                        _actions=granted - denied, _hidden=frozenset(with_derived(entity, hidden)))
        return access, hidden

    def _rollups(self, actor: Actor, entity: Entity, hidden: set[str], base: Access,
                 judging: frozenset[str]) -> set[str]:
        """Rollups by what the user may read of the records they aggregate: hidden (added
        to `hidden`) when the user may not read those records or a field the value depends
        on (hidden from them, or a rollup they see only a share of: its stored total would
        decide); scoped (returned) when they may read only some of them.

        `judging`: the entities whose rights are being worked out (rollups over each other,
        or over their own entity). For those the rights without their rollups are used, and
        every rollup of theirs counts as unseen: nothing is decided on a total unjudged."""
        scoped: set[str] = set()
        for name, field_ in entity.fields.items():
            rollup = field_.rollup
            if rollup is None or name in hidden:
                continue
            child = self.entities.get(rollup.child)
            if child is None:
                hidden.add(name)
                continue
            if child.name in judging:
                reach = base if child.name == entity.name else self._base(actor, child)[0]
                unseen = reach.hidden_fields() | {n for n, f in child.fields.items() if f.rollup is not None}
            else:
                reach = self._cached(actor, child, judging)
                unseen = reach.hidden_fields() | reach.scoped_fields()
            if not reach.can("read") or rollup.reads & unseen:
                hidden.add(name)
            elif reach.row_condition("read") is not None:
                scoped.add(name)
        return scoped

    def _cached(self, actor: Actor, entity: Entity, judging: frozenset[str]) -> Access:
        key = (actor, entity.name, True)
        found = self._cache.get(key)
        if found is None:
            found = self._access(actor, entity, judging)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = found
        return found


def with_derived(entity: Entity, hidden: set[str]) -> set[str]:
    """Hidden fields with their parts, and the computed fields worked out from them (directly or through
    other computed fields): `margin = list_price - cost_price` would give the cost away."""
    found = set(hidden)
    for name in hidden:  # the parts a field stores beside itself (a money field's currency)
        if name in entity.fields:
            found.update(entity.fields[name].type.input_keys(entity.fields[name]))
    changed = True
    while changed:
        changed = False
        for name, field_ in entity.fields.items():
            if name not in found and field_.expression is not None and field_.expression.fields & found:
                found.add(name)
                changed = True
    return found
