"""``/admin/citizens/<id>``: one citizen's account — profile, identity level and its evidence,
two-step sign-in (never a secret), signed-in devices, connected apps, recent activity — with
the staff actions this staff member may take. Opening a citizen outside an officer's
communes is refused (403) and recorded by the console's error handler."""

from __future__ import annotations

import uuid

from flask import abort, render_template

from idp.admin import bp
from idp.admin.citizen_forms import DOCUMENT_LABELS, LEVEL_LABELS, STATUS_LABELS
from idp.admin.guard import current_staff, staff_required
from idp.extensions import db
from idp.services import identifiers as ids
from idp.services import staff_citizens
from idp.services.devices import local_time
from idp.services.staff_access import Permission


def local(value: object) -> str:
    """A stored UTC time as "14:05 ngày 15/08/2025" (Vietnam's time)."""
    return local_time(value) if value is not None else "—"  # type: ignore[arg-type]


@bp.route("/citizens/<uuid:citizen_id>")
@staff_required(Permission.CITIZENS_READ)
def citizen_detail(citizen_id: uuid.UUID) -> str:
    staff = current_staff()
    assert staff is not None  # staff_required
    try:
        found = staff_citizens.detail(db.session, staff, citizen_id)
    except staff_citizens.NotFound:
        abort(404)
    citizen = found.citizen
    try:
        commune = ids.describe_commune(citizen.commune_code) if citizen.commune_code else "—"
    except Exception:  # noqa: BLE001 — an unknown old code still shows the page
        commune = citizen.commune_code or "—"
    return render_template(
        "admin/citizens/detail.html", d=found, c=citizen, commune=commune, local=local,
        status_labels=STATUS_LABELS, level_labels=LEVEL_LABELS,
        document_labels=DOCUMENT_LABELS,
        national_phone=("0" + citizen.phone[3:]) if citizen.phone.startswith("+84")
        else citizen.phone)
