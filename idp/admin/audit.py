"""``/admin/audit``: search the audit trail, download it as CSV, verify its hash chain.

Province administrators and auditors only (``Permission.AUDIT_READ``); a commune officer gets
403 and an audit entry. Searching, exporting and verifying are recorded in the trail too.
"""

from __future__ import annotations

from flask import Response, render_template, request, stream_with_context
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from idp.admin import bp
from idp.admin.guard import current_staff, staff_required
from idp.extensions import db
from idp.models import StaffAccount
from idp.services import audit, audit_search
from idp.services import identifiers as ids
from idp.services.clock import utcnow
from idp.services.staff_access import Permission

# How many entries the console verifies in a request; past that, the command line does it.
VERIFY_IN_PAGE_LIMIT = 50_000  # a few seconds; a web request must not run for minutes

# Plain words for the actions staff meet most; anything else is shown as its code.
ACTION_LABELS = {
    "auth:login:success": _l("Signed in"),
    "auth:password:failure": _l("Wrong password"),
    "auth:totp:failure": _l("Wrong authenticator code"),
    "auth:sms:failure": _l("Wrong SMS code"),
    "auth:recovery:failure": _l("Wrong recovery code"),
    "auth:qr:failure": _l("Wrong QR sign-in number"),
    "auth:lockout": _l("Account locked after failed attempts"),
    "auth:unlock": _l("Account unlocked"),
    "auth:password:reset": _l("Password reset"),
    "auth:totp:enabled": _l("Authenticator app turned on"),
    "auth:totp:disabled": _l("Authenticator app turned off"),
    "auth:second_factor:success": _l("Second step passed"),
    "auth:sms:sent": _l("SMS code sent"),
    "account:register:success": _l("Account created"),
    "account:password:changed": _l("Password changed"),
    "account:sign_out_everywhere": _l("Signed out everywhere"),
    "oidc:token:issued": _l("Token issued to an app"),
    "staff:access_denied": _l("Staff access refused"),
    "staff:login:success": _l("Staff signed in"),
    "staff:login:failure": _l("Staff sign-in failed"),
    "staff:citizen:enrolled": _l("Citizen enrolled at the office"),
    "staff:citizen:identity_verified": _l("Identity verified in person"),
    "staff:citizen:activation_code_issued": _l("Activation code issued"),
    "staff:citizen:locked": _l("Account locked by staff"),
    "staff:citizen:unlocked": _l("Account unlocked by staff"),
    "staff:citizen:second_factors_reset": _l("Two-step sign-in reset by staff"),
    "staff:citizen:sessions_revoked": _l("Signed out everywhere by staff"),
    "staff:citizen:contact_corrected": _l("Contact details corrected by staff"),
    "staff:citizens:imported": _l("Citizens imported"),
    "staff:audit:viewed": _l("Audit trail searched"),
    "staff:audit:exported": _l("Audit trail downloaded"),
    "staff:audit:verified": _l("Audit chain verified"),
}
BREAK_REASONS = {
    "altered": _l("its content was changed after it was written"),
    "missing-or-reordered": _l("an entry before it was removed or the order was changed"),
    "inserted": _l("it was added afterwards, between two existing entries"),
}


class VerifyForm(FlaskForm):
    """Only the CSRF token: verifying is a POST (it writes its own audit entry)."""


def action_label(action: str) -> str:
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


ACTOR_TYPES = {"citizen": _l("citizen"), "anonymous": _l("not signed in"),
               "client": _l("app"), "system": _l("system"), "staff": _l("staff")}


def actor_label(entry: audit_search.AuditEvent, staff: dict[str, StaffAccount]) -> str:
    if entry.actor_type == "staff" and entry.actor_id in staff:
        return staff[entry.actor_id].username
    label = ACTOR_TYPES.get(entry.actor_type)
    return str(label) if label is not None else entry.actor_type


def _render(status: int = 200, **context: object) -> tuple[str, int]:
    staff = current_staff()
    assert staff is not None
    context.setdefault("verify_form", VerifyForm())
    return render_template(
        "admin/audit.html", action_label=action_label, actor_label=actor_label,
        mask_cccd=ids.mask_cccd, citizen_endpoint=_citizen_endpoint(), **context), status


def _citizen_endpoint() -> str | None:
    """The citizen detail page, if the citizens screen is installed."""
    from flask import current_app

    for endpoint in ("admin.citizen", "admin.citizen_detail", "admin.citizen_show"):
        if endpoint in current_app.view_functions:
            return endpoint
    return None


def _before() -> int | None:
    raw = request.args.get("before", "")
    # isascii: "²".isdigit() is true, int("²") is not a number.
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


@bp.get("/audit", endpoint="audit")
@staff_required(Permission.AUDIT_READ)
def audit_page() -> tuple[str, int]:
    staff = current_staff()
    assert staff is not None
    try:
        filters = audit_search.parse_filters(request.args)
    except audit_search.InvalidFilter as error:
        return _render(400, filters=audit_search.Filters(), error=error, page=None)
    before = _before()
    page = audit_search.search(db.session, staff, filters, before=before)
    if before is None:  # the first page of a search is recorded, not every "older" click
        audit_search.record_access(db.session, staff, "staff:audit:viewed", filters,
                                   ip=request.remote_addr)
        db.session.commit()
    return _render(filters=filters, page=page, error=None)


@bp.get("/audit/export.csv")
@staff_required(Permission.AUDIT_READ)
def audit_export() -> Response | tuple[str, int]:
    staff = current_staff()
    assert staff is not None
    try:
        filters = audit_search.parse_filters(request.args)
    except audit_search.InvalidFilter as error:
        return _render(400, filters=audit_search.Filters(), error=error, page=None)
    audit_search.record_access(db.session, staff, "staff:audit:exported", filters,
                               ip=request.remote_addr)
    db.session.commit()
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    rows = audit_search.csv_rows(db.session, staff, filters)
    return Response(
        stream_with_context(rows), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"',
                 "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@bp.post("/audit/verify")
@staff_required(Permission.AUDIT_READ)
def audit_verify() -> tuple[str, int]:
    staff = current_staff()
    assert staff is not None
    form = VerifyForm()
    filters = audit_search.Filters()
    if not form.validate_on_submit():
        return _render(400, filters=filters, page=None, error=None, verify_form=form,
                       verify_error=_l("The form expired. Please try again."))
    checked, broken = audit.verify_chain(db.session, limit=VERIFY_IN_PAGE_LIMIT)
    too_big = broken is None and checked >= VERIFY_IN_PAGE_LIMIT
    audit.record(db.session, "staff:audit:verified", actor_type="staff", actor_id=staff.id,
                 ip=request.remote_addr, outcome="failure" if broken else "success",
                 details={"checked": checked, "complete": not too_big,
                          **({"broken_at": broken.entry_id, "reason": broken.reason}
                             if broken else {})})
    db.session.commit()
    return _render(filters=filters, page=None, error=None, verified=True, checked=checked,
                   broken=broken, too_big=too_big,
                   break_reason=BREAK_REASONS.get(broken.reason, broken.reason) if broken
                   else None)
