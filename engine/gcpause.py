"""Pausing Python's cyclic garbage collector during start-up-heavy stages.

Loading a project and planning a migration allocate hundreds of thousands of small, mostly
acyclic objects (YAML nodes, schema objects, reflected columns). The cyclic collector then
runs hundreds of times for almost nothing and doubles the time (measured by `make bench`).
Reference counting still frees everything as usual; only the cycle scans wait until the
stage is over.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
