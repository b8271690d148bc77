"""The staff console (/admin): staff sign-in, citizens, relying apps, audit trail, dashboard.

Rights are checked in ``services.staff_access`` (an officer only ever reaches citizens of their
communes); a refusal anywhere in the console answers 403 and leaves an audit entry.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from idp.admin.guard import current_staff
from idp.extensions import db
from idp.models import StaffRole
from idp.services import staff_access
from idp.services.staff_access import Permission
from idp.web.errors import error_response

bp = Blueprint("admin", __name__, url_prefix="/admin")

# The console menu: (endpoint, label, permission). A screen's entry shows once its module is
# registered and the staff member holds the permission.
MENU: list[tuple[str, LazyString, Permission]] = [
    ("admin.dashboard", _l("Dashboard"), Permission.DASHBOARD_READ),
    ("admin.citizens", _l("Citizens"), Permission.CITIZENS_READ),
    ("admin.apps", _l("Apps"), Permission.CLIENTS_READ),
    ("admin.staff", _l("Staff"), Permission.STAFF_READ),
    ("admin.audit", _l("Audit trail"), Permission.AUDIT_READ),
]
ROLE_LABELS = {StaffRole.SUPERADMIN: _l("Province administrator"),
               StaffRole.OFFICER: _l("Commune officer"), StaffRole.AUDITOR: _l("Auditor")}


@bp.app_context_processor
def console_helpers() -> dict[str, Any]:
    from flask import current_app

    def staff_can(permission: Permission) -> bool:
        staff = current_staff()
        return staff is not None and staff_access.has(staff, permission)

    return {"current_staff": current_staff, "staff_can": staff_can, "admin_menu": MENU,
            "admin_endpoints": current_app.view_functions,
            "role_label": lambda role: ROLE_LABELS.get(role, role)}

FORBIDDEN = _l("You do not have the right to do this. The attempt was recorded.")


@bp.errorhandler(staff_access.AccessDenied)
def access_denied(error: staff_access.AccessDenied):  # noqa: ANN201
    db.session.rollback()  # nothing the request had started is kept
    staff_access.record_denial(db.session, error, ip=request.remote_addr)
    db.session.commit()
    return error_response(403, str(FORBIDDEN))


# Each screen is its own module; importing it registers its views.
from idp.admin import (  # noqa: E402, F401
    app_actions,
    app_edit,
    apps,
    audit,
    citizen_actions,
    citizen_detail,
    citizen_import,
    citizens,
    dashboard,
    enrol,
    home,
    login,
)
from idp.admin import staff as staff_screen  # noqa: E402, F401  (a local name is "staff")
