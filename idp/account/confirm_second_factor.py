"""``/account/confirm-second-factor``: the second factor before a change to the second
factors (``guard.require_fresh_second_factor``): the authenticator code or a recovery code
when an authenticator is set up, else a code by SMS to the phone on record (sent only when
the citizen presses the button: a POST, never a GET). A correct code raises the session to
acr 2 (as an app's step-up would) and is remembered for 10 minutes."""

from __future__ import annotations

from datetime import datetime

from flask import flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from idp.account import bp
from idp.account.guard import (
    NEXT,
    is_recent,
    next_target,
    post_limit,
    signed_in,
)
from idp.auth.second_factor import (
    FLOW_KEY,
    MESSAGES,
    NO_MORE_CODES,
    CodeForm,
    SendCodeForm,
    flow_state,
    message_for,
    send_sms,
    sms_flow_token,
)
from idp.auth.step_up import remember_second_factor
from idp.extensions import db, limiter
from idp.models import SsoSession
from idp.services import identifiers, recovery_codes, second_factors, totp
from idp.services.clock import utcnow
from idp.services.second_factors import Method, Reason, check_code
from idp.web import current_session, deps


def _methods(sso: SsoSession) -> tuple[bool, tuple[Method, ...]]:
    has_totp = totp.is_enabled(db.session, sso.citizen_id)
    return has_totp, second_factors.methods_for_changes(has_totp)


def _method(allowed: tuple[Method, ...]) -> Method:
    asked = request.args.get("method", "")
    return Method(asked) if asked in allowed else allowed[0]


@bp.route("/account/confirm-second-factor", methods=["GET", "POST"])
@limiter.limit(post_limit, methods=["POST"])
def confirm_second_factor() -> Response | str | tuple[str, int]:
    sso = signed_in()
    if not isinstance(sso, SsoSession):
        return sso
    target = next_target(request.args.get("next"))
    if not is_recent(sso):  # the password first (always for a QR sign-in)
        return redirect(url_for("account.confirm_password", next=target))
    has_totp, allowed = _methods(sso)
    method = _method(allowed)
    form = CodeForm()
    error, status, locked = None, 200, False
    if request.method == "POST":
        if not form.validate_on_submit():
            error, status = str(MESSAGES[(method, Reason.MALFORMED)]), 400
        else:
            now = utcnow()
            outcome = check_code(db.session, sso.citizen, method, form.code.data,
                                 secret_key=deps.settings().secret_key, ip=request.remote_addr,
                                 now=now, flow_token=sms_flow_token(sso))
            if outcome.ok:
                return _confirmed(sso, method, target, now)
            db.session.commit()  # failures are counted and audited
            error = message_for(method, outcome)
            locked = outcome.reason is Reason.LOCKED
            status = 429 if outcome.reason in (Reason.THROTTLED, Reason.LOCKED) else 400
            form.code.data = ""
    live, resend_wait = flow_state(sso) if method is Method.SMS else (False, 0)
    return render_template(
        "account/confirm_second_factor.html", form=form, send_form=SendCodeForm(),
        method=method, methods=allowed, next=target, error=error, locked=locked,
        masked_phone=identifiers.mask_phone(sso.citizen.phone), sms_live=live,
        resend_wait=resend_wait,
        recovery_left=recovery_codes.remaining(db.session, sso.citizen_id) if has_totp else 0,
    ), status


@bp.post("/account/confirm-second-factor/sms")
@limiter.limit(post_limit)
def confirm_second_factor_sms() -> Response:
    """Send (or send again) the SMS code, then back to the code page."""
    sso = signed_in()
    if not isinstance(sso, SsoSession):
        return sso
    target = next_target(request.args.get("next"))
    _, allowed = _methods(sso)
    if Method.SMS in allowed and is_recent(sso) and SendCodeForm().validate_on_submit() \
            and not send_sms(sso, resend=True):
        flash(str(NO_MORE_CODES), "error")
    return redirect(url_for("account.confirm_second_factor", next=target))


def _confirmed(sso: SsoSession, method: Method, target: str, now: datetime) -> Response:
    cookie, sso = second_factors.step_up(
        db.session, sso, method, ip=request.remote_addr, user_agent=request.user_agent.string,
        client_id=None, now=now, password_confirmed=True)
    db.session.commit()
    remember_second_factor(sso, method)
    session.pop(FLOW_KEY, None)
    session.pop("csrf_token", None)  # new privilege level, new CSRF token
    response = redirect(url_for(NEXT[target]))
    current_session.set_cookie(response, cookie)
    return response
