"""The `tailor` command line.

    tailor check PROJECT                  validate; exit 0 with a summary (and any warnings), 2 with every problem
    tailor explain PROJECT ENTITY[.FIELD|.RULE]  where an entity, field or rule comes from, and what it is
    tailor diff OLD NEW [--json] [--lang zh] [--database URL]   what changes from one project to another
    tailor migrate PROJECT [--plan|--sql] [--allow-destructive] [--write-revision DIR]
    tailor demo-data PROJECT              load the project's demo/*.yaml records
    tailor user create USERNAME           add a user
    tailor user password USERNAME         set a user's password (ends their sessions)
    tailor user deactivate|activate USERNAME   switch a user off (ends their sessions) or on
    tailor user sign-out USERNAME         end every session of a user
    tailor keys generate                  print a new encryption key (for TAILOR_ENCRYPTION_KEY)
    tailor keys rotate PROJECT            re-encrypt every encrypted value under the current key
    tailor user reset-2fa USERNAME        turn a user's two-factor sign-in off (lost phone)
    tailor design list PROJECT            the designer layer's change sets
    tailor design apply PROJECT FILE.yaml [--preview] [--comment TEXT]   apply a change set of ops
    tailor design revert PROJECT N        take change set N back
    tailor design export PROJECT --to DIR write the designer layer as a YAML layer folder
    tailor design clear PROJECT           empty the designer layer (once the project's YAML holds it)
    tailor design drop-column PROJECT ENTITY.FIELD --confirm N   drop a hidden field's column
    tailor import ENTITY FILE             import CSV/XLSX through the records service (--dry-run, --mode, --key)
    tailor import-revert RUN              undo an import run (unless its records changed since)
    tailor export ENTITY --format csv|xlsx  export the records you may export, streamed

Every command reads `TAILOR_*` environment variables (see engine.config); `--database`
overrides TAILOR_DATABASE_URL. User mistakes print a message, never a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from .config import Settings
from .errors import ProjectError
from .fields.encryption import EncryptionKeyError

EXIT_PROBLEMS = 2


def _model(project: str, engine=None):
    """The project's model; with the database `engine`, with its designer layer too."""
    from .model import load_model

    try:
        if engine is not None:
            from .design import load_project_model

            return load_project_model(project, engine)
        return load_model(project)
    except ProjectError as exc:
        for problem in [*exc.problems, *exc.warnings]:
            click.echo(str(problem), err=True)
        counted = f" and {len(exc.warnings)} warning(s)" if exc.warnings else ""
        click.echo(f"{len(exc.problems)} problem(s){counted} found in {project}", err=True)
        sys.exit(EXIT_PROBLEMS)


def _engine(project: str, database: str | None):
    from .storage import make_engine

    settings = Settings.from_env(database_url=database)
    try:
        return make_engine(settings.database_url_for(Path(project)))
    except (ArgumentError, NoSuchModuleError) as exc:
        click.echo(f"error: not a usable database URL: {exc}", err=True)
        click.echo("use e.g. sqlite:///path/to/file.sqlite or postgresql+psycopg://user@host/db", err=True)
        sys.exit(EXIT_PROBLEMS)


def _existing_engine(project: str, database: str | None):
    """The project's database when one is configured or its default SQLite file exists
    (never creates one), else None."""
    settings = Settings.from_env(database_url=database)
    url = settings.database_url_for(Path(project))
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    return _engine(project, database)


class TailorGroup(click.Group):
    """Loads plugin commands lazily and turns expected failures into messages."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OperationalError as exc:
            click.echo(f"error: cannot use the database: {str(exc.orig).strip().splitlines()[0]}", err=True)
            sys.exit(1)
        except EncryptionKeyError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_PROBLEMS)
        except ModuleNotFoundError as exc:
            click.echo(f"error: the database driver is not installed ({exc.name}); Tailor supports "
                       "SQLite and PostgreSQL (psycopg)", err=True)
            sys.exit(EXIT_PROBLEMS)


@click.group(cls=TailorGroup)
@click.version_option(package_name="tailor-crm")
def cli() -> None:
    """Tailor: a CRM engine driven by YAML metadata."""


database_option = click.option("--database", "database", metavar="URL", default=None,
                               help="SQLAlchemy URL (default: TAILOR_DATABASE_URL, else PROJECT/instance/tailor.sqlite)")


@cli.command()
@click.argument("project", type=click.Path(file_okay=False))
@click.option("--strict", is_flag=True,
              help="Warnings (W codes: texts a project language lacks) fail the check too (exit 2).")
def check(project: str, strict: bool) -> None:
    """Validate PROJECT and print a summary, or every problem found. Warnings (W codes) are
    printed too, but only errors make it fail (with --strict, warnings too)."""
    model = _model(project)
    for warning in model.warnings:
        click.echo(str(warning), err=True)
    if strict and model.warnings:
        click.echo(f"{len(model.warnings)} warning(s) found in {project} (--strict: they count as problems)",
                   err=True)
        sys.exit(EXIT_PROBLEMS)
    entities = len(model.entities)
    fields = sum(len(e.fields) for e in model.entities.values())
    layers = {e.origin.defined_in for e in model.entities.values() if e.origin}
    for entity in model.entities.values():
        for change in entity.origin.changes if entity.origin else ():
            layers.add(change[0])
    click.echo(f"{project}: ok — project '{model.project}', {entities} entities, {fields} fields, "
               f"{len(model.metadata.tables) - 1} tables, layers: {', '.join(sorted(layers))}; "
               f"metadata version {model.version}"
               + (f"; {len(model.warnings)} warning(s)" if model.warnings else ""))


@cli.command()
@click.argument("project", type=click.Path(file_okay=False))
@click.argument("target")
@database_option
def explain(project: str, target: str, database: str | None) -> None:
    """Show what TARGET is and where it comes from: ENTITY, ENTITY.FIELD (with each option's
    labels, colour and layer) or ENTITY.RULE (also ENTITY.rules.RULE). With a database (the
    project's default SQLite file when it exists), the designer layer counts too."""
    from .explain import ExplainError
    from .explain import explain as explain_target

    model = _model(project, _existing_engine(project, database))
    try:
        lines = explain_target(model, target)
    except ExplainError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_PROBLEMS)
    for line in lines:
        click.echo(line)


EXIT_DIFFERENT = 1


@cli.command()
@click.argument("old", type=click.Path(file_okay=False))
@click.argument("new", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON (keys: docs/diff.md).")
@click.option("--lang", "language", type=click.Choice(["en", "zh"]), default="en", show_default=True,
              help="Language of the text.")
@click.option("--database", "database", metavar="URL", default=None,
              help="A database at OLD: count the rows and values the migration touches (only read).")
@click.option("--designer", "with_designer", is_flag=True,
              help="Compile NEW with the designer layer stored in the database (--database, or the "
                   "project's own): `tailor diff P P --designer` shows what the designer changed.")
def diff(old: str, new: str, as_json: bool, language: str, database: str | None, with_designer: bool) -> None:
    """What changes from project folder OLD to NEW: entities, fields, options, indexes, rules,
    roles and field permissions, workflows and approval flows, and the migration with what
    data it touches. Exit 0: no differences; 1: differences; 2: an error (a project with
    problems, printed as `tailor check` prints them, or an unusable database)."""
    import json

    from .diff import diff_models, render, to_json

    old_model = _model(old)
    if with_designer:
        layered = _existing_engine(new, database)
        if layered is None:
            click.echo(f"error: --designer needs the database of {new} (--database or TAILOR_DATABASE_URL)", err=True)
            sys.exit(EXIT_PROBLEMS)
        try:
            new_model = _model(new, layered)
        finally:
            layered.dispose()
    else:
        new_model = _model(new)
    engine = _engine(old, database) if database else None
    if engine is not None and engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:") \
            and not Path(engine.url.database).is_file():  # connecting would create an empty file
        click.echo(f"error: no database file {engine.url.database}", err=True)
        sys.exit(EXIT_PROBLEMS)
    try:
        result = diff_models(old_model, new_model, engine=engine, old_path=old, new_path=new)
    except OperationalError as exc:
        click.echo(f"error: cannot use the database: {str(exc.orig).strip().splitlines()[0]}", err=True)
        sys.exit(EXIT_PROBLEMS)
    finally:
        if engine is not None:
            engine.dispose()
    if as_json:
        click.echo(json.dumps(to_json(result), ensure_ascii=False, indent=2))
    else:
        click.echo(render(result, language))
    sys.exit(EXIT_DIFFERENT if result.different else 0)


@cli.command()
@click.argument("project", type=click.Path(file_okay=False))
@database_option
@click.option("--plan", "plan_only", is_flag=True, help="Print the plan and change nothing.")
@click.option("--sql", "sql_only", is_flag=True, help="Print the DDL the migration would run and change nothing.")
@click.option("--allow-destructive", is_flag=True, help="Also apply changes that drop or may lose data.")
@click.option("--write-revision", "revision_dir", type=click.Path(file_okay=False), default=None,
              help="Write the plan as an Alembic revision file into DIR and change nothing.")
def migrate(project: str, database: str | None, plan_only: bool, sql_only: bool, allow_destructive: bool,
            revision_dir: str | None) -> None:
    """Bring the database in line with PROJECT without losing data silently."""
    from .migrate import (
        DestructiveChangeRefused,
        MigrationBlocked,
        MigrationError,
        NothingToWrite,
        PlanOutdated,
        apply_plan,
        plan_migration,
        write_revision,
    )
    engine = _engine(project, database)
    model = _model(project, engine)  # the designer layer re-applied over the YAML as it is now
    plan = plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version,
                          allow_destructive=allow_destructive)
    if sql_only:
        click.echo(plan.sql(engine))
        return
    click.echo(plan.render())
    if revision_dir:
        try:
            path = write_revision(plan, Path(revision_dir), f"{model.project} {model.version}")
        except NothingToWrite as exc:
            click.echo(str(exc))
            return
        click.echo(f"wrote {path}")
        return
    if plan_only:
        return

    def step(operation) -> None:
        if model.plugins is not None:
            model.plugins.hook.tailor_migration_step(operation=operation)

    try:
        applied = apply_plan(engine, plan, allow_destructive=allow_destructive, on_step=step)
    except MigrationBlocked as exc:
        click.echo(str(exc), err=True)
        click.echo("nothing was changed; fix the data first (the flag cannot help here)", err=True)
        sys.exit(EXIT_PROBLEMS)
    except DestructiveChangeRefused as exc:
        click.echo(str(exc), err=True)
        click.echo("nothing was changed; re-run with --allow-destructive to apply them", err=True)
        sys.exit(EXIT_PROBLEMS)
    except PlanOutdated as exc:
        click.echo(f"{exc}\nnothing was changed; review the new plan and run again", err=True)
        sys.exit(EXIT_PROBLEMS)
    except MigrationError as exc:
        click.echo(f"migration failed, nothing was changed: {exc}", err=True)
        sys.exit(1)
    _record_version(engine, model)
    click.echo(f"applied {len(applied)} change(s); database is at metadata version {model.version}")


def _record_version(engine, model) -> None:
    """The database is at `model.version` now (a version seen before moves to the top)."""
    from .design.service import note_recorded, record_version
    from .storage import write_engine

    with write_engine(engine).begin() as conn:
        record_version(conn, model)
    note_recorded()


def _port_free(host: str, port: int) -> bool:
    """Whether the development server can listen there (said plainly, not as a traceback)."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is free
            probe.bind((host, port))
    except OSError:
        return False
    return True


@cli.command()
@click.argument("project", type=click.Path(file_okay=False))
@database_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(project: str, database: str | None, host: str, port: int) -> None:
    """Serve PROJECT's pages with the development server (production: see docs/deploy.md)."""
    from .web import create_app

    settings = Settings.from_env(project=project, database_url=database)
    if not _port_free(host, port):  # before the app: it starts the job runner's thread
        click.echo(f"error: port {port} on {host} is in use by another program: choose another with --port "
                   f"(make demo PORT=5050)", err=True)
        sys.exit(EXIT_PROBLEMS)
    try:
        app = create_app(settings)
    except ProjectError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_PROBLEMS)
    click.echo(f"serving {project} at http://{host}:{port}/ (sign in with a user from `tailor user create` "
               "or the demo data)")
    app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)


@cli.command()
@click.argument("project", type=click.Path(file_okay=False))
@database_option
@click.option("--interval", default=10.0, show_default=True, help="Seconds between looks for due jobs.")
@click.option("--once", is_flag=True, help="Run the jobs due now, then stop (for cron or a test).")
def worker(project: str, database: str | None, interval: float, once: bool) -> None:
    """Run background jobs (approval timeouts and reminders, e-mails) for production; the
    web app runs them in-process unless TAILOR_JOBS=off. Several workers may run at once."""
    import signal
    import threading

    from .backup import BackupError
    from .backup.schedule import seed
    from .design.live import LiveModel
    from .jobs import JobRunner, job_handlers

    engine = _engine(project, database)
    model = _model(project, engine)
    live = LiveModel(Path(project), engine, model)
    try:
        slot = seed(engine, Settings.from_env().extra, Path(project))
    except BackupError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_PROBLEMS)
    if slot is not None:
        click.echo(f"next scheduled backup: {slot.isoformat()}")
    runner = JobRunner(lambda: live.current[1], job_handlers(model), refresh=live.refresh)
    if once:
        click.echo(f"{runner.run_due()} job(s) done")
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(f"worker {runner.name}: running due jobs every {interval:g} s (Ctrl-C stops)")
    try:
        runner.loop(interval, stop)
    except KeyboardInterrupt:
        pass


@cli.command("demo-data")
@click.argument("project", type=click.Path(file_okay=False))
@database_option
def demo_data(project: str, database: str | None) -> None:
    """Load PROJECT's demo/*.yaml (users and records); skipped when records already exist."""
    from .demo import DemoError, load_demo
    from .migrate import upgrade_system_tables

    engine = _engine(project, database)
    upgrade_system_tables(engine)
    model = _model(project, engine)  # with the designer layer
    try:
        summary = load_demo(model, engine, Path(project))
    except (DemoError, ProjectError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_PROBLEMS)
    click.echo(summary)


@cli.command()
@click.argument("project", type=click.Path(file_okay=False))
@database_option
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="The archive to write (default: PROJECT/instance/backups/tailor-NAME-TIME.tar.gz).")
@click.option("--encrypt", is_flag=True, help="Encrypt the archive with the passphrase in TAILOR_BACKUP_PASSPHRASE.")
@click.option("--keep", type=click.IntRange(min=1), default=None,
              help="Then remove all but the newest N archives of the project in the archive's folder.")
def backup(project: str, database: str | None, output: str | None, encrypt: bool, keep: int | None) -> None:
    """Write one consistent archive of the database and the project folder (see docs/backup.md)."""
    from .backup import BackupError, write_backup
    from .backup.archive import database_versions, default_name
    from .backup.schedule import SEALED, prune
    from .backup.sealing import PASSPHRASE_SETTING

    engine = _engine(project, database)
    passphrase = os.environ.get(PASSPHRASE_SETTING) if encrypt else None
    try:
        if encrypt and not passphrase:
            raise BackupError(f"--encrypt needs the passphrase in {PASSPHRASE_SETTING}")
        name = database_versions(engine)[0] or Path(project).resolve().name
        target = Path(output) if output else \
            Path(project) / "instance" / "backups" / (default_name(name) + (SEALED if encrypt else ""))
        manifest = write_backup(engine, Path(project), target, passphrase)
        removed = prune(target.parent, manifest.project, keep) if keep else []
    except BackupError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_PROBLEMS)
    size = target.stat().st_size
    click.echo(f"wrote {target} ({size:,} bytes{', encrypted' if encrypt else ''}): project {manifest.project} at "
               f"version {manifest.metadata_version}, {len(manifest.tables)} tables, "
               f"{sum(manifest.tables.values()):,} rows")
    for path in removed:
        click.echo(f"removed {path}")


@cli.command()
@click.argument("project", type=click.Path(file_okay=False))
@click.argument("archive", type=click.Path(dir_okay=False))
@database_option
@click.option("--check", "check_only", is_flag=True, help="Verify the archive against PROJECT; restore nothing.")
@click.option("--allow-mismatch", is_flag=True,
              help="Restore an archive of another engine or project version (then run tailor migrate).")
def restore(project: str, archive: str, database: str | None, check_only: bool, allow_mismatch: bool) -> None:
    """Restore ARCHIVE (written by tailor backup) into an empty database; an encrypted
    archive opens with TAILOR_BACKUP_PASSPHRASE."""
    from .backup import BackupError, restore_backup, verify_archive
    from .backup.restore import mismatches
    from .backup.sealing import PASSPHRASE_SETTING

    model = _model(project)
    passphrase = os.environ.get(PASSPHRASE_SETTING)
    try:
        if check_only:
            manifest = verify_archive(Path(archive), passphrase)
            problems = mismatches(manifest, model.project, model.version)
            click.echo(f"{archive}: intact; {manifest.database} database of project {manifest.project} at version "
                       f"{manifest.metadata_version}, {len(manifest.tables)} tables, made {manifest.created_at}")
            for problem in problems:
                click.echo(f"mismatch: {problem}")
            sys.exit(EXIT_PROBLEMS if problems else 0)
        manifest = restore_backup(Path(archive), _engine(project, database), model.project, model.version,
                                  allow_mismatch=allow_mismatch, passphrase=passphrase)
    except BackupError as exc:
        click.echo(f"error: {exc}", err=True)
        if "after the restore" not in str(exc):
            click.echo("nothing was restored", err=True)
        sys.exit(EXIT_PROBLEMS)
    click.echo(f"restored {archive}: {len(manifest.tables)} tables, {sum(manifest.tables.values()):,} rows")


@cli.group()
def user() -> None:
    """Manage users."""


@user.command("create")
@click.argument("username")
@click.option("--project", type=click.Path(file_okay=False), default=".", help="Project folder (for the default database).")
@database_option
@click.option("--name", "display_name", default=None)
@click.option("--email", default=None)
@click.option("--admin", is_flag=True, help="Bypass every permission (each bypass is audited).")
@click.option("--role", "roles", multiple=True, help="A role of roles.yaml (repeat for several).")
@click.option("--department", default=None, help="Department path, e.g. Sales/East China (created if new).")
@click.option("--manager", default=None, help="Username of the user's manager.")
@click.option("--language", default="en", type=click.Choice(["en", "zh"]))
@click.password_option(prompt_required=False, default=None)
def user_create(username, project, database, display_name, email, admin, roles, department, manager, language,
                password) -> None:
    """Create a user (the password is asked for when not given)."""
    import sqlalchemy as sa

    from . import admin_audit
    from .migrate import upgrade_system_tables
    from .permissions import org
    from .storage import users, write_engine
    from .users import UserError, create_user

    engine = _engine(project, database)
    upgrade_system_tables(engine)
    known = _model(project, engine).roles if roles else {}  # roles the designer added too
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with write_engine(engine).begin() as conn:
            user_id = create_user(conn, username, password, display_name=display_name, email=email,
                                  is_admin=admin, language=language)
            values = {}
            if department:
                values["department_id"] = org.department_path(conn, department)
            if manager:
                values["manager_id"] = conn.execute(sa.select(users.c.id).where(users.c.username == manager)).scalar()
                if values["manager_id"] is None:
                    raise org.OrgError(f"manager '{manager}' is not a user")
            if values:
                conn.execute(users.update().where(users.c.id == user_id).values(**values))
            if roles:
                org.set_roles(conn, user_id, roles, known)
            admin_audit.record(conn, admin_audit.CREATE, user_id, details={
                "roles": sorted(roles), "is_admin": bool(admin), "department": department or None})
    except (UserError, org.OrgError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_PROBLEMS)
    click.echo(f"created user {username} (id {user_id})" + (f" with roles {', '.join(sorted(roles))}" if roles else ""))


def _user_change(project: str, database: str | None, username: str, change, action: str) -> None:
    """Run `change(conn, user_id)` for USERNAME in one transaction, recorded in the admin
    audit log as `action` by "cli" (with the dict `change` returns as details); a clear
    error otherwise."""
    from . import admin_audit
    from .migrate import upgrade_system_tables
    from .storage import write_engine
    from .users import UserError, user_id_of

    engine = _engine(project, database)
    upgrade_system_tables(engine)
    try:
        with write_engine(engine).begin() as conn:
            user_id = user_id_of(conn, username)
            details = change(conn, user_id)
            admin_audit.record(conn, action, user_id, actor=admin_audit.CLI,
                               details=details if isinstance(details, dict) else None)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_PROBLEMS)


def _user_command(name: str, help_text: str):
    """A `tailor user NAME USERNAME --project --database` command."""
    def wrap(function):
        function.__doc__ = help_text
        command = click.argument("username")(function)
        command = click.option("--project", type=click.Path(file_okay=False), default=".",
                               help="Project folder (for the default database).")(command)
        command = database_option(command)
        return user.command(name)(command)
    return wrap


@_user_command("password", "Set USERNAME's password (asked for when not given); their sessions end.")
@click.password_option(prompt_required=False, default=None)
def user_password(username, project, database, password) -> None:
    from .users import set_password

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    _user_change(project, database, username, lambda conn, user_id: set_password(conn, user_id, password),
                 "set_password")
    click.echo(f"password of {username} changed; their sessions ended")


@_user_command("deactivate", "Switch USERNAME off: no sign-in, every session ends; records keep their owner.")
def user_deactivate(username, project, database) -> None:
    from .users import set_active

    _user_change(project, database, username, lambda conn, user_id: set_active(conn, user_id, False), "deactivate")
    click.echo(f"{username} deactivated; their sessions ended")


@_user_command("activate", "Let USERNAME sign in again.")
def user_activate(username, project, database) -> None:
    from .users import set_active

    _user_change(project, database, username, lambda conn, user_id: set_active(conn, user_id, True), "activate")
    click.echo(f"{username} activated")


@_user_command("sign-out", "End every session of USERNAME (their password keeps working).")
def user_sign_out(username, project, database) -> None:
    from .sessions import revoke_all

    ended: list[int] = []

    def sign_out(conn, user_id: int) -> dict[str, int]:
        ended.append(revoke_all(conn, user_id))
        return {"sessions": ended[0]}

    _user_change(project, database, username, sign_out, "sign_out")
    click.echo(f"{ended[0]} session(s) of {username} ended")
@user.command("reset-2fa")
@click.argument("username")
@click.option("--project", type=click.Path(file_okay=False), default=".", help="Project folder (for the default database).")
@database_option
def user_reset_2fa(username, project, database) -> None:
    """Turn a user's two-factor sign-in off (lost phone and recovery codes): their secret and
    recovery codes are forgotten; a role that requires it sends them to enrol again."""
    import sqlalchemy as sa

    from .migrate import upgrade_system_tables
    from .storage import users, write_engine
    from .two_factor import reset

    engine = _engine(project, database)
    upgrade_system_tables(engine)
    with write_engine(engine).begin() as conn:
        user_id = conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar()
        if user_id is None:
            click.echo(f"error: no user '{username}'", err=True)
            sys.exit(EXIT_PROBLEMS)
        had = reset(conn, user_id)
        if had:
            from . import admin_audit

            admin_audit.record(conn, admin_audit.RESET_TWO_FACTOR, user_id, actor=admin_audit.CLI)
    click.echo(f"two-factor sign-in of {username} reset" if had else f"{username} had no two-factor sign-in")


@cli.group()
def org() -> None:
    """The organisation: departments, managers, teams and roles of users."""


@org.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False, exists=True))
@click.option("--project", type=click.Path(file_okay=False), default=".", help="Project folder (roles and database).")
@database_option
def org_import(csv_file, project, database) -> None:
    """Import a staff list: CSV with username, display_name, email, department (Sales/East),
    manager (a username), roles and teams (;-separated), head (yes/no). All rows or none."""
    from . import admin_audit
    from .migrate import upgrade_system_tables
    from .permissions.org import OrgError, import_org, staff
    from .storage import write_engine

    engine = _engine(project, database)
    upgrade_system_tables(engine)
    model = _model(project, engine)  # with the designer layer
    try:
        text = Path(csv_file).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        click.echo("error: the file is not UTF-8 text (save it from Excel as 'CSV UTF-8')", err=True)
        sys.exit(EXIT_PROBLEMS)
    try:
        with write_engine(engine).begin() as conn:  # the import and its audit entries commit together
            before = staff(conn)
            counts = import_org(conn, text, model.roles)
            admin_audit.record_import(conn, before, staff(conn), Path(csv_file).name)
    except OrgError as exc:
        click.echo(f"error: {csv_file}: {exc}; nothing was imported", err=True)
        sys.exit(EXIT_PROBLEMS)
    click.echo(f"imported {csv_file}: {counts['created']} users created, {counts['updated']} updated")


def _acting(service, as_user: str | None):
    """The context of a command run as USER (their roles and scope), or as the engine."""
    from .records import Context
    from .storage import users
    from .workflows.duties import actor_of

    if not as_user:
        return Context()
    import sqlalchemy as sa

    with service.engine.connect() as conn:
        user_id = conn.execute(sa.select(users.c.id).where(users.c.username == as_user)).scalar()
        actor = actor_of(conn, user_id) if user_id is not None else None
    if actor is None:
        click.echo(f"error: no active user '{as_user}'", err=True)
        sys.exit(EXIT_PROBLEMS)
    return Context(actor=actor)


@cli.command("import")
@click.argument("entity")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--project", type=click.Path(file_okay=False), default=".", help="Project folder.")
@database_option
@click.option("--dry-run", is_flag=True, help="Check every row through every rule; write nothing.")
@click.option("--mode", type=click.Choice(["insert", "update", "upsert"]), default=None,
              help="insert (default), update or upsert existing records matched on --key.")
@click.option("--key", default=None, help="id or a unique field to match records on (update, upsert).")
@click.option("--mapping", "mapping_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="A YAML mapping of columns to fields (see --save-mapping).")
@click.option("--save-mapping", type=click.Path(dir_okay=False), default=None,
              help="Write the mapping used to this YAML file, to edit and reuse.")
@click.option("--sheet", default=None, help="The sheet of a workbook (default: the first).")
@click.option("--as", "as_user", default=None, help="Import as this user (their permissions apply).")
@click.option("--failed", "failed_file", type=click.Path(dir_okay=False), default=None,
              help="Write the failed rows with an error column to this .csv or .xlsx file.")
@click.option("--background", is_flag=True, help="Queue the import for `tailor worker` and print its number.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def import_command(entity, file, project, database, dry_run, mode, key, mapping_file, save_mapping, sheet, as_user,
                   failed_file, background, as_json) -> None:
    """Import FILE (CSV or XLSX) into ENTITY through the records service: every rule holds.
    Exit 0: every row imported; 1: some rows failed (listed); 2: the file or mapping was refused."""
    import json

    from .imports import ImportProblem, Mapping
    from .imports import runs as import_runs
    from .imports.files import failed_rows
    from .imports.messages import KEY_NEEDED
    from .migrate import upgrade_system_tables
    from .records import RecordError, RecordService

    engine = _engine(project, database)
    upgrade_system_tables(engine)
    model = _model(project, engine)  # with the designer layer
    service = RecordService(model, engine)
    context = _acting(service, as_user)
    language = context.actor.language
    data = Path(file).read_bytes()
    try:
        mapping = Mapping.from_yaml(Path(mapping_file).read_text(encoding="utf-8")) if mapping_file else None
        if mapping is None and (mode or key or sheet):
            mapping = Mapping(entity=entity, columns={})
        if mapping is not None:
            mapping.mode = mode or mapping.mode
            mapping.key = key or mapping.key
            mapping.sheet = sheet or mapping.sheet
        _entity, sheet_read, used = import_runs.prepare(service, entity, data, Path(file).name, mapping, context)
        # columns no field takes are said, never dropped in silence
        ignored = [h for h in sheet_read.headers if h and not used.columns.get(h) and h != used.group]
        if save_mapping:
            Path(save_mapping).write_text(used.to_yaml(), encoding="utf-8")
        if dry_run:
            summary = import_runs.dry_run(service, entity, data, Path(file).name, used, context,
                                          prepared=(_entity, sheet_read, used))
        else:
            run_id = import_runs.start(service, entity, data, Path(file).name, used, context,
                                       prepared=(_entity, sheet_read, used), here=not background)
            if background:
                click.echo(json.dumps({"run": run_id, "status": "queued"}) if as_json else
                           f"import #{run_id} queued: `tailor worker` runs it")
                return
            summary = _run_import(service, model, run_id, as_json, Path(project))
    except ImportProblem as exc:  # a mapping's problems are all said at once, a line each
        for problem in getattr(exc, "problems", None) or [exc]:
            click.echo(f"error: {problem.text(language)}", err=True)
            if problem.problem.message == KEY_NEEDED:
                click.echo("hint: name the key with --key FIELD (or map a column to it in --mapping)", err=True)
        sys.exit(EXIT_PROBLEMS)
    except RecordError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_PROBLEMS)
    if failed_file and summary.errors:
        table = sheet_read  # the sheet the mapping names: `prepare` read it
        with open(failed_file, "wb") as out:
            failed_rows(table, summary.errors, "xlsx" if failed_file.lower().endswith(".xlsx") else "csv", out,
                        language, used)
    if as_json:
        click.echo(json.dumps({**summary.to_dict(language), "ignored_columns": ignored}, ensure_ascii=False))
    else:
        if ignored:
            click.echo(f"columns not imported (no field matches them; map them with --mapping): "
                       f"{', '.join(ignored)}", err=True)
        what = "dry run" if summary.dry_run else f"import #{summary.run} {summary.status}"
        click.echo(f"{what}: {summary.counted()}: {summary.created} new, {summary.updated} updated, "
                   f"{summary.unchanged} unchanged, {summary.failed} failed")
        for error in summary.errors[:50]:
            line = error.to_dict(language)
            click.echo(f"  row {line['row']}" + (f", {line['column']}" if line["column"] else "") + f": {line['message']}")
        if len(summary.errors) > 50:
            click.echo(f"  … {len(summary.errors) - 50} more (--failed FILE writes them all)")
    sys.exit(1 if summary.failed else 0)


def _run_import(service, model, run_id: int, quiet: bool, project: Path):
    """A run in the foreground, through the job runner (its job claimed here, so a worker
    resumes it if this process dies; each batch under the database's current model), with
    a progress bar on a terminal."""
    import sqlalchemy as sa

    from .design.live import LiveModel
    from .imports import runs as import_runs
    from .jobs import JobRunner, job_handlers, now_utc
    from .storage import jobs

    live = LiveModel(project, service.engine, model, service)
    runner = JobRunner(lambda: live.current[1], job_handlers(model), refresh=live.refresh)
    bar = None
    if sys.stderr.isatty() and not quiet:
        total = import_runs.summary_of(service, run_id).total
        bar = click.progressbar(length=total, label=f"import #{run_id}", file=sys.stderr)
        bar.__enter__()
        state = {"done": 0}

        def progress(done: int, _total: int) -> None:
            bar.update(done - state["done"])
            state["done"] = done
        token = import_runs.PROGRESS.set(progress)
    try:
        runner.run_one(import_runs.job_id(service, run_id), now_utc())
    finally:
        if bar is not None:
            import_runs.PROGRESS.reset(token)
            bar.__exit__(None, None, None)
    summary = import_runs.summary_of(service, run_id)
    if summary.status not in ("done",):
        with service.engine.connect() as conn:
            error = conn.execute(sa.select(jobs.c.last_error).where(
                jobs.c.key == import_runs.job_key(run_id))).scalar()
        click.echo(f"error: import #{run_id} stopped: {error or summary.status}", err=True)
        sys.exit(EXIT_PROBLEMS)
    return summary


@cli.command("import-revert")
@click.argument("run_id", type=click.IntRange(min=1))
@click.option("--project", type=click.Path(file_okay=False), default=".", help="Project folder.")
@database_option
@click.option("--as", "as_user", default=None, help="Revert as this user (their permissions apply).")
@click.option("--background", is_flag=True, help="Queue the revert for `tailor worker` and print its job.")
def import_revert(run_id, project, database, as_user, background) -> None:
    """Undo import #RUN_ID: its new records deleted, its updated ones restored from the audit
    trail; refused, changing nothing, when any of them changed since. It runs through the
    job runner in batches (a progress bar on a terminal); if this process dies, a worker resumes it."""
    from .design.live import LiveModel
    from .imports import ImportProblem, reverts
    from .imports import runs as import_runs
    from .jobs import JobRunner, job_handlers, now_utc
    from .migrate import upgrade_system_tables
    from .records import RecordError, RecordService

    engine = _engine(project, database)
    upgrade_system_tables(engine)
    model = _model(project, engine)  # with the designer layer
    service = RecordService(model, engine)
    context = _acting(service, as_user)
    language = context.actor.language
    try:
        job = reverts.queue(service, run_id, context)
    except ImportProblem as exc:
        click.echo(f"error: {exc.text(language)}", err=True)
        sys.exit(EXIT_PROBLEMS)
    except RecordError as exc:
        click.echo(f"error: import #{run_id} was not reverted: {exc}", err=True)
        sys.exit(EXIT_PROBLEMS)
    if background:
        click.echo(f"revert of import #{run_id} queued (job {job}): `tailor worker` runs it")
        return
    live = LiveModel(Path(project), service.engine, model, service)
    runner = JobRunner(lambda: live.current[1], job_handlers(model), refresh=live.refresh)
    bar = None
    if sys.stderr.isatty():
        state = reverts.latest(service, run_id)
        bar = click.progressbar(length=state.total if state else 0, label=f"revert of import #{run_id}",
                                file=sys.stderr)
        bar.__enter__()
        seen = {"done": 0}

        def progress(done: int, _total: int) -> None:
            bar.update(done - seen["done"])
            seen["done"] = done
        token = import_runs.PROGRESS.set(progress)
    try:
        runner.run_one(job, now_utc())
    finally:
        if bar is not None:
            import_runs.PROGRESS.reset(token)
            bar.__exit__(None, None, None)
    try:
        counts = reverts.outcome(service, run_id, context)
    except ImportProblem as exc:
        click.echo(f"error: {exc.text(language)}", err=True)
        sys.exit(EXIT_PROBLEMS)
    click.echo(f"import #{run_id} reverted: {counts['deleted']} record(s) deleted, {counts['restored']} restored")
    state = reverts.latest(service, run_id)
    if state is not None and state.skipped_count:
        entity = model.entity(import_runs.summary_of(service, run_id).entity)
        click.echo(f"{state.skipped_count} record(s) left as they are (changed while the revert ran, or refused): "
                   f"{reverts.named(service, entity, [s['id'] for s in state.skipped], context, language)}", err=True)
        for skipped in state.skipped[:reverts.NAMED]:
            if skipped.get("text"):
                click.echo(f"  #{skipped['id']}: {skipped['text']}", err=True)


@cli.command("export")
@click.argument("entity")
@click.option("--project", type=click.Path(file_okay=False), default=".", help="Project folder.")
@database_option
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("--filter", "where", default=None, help="An expression records must match, e.g. \"level == 'high'\".")
@click.option("--sort", default=None, help="Fields to sort on, comma separated ('-' before one for descending).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="The file (default: standard output).")
@click.option("--as", "as_user", default=None, help="Export as this user (their permissions apply).")
def export_command(entity, project, database, fmt, where, sort, output, as_user) -> None:
    """Export ENTITY's records (those you may export) to CSV or XLSX, streamed."""
    from .imports.files import export
    from .records import RecordError, RecordService

    if fmt == "xlsx" and not output and sys.stdout.isatty():  # a spreadsheet is no text for a terminal
        click.echo("error: an XLSX export needs a file: add -o FILE.xlsx (or redirect the output)", err=True)
        sys.exit(EXIT_PROBLEMS)
    engine = _engine(project, database)
    model = _model(project, engine)  # with the designer layer
    if entity not in model.entities:
        click.echo(f"error: no entity '{entity}' in {project}", err=True)
        sys.exit(EXIT_PROBLEMS)
    service = RecordService(model, engine)
    context = _acting(service, as_user)
    order = tuple(s.strip() for s in sort.split(",") if s.strip()) if sort else None
    # a file appears only once the export is complete: a refused or broken one leaves none
    partial = Path(f"{output}.part") if output else None
    out = open(partial, "wb") if partial else sys.stdout.buffer  # noqa: SIM115 - closed below
    done = False
    try:
        count = export(service, entity, fmt, out, context, where=where, sort=order)
        done = True
    except RecordError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_PROBLEMS)
    finally:
        if partial:
            out.close()
            if done:
                os.replace(partial, output)
            else:
                partial.unlink(missing_ok=True)
    if output:
        click.echo(f"{count} {entity} record(s) written to {output}", err=True)


@cli.group()
def keys() -> None:
    """Encryption keys of encrypted fields (docs/security.md)."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new random key: base64 of 32 bytes, for TAILOR_ENCRYPTION_KEY."""
    from .fields.encryption import generate_key

    click.echo(generate_key())


@keys.command("rotate")
@click.argument("project", type=click.Path(file_okay=False))
@database_option
def keys_rotate(project: str, database: str | None) -> None:
    """Re-encrypt every encrypted value of PROJECT under the current key.

    Set TAILOR_ENCRYPTION_KEY to the new key and TAILOR_ENCRYPTION_OLD_KEYS to the old one(s)
    (comma separated), run this, then remove the old keys. Safe to run again if stopped."""
    from .fields.encryption import keyring
    from .migrate.encryption import rotate

    engine = _engine(project, database)
    model = _model(project, engine)  # with the designer layer
    try:
        done = rotate(engine, model)
    finally:
        engine.dispose()
    for name, count in done.items():
        click.echo(f"{name}: {count} value(s) re-encrypted")
    click.echo(f"every encrypted value is now under key {keyring().current.id}")


@cli.group()
def design() -> None:
    """The designer layer: change sets made at /design, stored in the database (docs/layers.md)."""


def _design_failed(exc: Exception) -> None:
    """Print a refused designer request like the other commands print problems; exit 2."""
    from .design import DesignRefused

    for problem in getattr(exc, "problems", []) if isinstance(exc, DesignRefused) else []:
        click.echo(str(problem), err=True)
    reason = getattr(exc, "reason", None) if isinstance(exc, DesignRefused) else str(exc)
    if reason or not getattr(exc, "problems", None):
        click.echo(f"error: {reason or exc}", err=True)
    click.echo("nothing was changed", err=True)
    sys.exit(EXIT_PROBLEMS)


def _design_engine(project: str, database: str | None):
    from .migrate import upgrade_system_tables

    engine = _engine(project, database)
    upgrade_system_tables(engine)
    return engine


@design.command("list")
@click.argument("project", type=click.Path(file_okay=False))
@database_option
def design_list(project: str, database: str | None) -> None:
    """Every change set: id, when, who, state, comment and the paths it changes."""
    from .design import list_changes

    changes = list_changes(_design_engine(project, database))
    if not changes:
        click.echo("the designer layer is empty")
    for change in changes:
        if change.reverts is not None:
            state = f"reverts {change.reverts}"
        elif change.cleared_at is not None:
            state = "cleared (in the YAML now)"
        elif change.reverted_at is not None:
            state = f"reverted by {change.reverted_by} {change.reverted_at:%Y-%m-%d %H:%M}"
        else:
            state = "active"
        paths = ", ".join(str(op.get("path")) for op in change.ops[:5]) + (" …" if len(change.ops) > 5 else "")
        click.echo(f"{change.id}  {change.created_at:%Y-%m-%d %H:%M}  {change.author}  {state}  "
                   f"version {change.version}" + (f"  \"{change.comment}\"" if change.comment else "")
                   + (f"\n    {paths}" if paths else ""))


def _read_ops(path: str) -> tuple[list, str | None]:
    """FILE.yaml: a list of ops, or a mapping with `ops:` (and an optional `comment:`)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        click.echo(f"error: cannot read {path}: {exc}", err=True)
        sys.exit(EXIT_PROBLEMS)
    if isinstance(data, dict) and "ops" in data:
        return data.get("ops"), data.get("comment")
    return data, None


@design.command("apply")
@click.argument("project", type=click.Path(file_okay=False))
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@database_option
@click.option("--preview", "preview_only", is_flag=True, help="Show the checks, the plan and its SQL; change nothing.")
@click.option("--comment", default=None, help="Why (kept with the change set).")
def design_apply(project: str, file: str, database: str | None, preview_only: bool, comment: str | None) -> None:
    """Apply the change set in FILE (a YAML list of {path, value} / {path, delete: true} ops)."""
    from .design import DesignError, apply, latest_version, preview

    engine = _design_engine(project, database)
    ops, file_comment = _read_ops(file)
    try:
        if preview_only:
            result = preview(project, engine, ops, user=None)
            for problem in result.problems:
                click.echo(str(problem), err=True)
            if result.problems:
                click.echo(f"{len(result.problems)} problem(s); nothing would be applied", err=True)
                sys.exit(EXIT_PROBLEMS)
            click.echo(result.plan.render())
            click.echo("\n".join(result.sql))
            for table, rows in result.rows_affected.items():
                click.echo(f"table {table}: {rows} row(s)")
            for entity in result.forms:
                click.echo(f"changes the form or list of {entity}")
            if result.refused:
                click.echo("refused: it would destroy data (the designer never does; see --plan of tailor migrate)",
                           err=True)
                sys.exit(EXIT_PROBLEMS)
            click.echo(f"new metadata version {result.model.version}; nothing was changed (preview)")
            return
        change = apply(project, engine, ops, user=None, comment=comment or file_comment or "",
                       expected_version=latest_version(engine))
    except DesignError as exc:
        _design_failed(exc)
    click.echo(f"applied change set {change.id}; database is at metadata version {change.version}")


@design.command("revert")
@click.argument("project", type=click.Path(file_okay=False))
@click.argument("change_id", type=int)
@database_option
def design_revert(project: str, change_id: int, database: str | None) -> None:
    """Take change set CHANGE_ID back (a field it added keeps its column and data)."""
    from .design import DesignError, latest_version, revert

    engine = _design_engine(project, database)
    try:
        change = revert(project, engine, change_id, user=None, expected_version=latest_version(engine))
    except DesignError as exc:
        _design_failed(exc)
    click.echo(f"reverted change set {change_id} (entry {change.id}); database is at metadata version {change.version}")


@design.command("export")
@click.argument("project", type=click.Path(file_okay=False))
@click.option("--to", "to", required=True, type=click.Path(file_okay=False), help="A new or empty folder.")
@database_option
def design_export(project: str, to: str, database: str | None) -> None:
    """Write the designer layer as a YAML layer folder that `extends:` PROJECT and compiles
    to the same model (checked)."""
    from .design import DesignError, export_layer

    engine = _design_engine(project, database)
    try:
        path = export_layer(project, engine, Path(to))
    except DesignError as exc:
        _design_failed(exc)
    except ProjectError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo("nothing was exported", err=True)
        sys.exit(EXIT_PROBLEMS)
    click.echo(f"wrote {path}: a layer over {project} with the same metadata version; commit it, serve it, "
               "then run `tailor design clear` on it")


@design.command("clear")
@click.argument("project", type=click.Path(file_okay=False))
@database_option
def design_clear(project: str, database: str | None) -> None:
    """Empty the designer layer once PROJECT's YAML holds it (refused if the model would change)."""
    from .design import DesignError, clear

    engine = _design_engine(project, database)
    try:
        count = clear(project, engine, user=None)
    except DesignError as exc:
        _design_failed(exc)
    click.echo(f"cleared {count} change set(s); the model is unchanged")


@design.command("drop-column")
@click.argument("project", type=click.Path(file_okay=False))
@click.argument("target", metavar="ENTITY.FIELD")
@click.option("--confirm", type=int, default=None, help="The number of non-empty values that will be destroyed.")
@database_option
def design_drop_column(project: str, target: str, confirm: int | None, database: str | None) -> None:
    """Drop the column of a hidden designer field and its data (asks for the count first)."""
    from .design import DesignError, count_nonempty, drop_column

    entity, _, field = target.partition(".")
    engine = _design_engine(project, database)
    try:
        if confirm is None:
            model = _model(project, engine)
            count = count_nonempty(engine, model, entity, field)
            click.echo(f"{target} holds {count} non-empty value(s); run again with --confirm {count} to drop them",
                       err=True)
            sys.exit(EXIT_PROBLEMS)
        change = drop_column(project, engine, entity, field, user=None, confirm=confirm)
    except DesignError as exc:
        _design_failed(exc)
    click.echo(f"dropped the column of {target} ({confirm} value(s)); change set {change.id}, "
               f"metadata version {change.version}")


def _register_plugin_commands() -> None:
    """Plugins installed through entry points may add commands (`tailor_cli_commands`)."""
    from .plugins import make_plugin_manager

    pm = make_plugin_manager([], None)
    pm.hook.tailor_cli_commands(cli=cli)


def main() -> None:
    _register_plugin_commands()
    cli(prog_name="tailor")


if __name__ == "__main__":  # pragma: no cover
    main()
