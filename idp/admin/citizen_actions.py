"""``/admin/citizens/<id>/<action>``: the staff actions on one citizen. GET shows the form
(with its required reason); POST does it through ``services.staff_citizens``, which checks the
right and the commune scope (an auditor or an officer of another commune gets 403, recorded),
validates the reason and writes the audit entry. Nothing changes on a refusal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from idp.admin import bp
from idp.admin.citizen_forms import ActivationCodeForm, ContactForm, ReasonForm, VerifyForm
from idp.admin.guard import current_staff, staff_required
from idp.extensions import db
from idp.models import Citizen, StaffAccount
from idp.services import staff_citizens
from idp.services.clock import utcnow
from idp.services.identifiers import InvalidInput
from idp.services.staff_access import Permission
from idp.web import deps


@dataclass(frozen=True)
class Action:
    form: type[FlaskForm]
    title: LazyString
    lead: LazyString
    button: LazyString
    done: LazyString
    danger: bool = False


ACTIONS: dict[str, Action] = {
    "lock": Action(ReasonForm, _l("Lock the account"),
                   _l("The citizen cannot sign in until the account is unlocked. Every device "
                      "is signed out and every app loses access now. The citizen is told by "
                      "SMS."),
                   _l("Lock the account"), _l("The account is locked."), danger=True),
    "unlock": Action(ReasonForm, _l("Unlock the account"),
                     _l("The citizen can sign in again (the waiting time after wrong passwords "
                        "is cleared too). The citizen is told by SMS."),
                     _l("Unlock the account"), _l("The account is unlocked.")),
    "revoke": Action(ReasonForm, _l("Sign out every device"),
                     _l("Every device signed in to this account is signed out and every app "
                        "loses access (apps are told at once)."),
                     _l("Sign out every device"), _l("Every device was signed out."),
                     danger=True),
    "reset-2fa": Action(ReasonForm, _l("Reset two-step sign-in"),
                        _l("Only after checking the citizen's ID card in person. The "
                           "authenticator app and the recovery codes stop working; the "
                           "citizen can set them up again. The citizen is told by SMS."),
                        _l("Reset two-step sign-in"), _l("Two-step sign-in was reset."),
                        danger=True),
    "verify": Action(VerifyForm, _l("Verify identity in person (level 2)"),
                     _l("Check the document in front of you: the photo is the citizen's and "
                        "its number is the account's citizen ID number."),
                     _l("Record the verification"), _l("Identity verified: level 2.")),
    "contact": Action(ContactForm, _l("Correct phone number or email"),
                      _l("The old phone number is told by SMS. A new number must not belong "
                         "to another account."),
                      _l("Save"), _l("Contact details corrected.")),
    "activation-code": Action(ActivationCodeForm, _l("New activation code"),
                              _l("For a citizen who has not set a password yet. Older codes "
                                 "stop working."),
                              _l("Issue the code"), _l("The activation code was sent by SMS.")),
}


def _me() -> StaffAccount:
    staff = current_staff()
    assert staff is not None  # staff_required
    return staff


def _load(citizen_id: uuid.UUID) -> Citizen:
    try:
        return staff_citizens.load(db.session, _me(), citizen_id, write=True)
    except staff_citizens.NotFound:
        abort(404)


def _page(name: str, citizen: Citizen, form: FlaskForm, status: int = 200,
          error: str | None = None) -> tuple[str, int]:
    return render_template("admin/citizens/action.html", action=ACTIONS[name], name=name,
                           c=citizen, form=form, error=error), status


def domain() -> str | None:
    return urlsplit(deps.settings().issuer).hostname


def slip(citizen: Citizen, code: str) -> Response:
    """The printable slip: the code is shown this once (only its HMAC is stored)."""
    from flask import make_response

    from idp.services import activation
    response = make_response(render_template(
        "admin/citizens/slip.html", c=citizen, code=code,
        url=deps.settings().issuer.rstrip("/") + url_for("auth.activate"),
        hours=int(activation.LIFETIME.total_seconds() // 3600)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/citizens/<uuid:citizen_id>/<action>", methods=["GET", "POST"])
@staff_required(Permission.CITIZENS_WRITE)
def citizen_action(citizen_id: uuid.UUID, action: str) -> Response | tuple[str, int]:
    if action not in ACTIONS:
        abort(404)
    citizen = _load(citizen_id)  # scope check for the form page as well
    spec = ACTIONS[action]
    if request.method == "GET":
        form = spec.form()
        if action == "contact":
            form.phone.data = "0" + citizen.phone[3:] if citizen.phone.startswith("+84") \
                else citizen.phone
            form.email.data = citizen.email or ""
        return _page(action, citizen, form)
    form = spec.form()
    if not form.validate_on_submit():
        return _page(action, citizen, form, 400)
    try:
        result = _do(action, citizen.id, form)
    except InvalidInput as error:
        db.session.rollback()
        field = getattr(form, error.field, None) if error.field != "csrf_token" else None
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, str(error.message)]
            return _page(action, _load(citizen_id), form, 400)
        return _page(action, _load(citizen_id), form, 400, error=str(error.message))
    db.session.commit()
    if isinstance(result, list) and result:
        from idp.oidc import backchannel
        backchannel.send(result)
    if action == "activation-code" and form.channel.data == "slip":
        return slip(citizen, str(result))
    flash(spec.done, "success")
    return redirect(url_for("admin.citizen_detail", citizen_id=citizen.id))


def _do(action: str, citizen_id: uuid.UUID, form: FlaskForm) -> object:
    from idp.oidc import context

    staff, now, ip = _me(), utcnow(), request.remote_addr
    reason = form.reason.data
    keys = staff_citizens.Signer(context.signer(), context.pairwise_secret())
    session = db.session
    if action == "lock":
        return staff_citizens.lock(session, staff, citizen_id, reason, keys=keys, ip=ip, now=now)
    if action == "unlock":
        return staff_citizens.unlock(session, staff, citizen_id, reason, ip=ip, now=now)
    if action == "revoke":
        return staff_citizens.revoke_sessions(session, staff, citizen_id, reason, keys=keys,
                                              ip=ip, now=now)
    if action == "reset-2fa":
        return staff_citizens.reset_second_factors(session, staff, citizen_id, reason, ip=ip,
                                                   now=now)
    if action == "verify":
        return staff_citizens.verify_identity(
            session, staff, citizen_id, reason, document_type=form.document_type.data,
            document_number=form.document_number.data, place=form.place.data, ip=ip, now=now)
    if action == "contact":
        return staff_citizens.correct_contact(session, staff, citizen_id, reason,
                                              phone=form.phone.data, email=form.email.data,
                                              ip=ip, now=now)
    return staff_citizens.new_activation_code(
        session, staff, citizen_id, reason, channel=form.channel.data,
        secret_key=deps.settings().secret_key, domain=domain(), ip=ip, now=now)
