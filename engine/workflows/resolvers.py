"""Approver resolvers: who decides an approval node (or is copied by a cc node).

In YAML an approver is a one-resolver mapping, its name as the key holding the main
argument, and its other arguments beside it:

    approvers:
      - {manager: owner, level: 2}          # the owner's manager's manager
      - {role: finance}                      # everyone holding the role
      - {manager_chain: submitter, until_role: director}

The built-in resolvers register through the `tailor_approver_resolvers` hook like a
plugin's (engine/defaults.py). A resolver returns user ids, nearest first; inactive users
are dropped by the flow engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..storage import user_roles, users


def _org() -> Any:
    """engine.permissions.org (imported when used: start-up checks import this module
    before the records package exists)."""
    from ..permissions import org

    return org

PEOPLE = ("submitter", "owner")  # besides a user field of the record


@dataclass(frozen=True)
class Argument:
    """One argument of a resolver. `kind` tells the checks what to verify: person
    (submitter, owner or a user field), role, user_field, username(s), number."""

    kind: str
    required: bool = False
    help: str = ""


@dataclass
class Resolution:
    """What a resolver may look at: the record, the people of the flow, the database."""

    conn: Connection
    record: Mapping[str, Any]
    submitter: int | None
    picked: Sequence[int] = ()  # approvers the submitter picked for this node

    def person(self, who: str) -> int | None:
        """submitter, owner, or the user in a user field of the record."""
        if who == "submitter":
            return self.submitter
        value = self.record.get("owner" if who == "owner" else who)
        return int(value) if isinstance(value, int) or (isinstance(value, str) and value.isascii() and value.isdigit()) else None


@dataclass(frozen=True)
class Resolver:
    name: str
    main: Argument  # the value under the resolver's own key
    resolve: Callable[[Resolution, Mapping[str, Any]], list[int]]
    arguments: Mapping[str, Argument] = field(default_factory=dict)
    description: str = ""
    # further checks of the arguments, at start-up: return messages of what is wrong
    check: Callable[[Mapping[str, Any]], list[str]] | None = None


def _user(resolution: Resolution, args: Mapping[str, Any]) -> list[int]:
    names = args["user"] if isinstance(args["user"], list) else [args["user"]]
    rows = resolution.conn.execute(sa.select(users.c.id, users.c.username).where(users.c.username.in_(names)))
    found = {r.username: r.id for r in rows}
    return [found[n] for n in names if n in found]


def _role(resolution: Resolution, args: Mapping[str, Any]) -> list[int]:
    statement = (sa.select(users.c.id).join(user_roles, user_roles.c.user_id == users.c.id)
                 .where(user_roles.c.role == args["role"]).order_by(users.c.id))
    within = args.get("department_of")
    if within:
        person = resolution.person(within)
        department = resolution.conn.execute(sa.select(users.c.department_id).where(users.c.id == person)).scalar() \
            if person is not None else None
        if department is None:
            return []
        below = _org().descendants(_org().department_tree(resolution.conn), department)
        statement = statement.where(users.c.department_id.in_(below))
    return list(resolution.conn.execute(statement).scalars())


def _field(resolution: Resolution, args: Mapping[str, Any]) -> list[int]:
    person = resolution.person(args["field"])
    return [person] if person is not None else []


def _manager(resolution: Resolution, args: Mapping[str, Any]) -> list[int]:
    person = resolution.person(args["manager"])
    level = int(args.get("level") or 1)
    chain = _org().manager_chain(resolution.conn, person, level) if person is not None else []
    return [chain[level - 1]] if len(chain) >= level else []


def _manager_chain(resolution: Resolution, args: Mapping[str, Any]) -> list[int]:
    """Managers from the nearest up: `levels` of them, or up to the first holding `until_role`."""
    person = resolution.person(args["manager_chain"])
    if person is None:
        return []
    chain = _org().manager_chain(resolution.conn, person, int(args.get("levels") or _org().MAX_DEPTH))
    role = args.get("until_role")
    if role:
        holders = set(resolution.conn.execute(sa.select(user_roles.c.user_id).where(
            user_roles.c.role == role, user_roles.c.user_id.in_(chain))).scalars()) if chain else set()
        for i, manager in enumerate(chain):
            if manager in holders:
                return chain[:i + 1]
    return chain


def _department_head(resolution: Resolution, args: Mapping[str, Any]) -> list[int]:
    """The heads of the person's department (`level` 1: of the department above, …); a
    department without a head passes to the nearest one above that has one."""
    person = resolution.person(args["department_head"])
    if person is None:
        return []
    department = resolution.conn.execute(sa.select(users.c.department_id).where(users.c.id == person)).scalar()
    if department is None:
        return []
    level = int(args.get("level") or 0)
    if level:
        above = _org().ancestors(_org().department_tree(resolution.conn), department)
        if len(above) < level:
            return []
        department = above[level - 1]
    return _org().department_heads_of(resolution.conn, department)


def _picked(resolution: Resolution, args: Mapping[str, Any]) -> list[int]:
    """The approvers the submitter picked when submitting (checked against the range)."""
    return list(resolution.picked)


def picking_range(conn: Connection, args: Mapping[str, Any]) -> list[int]:
    """Who a submitter may pick for a `picked` approver: holders of `role`, or `users`."""
    if args.get("role"):
        return _role(Resolution(conn, {}, None), {"role": args["role"]})
    if args.get("users"):
        return _user(Resolution(conn, {}, None), {"user": list(args["users"])})
    return list(conn.execute(sa.select(users.c.id).where(users.c.is_active.is_(True)).order_by(users.c.id)).scalars())


def _chain_check(args: Mapping[str, Any]) -> list[str]:
    if not args.get("levels") and not args.get("until_role"):
        return ["manager_chain needs 'levels' (how many managers up) or 'until_role' (up to a holder of the role)"]
    return []


def _picked_check(args: Mapping[str, Any]) -> list[str]:
    if args.get("picked") != "submitter":
        return ["picked approvers are chosen by the submitter: write {picked: submitter, role: …}"]
    return []


PERSON = Argument("person", True, "submitter, owner, or a user field of the record")
BUILTIN_RESOLVERS = (
    Resolver("user", Argument("usernames", True, "a username or a list of them"), _user,
             description="named users"),
    Resolver("role", Argument("role", True, "a role of roles.yaml"), _role,
             {"department_of": Argument("person", help="only holders in this person's department and below")},
             description="every holder of a role"),
    Resolver("field", Argument("user_field", True, "a user field of the record, or owner"), _field,
             description="the user in a field of the record"),
    Resolver("manager", PERSON, _manager, {"level": Argument("number", help="1: the manager, 2: theirs, …")},
             description="the person's manager at a level"),
    Resolver("manager_chain", PERSON, _manager_chain,
             {"levels": Argument("number", help="how many managers up"),
              "until_role": Argument("role", help="up to the first manager holding this role")},
             description="the person's managers, nearest first (多级主管)", check=_chain_check),
    Resolver("department_head", PERSON, _department_head,
             {"level": Argument("number", help="0: the person's department, 1: the one above, …")},
             description="the head of the person's department (部门负责人)"),
    Resolver("picked", Argument("person", True, "submitter"), _picked,
             {"role": Argument("role", help="pick among holders of this role"),
              "users": Argument("usernames", help="pick among these users"),
              "max": Argument("number", help="at most this many")},
             description="approvers the submitter picks when submitting (发起人自选)", check=_picked_check),
)


def split_approver(item: Mapping[str, Any], resolvers: Mapping[str, Resolver]) -> tuple[Resolver | None, list[str]]:
    """The resolver an approver mapping names, and the other resolver names it also uses."""
    named = [k for k in item if k in resolvers]
    for key in named:  # {picked: submitter, role: finance}: 'role' is an argument of picked here
        if set(item) - {key} <= set(resolvers[key].arguments):
            return resolvers[key], []
    return (resolvers[named[0]] if named else None), [k for k in named[1:] if k not in resolvers[named[0]].arguments]
