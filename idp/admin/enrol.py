"""``/admin/citizens/new``: assisted enrolment. An officer registers a citizen who is present
with their document: sign-up's checks (``accounts.create_citizen``), identity level 2 at once
with its evidence, no password — an activation code printed on a slip (shown once, in the
answer to the POST) or sent by SMS. Only into a commune of the officer's."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from idp.admin import bp
from idp.admin.citizen_actions import domain, slip
from idp.admin.citizen_forms import EnrolForm
from idp.admin.guard import current_staff, staff_required
from idp.extensions import db
from idp.services import accounts, staff_citizens
from idp.services.clock import utcnow
from idp.services.identifiers import InvalidInput
from idp.services.staff_access import Permission
from idp.web import deps


def _form() -> EnrolForm:
    staff = current_staff()
    assert staff is not None  # staff_required
    communes = None if staff.role.value == "superadmin" else staff.commune_codes
    return EnrolForm(communes=communes)


@bp.route("/citizens/new", methods=["GET", "POST"])
@staff_required(Permission.CITIZENS_WRITE)
def enrol() -> Response | tuple[str, int]:
    staff = current_staff()
    assert staff is not None
    form = _form()
    if request.method == "GET":
        return render_template("admin/citizens/enrol.html", form=form), 200
    if not form.validate_on_submit():
        return render_template("admin/citizens/enrol.html", form=form), 400
    now = utcnow()
    data = accounts.NewCitizen(
        cccd=form.cccd.data, full_name=form.full_name.data, birthdate=form.birthdate.data,
        phone=form.phone.data, email=form.email.data or None, gender=form.gender.data or None,
        commune_code=form.commune_code.data or None)
    try:
        done = staff_citizens.enrol(
            db.session, staff, data, form.reason.data, document_type=form.document_type.data,
            place=form.place.data, channel=form.channel.data, passwords=deps.passwords(),
            secret_key=deps.settings().secret_key, domain=domain(), ip=request.remote_addr,
            today=now.date(), now=now)
    except InvalidInput as error:
        db.session.rollback()
        field = getattr(form, error.field, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, str(error.message)]
            error_text = None
        else:
            error_text = str(error.message)
        return render_template("admin/citizens/enrol.html", form=form, error=error_text), 400
    db.session.commit()
    if done.channel == "slip":
        return slip(done.citizen, done.code)
    flash(_l("The account was created at level 2. The activation code was sent by SMS."),
          "success")
    return redirect(url_for("admin.citizen_detail", citizen_id=done.citizen.id))
