"""What a worker holds: the compiled model, the database engine, the records service.

Each worker compiles the project (YAML layers + the designer layer in the database) at
start-up. A request first reads the database's metadata version (one cheap SELECT, made
at most once per TAILOR_MODEL_CHECK_SECONDS, 1 s, by a worker's reads; always by the
designer's pages and by writes); when a designer apply or a `tailor migrate` recorded a
newer one, the worker recompiles before handling the request — no restart, on every
worker and every host sharing the database (engine/design/live.py). The (model, service)
pair is pinned on `flask.g` for the whole request, so a request never sees a mix of old
and new.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy.engine import Engine

from ..design.live import LiveModel
from ..design.service import latest_version
from ..model import CompiledModel
from ..storage import make_engine

log = logging.getLogger(__name__)
# requests for files: no model, no records, no user; they skip the metadata version check
FILE_ENDPOINTS = frozenset({"asset", "static", "favicon"})


class WebState:
    def __init__(self, project: Path, engine: Engine, model: CompiledModel | None = None, service: Any = None,
                 check_every: float = 0.0):
        self.project = Path(project)
        self.engine = engine
        self.live = LiveModel(self.project, engine, model, service, interval=check_every)

    @classmethod
    def start(cls, project: Path, database_url: str, check_every: float = 0.0) -> WebState:
        """Compile the project with the designer layer stored in the database."""
        return cls(project, make_engine(database_url), check_every=check_every)

    @staticmethod
    def of(app: Flask | None = None) -> WebState:
        return (app or current_app).extensions["tailor"]

    def _pair(self) -> tuple[CompiledModel, Any]:
        if has_request_context():
            pinned = g.get("_tailor_pinned")
            if pinned is not None:
                return pinned
        return self.live.current

    @property
    def model(self) -> CompiledModel:
        """The model of this request (pinned when it began), else the newest."""
        return self._pair()[0]

    @property
    def service(self) -> Any:
        """The records service of this request (pinned with the model), else the newest."""
        return self._pair()[1]

    def refresh(self) -> None:
        """At the start of a request: recompile when the database's metadata version moved
        (looked at as the module docstring says), then pin the model and service for the
        rest of the request. Files (scripts, styles, the icon) need no model: no query."""
        if has_request_context() and request.endpoint in FILE_ENDPOINTS:
            return
        # a read may be served up to `check_every` behind another host's change; the
        # designer (whose forms carry the version) and writes act on the newest
        force = not has_request_context() or request.method not in ("GET", "HEAD") or request.blueprint == "design"
        pair = self.live.refresh(force=force)
        if has_request_context():
            g._tailor_pinned = pair

    def open_reads(self) -> None:
        """GET and HEAD requests only read: all their queries share one connection (see
        `RecordService.reading`), closed when the request ends. Requests that write use
        their own transactions."""
        if request.method in ("GET", "HEAD") and "_tailor_reads" not in g:
            reads = self.service.reading()
            reads.__enter__()
            g._tailor_reads = reads

    def close_reads(self) -> None:
        """Give the request's read connection back to the pool, which rolls it back; one
        that died during the request was invalidated by SQLAlchemy and is replaced, and
        `pool_pre_ping` (storage/connection.py) replaces those that died while idle, so no
        later request is handed a dead connection. Never raises: it runs in teardown."""
        reads = g.pop("_tailor_reads", None)
        if reads is not None:
            try:
                reads.__exit__(None, None, None)
            except Exception:
                log.warning("could not close a request's read connection", exc_info=True)

    def latest_version(self) -> str | None:
        return latest_version(self.engine)
