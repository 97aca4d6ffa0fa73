"""The backup archive: a gzipped tar of `manifest.json`, the database copy and the project
folder, written under a temporary name and renamed only when complete."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .. import __version__
from . import database, sealing
from .errors import BackupError

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}
PROJECT = "project/"
PARTIAL = ".partial"
WORK_PREFIX = ".tailor-backup-"  # the folder a backup is assembled in
SKIPPED = {"instance", "__pycache__", ".git", "node_modules"}  # never part of a project's definition
CHUNK = 1 << 20


@dataclass
class Manifest:
    """What an archive holds; `files` maps each member to its SHA-256."""

    project: str
    database: str
    engine_version: str
    metadata_version: str | None
    engine_revision: str | None
    created_at: str
    tables: dict[str, int]
    files: dict[str, str] = field(default_factory=dict)
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise BackupError(f"this archive has format {raw.get('format')!r}; this Tailor reads format {FORMAT}")
            return cls(**{k: raw[k] for k in cls.__dataclass_fields__})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackupError(f"the archive's manifest is unreadable ({exc})") from None


def default_name(project: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"tailor-{project}-{stamp}.tar.gz"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _project_files(root: Path) -> Iterator[tuple[Path, str]]:
    root = Path(root)
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part in SKIPPED or part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        yield path, PROJECT + relative.as_posix()


def database_versions(engine: Engine) -> tuple[str | None, str | None, str | None]:
    """The project the database was last migrated for, that project version, and the
    engine tables' revision (None where the database has no such table yet)."""
    from ..storage.system import ALEMBIC_VERSION_TABLE, metadata_version

    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
        project = version = revision = None
        if metadata_version.name in names:
            row = conn.execute(sa.select(metadata_version.c.project, metadata_version.c.version)
                               .order_by(metadata_version.c.applied_at.desc(), metadata_version.c.id.desc())
                               .limit(1)).first()
            if row is not None:
                project, version = row
        if ALEMBIC_VERSION_TABLE in names:
            revision = conn.exec_driver_sql(f"SELECT version_num FROM {ALEMBIC_VERSION_TABLE}").scalar()
    return project, version, revision


def write_backup(engine: Engine, project_dir: Path, target: Path, passphrase: str | None = None) -> Manifest:
    """Write one archive to `target` (a file that must not exist yet), encrypted when a
    passphrase is given. Either the archive is complete under that name, or there is nothing
    under that name. The project's name is the one the database was migrated for (a backup
    works even while the YAML is broken)."""
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target} already exists: a backup never overwrites a file")
    target.parent.mkdir(parents=True, exist_ok=True)
    kind = database.kind_of(engine)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=WORK_PREFIX) as work:
        copy = Path(work) / DATABASE[kind]
        project, version, revision = database_versions(engine)
        if project is None:
            raise BackupError("this database holds no Tailor project yet (run `tailor migrate` first)")
        tables = database.dump(engine, copy)
        manifest = Manifest(project=project, database=kind, engine_version=__version__, metadata_version=version,
                            engine_revision=revision, created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                            tables=tables)
        members = [(copy, DATABASE[kind]), *_project_files(project_dir)]
        manifest.files = {name: _sha256(path) for path, name in members}
        plain = Path(work) / "archive.tar.gz"
        with open(plain, "wb") as handle:
            with tarfile.open(fileobj=handle, mode="w:gz") as tar:
                data = manifest.to_json()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime = len(data), int(datetime.now(UTC).timestamp())
                tar.addfile(info, io.BytesIO(data))
                for path, name in members:
                    tar.add(path, arcname=name, recursive=False)
        # a name of its own: two writers of the same scheduled backup never share a file
        partial = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}{PARTIAL}")
        try:
            if passphrase:
                sealing.seal(plain, partial, passphrase)
            else:
                os.replace(plain, partial)
            with open(partial, "rb+") as handle:
                os.fsync(handle.fileno())
            _publish(partial, target)
            _sync_folder(target.parent)
        finally:
            partial.unlink(missing_ok=True)
    return manifest


def _publish(partial: Path, target: Path) -> None:
    """Give the finished file its final name, never replacing a file of that name (a hard
    link fails when the name is taken; a rename is the fallback where links are not
    supported)."""
    try:
        os.link(partial, target)
    except FileExistsError:
        raise BackupError(f"{target} already exists: a backup never overwrites a file") from None
    except OSError:
        if target.exists():
            raise BackupError(f"{target} already exists: a backup never overwrites a file") from None
        os.replace(partial, target)


def _sync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextmanager
def opened(path: Path, passphrase: str | None = None) -> Iterator[Path]:
    """The path of the archive as a plain tar.gz: the file itself, or its decrypted copy in
    a temporary folder (removed afterwards) when it is encrypted."""
    path = Path(path)
    _check_name(path)
    if not sealing.is_sealed(path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="tailor-unsealed-") as work:
        plain = Path(work) / "archive.tar.gz"
        sealing.unseal(path, plain, passphrase or "")
        yield plain


def read_manifest(path: Path, passphrase: str | None = None) -> Manifest:
    """The manifest alone (no checksum is verified: see `verify_archive`)."""
    with opened(path, passphrase) as plain, _open(plain) as tar:
        return _manifest_of(tar)


def verify_archive(path: Path, passphrase: str | None = None) -> Manifest:
    """The manifest of an archive whose every member is present, expected and intact."""
    with opened(path, passphrase) as plain:
        return verify_plain(plain)


def verify_plain(path: Path) -> Manifest:
    with _open(path) as tar:
        manifest = _manifest_of(tar)
        seen = set()
        try:
            for member in tar:
                if member.name == MANIFEST:
                    continue
                if member.name not in manifest.files or not member.isfile():
                    raise BackupError(f"the archive holds {member.name!r}, which its manifest does not name")
                if _member_sha256(tar, member) != manifest.files[member.name]:
                    raise BackupError(f"{member.name} in the archive is damaged (its checksum differs)")
                seen.add(member.name)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise BackupError(f"the archive is damaged or incomplete ({exc})") from None
        missing = set(manifest.files) - seen
        if missing:
            raise BackupError(f"the archive lacks {', '.join(sorted(missing))}")
        if DATABASE.get(manifest.database) not in manifest.files:
            raise BackupError("the archive holds no database")
    return manifest


def _member_sha256(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    digest = hashlib.sha256()
    handle = tar.extractfile(member)
    for chunk in iter(lambda: handle.read(CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def extract_member(path: Path, name: str, target: Path) -> None:
    with _open(path) as tar:
        handle = tar.extractfile(name)
        if handle is None:
            raise BackupError(f"the archive lacks {name}")
        with open(target, "wb") as out:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                out.write(chunk)


def _check_name(path: Path) -> None:
    if path.name.endswith(PARTIAL) or path.name.startswith(WORK_PREFIX):
        raise BackupError(f"{path} is an unfinished backup (its writer stopped before the end): not a backup")
    if not path.is_file():
        raise BackupError(f"{path}: no such file")


def _open(path: Path) -> tarfile.TarFile:
    path = Path(path)
    _check_name(path)
    try:
        return tarfile.open(path, mode="r:gz")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{path} is not a Tailor backup ({exc})") from None


def _manifest_of(tar: tarfile.TarFile) -> Manifest:
    try:
        first = tar.next()
        if first is None or first.name != MANIFEST:
            raise BackupError("not a Tailor backup: it does not start with manifest.json")
        return Manifest.from_json(tar.extractfile(first).read())
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BackupError(f"the archive is damaged or incomplete ({exc})") from None
