"""Restoring an archive into an empty database, after every check that can be made first."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy.engine import Engine

from .. import __version__
from . import database
from .archive import DATABASE, Manifest, extract_member, opened, verify_plain
from .errors import BackupError


def mismatches(manifest: Manifest, project: str, metadata_version: str | None) -> list[str]:
    """How the archive differs from what would run on it (empty when it fits)."""
    found = []
    if manifest.project != project:
        found.append(f"the archive is of project '{manifest.project}', not '{project}'")
    if manifest.engine_version != __version__:
        found.append(f"it was made by Tailor {manifest.engine_version}, this is {__version__}")
    if metadata_version is not None and manifest.metadata_version != metadata_version:
        found.append(f"its database is at project version {manifest.metadata_version}, the project folder "
                     f"compiles to {metadata_version}")
    return found


def restore_backup(path: Path, engine: Engine, project: str, metadata_version: str | None, *,
                   allow_mismatch: bool = False, passphrase: str | None = None) -> Manifest:
    """Restore the archive at `path` into the empty database of `engine`; the manifest.
    Every check (checksums, versions, an empty target) is made before anything is written."""
    with opened(path, passphrase) as plain:
        manifest = verify_plain(plain)
        kind = database.kind_of(engine)
        if manifest.database != kind:
            raise BackupError(f"the archive holds a {manifest.database} database; it cannot be restored into {kind}")
        problems = mismatches(manifest, project, metadata_version)
        if problems and not allow_mismatch:
            raise BackupError("; ".join(problems) + ". Restore with the matching version, or allow the mismatch "
                              "(--allow-mismatch) and run `tailor migrate` after")
        if not database.is_empty(engine):
            raise BackupError("the target database has tables: restore into an empty database")
        with tempfile.TemporaryDirectory(prefix="tailor-restore-") as work:
            copy = Path(work) / DATABASE[kind]
            extract_member(plain, DATABASE[kind], copy)
            database.load(engine, copy)
    counts = database.table_counts(engine)
    differing = sorted(n for n in set(counts) | set(manifest.tables) if counts.get(n) != manifest.tables.get(n))
    if differing:
        raise BackupError(f"after the restore these tables differ from the archive's counts: {', '.join(differing)}")
    return manifest
