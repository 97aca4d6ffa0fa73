"""Backup and restore: one archive per backup, either whole and verified or absent.

The rule: **an archive that exists under its final name is complete**. It is written as
`NAME.partial`, flushed to disk and only then renamed, so a backup killed half-way (power
cut, `kill -9`) leaves at most a `.partial` file that nothing takes for a backup. Inside,
`manifest.json` names what the archive holds (engine and project versions, the database
kind, the row count of every table in the copied snapshot) and the SHA-256 of every other
member; `tailor restore` checks all of it before it touches the target.

The database is copied by the database's own means, so nothing is lost in translation
(triggers, sequences, AUTOINCREMENT counters): SQLite's online backup API (a consistent
copy while the CRM runs), PostgreSQL's `pg_dump` in its custom format, taken from an
exported snapshot in which the manifest's row counts are read too. The project folder
(its YAML, and the designer's layer when there is one) goes along, so a restore knows what
the database was built from.

A restore goes into an **empty** database of the same kind, and refuses an archive made by
another engine version or for another project version unless told (`allow_mismatch`; then
run `tailor migrate`). After restoring, every table's row count is compared with the
manifest.

Modules: `archive` (the file, its manifest and checks), `database` (copying a database
out and in), `schedule` (backups by the job runner, and how many are kept).
"""

from __future__ import annotations

from .archive import BackupError, Manifest, read_manifest, verify_archive, write_backup
from .restore import restore_backup

__all__ = ["BackupError", "Manifest", "read_manifest", "restore_backup", "verify_archive", "write_backup"]
