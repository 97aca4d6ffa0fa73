"""Configuration from `TAILOR_*` environment variables.

Every command and the web app read settings through `Settings.from_env()`, so a
deployment is configured the same way everywhere. Command-line options override.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "TAILOR_"


@dataclass(frozen=True)
class Settings:
    project: Path | None = None
    database_url: str | None = None
    secret_key: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        env = dict(os.environ if environ is None else environ)
        values = {k[len(PREFIX):].lower(): v for k, v in env.items() if k.startswith(PREFIX)}
        project = overrides.get("project") or values.pop("project", None)
        database_url = overrides.get("database_url") or values.pop("database_url", None)
        secret_key = overrides.get("secret_key") or values.pop("secret_key", None)
        values.pop("project", None)
        values.pop("database_url", None)
        values.pop("secret_key", None)
        return cls(
            project=Path(project) if project else None,
            database_url=database_url,
            secret_key=secret_key,
            extra=values,
        )

    def database_url_for(self, project_dir: Path) -> str:
        """The configured URL, or an SQLite file in the project's git-ignored `instance/`."""
        if self.database_url:
            return self.database_url
        instance = Path(project_dir).resolve() / "instance"
        instance.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{instance / 'tailor.sqlite'}"
