"""Serving the newest model: one cheap SELECT per request (or job batch), a recompile when
the database's metadata version moved.

An apply in the designer, or `tailor migrate` on any host, records a new metadata version
in `tailor_metadata`. Every web worker and `tailor worker` reads the newest version once per
request or job batch; when it differs from the one it last saw, it recompiles the project
(YAML layers + the designer change sets in the database) and swaps the pair (model, records
service) in one assignment. A request or a batch takes the pair once and keeps it, so it
never sees a mix of old and new.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import ProjectError
from ..model import CompiledModel
from .service import latest_version, load_project_model

log = logging.getLogger(__name__)


class LiveModel:
    """The (model, records service) pair a process serves, kept at the database's version."""

    def __init__(self, project: Path, engine: Engine, model: CompiledModel | None = None, service: Any = None):
        from ..records import RecordService

        self.project = Path(project)
        self.engine = engine
        model = model if model is not None else load_project_model(self.project, engine)
        self.current: tuple[CompiledModel, Any] = (model, service if service is not None else RecordService(model, engine))
        self.seen = latest_version(engine)  # the database's version last looked at
        self.lock = threading.Lock()

    def refresh(self) -> tuple[CompiledModel, Any]:
        """Look at the database's metadata version (one SELECT); recompile when it moved.
        Returns the pair to use for the whole request or batch. A database that cannot be
        read raises (the request gets the "temporarily unavailable" page); a database
        without engine tables yet is taken as unchanged."""
        try:
            latest = latest_version(self.engine, quiet=False)
        except sa.exc.DBAPIError as exc:
            text = str(exc.orig)
            if "tailor_metadata" in text and ("no such table" in text or "does not exist" in text):
                return self.current  # never migrated: nothing to follow yet
            raise
        if latest is None or latest == self.seen or latest == self.current[0].version:
            self.seen = latest if latest is not None else self.seen
            return self.current
        with self.lock:
            if latest == self.seen or latest == self.current[0].version:
                return self.current
            try:
                model = load_project_model(self.project, self.engine)
            except ProjectError as exc:
                log.error("the database is at metadata version %s, but the project does not compile: %s", latest, exc)
                self.seen = latest
                return self.current
            again = latest_version(self.engine)
            if model.version in (latest, again):
                from ..records import RecordService

                self.current = (model, RecordService(model, self.engine))
            else:  # the database was migrated from another folder (e.g. a newer YAML elsewhere)
                log.warning("the database is at metadata version %s; this project compiles to %s", latest,
                            model.version)
            self.seen = latest
            return self.current
