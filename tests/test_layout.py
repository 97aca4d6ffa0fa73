"""Test modules are imported by their file name (the test folders are not packages): two
files of the same name in different folders make collection fail. Keep them unique."""

from __future__ import annotations

from collections import Counter

from engine.paths import ROOT


def test_test_file_names_are_unique():
    names = Counter(p.name for p in (ROOT / "tests").rglob("*.py") if p.name != "conftest.py")
    assert [n for n, count in names.items() if count > 1] == []
