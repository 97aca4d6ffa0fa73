"""Where the repository's top-level folders live.

The design card keeps `schemas/`, `plugins/`, `templates/` and `migrations/` beside the
`engine/` package, so the engine finds them relative to its own location.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
PLUGINS = ROOT / "plugins"
TEMPLATES = ROOT / "templates"
MIGRATIONS = ROOT / "migrations"
EXAMPLES = ROOT / "examples"
