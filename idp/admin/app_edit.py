"""Registering a relying app (/admin/apps/new) and editing one (/admin/apps/<id>/edit).

Superadmins only (CLIENTS_WRITE). Every rule on the metadata is the service's
(``services.client_metadata``, shared with ``tnid clients`` and dynamic registration); this
module maps its refusals onto the form's fields. Each change needs a reason and leaves an audit
entry naming the fields that changed — never their secret values.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from idp.admin import bp
from idp.admin.app_forms import AppForm
from idp.admin.apps import LABELS, find_or_404, secret_page, uses_secret
from idp.admin.guard import current_staff, staff_required
from idp.extensions import db
from idp.models import Client, StaffAccount
from idp.services import audit, clients
from idp.services.identifiers import InvalidInput
from idp.services.staff_access import Permission
from idp.web import deps

# ClientSpec fields the form shows under another name.
FORM_FIELD = {"scope": "scopes"}
FORM_ERROR = _l("Please correct the fields marked below. Nothing was saved.")


@bp.route("/apps/new", methods=["GET", "POST"])
@staff_required(Permission.CLIENTS_WRITE)
def app_new() -> Response | tuple[str, int] | str:
    form = AppForm()
    if request.method == "GET":
        return _form_page(form, None)
    if not form.validate_on_submit():
        return _form_page(form, None), 400
    staff = _staff()
    try:
        spec = form.spec()
        _refuse_duplicate_name(spec.name_vi)
        client, secret = clients.create_client(db.session, spec, production=_production(),
                                               created_via="console")
    except InvalidInput as error:
        db.session.rollback()
        return _refused(form, None, error)
    _record(staff, "staff:app:registered", client, form.reason.data,
            fields=sorted(k for k, v in _values(client).items() if v not in (None, [], "")))
    db.session.commit()
    if secret is not None:
        return secret_page(client, secret, rotated=False)
    flash(_l("The app is registered."), "success")
    return redirect(url_for("admin.app_detail", client_id=client.client_id), 303)


@bp.route("/apps/<client_id>/edit", methods=["GET", "POST"])
@staff_required(Permission.CLIENTS_WRITE)
def app_edit(client_id: str) -> Response | tuple[str, int] | str:
    client = find_or_404(client_id)
    form = AppForm()
    if request.method == "GET":
        form.fill_from(client)
        return _form_page(form, client)
    if not form.validate_on_submit():
        return _form_page(form, client), 400
    staff = _staff()
    before = _values(client)
    had_secret = client.client_secret_hash is not None
    try:
        spec = form.spec()
        _refuse_duplicate_name(spec.name_vi, other_than=client)
        if client.subject_type == spec.subject_type == "pairwise" \
                and not (spec.sector_identifier or "").strip():
            # An empty field keeps the sector: a new one would give every citizen a new
            # ``sub`` in this app (OIDC Core §8.1), which only an explicit choice may do.
            spec = replace(spec, sector_identifier=client.sector_identifier)
        clients.update_client(db.session, client, spec, production=_production())
    except InvalidInput as error:
        db.session.rollback()
        return _refused(form, client, error)
    changed = sorted(k for k, v in _values(client).items() if before[k] != v)
    if had_secret and client.client_secret_hash is None:
        changed.append("client_secret")  # dropped: the new method uses none
    # Moving to a secret method from one without: the app needs a secret at once.
    secret = clients.rotate_secret(db.session, client) \
        if uses_secret(client) and not had_secret else None
    if secret is not None:
        changed.append("client_secret")
    if not changed:
        db.session.rollback()
        flash(_l("Nothing was changed."), "info")
        return redirect(url_for("admin.app_detail", client_id=client.client_id), 303)
    _record(staff, "staff:app:updated", client, form.reason.data, fields=changed)
    db.session.commit()
    if secret is not None:
        return secret_page(client, secret, rotated=True)
    flash(_l("The app was updated."), "success")
    return redirect(url_for("admin.app_detail", client_id=client.client_id), 303)


def _staff() -> StaffAccount:
    staff = current_staff()
    assert staff is not None  # staff_required let the request in
    return staff


def _production() -> bool:
    return deps.settings().is_production


def _values(client: Client) -> dict[str, Any]:
    """The registered metadata, to compare before and after an edit."""
    names = ("name_vi", "name_en", "logo_uri", "redirect_uris", "post_logout_redirect_uris",
             "backchannel_logout_uri", "scope", "grant_types", "token_endpoint_auth_method",
             "jwks", "jwks_uri", "subject_type", "sector_identifier",
             "id_token_signed_response_alg", "trusted", "min_acr")
    return {name: getattr(client, name) for name in names}


def _refuse_duplicate_name(name_vi: str, *, other_than: Client | None = None) -> None:
    """Two enabled apps of one name would look the same on the consent screen; this also
    stops a resubmitted form (back button, reload) from registering the app twice."""
    name = " ".join(unicodedata.normalize("NFC", name_vi[:1000]).split())  # as the service
    query = select(Client.id).where(Client.name_vi == name, Client.disabled_at.is_(None))
    if other_than is not None:
        query = query.where(Client.id != other_than.id)
    if name and db.session.scalar(query.limit(1)) is not None:
        raise InvalidInput("name_vi", _l("An enabled app already has this name."))


def _record(staff: StaffAccount, action: str, client: Client, reason: str,
            *, fields: list[str]) -> None:
    audit.record(db.session, action, actor_type="staff", actor_id=staff.id,
                 ip=request.remote_addr, client_id=client.client_id,
                 details={"reason": reason.strip(), "fields": fields})


def _refused(form: AppForm, client: Client | None, error: InvalidInput) -> tuple[str, int]:
    field = getattr(form, FORM_FIELD.get(error.field, error.field), None)
    if field is not None and field.name != "csrf_token":
        field.errors = [*field.errors, str(error.message)]
    else:
        form.form_errors.append(str(error.message))
    return _form_page(form, client), 400


def _form_page(form: AppForm, client: Client | None) -> str:
    return render_template("admin/apps/form.html", form=form, app=client,
                           form_error=FORM_ERROR if form.errors else None, **LABELS)
