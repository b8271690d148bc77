"""``/admin/staff``: the staff accounts. Everyone with STAFF_READ sees the list; a province
administrator (STAFF_WRITE) creates accounts, disables them and resets their authenticator
app — each with a required reason, audited by ``services.staff_accounts``."""

from __future__ import annotations

import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from idp.admin import bp
from idp.admin.guard import current_staff, staff_required
from idp.admin.staff_forms import StaffCreateForm, StaffReasonForm
from idp.extensions import db
from idp.models import StaffAccount
from idp.services import staff_access, staff_accounts
from idp.services.clock import utcnow
from idp.services.identifiers import InvalidInput, describe_commune
from idp.services.staff_access import Permission
from idp.web import deps


def _me() -> StaffAccount:
    staff = current_staff()
    assert staff is not None  # staff_required
    return staff


def _page(form: StaffCreateForm | None = None) -> str:
    me = _me()
    can_write = staff_access.has(me, Permission.STAFF_WRITE)
    return render_template(
        "admin/staff.html", accounts=staff_accounts.list_staff(db.session),
        form=form or (StaffCreateForm() if can_write else None), can_write=can_write,
        is_enrolled=staff_accounts.is_enrolled)


@bp.route("/staff")
@staff_required(Permission.STAFF_READ)
def staff() -> str:
    return _page()


@bp.route("/staff/new", methods=["POST"])
@staff_required(Permission.STAFF_WRITE)
def staff_create() -> Response | tuple[str, int]:
    form = StaffCreateForm()
    if not form.validate_on_submit():
        return _page(form), 400
    try:
        created = staff_accounts.create_staff(
            db.session, form.username.data, form.role.data, form.communes.data or [],
            form.password.data, passwords=deps.passwords(), display_name=form.display_name.data,
            actor=_me(), reason=form.reason.data, ip=request.remote_addr, now=utcnow())
        db.session.commit()
    except InvalidInput as error:
        db.session.rollback()
        field = getattr(form, error.field, form.reason)
        field.errors = [*field.errors, str(error.message)]
        form.password.data = ""
        return _page(form), 400
    flash(_("Staff account %(username)s created. They set up their authenticator app at "
            "their first sign-in.", username=created.username), "success")
    return redirect(url_for("admin.staff_detail", staff_id=created.id))


def _account(staff_id: uuid.UUID) -> StaffAccount:
    account = db.session.get(StaffAccount, staff_id)
    if account is None:
        abort(404)
    return account


@bp.route("/staff/<uuid:staff_id>")
@staff_required(Permission.STAFF_READ)
def staff_detail(staff_id: uuid.UUID) -> str:
    return _detail(_account(staff_id))


def _detail(account: StaffAccount, form: StaffReasonForm | None = None,
            action: str | None = None) -> str:
    can_write = staff_access.has(_me(), Permission.STAFF_WRITE)
    return render_template(
        "admin/staff_detail.html", account=account, can_write=can_write,
        disable_form=form if action == "disable" else _blank(),
        reset_form=form if action == "reset" else _blank(),
        communes=[(c, describe_commune(c)) for c in sorted(account.commune_codes)],
        enrolled=staff_accounts.is_enrolled(account), is_me=account.id == _me().id)


def _blank() -> StaffReasonForm:
    """The other form of the page, empty (both forms have one field named "reason")."""
    return StaffReasonForm(formdata=None)


def _write(staff_id: uuid.UUID, action: str) -> Response | tuple[str, int]:
    account = _account(staff_id)
    form = StaffReasonForm()
    if not form.validate_on_submit():
        return _detail(account, form, action), 400
    try:
        if action == "disable":
            staff_accounts.disable(db.session, account, reason=form.reason.data, actor=_me(),
                                   ip=request.remote_addr, now=utcnow())
            message = _("Account %(username)s disabled; its sessions ended.",
                        username=account.username)
        else:
            staff_accounts.reset_totp(db.session, account, reason=form.reason.data, actor=_me(),
                                      ip=request.remote_addr, now=utcnow())
            message = _("Authenticator app of %(username)s reset: a new one is set up at the "
                        "next sign-in.", username=account.username)
        db.session.commit()
    except InvalidInput as error:
        db.session.rollback()
        form.reason.errors = [*form.reason.errors, str(error.message)]
        return _detail(account, form, action), 400
    flash(message, "success")
    if account.id == _me().id:  # one's own sessions just ended
        return redirect(url_for("admin.login"))
    return redirect(url_for("admin.staff_detail", staff_id=account.id))


@bp.route("/staff/<uuid:staff_id>/disable", methods=["POST"])
@staff_required(Permission.STAFF_WRITE)
def staff_disable(staff_id: uuid.UUID) -> Response | tuple[str, int]:
    return _write(staff_id, "disable")


@bp.route("/staff/<uuid:staff_id>/reset-totp", methods=["POST"])
@staff_required(Permission.STAFF_WRITE)
def staff_reset_totp(staff_id: uuid.UUID) -> Response | tuple[str, int]:
    return _write(staff_id, "reset")
