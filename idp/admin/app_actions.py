"""Actions on one relying app: rotate its secret (shown once), disable it, enable it again.

POST only, CSRF-protected, superadmins only (CLIENTS_WRITE: an auditor's or officer's attempt
is refused with 403 and an audit entry), each with a reason and an audit entry.

Disabling (``clients.disable_client``) stops new authorizations and token requests at once
(the protocol only loads enabled apps) and revokes every token the app holds: access tokens
stop passing introspection and userinfo, refresh tokens stop working. Enabling does not bring
them back — citizens sign in to the app again.
"""

from __future__ import annotations

from flask import Response, flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l

from idp.admin import bp
from idp.admin.app_forms import ActionForm
from idp.admin.apps import detail_page, find_or_404, secret_page, uses_secret
from idp.admin.guard import current_staff, staff_required
from idp.extensions import db
from idp.models import Client
from idp.services import audit, clients
from idp.services.clock import utcnow
from idp.services.staff_access import Permission


@bp.post("/apps/<client_id>/rotate-secret")
@staff_required(Permission.CLIENTS_WRITE)
def app_rotate_secret(client_id: str) -> Response | tuple[str, int]:
    client = find_or_404(client_id)
    form = ActionForm()
    if not form.validate_on_submit():
        return _refused(client, form)
    if not uses_secret(client):
        flash(_l("This app does not use a client secret (public client or private_key_jwt)."),
              "error")
        return _back(client)
    secret = clients.rotate_secret(db.session, client)
    _record("staff:app:secret_rotated", client, form.reason.data)
    db.session.commit()
    return secret_page(client, secret, rotated=True)


@bp.post("/apps/<client_id>/disable")
@staff_required(Permission.CLIENTS_WRITE)
def app_disable(client_id: str) -> Response | tuple[str, int]:
    client = find_or_404(client_id)
    form = ActionForm()
    if not form.validate_on_submit():
        return _refused(client, form)
    if client.disabled_at is None:
        clients.disable_client(db.session, client, utcnow())
        _record("staff:app:disabled", client, form.reason.data)
        db.session.commit()
    flash(_l("The app is disabled: it can no longer sign citizens in or get tokens, and its "
             "tokens were revoked."), "success")
    return _back(client)


@bp.post("/apps/<client_id>/enable")
@staff_required(Permission.CLIENTS_WRITE)
def app_enable(client_id: str) -> Response | tuple[str, int]:
    client = find_or_404(client_id)
    form = ActionForm()
    if not form.validate_on_submit():
        return _refused(client, form)
    if client.disabled_at is not None:
        clients.enable_client(db.session, client)
        _record("staff:app:enabled", client, form.reason.data)
        db.session.commit()
    flash(_l("The app is enabled again. Tokens revoked when it was disabled stay revoked."),
          "success")
    return _back(client)


def _record(action: str, client: Client, reason: str) -> None:
    staff = current_staff()
    assert staff is not None  # staff_required let the request in
    audit.record(db.session, action, actor_type="staff", actor_id=staff.id,
                 ip=request.remote_addr, client_id=client.client_id,
                 details={"reason": reason.strip()})


def _back(client: Client) -> Response:
    return redirect(url_for("admin.app_detail", client_id=client.client_id), 303)


def _refused(client: Client, form: ActionForm) -> tuple[str, int]:
    """A missing or short reason (or an expired form): the app page again, nothing done."""
    return detail_page(client, form, action=request.endpoint), 400
