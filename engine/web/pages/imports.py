"""Import pages: a spreadsheet into an entity, in steps, for users whose roles grant `import`.

    GET  /e/<entity>/imports                      upload form, saved mappings, past runs
    POST /e/<entity>/imports                      upload: the file is read (or refused with
                                                  the engine's message) and kept server-side
    GET  /e/<entity>/imports/file/<token>         map columns (suggested, editable, samples),
                                                  mode and key, sheet, saved mappings
    POST /e/<entity>/imports/file/<token>/check   dry run (every rule, nothing written): a large
                                                  file's is a job (engine.imports.checks)
    GET  /e/<entity>/imports/file/<token>/check   its progress while it runs, then its counts and
                                                  failed rows
    GET  /e/<entity>/imports/file/<token>/failed.csv|xlsx   the failed rows with an error column
    POST /e/<entity>/imports/file/<token>/run     queue the run (engine.imports.runs.start)
    GET  /e/<entity>/imports/<run>                the run: progress bar (htmx), then its result;
                                                  while a revert of it runs, the revert's bar
    GET  /e/<entity>/imports/<run>/progress       the bar alone (polled)
    GET  /e/<entity>/imports/<run>/failed.csv|xlsx
    GET/POST /e/<entity>/imports/<run>/revert     confirm, then queue the revert job
                                                  (engine.imports.reverts) and back to the run

Everything goes through engine.imports and the records service; the pages only carry the
file and the choices between steps. The file never round-trips through the browser: an
upload is a row of `tailor_import_upload` named by a random token and owned by the user
who sent it, checked on every step (another user gets 404). A run is shown to the user who
started it and to administrators.
"""

from __future__ import annotations

import io
import logging
import secrets
import threading
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Response, abort, current_app, redirect, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from ...imports import checks, files, reading, reverts, runs
from ...imports import messages as m
from ...imports.mapping import MODES, Mapping, line_key, targets
from ...imports.messages import ImportProblem, Problem
from ...jobs import JobRunner, aware, job_handlers, now_utc
from ...model import Entity
from ...records import Context, RecordError
from ...storage import import_mappings, import_runs, import_uploads, users, write_engine
from ..auth import context
from ..i18n import gettext as _
from ..i18n import label, language, say_error
from ..state import WebState
from . import access, bp, entity_or_404, render, service

log = logging.getLogger(__name__)
SHOWN_ERRORS = 200  # failed rows listed on a page; the download has them all
RUNS_SHOWN = 50
SAMPLES = 3
SYNC_ROWS = 2000  # a dry run of more rows is a job of the job runner while its page polls
CHECK_LOST = checks.LOST  # a background dry run older than this died with its runner
UPLOAD_KEPT = timedelta(days=1)  # an upload not run by then is removed (at the next upload)
UPLOAD_SLACK = 256 * 1024  # the form's other fields and multipart framing around the file
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


# -- who and what -------------------------------------------------------------------------------
def importer(entity: Entity) -> Context:
    """The request's context, or 403 (PermissionDenied) unless the user may import."""
    ctx = context()
    service().authorize(entity.name, "import", ctx)
    return ctx


def say(problem: ImportProblem | Problem) -> str:
    return problem.text(language())


def upload_of(entity: Entity, token: str, ctx: Context) -> dict[str, Any]:
    """The user's own upload, or 404 (another user's looks like none)."""
    with service().engine.connect() as conn:
        row = conn.execute(sa.select(import_uploads).where(import_uploads.c.token == token,
                                                           import_uploads.c.entity == entity.name)).mappings().first()
    if row is None or row["user_id"] != ctx.actor.id:
        abort(404)
    return dict(row)


def run_of(entity: Entity, run_id: int, ctx: Context) -> dict[str, Any]:
    """A run of this entity shown to the user who started it and to administrators."""
    with service().engine.connect() as conn:
        row = conn.execute(sa.select(import_runs.c.id, import_runs.c.entity, import_runs.c.user_id,
                                     import_runs.c.status, import_runs.c.file_name, import_runs.c.mapping,
                                     import_runs.c.total_rows, import_runs.c.rows_done, import_runs.c.created,
                                     import_runs.c.updated, import_runs.c.unchanged, import_runs.c.failed,
                                     import_runs.c.message, import_runs.c.created_at, import_runs.c.started_at,
                                     import_runs.c.finished_at, import_runs.c.reverted_at)
                           .where(import_runs.c.id == run_id, import_runs.c.entity == entity.name)).mappings().first()
    if row is None or not (ctx.actor.is_admin or (row["user_id"] is not None and row["user_id"] == ctx.actor.id)):
        abort(404)
    return dict(row)


def target_choices(entity: Entity) -> list[tuple[str, str]]:
    """(key, label) of every key a column may go into, among the fields the user sees."""
    seen = access(entity)
    found = []
    for key, field_ in targets(entity).items():
        lines = line_key(key)
        if field_ is None:
            found.append((key, _("ID") if key == "id" else _("Owner")))
        elif lines is not None:  # a subfield of lines: "Lines · Product", shown when the lines are
            parent = entity.fields[lines[0]]
            if seen.visible(parent.name):
                text = f"{label(parent.label, parent.name)} · {label(field_.label, field_.name)}"
                if lines[1] != field_.name:
                    text = f"{text} ({_('currency')})"
                found.append((key, text))
        elif seen.visible(field_.name):
            text = label(field_.label, field_.name)
            if key != field_.name:
                suffix = key[len(field_.name) + 1:] if key.startswith(field_.name + "_") else key
                text = f"{text} ({_('currency') if suffix == 'currency' else suffix})"
            found.append((key, text))
    return found


def key_choices(entity: Entity) -> list[tuple[str, str]]:
    found = [("id", _("ID"))]
    for f in entity.fields.values():
        if f.unique and f.type.storage == "column" and access(entity).visible(f.name):
            found.append((f.name, label(f.label, f.name)))
    return found


def mappings_of(entity: Entity, ctx: Context) -> list[dict[str, Any]]:
    """Saved mappings the user may use: their own and shared ones."""
    with service().engine.connect() as conn:
        rows = conn.execute(sa.select(import_mappings.c.id, import_mappings.c.name, import_mappings.c.shared,
                                      import_mappings.c.user_id, users.c.username, users.c.display_name)
                            .join(users, users.c.id == import_mappings.c.user_id)
                            .where(import_mappings.c.entity == entity.name,
                                   sa.or_(import_mappings.c.user_id == ctx.actor.id, import_mappings.c.shared))
                            .order_by(import_mappings.c.name, import_mappings.c.id)).mappings()
        return [dict(r) for r in rows]


def saved_mapping(entity: Entity, mapping_id: int, ctx: Context) -> Mapping | None:
    with service().engine.connect() as conn:
        row = conn.execute(sa.select(import_mappings.c.mapping).where(
            import_mappings.c.id == mapping_id, import_mappings.c.entity == entity.name,
            sa.or_(import_mappings.c.user_id == ctx.actor.id, import_mappings.c.shared))).first()
    if row is None:
        return None
    try:
        return Mapping.from_dict(row.mapping)
    except ImportProblem:
        return None


def writer_engine():
    return write_engine(service().engine)


def sample_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return " ".join(str(value).split())[:80]


def init_app(app) -> None:
    """The upload takes files up to the import limit (TAILOR_IMPORT_MAX_MB), not the 2 MB
    of other forms: the limit is the request's, known once its URL is matched, before the
    CSRF check reads the form."""
    base = app.request_class

    class ImportRequest(base):  # type: ignore[misc, valid-type]
        @property
        def max_content_length(self) -> int | None:
            if self.endpoint == "pages.import_upload":
                return reading.max_bytes() + UPLOAD_SLACK
            return base.max_content_length.fget(self)  # type: ignore[attr-defined]

        @max_content_length.setter
        def max_content_length(self, value: int | None) -> None:
            base.max_content_length.fset(self, value)  # type: ignore[attr-defined]

    app.request_class = ImportRequest


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge):
    """An upload beyond the import limit gets the engine's message (refused while the form
    is read, before the user is even loaded: an error page, nothing kept)."""
    from ..errors import page

    if request.endpoint != "pages.import_upload":
        return page(413, _("Too large"), exc.description or "")
    size = f"{(request.content_length or 0) / reading.MB:.1f}"
    return page(413, _("Too large"), say(ImportProblem(m.TOO_LARGE, name=_("The file"), size=size,
                                                       limit=f"{reading.max_bytes() / reading.MB:g}")))


# -- step 1: upload -----------------------------------------------------------------------------
@bp.get("/e/<entity>/imports")
def import_start(entity: str):
    current = entity_or_404(entity)
    ctx = importer(current)
    return start_page(current, ctx)


def start_page(entity: Entity, ctx: Context, error: str | None = None, status: int = 200):
    query = (sa.select(import_runs.c.id, import_runs.c.status, import_runs.c.file_name, import_runs.c.total_rows,
                       import_runs.c.rows_done, import_runs.c.created, import_runs.c.updated, import_runs.c.unchanged,
                       import_runs.c.failed, import_runs.c.created_at, users.c.username, users.c.display_name)
             .select_from(import_runs.outerjoin(users, users.c.id == import_runs.c.user_id))
             .where(import_runs.c.entity == entity.name).order_by(import_runs.c.id.desc()).limit(RUNS_SHOWN))
    if not ctx.actor.is_admin:
        query = query.where(import_runs.c.user_id == ctx.actor.id)
    with service().engine.connect() as conn:
        past = [dict(r) for r in conn.execute(query).mappings()]
    under_way = reverts.reverting(service()) if past else set()
    for run in past:
        if run["id"] in under_way:
            run["status"] = "reverting"
    return render("imports/start", entity, past=past, error=error, status_text=status_text,
                  saved=mappings_of(entity, ctx),
                  limit_mb=f"{reading.max_bytes() / reading.MB:g}"), status


@bp.post("/e/<entity>/imports")
def import_upload(entity: str):
    current = entity_or_404(entity)
    ctx = importer(current)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return start_page(current, ctx, _("Choose a file to import."), 400)
    name = upload.filename.replace("\\", "/").rsplit("/", 1)[-1][:255] or "upload"
    data = upload.read(reading.max_bytes() + 1)
    try:
        sheet = first_readable(data, name)
    except ImportProblem as exc:
        return start_page(current, ctx, say(exc), 422)
    token = secrets.token_urlsafe(18)
    mapping = None
    chosen = request.form.get("mapping", "")
    if chosen.isdigit():
        saved = saved_mapping(current, int(chosen), ctx)
        if saved is not None:
            mapping = saved.merged_over(Mapping.suggested(current, sheet)).to_dict()
    if mapping is None and sheet.sheets and sheet.name != sheet.sheets[0]:
        mapping = {"entity": current.name, "columns": {}, "mode": "insert", "sheet": sheet.name}
    with writer_engine().begin() as conn:
        conn.execute(import_uploads.delete().where(import_uploads.c.created_at < now_utc() - UPLOAD_KEPT))
        conn.execute(import_uploads.insert().values(token=token, user_id=ctx.actor.id, entity=current.name,
                                                    file_name=name, source=data, mapping=mapping,
                                                    created_at=now_utc()))
    return redirect(url_for("pages.import_map", entity=current.name, token=token), 303)


def first_readable(data: bytes, name: str) -> reading.Sheet:
    """The file's first sheet, or the first sheet of a workbook that has a table (a workbook
    whose first sheet is a cover page); the first sheet's problem when none has."""
    try:
        return reading.read_file(data, name)
    except ImportProblem as first:
        if data[:4] != b"PK\x03\x04" or first.problem.message not in (m.EMPTY, m.HEADER_ONLY, m.NO_HEADER):
            raise
        try:
            from openpyxl import load_workbook

            workbook = load_workbook(io.BytesIO(data), read_only=True)
            names = list(workbook.sheetnames)
            workbook.close()
        except Exception:
            raise first from None
        for other in names[1:]:
            try:
                return reading.read_file(data, name, other)
            except ImportProblem:
                continue
        raise


# -- step 2: map the columns ----------------------------------------------------------------------
@bp.get("/e/<entity>/imports/file/<token>")
def import_map(entity: str, token: str):
    current = entity_or_404(entity)
    ctx = importer(current)
    upload = upload_of(current, token, ctx)
    stored = Mapping.from_dict(upload["mapping"]) if upload["mapping"] else None
    sheet_name = request.args.get("sheet") or (stored.sheet if stored else None)
    chosen: Mapping | None = stored
    if request.args.get("mapping", "").isdigit():
        chosen = saved_mapping(current, int(request.args["mapping"]), ctx) or stored
        if chosen is not None and chosen is not stored and not request.args.get("sheet"):
            sheet_name = chosen.sheet or sheet_name
    return map_page(current, ctx, upload, sheet_name, chosen)


def map_page(entity: Entity, ctx: Context, upload: dict[str, Any], sheet_name: str | None,
             chosen: Mapping | None, error: str | None = None, status: int = 200, save_as: str = "",
             shared: bool = False):
    try:
        sheet = reading.read_file(upload["source"], upload["file_name"], sheet_name)
    except ImportProblem as exc:
        if sheet_name is None:
            return start_page(entity, ctx, say(exc), 422)
        sheet = None
        error = say(exc)
        status = 422
    if sheet is None:  # a sheet that is not there, or has no table: offer the others
        return render("imports/map", entity, upload=upload, sheet=None, sheets=workbook_sheets(upload),
                      columns=[], error=error, mapping=None, targets=[], keys=[], modes=MODES,
                      saved=mappings_of(entity, ctx), save_as=save_as, shared=shared), status
    suggested = Mapping.suggested(entity, sheet)
    mapping = chosen.merged_over(suggested) if chosen is not None else suggested
    mapping.sheet = sheet.name if sheet.sheets else None
    columns = [{"index": i, "header": h, "key": mapping.columns.get(h),
                "samples": [sample_text(v) for v in sheet.samples(i, SAMPLES)]}
               for i, h in enumerate(sheet.headers) if h]
    return render("imports/map", entity, upload=upload, sheet=sheet, sheets=sheet.sheets, columns=columns,
                  error=error, mapping=mapping, targets=target_choices(entity), keys=key_choices(entity),
                  modes=MODES, saved=mappings_of(entity, ctx), save_as=save_as, shared=shared), status


def workbook_sheets(upload: dict[str, Any]) -> list[str]:
    if upload["source"][:4] != b"PK\x03\x04":
        return []
    try:
        from openpyxl import load_workbook

        workbook = load_workbook(io.BytesIO(upload["source"]), read_only=True)
        try:
            return list(workbook.sheetnames)
        finally:
            workbook.close()
    except Exception:
        return []


def mapping_from_form(entity: Entity, sheet: reading.Sheet) -> Mapping:
    """The mapping the form chose: `col-N` for the N-th header ('' leaves it out)."""
    columns: dict[str, str | None] = {}
    for i, header in enumerate(sheet.headers):
        if header:
            columns[header] = request.form.get(f"col-{i}") or None
    mode = request.form.get("mode", "insert")
    key = request.form.get("key") or None
    if mode == "insert":
        key = None
    group = request.form.get("group")  # '' chosen: blank record cells continue a record
    return Mapping(entity=entity.name, columns=columns, mode=mode, key=key, sheet=sheet.name if sheet.sheets else None,
                   group=None if group is None else (group if group in sheet.headers else ""))


@bp.post("/e/<entity>/imports/file/<token>/check")
def import_check(entity: str, token: str):
    """The dry run: while the page waits for a small file; for a larger one a job of the
    job runner (engine/imports/checks.py) whose page polls its progress until the result
    is stored, so no request runs for minutes."""
    current = entity_or_404(entity)
    ctx = importer(current)
    upload = upload_of(current, token, ctx)
    if checking(upload["checked"]):
        return redirect(url_for("pages.import_checked", entity=current.name, token=token), 303)
    sheet_name = request.form.get("sheet") or None
    try:
        sheet = reading.read_file(upload["source"], upload["file_name"], sheet_name)
    except ImportProblem as exc:
        return map_page(current, ctx, upload, None, None, say(exc), 422)
    mapping = mapping_from_form(current, sheet)
    save_as = " ".join(request.form.get("save_as", "").split())[:80]
    shared = request.form.get("shared") == "1"
    with writer_engine().begin() as conn:  # kept even when refused: the page shows the choices again
        conn.execute(import_uploads.update().where(import_uploads.c.id == upload["id"])
                     .values(mapping=mapping.to_dict(), checked=None))
    try:
        mapping.check(current, sheet)
    except ImportProblem as exc:
        return map_page(current, ctx, upload, sheet_name, mapping, say(exc), 422, save_as, shared)
    if len(sheet.rows) > SYNC_ROWS:  # a job of the job runner; the page polls its progress
        marker = {"state": "checking", "id": secrets.token_hex(8), "total": len(sheet.rows),
                  "started": now_utc().isoformat(), "done": 0}
        with writer_engine().begin() as conn:
            conn.execute(import_uploads.update().where(import_uploads.c.id == upload["id"]).values(checked=marker))
            if save_as:
                save_mapping(conn, current, ctx, save_as, shared, mapping)
            job = checks.queue(conn, upload["id"], marker["id"])
        nudge(job, f"tailor-import-check-{upload['id']}")
        return redirect(url_for("pages.import_checked", entity=current.name, token=token), 303)
    checked = checks.checked(service(), current.name, upload, mapping, ctx)
    if checked["state"] == "refused":
        return map_page(current, ctx, upload, sheet_name, mapping, refusal_text(checked), checked.get("status", 422),
                        save_as, shared)
    with writer_engine().begin() as conn:
        conn.execute(import_uploads.update().where(import_uploads.c.id == upload["id"]).values(checked=checked))
        if save_as:
            save_mapping(conn, current, ctx, save_as, shared, mapping)
    return redirect(url_for("pages.import_checked", entity=current.name, token=token), 303)


def checking(checked: Any) -> bool:
    """A dry run still running in the background (one that has run for too long was lost
    with its web worker: it may be started again)."""
    if not isinstance(checked, dict) or checked.get("state") != "checking":
        return False
    started = datetime.fromisoformat(checked["started"])
    return now_utc() - started < CHECK_LOST


def check_progress(checked: dict[str, Any]) -> dict[str, Any]:
    """A running check's bar: rows done and rows/s when known (see engine/imports/checks.py)."""
    total = checked.get("total") or 0
    done = checks.done_of(checked)
    seconds = (now_utc() - datetime.fromisoformat(checked["started"])).total_seconds()
    return {"total": total, "done": done, "percent": int((done or 0) * 100 / total) if total else 0,
            "rate": round(done / seconds) if done and seconds > 0 else None}


def refusal_text(checked: dict[str, Any]) -> str:
    if checked.get("message"):
        return say(Problem(checked["message"], checked.get("params") or {}))
    return checked.get("text") or ""


def save_mapping(conn, entity: Entity, ctx: Context, name: str, shared: bool, mapping: Mapping) -> None:
    """Keep a mapping by name (the user's own of that name is replaced)."""
    found = conn.execute(sa.select(import_mappings.c.id).where(
        import_mappings.c.user_id == ctx.actor.id, import_mappings.c.entity == entity.name,
        import_mappings.c.name == name)).scalar()
    values = {"mapping": mapping.to_dict(), "shared": shared, "created_at": now_utc()}
    if found is None:
        conn.execute(import_mappings.insert().values(user_id=ctx.actor.id, entity=entity.name, name=name, **values))
    else:
        conn.execute(import_mappings.update().where(import_mappings.c.id == found).values(**values))


@bp.post("/e/<entity>/imports/mappings/<id(bits=32):mapping_id>/delete")
def import_mapping_delete(entity: str, mapping_id: int):
    """Delete a saved mapping: the user's own (a shared one too, by an administrator)."""
    current = entity_or_404(entity)
    ctx = importer(current)
    mine = import_mappings.c.user_id == ctx.actor.id
    with writer_engine().begin() as conn:
        deleted = conn.execute(import_mappings.delete().where(
            import_mappings.c.id == mapping_id, import_mappings.c.entity == current.name,
            sa.or_(mine, import_mappings.c.shared) if ctx.actor.is_admin else mine)).rowcount
    if deleted != 1:
        abort(404)
    return redirect(url_for("pages.import_start", entity=current.name), 303)


@bp.get("/e/<entity>/imports/file/<token>/check")
def import_checked(entity: str, token: str):
    current = entity_or_404(entity)
    ctx = importer(current)
    upload = upload_of(current, token, ctx)
    checked = upload["checked"]
    if not checked or not upload["mapping"]:
        return redirect(url_for("pages.import_map", entity=current.name, token=token), 303)
    mapping = Mapping.from_dict(upload["mapping"])
    state = checked.get("state", "checked")
    if request.args.get("poll"):  # htmx: the progress while it runs, then the page again
        if checking(checked):
            return render("imports/_checking", current, upload=upload, checked=checked,
                          progress=check_progress(checked))
        return Response("", headers={"HX-Refresh": "true"})
    if state == "checking" and checking(checked):
        return render("imports/checking", current, upload=upload, checked=checked, progress=check_progress(checked))
    if state != "checked":
        text = refusal_text(checked) if state == "refused" else _(
            "The check did not finish (%(reason)s): check the file again.",
            reason=checked.get("text") or _("the web worker stopped"))
        return map_page(current, ctx, upload, mapping.sheet, mapping, text, 422)
    errors = [{"row": e["row"], "column": e["column"], "message": say(Problem(e["message"], e["params"] or {}))}
              for e in checked["errors"][:SHOWN_ERRORS]]
    return render("imports/checked", current, upload=upload, checked=checked, errors=errors, mapping=mapping,
                  more=max(len(checked["errors"]) - SHOWN_ERRORS, 0) + checked.get("more_errors", 0))


@bp.get("/e/<entity>/imports/file/<token>/failed.<fmt>")
def import_checked_failed(entity: str, token: str, fmt: str):
    current = entity_or_404(entity)
    ctx = importer(current)
    upload = upload_of(current, token, ctx)
    if fmt not in FORMATS or not upload["checked"] or upload["checked"].get("state", "checked") != "checked":
        abort(404)
    mapping = Mapping.from_dict(upload["mapping"])
    errors = [runs.RowError(e["row"], e["column"], Problem(e["message"], e["params"] or {}))
              for e in upload["checked"]["errors"]]
    return failed_file(upload["source"], upload["file_name"], mapping.sheet, errors, fmt)


def failed_file(source: bytes, file_name: str, sheet_name: str | None, errors: list[Any], fmt: str) -> Response:
    try:
        sheet = reading.read_file(source, file_name, sheet_name)
    except ImportProblem:
        abort(404)
    out = io.BytesIO()
    files.failed_rows(sheet, errors, fmt, out, language())
    stem = file_name.rsplit(".", 1)[0] or "import"
    response = Response(out.getvalue(), content_type=FORMATS[fmt])
    response.headers["Content-Disposition"] = _attachment(f"{stem}-errors.{fmt}")
    response.headers["Cache-Control"] = "no-store"
    return response


def _attachment(name: str) -> str:
    from urllib.parse import quote

    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


# -- step 3: run --------------------------------------------------------------------------------
@bp.post("/e/<entity>/imports/file/<token>/run")
def import_run_start(entity: str, token: str):
    current = entity_or_404(entity)
    ctx = importer(current)
    upload = upload_of(current, token, ctx)
    if not upload["mapping"] or checking(upload["checked"]):
        return redirect(url_for("pages.import_map", entity=current.name, token=token), 303)
    mapping = Mapping.from_dict(upload["mapping"])
    try:
        run_id = runs.start(service(), current.name, upload["source"], upload["file_name"], mapping, ctx)
    except ImportProblem as exc:
        return map_page(current, ctx, upload, mapping.sheet, mapping, say(exc), 422)
    with writer_engine().begin() as conn:  # the run keeps the file now
        conn.execute(import_uploads.delete().where(import_uploads.c.id == upload["id"]))
    job = runs.job_id(service(), run_id)
    if job is not None:
        nudge(job, f"tailor-import-{run_id}")
    return redirect(url_for("pages.import_run", entity=current.name, run_id=run_id), 303)


def nudge(job: int, name: str) -> None:
    """Start a job (an import, its revert, a large dry run) now in a thread of this web
    worker when it runs jobs in-process (the default, and `make demo`), instead of at the
    runner's next tick (every TAILOR_JOBS_INTERVAL seconds): the claim is the job runner's
    own, so a `tailor worker` or the in-process loop taking the job first simply wins. With
    TAILOR_JOBS=off nothing happens here: `tailor worker` runs it."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if "tailor_jobs" not in app.extensions:
        return
    state = WebState.of(app)
    runner = JobRunner(lambda: state.live.current[1], job_handlers(state.model))
    threading.Thread(target=runner.run_one, args=(job, now_utc()), name=name, daemon=True).start()


def progress_of(run: dict[str, Any], revert: reverts.RevertState | None = None) -> dict[str, Any]:
    """The bar of a run: its rows while it imports; its records while a revert of it runs."""
    if revert is not None and revert.working:
        total = revert.total
        done = min(revert.done, total)
        return {"total": total, "done": done, "percent": int(done * 100 / total) if total else 100,
                "rate": revert.rate, "failed": revert.skipped_count, "working": True, "reverting": True}
    total = run["total_rows"] or 0
    done = min(run["rows_done"] or 0, total)
    started = aware(run["started_at"])
    ended = aware(run["finished_at"]) or now_utc()
    seconds = (ended - started).total_seconds() if started else 0
    return {"total": total, "done": done, "percent": int(done * 100 / total) if total else 100,
            "rate": round(done / seconds) if seconds > 0 and done else None, "failed": run["failed"],
            "working": run["status"] in ("queued", "running")}


@bp.get("/e/<entity>/imports/<id(bits=32):run_id>")
def import_run(entity: str, run_id: int):
    current = entity_or_404(entity)
    ctx = importer(current)
    return run_page(current, ctx, run_of(current, run_id, ctx))


def run_page(entity: Entity, ctx: Context, run: dict[str, Any], error: str | None = None, status: int = 200):
    errors: list[dict[str, Any]] = []
    if run["status"] not in ("queued", "running") and run["failed"]:
        summary = runs.summary_of(service(), run["id"])
        errors = [{"row": e.row, "column": e.column, "message": say(e.problem)} for e in summary.errors[:SHOWN_ERRORS]]
    revert = reverts.latest(service(), run["id"])
    progress = progress_of(run, revert)
    said = revert_said(entity, ctx, run, revert)
    return render("imports/run", entity, run=run, progress=progress, errors=errors,
                  more=max(run["failed"] - len(errors), 0), error=error or said.get("error"),
                  reverted=said.get("reverted"), left=said.get("left"), status_text=status_text,
                  may_revert=run["status"] in ("done", "failed") and not progress.get("reverting")), status


def revert_said(entity: Entity, ctx: Context, run: dict[str, Any],
                revert: reverts.RevertState | None) -> dict[str, Any]:
    """What the newest revert of a run says on its page, in the reader's language: refused
    (naming the records changed since by title), stopped, or done (and the records it left
    as they were)."""
    if revert is None or revert.working:
        return {}
    if revert.refused:
        return {"error": say(reverts.refusal(service(), entity, run["id"], revert.refused, ctx, language()))}
    if run["status"] != "reverted":
        if revert.done < revert.total or revert.status != "done":
            return {"error": say(ImportProblem(m.REVERT_STOPPED, run=run["id"], reason=revert.error or revert.status))}
        return {}
    found: dict[str, Any] = {"reverted": {"deleted": revert.deleted, "restored": revert.restored}}
    if revert.skipped_count:
        ids = [s["id"] for s in revert.skipped]
        reasons = {s["id"]: s["text"] for s in revert.skipped if s.get("text")}
        names = reverts.named(service(), entity, ids, ctx, language())
        found["left"] = {"text": say(ImportProblem(m.LEFT_AS_THEY_ARE, count=revert.skipped_count, records=names)),
                         "reasons": list(reasons.values())[:reverts.NAMED]}
    return found


@bp.get("/e/<entity>/imports/<id(bits=32):run_id>/progress")
def import_progress(entity: str, run_id: int):
    current = entity_or_404(entity)
    ctx = importer(current)
    run = run_of(current, run_id, ctx)
    progress = progress_of(run, reverts.latest(service(), run["id"]))
    if progress.get("reverting"):
        run = {**run, "status": "reverting"}
    if request.accept_mimetypes.best == "application/json":
        return {"status": run["status"], **progress}
    response = Response(render("imports/_progress", current, run=run, progress=progress, status_text=status_text))
    if not progress["working"] and request.headers.get("HX-Request"):
        response.headers["HX-Refresh"] = "true"  # finished: the page shows the result
    return response


@bp.get("/e/<entity>/imports/<id(bits=32):run_id>/failed.<fmt>")
def import_run_failed(entity: str, run_id: int, fmt: str):
    current = entity_or_404(entity)
    ctx = importer(current)
    run = run_of(current, run_id, ctx)
    if fmt not in FORMATS:
        abort(404)
    source = runs.source_of(service(), run["id"])
    summary = runs.summary_of(service(), run["id"])
    mapping = Mapping.from_dict(run["mapping"])
    return failed_file(source, run["file_name"], mapping.sheet, summary.errors, fmt)


@bp.route("/e/<entity>/imports/<id(bits=32):run_id>/revert", methods=["GET", "POST"])
def import_revert(entity: str, run_id: int):
    current = entity_or_404(entity)
    ctx = importer(current)
    run = run_of(current, run_id, ctx)
    if request.method == "GET":
        revert = reverts.latest(service(), run["id"])
        if run["status"] not in ("done", "failed") or (revert is not None and revert.working):
            return redirect(url_for("pages.import_run", entity=current.name, run_id=run_id), 303)
        return render("imports/revert", current, run=run)
    try:  # checked now (refused at once, naming the records changed since); reverted by a job
        job = reverts.queue(service(), run["id"], ctx)
    except ImportProblem as exc:
        return run_page(current, ctx, run, say(exc), 409)
    except RecordError as exc:  # the user may not import here (any more): nothing changed
        return run_page(current, ctx, run, say_error(exc), exc.status)
    nudge(job, f"tailor-import-revert-{run_id}")
    return redirect(url_for("pages.import_run", entity=current.name, run_id=run_id), 303)


def status_text(status: str) -> str:
    return {"queued": _("Waiting for the worker"), "running": _("Importing"), "done": _("Finished"),
            "failed": _("Failed"), "reverted": _("Reverted"), "reverting": _("Reverting")}.get(status, status)
