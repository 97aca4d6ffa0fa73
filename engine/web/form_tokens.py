"""One-time tokens of create forms: the same form posted twice makes one record.

A double click, a reload of the page a post answered, or the back button and "save" again
would each post the create form again, and each post would create a record. The form
therefore carries a token, issued with it: a random nonce, signed with the app's secret
together with the user and the entity (itsdangerous), so that nothing but a form this
server issued to this user for this entity is accepted. Issuing writes nothing.

Posting it *uses* it: its nonce is inserted in `tailor_form_token` in the same transaction
as the new record (the nonce is the primary key). A second post of the same form finds the
nonce taken, creates nothing and is sent to the record the first post created (or told
that the form was already sent). If the first post is refused (a field to correct), its
transaction rolls back, the token stays unused, and the corrected form can be sent.

Edit forms need no token: they carry the record's version, and a second post of the same
version is refused as a conflict (optimistic locking) or changes nothing.

The token is required. A post without one (a page from before tokens, a script, a form
copied elsewhere) creates nothing: it is answered 400 with the form shown again, its values
kept and a new token in it, so the user checks and saves once. A token that is not one this
server issued for this user and entity (forged, another user's, another entity's form) is a
400 page and creates nothing either.

Every record the web UI creates goes through the create page (`pages/records.py`
`new_record`): lines of a document are posted with their parent's form, and link fields
pick existing records only (there is no quick-create). There are no public (signed-out)
forms; `contact_forms.py` is the emails/phones inputs of the record form, not a web form of
its own.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..storage import form_tokens

FIELD = "form_token"  # the hidden input of create forms
KEEP = timedelta(days=30)  # used tokens older than this are forgotten (a form is not open that long)
_SALT = "tailor-create-form"


class BadToken(Exception):
    """The posted token is not one this server issued to this user for this entity."""


class AlreadyUsed(Exception):
    """The form was posted before: `record_id` is what that post created (None if gone)."""

    def __init__(self, record_id: int | None):
        super().__init__("this form was already sent")
        self.record_id = record_id


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def issue(user_id: int | None, entity: str) -> str:
    """A new token for a create form of `entity` shown to `user_id`."""
    return _serializer().dumps({"n": secrets.token_urlsafe(24), "u": user_id, "e": entity})


def nonce_of(token: str, user_id: int | None, entity: str) -> str:
    """The nonce of a posted token, checked against the user and entity it was issued for."""
    if not token or len(token) > 400:
        raise BadToken(token)
    try:
        data = _serializer().loads(token)
    except BadSignature:
        raise BadToken(token) from None
    if not isinstance(data, dict) or data.get("u") != user_id or data.get("e") != entity \
            or not isinstance(data.get("n"), str) or not 0 < len(data["n"]) <= 64:
        raise BadToken(token)
    return data["n"]


@contextmanager
def using(conn: Connection, nonce: str, user_id: int, entity: str, now: datetime) -> Iterator[dict[str, Any]]:
    """Use the nonce in the caller's transaction: raises AlreadyUsed if a post of the same
    form came first (on PostgreSQL a concurrent one waits for it). Set `["record_id"]` on
    what it yields; it is stored when the block ends without an error."""
    taken = conn.execute(sa.select(form_tokens.c.record_id).where(form_tokens.c.token == nonce)).first()
    if taken is not None:
        raise AlreadyUsed(taken.record_id)
    try:
        with conn.begin_nested():  # a concurrent post inserted it first: only this insert is undone
            conn.execute(form_tokens.insert().values(token=nonce, user_id=user_id, entity=entity, used_at=now))
    except IntegrityError:
        taken = conn.execute(sa.select(form_tokens.c.record_id).where(form_tokens.c.token == nonce)).first()
        raise AlreadyUsed(taken.record_id if taken else None) from None
    found: dict[str, Any] = {"record_id": None}
    yield found
    conn.execute(form_tokens.update().where(form_tokens.c.token == nonce).values(record_id=found["record_id"]))
    conn.execute(form_tokens.delete().where(form_tokens.c.used_at < now - KEEP))
