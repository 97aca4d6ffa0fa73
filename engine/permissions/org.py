"""The organisation: departments (a tree) with heads, teams, managers, the roles users hold
and records shared with users or teams.

Scopes read it through `load_actor()` (once per request); approval flows will resolve "the
submitter's manager at level 2" and "the head of the department" with `manager_chain()` and
`department_heads_of()`. `import_org()` reads a company's staff list (`tailor org import`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..records.context import Actor
from ..storage import department_heads, departments, shares, team_members, teams, user_roles, users
from ..users import UserError, create_user, user_email

MAX_DEPTH = 32  # a department tree or manager chain deeper than this is a loop in the data


class OrgError(ValueError):
    """Bad organisation data: the message says which row or value and why."""


# -- reading ------------------------------------------------------------------------------------
def department_tree(conn: Connection) -> dict[int, int | None]:
    """Every department's parent (departments are few: read whole)."""
    return {r.id: r.parent_id for r in conn.execute(sa.select(departments.c.id, departments.c.parent_id))}


def ancestors(tree: Mapping[int, int | None], department: int) -> list[int]:
    """The department's parents, nearest first."""
    found: list[int] = []
    current = tree.get(department)
    while current is not None and current not in found and len(found) < MAX_DEPTH:
        found.append(current)
        current = tree.get(current)
    return found


def descendants(tree: Mapping[int, int | None], department: int) -> list[int]:
    """The department and every department below it."""
    children: dict[int, list[int]] = {}
    for child, parent in tree.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    found, todo = [], [department]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def _held_query() -> sa.CompoundSelect:
    """Roles, teams and entities with shares of a user (`user_id`) in one round trip."""
    me = sa.bindparam("user_id", type_=sa.Integer)
    my_team_ids = sa.select(team_members.c.team_id).where(team_members.c.user_id == me)
    return sa.union_all(
        sa.select(sa.literal("role").label("kind"), user_roles.c.role.label("role"), sa.literal(0).label("team"))
        .where(user_roles.c.user_id == me),
        sa.select(sa.literal("team"), sa.literal(""), team_members.c.team_id).where(team_members.c.user_id == me),
        sa.select(sa.literal("share"), shares.c.entity, sa.literal(0))
        .where(sa.or_(shares.c.user_id == me, shares.c.team_id.in_(my_team_ids))).distinct(),
    )


HELD = _held_query()  # built once: it runs on every request, and cost more to build than to run


def load_actor(conn: Connection, user: Mapping[str, Any]) -> Actor:
    """Everything the permission scopes need about a signed-in user, in a few queries."""
    user_id = user["id"]
    held = conn.execute(HELD, {"user_id": user_id}).all()
    roles = tuple(sorted(r.role for r in held if r.kind == "role"))
    shared_entities = frozenset(r.role for r in held if r.kind == "share")
    my_teams = sorted(r.team for r in held if r.kind == "team")
    department = user.get("department_id")
    below: list[int] = []
    members: list[int] = []
    if department is not None:
        below = descendants(department_tree(conn), department)
        members = [r for (r,) in conn.execute(sa.select(users.c.id).where(users.c.department_id.in_(below)))]
    mates: list[int] = []
    if my_teams:
        mates = sorted({r for (r,) in conn.execute(sa.select(team_members.c.user_id)
                                                   .where(team_members.c.team_id.in_(my_teams)))})
    return Actor(id=user_id, username=user["username"], roles=roles, department=department,
                 departments=tuple(below), department_members=tuple(members), teams=tuple(sorted(my_teams)),
                 team_members=tuple(mates), language=user.get("language") or "en",
                 is_admin=bool(user.get("is_admin")), shared_entities=shared_entities)


def manager_chain(conn: Connection, user_id: int, levels: int = MAX_DEPTH) -> list[int]:
    """The user's manager, the manager's manager, … (at most `levels`), nearest first."""
    chain: list[int] = []
    current = user_id
    while len(chain) < min(levels, MAX_DEPTH):
        manager = conn.execute(sa.select(users.c.manager_id).where(users.c.id == current)).scalar()
        if manager is None or manager in chain or manager == user_id:
            break
        chain.append(manager)
        current = manager
    return chain


def department_heads_of(conn: Connection, department: int, *, up: bool = True) -> list[int]:
    """The heads of a department; with `up`, of the nearest department above that has one."""
    tree = department_tree(conn)
    for current in [department, *(ancestors(tree, department) if up else [])]:
        heads = [r for (r,) in conn.execute(sa.select(department_heads.c.user_id)
                                             .where(department_heads.c.department_id == current)
                                             .order_by(department_heads.c.user_id))]
        if heads:
            return heads
    return []


def share_of(conn: Connection, entity: str, record_id: int, actor: Actor) -> str | None:
    """The actor's share of a record: "write", "read" or None."""
    if actor.id is None or (actor.shared_entities is not None and entity not in actor.shared_entities):
        return None
    who = shares.c.user_id == actor.id
    if actor.teams:
        who = sa.or_(who, shares.c.team_id.in_(actor.teams))
    found = {a for (a,) in conn.execute(sa.select(shares.c.access).where(
        shares.c.entity == entity, shares.c.record_id == record_id, who))}
    return "write" if "write" in found else "read" if found else None


MAX_SHARED = 5000  # beyond this many shares of one entity, a user's lists read them by subquery


def shared_ids(conn: Connection, entity: str, actor: Actor, action: str = "read") -> list[int] | Any:
    """Ids of the records of an entity shared with the actor (or their teams), for read or
    for writing: usually none or a few, read once per list."""
    if actor.id is None or action not in ("read", "update"):
        return []
    if actor.shared_entities is not None and entity not in actor.shared_entities:
        return []  # known from load_actor: nothing of this entity is shared with the user
    who = shares.c.user_id == actor.id
    if actor.teams:
        who = sa.or_(who, shares.c.team_id.in_(actor.teams))
    found = sa.select(shares.c.record_id).where(shares.c.entity == entity, who)
    if action == "update":
        found = found.where(shares.c.access == "write")
    ids = [r for (r,) in conn.execute(found.limit(MAX_SHARED + 1))]
    return ids if len(ids) <= MAX_SHARED else found


# -- writing ------------------------------------------------------------------------------------
def department_names(conn: Connection) -> dict[int, str]:
    """Every department as its full path ("Sales / East China"), sorted by it."""
    rows = {r.id: (r.name, r.parent_id) for r in conn.execute(sa.select(departments))}
    names: dict[int, str] = {}
    for department_id in rows:
        parts, current, seen = [], department_id, set()
        while current is not None and current not in seen:
            seen.add(current)
            parts.append(rows[current][0])
            current = rows[current][1]
        names[department_id] = " / ".join(reversed(parts))
    return dict(sorted(names.items(), key=lambda item: item[1]))


def staff(conn: Connection) -> dict[int, dict[str, Any]]:
    """What the staff list sets of every user (name, e-mail, department path, manager, roles,
    teams, head), as the admin audit log compares it before and after an import."""
    names = department_names(conn)
    usernames = dict(conn.execute(sa.select(users.c.id, users.c.username)).all())
    people: dict[int, dict[str, Any]] = {}
    for row in conn.execute(sa.select(users.c.id, users.c.display_name, users.c.email, users.c.department_id,
                                      users.c.manager_id)):
        people[row.id] = {"display_name": row.display_name, "email": row.email,
                          "department": names.get(row.department_id), "manager": usernames.get(row.manager_id),
                          "roles": [], "teams": [], "head": False, "_department_id": row.department_id}
    for user_id, role in conn.execute(sa.select(user_roles.c.user_id, user_roles.c.role).order_by(user_roles.c.role)):
        people[user_id]["roles"].append(role)
    for user_id, name in conn.execute(sa.select(team_members.c.user_id, teams.c.name)
                                      .join(teams, teams.c.id == team_members.c.team_id).order_by(teams.c.name)):
        people[user_id]["teams"].append(name)
    for user_id, department in conn.execute(sa.select(department_heads.c.user_id, department_heads.c.department_id)):
        if people[user_id]["_department_id"] == department:
            people[user_id]["head"] = True
    for person in people.values():
        del person["_department_id"]
    return people


def department_path(conn: Connection, path: str) -> int:
    """The id of a department given as "Sales/East China", created along the way."""
    parent = None
    parts = [p.strip() for p in path.split("/") if p.strip()]
    if not parts:
        raise OrgError("a department path is names separated by '/', e.g. Sales/East China")
    for name in parts:
        if len(name) > 120:
            raise OrgError(f"department name too long: {name[:40]}…")
        found = conn.execute(sa.select(departments.c.id).where(
            departments.c.name == name,
            departments.c.parent_id.is_(None) if parent is None else departments.c.parent_id == parent)).scalar()
        if found is None:
            found = conn.execute(departments.insert().values(name=name, parent_id=parent)
                                 .returning(departments.c.id)).scalar_one()
        parent = found
    assert parent is not None
    return parent


def set_roles(conn: Connection, user_id: int, roles: Iterable[str], known: Iterable[str]) -> None:
    wanted = sorted(set(roles))
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise OrgError(f"unknown role(s): {', '.join(unknown)} (roles.yaml defines: {', '.join(sorted(known)) or 'none'})")
    conn.execute(user_roles.delete().where(user_roles.c.user_id == user_id))
    if wanted:
        conn.execute(user_roles.insert(), [{"user_id": user_id, "role": r} for r in wanted])


def set_teams(conn: Connection, user_id: int, names: Iterable[str]) -> None:
    conn.execute(team_members.delete().where(team_members.c.user_id == user_id))
    for name in sorted({n.strip() for n in names if n.strip()}):
        team = conn.execute(sa.select(teams.c.id).where(teams.c.name == name)).scalar()
        if team is None:
            team = conn.execute(teams.insert().values(name=name).returning(teams.c.id)).scalar_one()
        conn.execute(team_members.insert().values(team_id=team, user_id=user_id))


def share(conn: Connection, entity: str, record_id: int, *, access: str, by: int | None,
          user_id: int | None = None, team_id: int | None = None) -> None:
    """Share a record with a user or a team, read or write (replacing an earlier share)."""
    if access not in ("read", "write") or (user_id is None) == (team_id is None):
        raise OrgError("share with one user or one team, for read or write")
    who = shares.c.user_id == user_id if user_id is not None else shares.c.team_id == team_id
    conn.execute(shares.delete().where(shares.c.entity == entity, shares.c.record_id == record_id, who))
    conn.execute(shares.insert().values(entity=entity, record_id=record_id, user_id=user_id, team_id=team_id,
                                        access=access, shared_by=by, at=datetime.now(UTC)))


IMPORT_COLUMNS = ("username", "display_name", "email", "department", "manager", "roles", "teams", "head")


def import_org(conn: Connection, text: str, known_roles: Iterable[str]) -> dict[str, int]:
    """A staff list as CSV (header: username, display_name, email, department, manager,
    roles, teams, head), in one transaction: every row is checked, and one bad row changes
    nothing. Users are created (without a password: an admin sets one) or updated; roles and
    teams are `;`-separated; `head` is yes/no; managers may appear later in the file. A
    column the file leaves out is left as it is."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in ("username",) if c not in (reader.fieldnames or [])]
    unknown = [c for c in reader.fieldnames or [] if c not in IMPORT_COLUMNS]
    if missing or unknown:
        raise OrgError(f"the header must name username and any of {', '.join(IMPORT_COLUMNS[1:])}"
                       + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    rows = list(reader)
    columns = set(reader.fieldnames or ())
    known = list(known_roles)
    ids: dict[str, int] = {}
    counts = {"created": 0, "updated": 0}
    for line, row in enumerate(rows, start=2):
        username = (row.get("username") or "").strip()
        try:
            existing = conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar()
            values: dict[str, Any] = {}
            if row.get("display_name"):
                values["display_name"] = row["display_name"].strip()[:120]
            if row.get("email"):
                values["email"] = user_email(row["email"])
            if existing is None:
                existing = create_user(conn, username, None, display_name=values.get("display_name"),
                                       email=values.get("email"))
                counts["created"] += 1
            else:
                counts["updated"] += 1
                if values:
                    conn.execute(users.update().where(users.c.id == existing).values(**values))
            ids[username] = existing
            if "department" in columns:  # a column the file leaves out changes nothing
                department = (row.get("department") or "").strip()
                new_department = department_path(conn, department) if department else None
                before = conn.execute(sa.select(users.c.department_id).where(users.c.id == existing)).scalar()
                if before != new_department:  # a head of the old department no longer heads it
                    conn.execute(department_heads.delete().where(department_heads.c.user_id == existing))
                conn.execute(users.update().where(users.c.id == existing).values(department_id=new_department))
            if row.get("roles") is not None:
                set_roles(conn, existing, [r.strip() for r in row["roles"].split(";") if r.strip()], known)
            if row.get("teams") is not None:
                set_teams(conn, existing, row["teams"].split(";"))
        except (OrgError, UserError) as exc:
            raise OrgError(f"line {line} ({username or 'no username'}): {exc}") from None
    for line, row in enumerate(rows, start=2):  # managers and heads once everyone exists
        username = row["username"].strip()
        manager = (row.get("manager") or "").strip()
        manager_id = None
        if "manager" not in columns:
            manager = None
        if manager:
            manager_id = ids.get(manager) or conn.execute(sa.select(users.c.id).where(users.c.username == manager)).scalar()
            if manager_id is None:
                raise OrgError(f"line {line} ({username}): manager '{manager}' is not a user")
            if manager_id == ids[username]:
                raise OrgError(f"line {line} ({username}): a user cannot be their own manager")
        if manager is not None:
            conn.execute(users.update().where(users.c.id == ids[username]).values(manager_id=manager_id))
        head = (row.get("head") or "").strip().lower()
        if head not in ("", "yes", "no", "true", "false", "1", "0", "是", "否"):
            raise OrgError(f"line {line} ({username}): head is yes or no, not '{row['head']}'")
        department = conn.execute(sa.select(users.c.department_id).where(users.c.id == ids[username])).scalar()
        if head in ("no", "false", "0", "否") and department is not None:
            conn.execute(department_heads.delete().where(department_heads.c.department_id == department,
                                                         department_heads.c.user_id == ids[username]))
        if head in ("yes", "true", "1", "是"):
            if department is None:
                raise OrgError(f"line {line} ({username}): a head needs a department")
            conn.execute(department_heads.delete().where(department_heads.c.department_id == department,
                                                         department_heads.c.user_id == ids[username]))
            conn.execute(department_heads.insert().values(department_id=department, user_id=ids[username]))
    for username, user_id in ids.items():
        if in_manager_loop(conn, user_id):
            raise OrgError(f"managers form a loop through '{username}'")
    return counts


def in_manager_loop(conn: Connection, user_id: int) -> bool:
    """Whether the user's chain of managers comes back to someone in it (it would never end)."""
    seen, current = {user_id}, user_id
    while (current := conn.execute(sa.select(users.c.manager_id).where(users.c.id == current)).scalar()):
        if current in seen:
            return True
        seen.add(current)
    return False
