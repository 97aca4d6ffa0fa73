"""Serving the newest model: a cheap SELECT at most once a second per process (or per job
batch), a recompile when the database's metadata version moved.

An apply in the designer, or `tailor migrate` on any host, records a new metadata version
in `tailor_metadata`. Every web worker and `tailor worker` reads the newest version and,
when it differs from the one it last saw, recompiles the project (YAML layers + the
designer change sets in the database) and swaps the pair (model, records service) in one
assignment. A request or a batch takes the pair once and keeps it, so it never sees a mix
of old and new.

How often: a job batch always looks. A web worker looks at most once per `interval`
(TAILOR_MODEL_CHECK_SECONDS, 1 s): a list page is served many times a second, and the
look cost each request a connection and a query. So a change made on another host (or in
another worker process) is served within about a second; a change committed in this
process (`design.service.note_recorded`) is looked for on the next request, and a caller
may force a look (the designer's pages and every write do: they must act on the newest).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from time import monotonic
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import ProjectError
from ..model import CompiledModel
from .service import latest_version, load_project_model, recorded_here

log = logging.getLogger(__name__)


class LiveModel:
    """The (model, records service) pair a process serves, kept at the database's version."""

    def __init__(self, project: Path, engine: Engine, model: CompiledModel | None = None, service: Any = None,
                 interval: float = 0.0):
        from ..records import RecordService

        self.project = Path(project)
        self.engine = engine
        self.interval = interval  # seconds between looks at the database's version (0: every time)
        self.looked: tuple[float, int] | None = None  # (monotonic time, recorded_here()) of the last look
        model = model if model is not None else load_project_model(self.project, engine)
        self.current: tuple[CompiledModel, Any] = (model, service if service is not None else RecordService(model, engine))
        self.seen = latest_version(engine)  # the database's version last looked at
        self.lock = threading.Lock()

    def refresh(self, force: bool = True) -> tuple[CompiledModel, Any]:
        """Look at the database's metadata version (one SELECT); recompile when it moved.
        Without `force`, the look is skipped when the last one was less than `interval` ago
        and this process recorded no version since. Returns the pair to use for the whole
        request or batch. A database that cannot be read raises (the request gets the
        "temporarily unavailable" page); a database without engine tables yet is taken as
        unchanged."""
        here = recorded_here()
        now = monotonic()
        looked = self.looked
        if not force and looked is not None and looked[1] == here and 0 <= now - looked[0] < self.interval:
            return self.current
        pair = self._look()
        self.looked = (now, here)  # after the look: one that raised is made again by the next request
        return pair

    def _look(self) -> tuple[CompiledModel, Any]:
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
