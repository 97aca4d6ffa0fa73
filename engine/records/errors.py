"""Errors the records service raises; every entry point turns them into a 4xx, never a 500."""

from __future__ import annotations

from typing import Any

from ..messages import N_
from ..messages import message as _message

CHANGED = N_("%(entity)s %(id)s was changed by someone else (you edited version %(yours)s, it is now version "
             "%(now)s); nothing was saved")
MAY_NOT = N_("you may not %(action)s %(entity)s records")
# the actions a refusal names (translated inside MAY_NOT)
ACTIONS = (N_("read"), N_("create"), N_("update"), N_("delete"), N_("export"), N_("import"), N_("share"))


class RecordError(Exception):
    status = 400


class ValidationError(RecordError):
    """One or more fields (or the record as a whole, key "") are invalid. Nothing was saved."""

    status = 422

    def __init__(self, errors: dict[str, list[str]] | str):
        if isinstance(errors, str):
            errors = {"": [errors]}
        self.errors = {k: list(v) for k, v in errors.items() if v}
        parts = [f"{k}: {'; '.join(v)}" if k else "; ".join(v) for k, v in self.errors.items()]
        super().__init__("; ".join(parts))


class NotFound(RecordError):
    status = 404

    def __init__(self, entity: str, record_id: Any):
        self.entity = entity
        self.record_id = record_id
        super().__init__(f"{entity} {record_id} not found")


class ConflictError(RecordError):
    """Someone saved the record after the version you edited. Nothing was overwritten;
    `current` holds their version so the user can compare and re-apply."""

    status = 409

    def __init__(self, entity: str, record_id: Any, your_version: int, current: dict[str, Any]):
        self.entity = entity
        self.record_id = record_id
        self.your_version = your_version
        self.current = current
        super().__init__(_message(CHANGED, entity=entity, id=record_id, yours=your_version,
                                  now=current.get("version")))


class PermissionDenied(RecordError):
    """The user may not do this (403). A record the user may not see raises NotFound
    instead, so that guessing ids reveals nothing."""

    status = 403

    def __init__(self, entity: str, action: str, message: str | None = None):
        self.entity, self.action = entity, action
        # (a Message: engine/messages.py; pages show it translated, `str(exc)` is English)
        self.message = message or _message(MAY_NOT, action=_message(action), entity=entity)
        super().__init__(self.message)
