"""Backup and restore: an archive restores into an empty database with every row of every
table as it was (SQLite and PostgreSQL); what is not a whole, matching archive is refused
before anything is written; a backup killed half-way leaves nothing taken for a backup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.backup import BackupError, read_manifest, restore_backup, verify_archive, write_backup
from engine.backup.archive import PARTIAL
from engine.backup.sealing import PASSPHRASE_SETTING
from engine.cli import cli
from engine.model import load_model
from engine.records import RecordService
from engine.storage import make_engine
from engine.users import create_user

PG_URL = os.environ.get("TAILOR_TEST_DATABASE_URL")

FILES = {
    "entities/customer.yaml": """
        entity: customer
        label: {en: Customer, zh: 客户}
        fields:
          name: {type: string, required: true, label: {en: Name, zh: 名称}}
          amount: {type: decimal, precision: 12, scale: 2, label: {en: Amount, zh: 金额}}
          main_contact: {type: link, to: contact, label: {en: Main contact, zh: 主联系人}}
        """,
    "entities/contact.yaml": """
        entity: contact
        label: {en: Contact, zh: 联系人}
        fields:
          name: {type: string, required: true, label: {en: Name, zh: 姓名}}
          customer: {type: link, to: customer, label: {en: Customer, zh: 客户}}
        """,
}


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


@pytest.fixture
def project(make_project):
    return make_project(FILES, name="shop")


@pytest.fixture
def filled(project, db_url):
    """A migrated database with records that link to each other, a deleted record (so
    the id counters are ahead of the rows), comments, audit rows and a user."""
    result = run("migrate", project, "--database", db_url)
    assert result.exit_code == 0, result.output
    engine = make_engine(db_url)
    service = RecordService(load_model(project, entry_points=False), engine)
    create_user(engine, "li.lei", "s3cret-pass", display_name="李雷", is_admin=True)
    for n in range(12):
        customer = service.create("customer", {"name": f"客户 {n}", "amount": f"{n}.25"})
        contact = service.create("contact", {"name": f"Contact {n}", "customer": customer["id"]})
        service.update("customer", customer["id"], {"main_contact": contact["id"]}, version=customer["version"])
        service.add_comment("customer", customer["id"], f"note {n} — 备注")
    gone = service.create("customer", {"name": "to delete"})
    service.delete("customer", gone["id"])
    yield engine
    engine.dispose()


def every_row(engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        names = sorted(sa.inspect(conn).get_table_names())
        tables = sa.MetaData()
        tables.reflect(conn, only=names)
        return {name: sorted(conn.execute(sa.select(tables.tables[name])).all(), key=repr) for name in names}


@pytest.fixture
def empty_target(tmp_path, db_url):
    """An empty database of the same kind as `db_url` (PostgreSQL: a new database)."""
    created = []

    def make() -> str:
        if db_url.startswith("sqlite"):
            return f"sqlite:///{tmp_path / f'restored-{uuid.uuid4().hex[:6]}.sqlite'}"
        name = f"tailor_restore_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        created.append(name)
        source = sa.make_url(db_url)
        return source.set(database=name).render_as_string(hide_password=False)

    yield make
    if created:
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in created:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_backup_restores_every_row_of_every_table(filled, project, tmp_path, empty_target):
    archive = tmp_path / "backups" / "shop.tar.gz"
    manifest = write_backup(filled, project, archive)
    assert manifest.project == "test" and manifest.tables["customer"] == 12
    assert "project/entities/customer.yaml" in manifest.files
    target = make_engine(empty_target())
    model = load_model(project, entry_points=False)
    restore_backup(archive, target, model.project, model.version)
    before, after = every_row(filled), every_row(target)
    assert set(after) == set(before) and len(before) > 10
    for name in before:
        assert after[name] == before[name], name
    # ids are never reused after a restore either: the counters came along
    service = RecordService(model, target)
    new = service.create("customer", {"name": "after the restore"})
    with filled.connect() as conn:
        highest = conn.execute(sa.text("SELECT max(id) FROM customer")).scalar()
    assert new["id"] > highest + 1  # the deleted record's id stays used
    target.dispose()


def test_a_restore_checks_everything_before_it_writes(filled, project, tmp_path, empty_target):
    archive = tmp_path / "shop.tar.gz"
    write_backup(filled, project, archive)
    model = load_model(project, entry_points=False)
    # not into a database that has tables
    with pytest.raises(BackupError, match="empty database"):
        restore_backup(archive, filled, model.project, model.version)
    # not an archive of another project or project version, unless allowed
    target = make_engine(empty_target())
    with pytest.raises(BackupError, match="not 'other'"):
        restore_backup(archive, target, "other", model.version)
    with pytest.raises(BackupError, match="project version"):
        restore_backup(archive, target, model.project, "0" * 16)
    assert every_row(target) == {}
    restore_backup(archive, target, model.project, "0" * 16, allow_mismatch=True)
    assert every_row(target)["customer"] == every_row(filled)["customer"]
    target.dispose()


def test_a_damaged_archive_is_refused(filled, project, tmp_path):
    archive = tmp_path / "shop.tar.gz"
    write_backup(filled, project, archive)
    data = archive.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(BackupError, match="damaged|incomplete"):
        verify_archive(cut)
    # a member changed after the manifest was written: its checksum no longer matches
    changed = tmp_path / "changed.tar.gz"
    with tarfile.open(archive) as source, tarfile.open(changed, "w:gz") as out:
        for member in source:
            content = source.extractfile(member).read()
            if member.name == "project/entities/customer.yaml":
                content = content.replace(b"Customer", b"Client!!")
            member.size = len(content)
            import io

            out.addfile(member, io.BytesIO(content))
    with pytest.raises(BackupError, match="damaged"):
        verify_archive(changed)
    not_one = tmp_path / "other.tar.gz"
    not_one.write_bytes(b"hello")
    with pytest.raises(BackupError, match="not a Tailor backup"):
        verify_archive(not_one)
    with pytest.raises(BackupError, match="already exists"):
        write_backup(filled, project, archive)


def test_an_encrypted_archive_opens_only_with_its_passphrase(filled, project, tmp_path, empty_target):
    archive = tmp_path / "shop.tar.gz.sealed"
    write_backup(filled, project, archive, passphrase="correct horse")
    raw = archive.read_bytes()
    assert b"manifest.json" not in raw and "客户".encode() not in raw
    with pytest.raises(BackupError, match="TAILOR_BACKUP_PASSPHRASE"):
        verify_archive(archive)
    with pytest.raises(BackupError, match="wrong passphrase"):
        verify_archive(archive, "wrong horse")
    for damaged in (raw[:-1], raw[:100] + bytes([raw[100] ^ 1]) + raw[101:], raw + b"x"):
        bad = tmp_path / "bad.sealed"
        bad.write_bytes(damaged)
        with pytest.raises(BackupError):
            verify_archive(bad, "correct horse")
    assert read_manifest(archive, "correct horse").tables["contact"] == 12
    model = load_model(project, entry_points=False)
    target = make_engine(empty_target())
    restore_backup(archive, target, model.project, model.version, passphrase="correct horse")
    assert every_row(target)["contact"] == every_row(filled)["contact"]
    target.dispose()


def test_the_command_line_backs_up_checks_and_restores(filled, project, db_url, tmp_path, empty_target):
    folder = tmp_path / "archives"
    env = {PASSPHRASE_SETTING: "a long passphrase"}
    made = []
    for _ in range(3):
        result = run("backup", project, "--database", db_url, "--output",
                     folder / f"tailor-test-2026120{len(made) + 1}T000000Z.tar.gz.sealed", "--encrypt", "--keep", 2,
                     env=env)
        assert result.exit_code == 0, result.output
        assert "encrypted" in result.output and "12" in result.output
        made.append(result)
    assert "removed" in made[-1].output
    kept = sorted(p.name for p in folder.iterdir())
    assert kept == ["tailor-test-20261202T000000Z.tar.gz.sealed", "tailor-test-20261203T000000Z.tar.gz.sealed"]
    newest = folder / kept[-1]
    checked = run("restore", project, newest, "--check", env=env)
    assert checked.exit_code == 0 and "intact" in checked.output, checked.output
    refused = run("restore", project, newest, "--database", db_url, env=env)
    assert refused.exit_code == 2 and "empty database" in refused.output and "nothing was restored" in refused.output
    target = empty_target()
    restored = run("restore", project, newest, "--database", target, env=env)
    assert restored.exit_code == 0, restored.output
    engine = make_engine(target)
    assert every_row(engine)["customer"] == every_row(filled)["customer"]
    engine.dispose()
    no_key = run("backup", project, "--database", db_url, "--encrypt", env={PASSPHRASE_SETTING: ""})
    assert no_key.exit_code == 2 and PASSPHRASE_SETTING in no_key.output


def test_a_backup_killed_half_way_leaves_no_archive(project, tmp_path):
    """`kill -9` while the archive is written: no file under the archive's name, and the
    half-written file is refused as an unfinished backup."""
    url = f"sqlite:///{tmp_path / 'big.sqlite'}"
    assert run("migrate", project, "--database", url).exit_code == 0
    engine = make_engine(url)
    with engine.begin() as conn:  # some megabytes of random text, so the backup takes a while
        now = datetime.now(UTC)
        rows = [{"name": os.urandom(3000).hex(), "at": now} for _ in range(4000)]
        conn.execute(sa.text("INSERT INTO customer (name, created_at, updated_at) VALUES (:name, :at, :at)"), rows)
    engine.dispose()
    folder = tmp_path / "archives"
    target = folder / "killed.tar.gz"
    process = subprocess.Popen([str(Path(sys.executable).parent / "tailor"), "backup", str(project), "--database", url,
                                "--output", str(target)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (folder.is_dir() and any(folder.iterdir())):
        time.sleep(0.01)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the backup ended before it was killed: make the database larger"
    assert not target.exists()
    leftovers = list(folder.iterdir())
    assert leftovers, "the backup left nothing behind: it was killed before it started"
    for path in leftovers:
        assert path.name.endswith(PARTIAL) or path.name.startswith(".tailor-backup-")
        if path.is_file():
            with pytest.raises(BackupError, match="unfinished"):
                verify_archive(path)
    # the next backup into the same folder works, and is whole
    write_backup(make_engine(url), project, target)
    assert verify_archive(target).tables["customer"] == 4000


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL only: a database whose tables are in its public schema")
def test_a_public_schema_database_restores_into_a_new_database(project):
    """The usual production case: the dump's `public` schema exists in any new database."""
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    names = [f"tailor_public_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with admin.connect() as conn:
        for name in names:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    urls = [sa.make_url(PG_URL).set(database=n).render_as_string(hide_password=False) for n in names]
    try:
        assert run("migrate", project, "--database", urls[0]).exit_code == 0
        source = make_engine(urls[0])
        RecordService(load_model(project, entry_points=False), source).create("customer", {"name": "Acme"})
        archive = project.parent / "public.tar.gz"
        write_backup(source, project, archive)
        target = make_engine(urls[1])
        model = load_model(project, entry_points=False)
        restore_backup(archive, target, model.project, model.version)
        assert every_row(target) == every_row(source)
        source.dispose()
        target.dispose()
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
