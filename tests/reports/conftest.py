"""`report_world()` builds the sales project of reportutil.py on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from reportutil import files, seed


@pytest.fixture
def report_world(service_for):
    def make(extra: dict[str, str] | None = None):
        return seed(service_for(files(extra)))

    return make
