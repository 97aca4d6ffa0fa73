"""Who is acting and when: passed to every records-service call, hook and expression."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Actor:
    """The user acting. `system` is the engine itself (demo data, migrations, jobs)."""

    id: int | None = None
    username: str = "system"
    roles: tuple[str, ...] = ()
    department: int | None = None
    departments: tuple[int, ...] = ()  # the user's department and every one below it
    department_members: tuple[int, ...] = ()  # users of those departments
    teams: tuple[int, ...] = ()
    team_members: tuple[int, ...] = ()  # users sharing a team with the user
    language: str = "en"
    is_admin: bool = False
    # entities in which something is shared with the user or their teams; None: not known,
    # ask the database (lists skip the share query for every other entity)
    shared_entities: frozenset[str] | None = None
    system: bool = False

    def variables(self) -> dict[str, Any]:
        """What expressions see as `user`."""
        return {
            "id": self.id,
            "username": self.username,
            "roles": list(self.roles),
            "department": self.department,
            "departments": list(self.departments),
            "teams": list(self.teams),
            "team_members": list(self.team_members),
            "language": self.language,
            "is_admin": self.is_admin,
        }


SYSTEM = Actor(system=True, is_admin=True)


@dataclass
class Context:
    actor: Actor = SYSTEM
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    extra: dict[str, Any] = field(default_factory=dict)
    # set by the flow engine (engine/workflows) for the changes it makes itself: state moves,
    # actions, approvers' edits. The workflow guard lets them through; nothing else sets it.
    workflow: bool = False
    # set by RecordService.reveal only: masked fields read in full (audited there)
    revealing: bool = False

    @property
    def variables(self) -> dict[str, Any]:
        """What expressions see; worked out once per actor (a batch of an import evaluates
        conditions for every row). Expressions only read it."""
        known = self.__dict__.get("_variables")
        if known is None or known[0] is not self.actor:
            known = self.__dict__["_variables"] = (self.actor, {"user": self.actor.variables()})
        return known[1]
