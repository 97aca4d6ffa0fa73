"""What a worker holds: the compiled model, the database engine, the records service.

Each worker compiles the project once. When `tailor migrate` records a newer metadata
version in the database (an implementer changed the YAML), every worker notices it within
`CHECK_EVERY` seconds and recompiles the project from disk — no restart.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, current_app, g, request
from sqlalchemy.engine import Engine

from ..model import CompiledModel, load_model
from ..records import RecordService
from ..storage import make_engine, metadata_version

CHECK_EVERY = 5.0
log = logging.getLogger(__name__)


@dataclass
class WebState:
    project: Path
    engine: Engine
    model: CompiledModel
    service: RecordService
    checked_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, project: Path, database_url: str) -> WebState:
        engine = make_engine(database_url)
        model = load_model(project)
        return cls(project, engine, model, RecordService(model, engine), time.monotonic())

    @staticmethod
    def of(app: Flask | None = None) -> WebState:
        return (app or current_app).extensions["tailor"]

    def refresh(self) -> None:
        """Recompile when the database has been migrated to a newer metadata version."""
        now = time.monotonic()
        if now - self.checked_at < CHECK_EVERY:
            return
        with self.lock:
            if now - self.checked_at < CHECK_EVERY:
                return
            self.checked_at = now
            latest = self.latest_version()
            if latest is None or latest == self.model.version:
                return
            model = load_model(self.project)
            if model.version == latest:
                self.model = model
                self.service = RecordService(model, self.engine)

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
        try:
            with self.engine.connect() as conn:
                return conn.execute(sa.select(metadata_version.c.version)
                                    .order_by(metadata_version.c.id.desc()).limit(1)).scalar()
        except sa.exc.DBAPIError:
            return None
