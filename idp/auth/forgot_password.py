"""``/forgot-password``: a new password by phone.

1. ``/forgot-password`` — CCCD or phone → a code by SMS to the account's phone (the answer is
   the same whether or not an account exists);
2. ``/forgot-password/code`` — the six-digit code;
3. ``/forgot-password/second-factor`` — only when the citizen has an authenticator app: a
   code from it or a recovery code (``/forgot-password/no-second-factor``: the commune office);
4. ``/forgot-password/new-password`` — the new password: every session ends (apps told by
   back-channel logout), every refresh token is revoked, the citizen is told by SMS.

The citizen is then sent to the sign-in page (the app's ``?interaction=`` kept), not signed in
automatically: the reset proves the phone (and the authenticator), not the password the
session would be counted as, and signing in once with the new password lets the browser's
password manager save it and goes through the one place that starts sessions (new-device
notice, audit, throttle).
"""

from __future__ import annotations

from flask import flash, request, session
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from idp.auth import bp, code_flow, guard
from idp.auth.recovery_forms import SecondFactorForm
from idp.auth.register_forms import NewPasswordForm
from idp.extensions import db, limiter
from idp.services import recovery
from idp.services.clock import utcnow
from idp.services.identifiers import InvalidInput
from idp.web import deps

SCREENS = code_flow.Screens(
    purpose=recovery.RECOVERY, flow_key="recovery_flow", start="auth.forgot_password",
    code="auth.forgot_password_code", resend="auth.forgot_password_resend",
    title=_l("Forgot your password?"),
    lead=_l("Enter your citizen ID number (CCCD) or phone number. If it belongs to a "
            "ThaiNguyen ID account, we will send a verification code by SMS to the phone "
            "number of that account."),
)
FACTOR_MESSAGES = {
    recovery.Factor.WRONG: _l("This code is not correct. Please check and try again."),
    recovery.Factor.REPLAYED: _l("This code has already been used. Please wait for the next "
                                 "code in your authenticator app."),
    recovery.Factor.USED: _l("This recovery code has already been used. Please use another "
                             "one."),
    recovery.Factor.MALFORMED: _l("Enter the 6-digit code from your authenticator app, or one "
                                  "of your recovery codes (like ABCD-EFGH-JK)."),
}


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(code_flow.REQUEST_LIMIT, methods=["POST"])
@code_flow.in_app_language
def forgot_password() -> Response | tuple[str, int]:
    return code_flow.start_view(SCREENS)


@bp.route("/forgot-password/code", methods=["GET", "POST"])
@limiter.limit(code_flow.CODE_LIMIT, methods=["POST"])
@code_flow.in_app_language
def forgot_password_code() -> Response | tuple[str, int]:
    return code_flow.code_view(SCREENS, _next_step)


@bp.post("/forgot-password/resend")
@limiter.limit(code_flow.REQUEST_LIMIT)
@code_flow.in_app_language
def forgot_password_resend() -> Response | tuple[str, int]:
    return code_flow.resend_view(SCREENS)


def _flow() -> recovery.Flow | None:
    return recovery.verified_flow(db.session, session.get(SCREENS.flow_key), SCREENS.purpose,
                                  now=utcnow())


def _next_step(flow: recovery.Flow) -> Response:
    if recovery.needs_second_factor(db.session, flow.citizen) and not flow.second_factor_done:
        return code_flow.go("auth.forgot_password_second_factor")
    return code_flow.go("auth.forgot_password_new")


@bp.route("/forgot-password/second-factor", methods=["GET", "POST"])
@limiter.limit(code_flow.CODE_LIMIT, methods=["POST"])
@code_flow.in_app_language
def forgot_password_second_factor() -> Response | tuple[str, int]:
    flow = _flow()
    if flow is None:
        return code_flow.ended()
    if flow.second_factor_done or not recovery.needs_second_factor(db.session, flow.citizen):
        return code_flow.go("auth.forgot_password_new")
    form = SecondFactorForm()
    values = {"form": form, "action": code_flow.url("auth.forgot_password_second_factor"),
              "office_url": code_flow.url("auth.forgot_password_office")}
    if request.method == "GET":
        return code_flow.page("auth/recovery_second_factor.html", **values)
    if not form.validate_on_submit():
        return code_flow.page("auth/recovery_second_factor.html", 400, **values)
    totp_code = (form.totp_code.data or "").strip()
    recovery_code = (form.recovery_code.data or "").strip()
    if not totp_code and not recovery_code:
        return code_flow.page("auth/recovery_second_factor.html", 400,
                              error=FACTOR_MESSAGES[recovery.Factor.MALFORMED], **values)
    result, wait = recovery.second_factor(
        db.session, flow, totp_code=totp_code or None, recovery_code=recovery_code or None,
        secret_key=deps.settings().secret_key, now=utcnow(), ip=request.remote_addr or "")
    db.session.commit()
    if result is recovery.Factor.OK:
        return code_flow.go("auth.forgot_password_new")
    form.totp_code.data = form.recovery_code.data = ""
    if result is recovery.Factor.THROTTLED:
        return code_flow.page("auth/recovery_second_factor.html", 429,
                              error=guard.wait_message(wait), **values)
    return code_flow.page("auth/recovery_second_factor.html", 400,
                          error=FACTOR_MESSAGES[result], **values)


@bp.get("/forgot-password/no-second-factor")
@code_flow.in_app_language
def forgot_password_office() -> tuple[str, int]:
    return code_flow.page("auth/recovery_office.html")


@bp.route("/forgot-password/new-password", methods=["GET", "POST"])
@limiter.limit(code_flow.CODE_LIMIT, methods=["POST"])
@code_flow.in_app_language
def forgot_password_new() -> Response | tuple[str, int]:
    flow = _flow()
    if flow is None:
        return code_flow.ended()
    if recovery.needs_second_factor(db.session, flow.citizen) and not flow.second_factor_done:
        return code_flow.go("auth.forgot_password_second_factor")
    form = NewPasswordForm()
    values = {"form": form, "action": code_flow.url("auth.forgot_password_new")}
    if request.method == "GET":
        return code_flow.page("auth/recovery_new_password.html", **values)
    if not form.validate_on_submit():
        return code_flow.page("auth/recovery_new_password.html", 400, **values)
    if form.password.data != form.confirm.data:
        form.confirm.errors = [_l("The two passwords are different. Please type them again.")]
        return code_flow.page("auth/recovery_new_password.html", 400, **values)
    from idp.oidc import backchannel, context

    try:
        deliveries = recovery.reset_password(
            db.session, flow, form.password.data, passwords=deps.passwords(),
            signer=context.signer(), pairwise_secret=context.pairwise_secret(), now=utcnow(),
            ip=request.remote_addr or "")
    except InvalidInput as error:
        db.session.rollback()
        form.password.errors = [error.message]
        return code_flow.page("auth/recovery_new_password.html", 400, **values)
    db.session.commit()
    backchannel.send(deliveries)
    session.pop(SCREENS.flow_key, None)
    flash(_l("Your password has been changed and every device has been signed out. Please "
             "sign in with your new password."), "info")
    return code_flow.go("auth.login")
