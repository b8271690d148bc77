"""The staff console (/admin): staff sign-in, citizens, relying apps, audit trail, dashboard.

Rights are checked in ``services.staff_access`` (an officer only ever reaches citizens of their
communes); a refusal anywhere in the console answers 403 and leaves an audit entry.
"""

from __future__ import annotations

from flask import Blueprint, request
from flask_babel import lazy_gettext as _l

from idp.extensions import db
from idp.services import staff_access
from idp.web.errors import error_response

bp = Blueprint("admin", __name__, url_prefix="/admin")

FORBIDDEN = _l("You do not have the right to do this. The attempt was recorded.")


@bp.errorhandler(staff_access.AccessDenied)
def access_denied(error: staff_access.AccessDenied):  # noqa: ANN201
    db.session.rollback()  # nothing the request had started is kept
    staff_access.record_denial(db.session, error, ip=request.remote_addr)
    db.session.commit()
    return error_response(403, str(FORBIDDEN))


# Each screen is its own module; importing it registers its views (one line per module).
