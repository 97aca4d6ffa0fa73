"""Ids at the edge of the web app: the `id` URL converter and `parse_id` for query strings and forms.

What an id is lives in `engine/ids.py` (ranges of BIGINT and INTEGER columns, ASCII digits
only). Routes use the converter (`<id:record_id>`, or `<id(bits=32):user_id>` for an engine
table): any other segment matches no route, a 404 — never a database error. Query strings
and forms use `parse_id` (a 400 that names the parameter) or `id_or_none`.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import BadRequest
from werkzeug.routing import BaseConverter, Map, ValidationError

from ..ids import MAX_ID, MAX_ID32, id_or_none, largest
from .i18n import gettext as _

__all__ = ["MAX_ID", "MAX_ID32", "BadId", "IdConverter", "id_or_none", "init_app", "parse_id"]


class BadId(BadRequest):
    """A query or form parameter that should hold an id and does not (a 400)."""


def parse_id(raw: object, what: str = "id", bits: int = 64) -> int:
    """The id in a query or form parameter named `what`, or a 400 that names it."""
    number = id_or_none(raw.strip() if isinstance(raw, str) else raw, bits)
    if number is None:
        shown = str(raw)
        shown = shown if len(shown) <= 40 else shown[:37] + "…"
        raise BadId(_("%(name)s: '%(value)s' is not a record id", name=what, value=shown))
    return number


class IdConverter(BaseConverter):
    """`<id:name>` (BIGINT ids) or `<id(bits=32):name>` (INTEGER ids): a positive id in
    canonical form, within the column's range; any other segment matches no route (404)."""

    regex = r"[1-9][0-9]{0,18}"
    weight = 50  # as werkzeug's int converter: an id segment wins over a free-text one

    def __init__(self, url_map: Map, bits: int = 64) -> None:
        super().__init__(url_map)
        self.maximum = largest(bits)

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > self.maximum:
            raise ValidationError()
        return number

    def to_url(self, value: object) -> str:
        return str(int(value))  # type: ignore[call-overload]


def init_app(app: Flask) -> None:
    """Register the converter; before any blueprint, as rules look converters up when added."""
    app.url_map.converters["id"] = IdConverter
