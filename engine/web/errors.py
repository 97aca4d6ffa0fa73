"""Error pages: every user mistake is a clear 4xx, never a 500 (and nothing half-saved:
the records service wrote nothing when it raised)."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..fields.encryption import EncryptionKeyError
from ..records import ConflictError, NotFound, PermissionDenied, RecordError, ValidationError
from .i18n import gettext as _


def page(status: int, title: str, message: str):
    if request.accept_mimetypes.best == "application/json":
        return {"error": title, "message": message}, status
    return render_template("error.html", status=status, title=title, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return page(400, _("The form expired"), _("Reload the page and try again."))

    @app.errorhandler(NotFound)
    def not_found(exc):
        if exc.entity in ("approval", "task"):  # a flow or task: the same answer, whether it exists or not
            return page(404, _("Not found"), _("This approval does not exist or you cannot see it."))
        return page(404, _("Not found"), _("This record does not exist or you cannot see it."))

    @app.errorhandler(ConflictError)
    def conflict(exc):
        return page(409, _("Changed by someone else"), str(exc))

    @app.errorhandler(ValidationError)
    def invalid(exc):
        return page(422, _("Not saved"), str(exc))

    @app.errorhandler(PermissionDenied)
    def denied(exc):
        return page(403, _("Not allowed"), _("Your roles do not allow this."))

    @app.errorhandler(RecordError)
    def record_error(exc):
        return page(exc.status, _("Not saved"), str(exc))

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
