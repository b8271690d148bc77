"""``/activate``: a citizen without a password (registered by an officer, or imported) sets one.

- ``/activate`` — CCCD + the activation code from the slip or the SMS an officer sent, and the
  new password (sign-up's policy and fields) → the account is activated;
- ``/activate/sms`` — no code yet (bulk-imported citizens): CCCD + the phone number on file →
  a six-digit code by SMS (the forgot-password code and resend steps, ``code_flow``) →
  ``/activate/sms/new-password``.

The answers never tell whether a CCCD has an account, or one waiting for activation: a wrong
CCCD, a wrong code, an expired or spent code all get the same message; the SMS path starts a
decoy flow for a CCCD and phone that do not match. Throttled per IP (flask-limiter) and per
account (``services.throttle``, via ``services.activation``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, request, session
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from idp.auth import bp, code_flow, guard
from idp.auth.register_forms import NewPasswordForm
from idp.extensions import db, limiter
from idp.services import activation, recovery
from idp.services.clock import utcnow
from idp.services.identifiers import InvalidInput
from idp.web import deps

ACTIVATE_LIMIT = "30/hour;100/day"  # per IP, on POST
WRONG = _l("The citizen ID number or the activation code is not correct, or the code has "
           "expired or was already used. Check the slip or the SMS, or ask your commune "
           "office (UBND xã/phường) for a new code.")
MALFORMED = _l("The activation code has 10 letters and digits, like ABCDE-FGHJK.")
MISMATCH = _l("The two passwords are different. Please type them again.")

SCREENS = code_flow.Screens(
    purpose=activation.ACTIVATION, flow_key="activation_flow", start="auth.activate_sms",
    code="auth.activate_sms_code", resend="auth.activate_sms_resend",
    title=_l("Activate your account"),
    lead=_l("For citizens whose account was created by the commune office or the province "
            "and who have no password yet."),
)


def _cccd_field() -> StringField:
    return StringField(
        _l("Citizen ID number (CCCD)"),
        validators=[DataRequired(_l("Please enter your citizen ID number (CCCD).")),
                    Length(max=64, message=_l("The citizen ID number (CCCD) must have exactly "
                                              "12 digits."))],
        render_kw={"inputmode": "numeric", "autocomplete": "username", "spellcheck": "false"})


class ActivateForm(NewPasswordForm):
    cccd = _cccd_field()
    code = StringField(
        _l("Activation code"),
        validators=[DataRequired(_l("Please enter the activation code.")), Length(max=64)],
        render_kw={"autocomplete": "off", "autocapitalize": "characters",
                   "spellcheck": "false"})


class SmsStartForm(FlaskForm):
    cccd = _cccd_field()
    phone = StringField(
        _l("Phone number"),
        validators=[DataRequired(_l("Please enter your mobile phone number.")),
                    Length(max=32, message=_l("The phone number is too long."))],
        render_kw={"type": "tel", "inputmode": "tel", "autocomplete": "tel"})


def _page(form: ActivateForm, status: int = 200, error: object = None) -> tuple[str, int]:
    form.password.data = form.confirm.data = ""
    return code_flow.page("auth/activate.html", status, form=form, error=error,
                          action=code_flow.url("auth.activate"),
                          sms_url=code_flow.url("auth.activate_sms"))


@bp.route("/activate", methods=["GET", "POST"])
@limiter.limit(ACTIVATE_LIMIT, methods=["POST"])
@code_flow.in_app_language
def activate() -> Response | tuple[str, int]:
    form = ActivateForm()
    if request.method == "GET":
        return _page(form)
    if not form.validate_on_submit():
        return _page(form, 400)
    if form.password.data != form.confirm.data:
        form.confirm.errors = [MISMATCH]
        return _page(form, 400)
    now, ip = utcnow(), request.remote_addr or ""
    redeemed = activation.redeem(db.session, form.cccd.data, form.code.data,
                                 secret_key=deps.settings().secret_key,
                                 counters=guard.counters(), ip=ip, now=now)
    if redeemed.result is activation.Redeem.MALFORMED:
        form.code.errors = [MALFORMED]
        return _page(form, 400)
    if redeemed.result is activation.Redeem.THROTTLED:
        db.session.commit()
        return _page(form, 429, error=guard.wait_message(redeemed.retry_after))
    if redeemed.result is activation.Redeem.WRONG:
        db.session.commit()  # the failure's audit entry and count
        form.code.data = ""
        return _page(form, 400, error=WRONG)
    try:
        activation.activate(db.session, redeemed, form.password.data,
                            passwords=deps.passwords(), ip=ip, now=now)
    except activation.NotActivatable:
        db.session.rollback()
        return _page(form, 400, error=WRONG)
    except InvalidInput as error:  # the password policy: the code stays usable
        db.session.rollback()
        form.password.errors = [error.message]
        return _page(form, 400)
    db.session.commit()
    flash(_l("Your account is activated. Sign in with your citizen ID number or phone number "
             "and your new password."), "success")
    return code_flow.go("auth.login")


# --- self-service by SMS ----------------------------------------------------------------------


def _sms_page(form: SmsStartForm, status: int = 200, error: object = None) -> tuple[str, int]:
    return code_flow.page("auth/activate_sms.html", status, form=form, error=error,
                          action=code_flow.url("auth.activate_sms"),
                          code_url=code_flow.url("auth.activate"))


@bp.route("/activate/sms", methods=["GET", "POST"])
@limiter.limit(code_flow.REQUEST_LIMIT, methods=["POST"])
@code_flow.in_app_language
def activate_sms() -> Response | tuple[str, int]:
    form = SmsStartForm()
    if request.method == "GET":
        return _sms_page(form)
    if not form.validate_on_submit():
        return _sms_page(form, 400)
    try:
        flow = activation.start_sms(
            db.session, form.cccd.data, form.phone.data,
            secret_key=deps.settings().secret_key, now=utcnow(), ip=request.remote_addr or "",
            domain=urlsplit(deps.settings().issuer).hostname, counters=guard.counters())
    except recovery.DailyLimit:
        db.session.commit()  # the audit entry
        return _sms_page(form, 429, error=code_flow.DAILY_LIMIT)
    db.session.commit()
    session[SCREENS.flow_key] = flow
    return code_flow.go(SCREENS.code)


@bp.route("/activate/sms/code", methods=["GET", "POST"])
@limiter.limit(code_flow.CODE_LIMIT, methods=["POST"])
@code_flow.in_app_language
def activate_sms_code() -> Response | tuple[str, int]:
    return code_flow.code_view(SCREENS, lambda flow: code_flow.go("auth.activate_sms_new"))


@bp.post("/activate/sms/resend")
@limiter.limit(code_flow.REQUEST_LIMIT)
@code_flow.in_app_language
def activate_sms_resend() -> Response | tuple[str, int]:
    return code_flow.resend_view(SCREENS)


@bp.route("/activate/sms/new-password", methods=["GET", "POST"])
@limiter.limit(code_flow.CODE_LIMIT, methods=["POST"])
@code_flow.in_app_language
def activate_sms_new() -> Response | tuple[str, int]:
    flow = recovery.verified_flow(db.session, session.get(SCREENS.flow_key),
                                  activation.ACTIVATION, now=utcnow())
    if flow is None or activation.is_activated(flow.citizen):
        return code_flow.ended()
    form = NewPasswordForm()
    values = {"form": form, "action": code_flow.url("auth.activate_sms_new")}
    if request.method == "GET":
        return code_flow.page("auth/activate_new_password.html", **values)
    if not form.validate_on_submit():
        return code_flow.page("auth/activate_new_password.html", 400, **values)
    if form.password.data != form.confirm.data:
        form.confirm.errors = [MISMATCH]
        return code_flow.page("auth/activate_new_password.html", 400, **values)
    try:
        activation.activate_by_sms(db.session, flow, form.password.data,
                                   passwords=deps.passwords(), ip=request.remote_addr or "",
                                   now=utcnow())
    except InvalidInput as error:
        db.session.rollback()
        form.password.errors = [error.message]
        return code_flow.page("auth/activate_new_password.html", 400, **values)
    db.session.commit()
    session.pop(SCREENS.flow_key, None)
    flash(_l("Your account is activated. Sign in with your citizen ID number or phone number "
             "and your new password."), "success")
    return code_flow.go("auth.login")
