"""Diff fixtures: the pair of projects of projects.py, written once per test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from projects import NEW_FILES, OLD_FILES  # noqa: E402


@pytest.fixture
def pair(make_project):
    """(old folder, new folder): NEW differs from OLD in every category."""
    return make_project(OLD_FILES, name="old"), make_project(NEW_FILES, name="new")
