"""Compile each project once per test process.

Most tests start an app or a service on the same few projects (the demo CRM above all), and
compiling one takes a few tenths of a second each time. A compiled model is immutable, so
`install()` puts a memo in front of `engine.model.load_model`: the same inputs give the same
model object. The key is everything a compile reads:

* the contents of every file of the project folder and of the folders it `extends` (the
  `instance/` folder, which holds databases and keys, is left out: the compiler never reads it);
* the designer layer (its change sets: id, ops, author), `entry_points`, the working folder
  (messages name files relative to it) and the `TAILOR_*` environment (the encryption key).

A changed file, another designer change set or another key compiles anew; a failed compile is
never remembered. tests/test_model_memo.py checks the memo against fresh compiles.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import OrderedDict
from pathlib import Path

import engine.design.export
import engine.design.service
import engine.model

EXTENDS = re.compile(r"^extends:\s*['\"]?([^'\"#\s]+)", re.MULTILINE)
SKIPPED_PARTS = {"instance", "__pycache__"}

real_load_model = engine.model.load_model
SIZE = 48  # models kept (the newest used): the suite's many one-off projects would fill memory
memo: OrderedDict[tuple, object] = OrderedDict()
stats = {"hits": 0, "misses": 0}


def _folder_print(path: Path, seen: set[Path]) -> list:
    path = path.resolve()
    if path in seen:
        return []
    seen.add(path)
    found: list = [str(path)]
    if not path.is_dir():
        return [*found, "not a folder"]
    for file in sorted(path.rglob("*")):
        relative = file.relative_to(path)
        if SKIPPED_PARTS & set(relative.parts) or not file.is_file():
            continue
        found.append((str(relative), hashlib.sha1(file.read_bytes()).hexdigest()))
    manifest = path / "tailor.yaml"
    if manifest.is_file():
        base = EXTENDS.search(manifest.read_text(encoding="utf-8", errors="replace"))
        if base:
            found += _folder_print(path / base.group(1), seen)
    return found


def memo_key(path, entry_points: bool, designer) -> tuple:
    from engine.spec.designer import change_sets_of

    changes = json.dumps(change_sets_of(designer), sort_keys=True, default=repr) if designer else None
    environment = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("TAILOR_")))
    return (tuple(_folder_print(Path(path), set())), entry_points, changes, os.getcwd(), environment)


def load_model(path, *, entry_points: bool = True, designer=None):
    try:
        key = memo_key(path, entry_points, designer)
    except (OSError, TypeError, ValueError):  # unreadable or odd input: no memo, the compiler will say
        return real_load_model(path, entry_points=entry_points, designer=designer)
    model = memo.get(key)
    if model is None:
        stats["misses"] += 1
        model = memo[key] = real_load_model(path, entry_points=entry_points, designer=designer)
        while len(memo) > SIZE:
            memo.popitem(last=False)
    else:
        stats["hits"] += 1
        memo.move_to_end(key)
    return model


def install() -> None:
    """Route every engine module's load_model through the memo (they import it by name)."""
    for module in (engine.model, engine.design.service, engine.design.export):
        assert module.load_model in (real_load_model, load_model), module
        module.load_model = load_model
