"""``/admin/citizens/import``: a province administrator uploads a CSV of citizens.

The same service as ``tnid citizens import``, run synchronously inside the request: so the
upload is capped (``MAX_UPLOAD`` bytes, ``MAX_ROWS`` rows: a few seconds of work). Larger
files are for the command line. The summary and the first errors are shown at once; the full
error report is kept for an hour as a CSV file that only the same staff member can download.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

from flask import abort, current_app, render_template, request, send_file
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response
from wtforms import BooleanField

from idp.admin import bp
from idp.admin.citizen_forms import reason_field
from idp.admin.guard import current_staff, staff_required
from idp.extensions import csrf, db
from idp.services import citizen_import
from idp.services.citizen_import import ImportLimits, ImportRefused
from idp.services.clock import utcnow
from idp.services.staff_access import Permission

# ~90,000 generated rows: about five seconds of work on one vCPU, well inside a worker's time.
MAX_UPLOAD = 10 * 1024 * 1024
MAX_ROWS = 100_000
LIMITS = ImportLimits(max_bytes=MAX_UPLOAD, max_rows=MAX_ROWS)
SHOWN_ERRORS = 50
REPORT_TTL = 3600  # seconds an error report stays downloadable
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


class ImportForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Please choose a CSV file."))])
    dry_run = BooleanField(_l("Only check the file, change nothing"))
    reason = reason_field()


def _reports_dir() -> Path:
    path = Path(current_app.instance_path) / "import-reports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _forget_old_reports(folder: Path) -> None:
    cutoff = time.time() - REPORT_TTL
    for old in folder.glob("*.csv"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except FileNotFoundError:
            pass


def _render(form: ImportForm, status: int, **context: object) -> tuple[str, int]:
    return render_template("admin/citizen_import.html", form=form, max_mb=MAX_UPLOAD // 1_048_576,
                           max_rows=MAX_ROWS, columns=citizen_import.COLUMNS,
                           shown_errors=SHOWN_ERRORS, **context), status


@bp.route("/citizens/import", methods=["GET", "POST"], endpoint="citizen_import")
@staff_required(Permission.CITIZENS_IMPORT)
def citizen_import_view() -> tuple[str, int]:
    staff = current_staff()
    assert staff is not None  # staff_required
    if request.method == "GET":
        return _render(ImportForm(), 200)
    # The application-wide body limit is 256 KiB; this form alone takes a file up to
    # MAX_UPLOAD (plus room for the other fields). Werkzeug spools it to a temporary file.
    # That is why the view is exempt from CSRFProtect's early check (which would parse the
    # body under the small limit): ImportForm checks the CSRF token itself, below.
    request.max_content_length = MAX_UPLOAD + 64 * 1024
    try:
        request.files  # noqa: B018 - parse now, inside the try
    except RequestEntityTooLarge:
        return _render(ImportForm(formdata=None), 413, refused=_l(
            "The file is too large (at most %(limit)s MB here). Larger files are imported "
            "with the command `tnid citizens import`.", limit=MAX_UPLOAD // 1_048_576))
    form = ImportForm()
    if not form.validate_on_submit():
        return _render(form, 400)
    reason = " ".join(form.reason.data.split())
    if len(reason) < 5:
        form.reason.errors = [_l("Please write the reason (at least 5 characters).")]
        return _render(form, 400)
    now = utcnow()
    stream = form.file.data.stream
    folder = _reports_dir()
    _forget_old_reports(folder)
    token = secrets.token_urlsafe(24)
    report_path = folder / f"{staff.id}-{token}.csv"
    try:
        with report_path.open("w", encoding="utf-8-sig", newline="") as report:
            result = citizen_import.import_csv(
                db.session, stream, today=now.date(), now=now, actor_type="staff",
                actor_id=str(staff.id), ip=request.remote_addr, limits=LIMITS,
                dry_run=form.dry_run.data, workers=0, report=report, reason=reason)
    except ImportRefused as refusal:
        report_path.unlink(missing_ok=True)
        db.session.rollback()
        citizen_import.record_refusal(db.session, refusal, actor_type="staff",
                                      actor_id=str(staff.id), ip=request.remote_addr, now=now,
                                      reason=reason)
        db.session.commit()
        return _render(form, 400, refused=refusal.message)
    if not result.error_count:
        report_path.unlink(missing_ok=True)
    return _render(ImportForm(formdata=None), 200, result=result,
                   report_token=token if result.error_count else None)


csrf.exempt(citizen_import_view)  # the form still checks its token: see above


@bp.route("/citizens/import/report/<token>.csv", endpoint="citizen_import_report")
@staff_required(Permission.CITIZENS_IMPORT)
def citizen_import_report(token: str) -> Response:
    """The full error report of one of this staff member's recent imports."""
    staff = current_staff()
    assert staff is not None
    if _TOKEN.fullmatch(token) is None:
        abort(404)
    path = _reports_dir() / f"{staff.id}-{token}.csv"  # another's token finds nothing
    if not path.is_file() or path.stat().st_mtime < time.time() - REPORT_TTL:
        abort(404)
    return send_file(path, mimetype="text/csv", as_attachment=True,
                     download_name="citizen-import-errors.csv", max_age=0)
