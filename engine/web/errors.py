"""Error pages: every user mistake is a clear 4xx, never a 500 (and nothing half-saved:
the records service wrote nothing when it raised).

A fault (the database lost its connections, a bug) gets a 503 or 500 page that renders
without the database: the request's connection may be dead and anything queried on it
would raise again, from inside the error handler, past Flask. So the page is marked
offline (`offline()`: no menu, no counts in the top bar) and the request's shared read
connection is given back to the pool first, where a dead one is discarded.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import Flask, g, redirect, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from ..fields.encryption import EncryptionKeyError
from ..records import ConflictError, NotFound, PermissionDenied, RecordError, ValidationError
from .i18n import gettext as _
from .i18n import say_error
from .state import WebState

log = logging.getLogger(__name__)


def page(status: int, title: str, message: str):
    if request.accept_mimetypes.best == "application/json":
        return {"error": title, "message": message}, status
    return render_template("error.html", status=status, title=title, message=message), status


def offline() -> bool:
    """True while an error page of a fault renders: templates query nothing then."""
    return bool(g.get("_tailor_offline"))


def fault_page(status: int, title: str, message: str):
    g._tailor_offline = True
    try:
        WebState.of().close_reads()
    except Exception:  # the connection is already broken; the pool has discarded it
        log.warning("closing the reads of a failed request failed", exc_info=True)
    return page(status, title, message)


def lost_database(exc: BaseException) -> bool:
    """A connection that died or cannot be reached (not a constraint, not a bug in SQL)."""
    if isinstance(exc, sa.exc.PendingRollbackError):
        return True
    return isinstance(exc, sa.exc.DBAPIError) and (exc.connection_invalidated or isinstance(exc, sa.exc.OperationalError))


def stale_read(app: Flask) -> Any:
    """A read is served by the model of the worker's last look, up to a second behind
    another worker's designer change (web/state.py): its SQL may name a column that change
    renamed or dropped meanwhile. Then look now, and when the model moved, send the reader
    to the same page again (307), which the new model serves. None otherwise (the error is
    a real one)."""
    pinned = g.get("_tailor_pinned")
    if request.method not in ("GET", "HEAD") or pinned is None:
        return None
    try:
        newest = app.extensions["tailor"].live.refresh(force=True)
    except sa.exc.DBAPIError:
        return None
    if newest[0].version == pinned[0].version:
        return None
    log.info("a read met a newer model (%s -> %s): sent again", pinned[0].version, newest[0].version)
    return redirect(request.full_path if request.query_string else request.path, 307)


def init_app(app: Flask) -> None:
    app.jinja_env.globals["offline"] = offline

    @app.errorhandler(sa.exc.DBAPIError)
    @app.errorhandler(sa.exc.PendingRollbackError)
    def database_error(exc):
        again = stale_read(app)
        if again is not None:
            return again
        if not lost_database(exc):
            log.error("database error", exc_info=exc)
            return server_error(exc)
        log.warning("database unavailable: %s", exc)
        return fault_page(503, _("Temporarily unavailable"),
                          _("The database could not be reached. Try again in a moment; if you were saving, look first whether it was saved."))

    @app.errorhandler(InternalServerError)
    def server_error(exc):
        return fault_page(500, _("Something went wrong"),
                          _("The error has been logged. Try again, or tell your administrator if it happens again."))

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return page(400, _("The form expired"), _("Reload the page and try again."))

    @app.errorhandler(NotFound)
    def not_found(exc):
        if exc.entity in ("approval", "task"):  # a flow or task: the same answer, whether it exists or not
            return page(404, _("Not found"), _("This approval does not exist or you cannot see it."))
        return page(404, _("Not found"), _("This record does not exist or you cannot see it."))

    @app.errorhandler(404)
    def no_such_page(exc):  # an unknown address, entity or dashboard: said in the reader's language
        return page(404, _("Not found"), _("This page does not exist or you cannot see it."))

    @app.errorhandler(ConflictError)
    def conflict(exc):
        return page(409, _("Changed by someone else"), say_error(exc))

    @app.errorhandler(ValidationError)
    def invalid(exc):
        return page(422, _("Not saved"), say_error(exc))

    @app.errorhandler(PermissionDenied)
    def denied(exc):
        return page(403, _("Not allowed"), _("Your roles do not allow this."))

    @app.errorhandler(RecordError)
    def record_error(exc):
        return page(exc.status, _("Not saved"), say_error(exc))

    @app.errorhandler(EncryptionKeyError)
    def key_error(exc):  # the operator's to fix: the details go to the log, not to the page
        app.logger.error("%s", exc)
        return page(503, _("Encrypted values cannot be read"),
                    _("The encryption key is missing or wrong; ask your administrator (error %(code)s).",
                      code=exc.code))

    @app.errorhandler(HTTPException)
    def http_error(exc):
        titles = {400: _("Bad request"), 403: _("Not allowed"), 404: _("Not found"),
                  405: _("Not allowed"), 413: _("Too large"), 429: _("Too many attempts")}
        return page(exc.code or 400, titles.get(exc.code, exc.name), exc.description or "")
