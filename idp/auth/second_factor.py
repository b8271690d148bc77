"""``/login/second-factor``: step-up to two factors for a pending app request.

The session already holds the password, so only the second factor is asked: the
authenticator-app code by default when one is set up, else a verification code by SMS (sent
when the citizen presses "Gửi mã qua SMS": a POST, never on a GET); recovery codes on
request. A session without the password (a QR sign-in at acr 1) cannot step up
(``second_factors.can_step_up``): it is sent to sign in with the password first. On success
the same SSO session (same ``sid``, so the apps already in it stay linked) gets acr 2 and the
RFC 8176 methods, under a fresh cookie value, and the request resumes.
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import urlsplit

from flask import flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import Length

from idp.auth import bp
from idp.auth.guard import UNLOCK_REQUIRED, wait_message
from idp.auth.interaction_view import app_language, expired_page, interaction_context
from idp.auth.step_up import remember_second_factor
from idp.extensions import db, limiter
from idp.models import Citizen, SsoSession
from idp.oidc import interaction
from idp.services import identifiers, one_time_codes, recovery_codes, sso_sessions, totp
from idp.services.clock import utcnow
from idp.services.second_factors import (
    SMS_PURPOSE,
    Method,
    Outcome,
    Reason,
    can_step_up,
    send_sms_code,
    step_up,
)
from idp.services.second_factors import check_code as check_second_factor
from idp.web import current_session, deps

log = logging.getLogger("tnid.audit")

FLOW_KEY = "second_factor_flow"  # the browser's SMS-code flow: {"sid": ..., "flow": ...}

MESSAGES = {
    (Method.TOTP, Reason.WRONG): _l("This code is not correct. Check the code in your "
                                    "authenticator app and try again."),
    (Method.TOTP, Reason.REPLAYED): _l("This code was already used. Wait for the next code in "
                                       "your authenticator app (it changes every 30 seconds)."),
    (Method.TOTP, Reason.MALFORMED): _l("Type the 6 digits shown in your authenticator app."),
    (Method.TOTP, Reason.NOT_ENABLED): _l("Your account has no authenticator app. Use a "
                                          "verification code by SMS instead."),
    (Method.SMS, Reason.MALFORMED): _l("Type the 6 digits of the code we sent by SMS."),
    (Method.SMS, Reason.TOO_MANY): _l("Too many wrong codes. Ask for a new code."),
    (Method.SMS, Reason.EXPIRED): _l("This code has expired. Ask for a new code."),
    (Method.SMS, Reason.USED): _l("This code can no longer be used. Ask for a new code."),
    (Method.SMS, Reason.UNKNOWN): _l("This code can no longer be used. Ask for a new code."),
    (Method.RECOVERY, Reason.WRONG): _l("This recovery code is not correct."),
    (Method.RECOVERY, Reason.USED): _l("This recovery code was already used. Each code works "
                                       "only once: use another one."),
    (Method.RECOVERY, Reason.MALFORMED): _l("A recovery code has 10 letters and digits, like "
                                            "ABCD-EFGH-JK."),
}
NO_MORE_CODES = _l("No more codes can be sent for now. Please try again later.")
LOCKED = UNLOCK_REQUIRED  # the page links to /unlock (an SMS code), see the template


def message_for(method: Method, outcome: Outcome) -> str:
    """What to tell the citizen about a refused code (Vietnamese or English)."""
    if outcome.reason is Reason.THROTTLED:
        return wait_message(outcome.retry_after)
    if outcome.reason is Reason.LOCKED:
        return str(LOCKED)
    if method is Method.SMS and outcome.reason is Reason.WRONG:
        left = outcome.attempts_left or 0
        return ngettext("This code is not correct. You can try %(num)d more time.",
                        "This code is not correct. You can try %(num)d more times.", left)
    return str(MESSAGES.get((method, outcome.reason), MESSAGES[(Method.TOTP, Reason.WRONG)]))


class CodeForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[Length(max=64, message=_l("This code is too long."))],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "off",
                   "spellcheck": "false"},
    )


class SendCodeForm(FlaskForm):
    """Only the CSRF token: "send me a (new) code by SMS"."""


def _limit() -> str:
    return deps.settings().login_rate_limit


@bp.route("/login/second-factor", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
def second_factor() -> Response | str | tuple[str, int]:
    token = request.args.get("interaction")
    pending = interaction.load(token)
    if pending is None or token is None:
        return expired_page()
    with app_language(pending.params):
        sso = current_session.current_sso()
        if sso is None:
            return redirect(url_for("auth.login", interaction=token))
        if sso.acr == sso_sessions.ACR_TWO_FACTORS:
            return redirect(interaction.resume_url(token))
        if not can_step_up(sso.amr):  # a QR sign-in: the password first, then this screen
            return redirect(url_for("auth.login", interaction=token))
        return _second_factor(token, pending, sso)


@bp.post("/login/second-factor/sms")
@limiter.limit(_limit)
def second_factor_send_sms() -> Response | str | tuple[str, int]:
    """Send (or send again) the SMS code, then show the code page."""
    token = request.args.get("interaction")
    pending = interaction.load(token)
    if pending is None or token is None:
        return expired_page()
    sso = current_session.current_sso()
    if sso is None:
        return redirect(url_for("auth.login", interaction=token))
    target = url_for("auth.second_factor", interaction=token, method=Method.SMS.value)
    if can_step_up(sso.amr) and SendCodeForm().validate_on_submit() \
            and not send_sms(sso, resend=True):
        flash(str(NO_MORE_CODES), "error")
    return redirect(target)


def _method(has_totp: bool) -> Method:
    asked = request.args.get("method", "")
    if asked in (Method.SMS, Method.RECOVERY) or (asked == Method.TOTP and has_totp):
        return Method(asked)
    return Method.TOTP if has_totp else Method.SMS


def _second_factor(token: str, pending: interaction.Interaction,
                   sso: SsoSession) -> Response | str | tuple[str, int]:
    citizen = sso.citizen
    has_totp = totp.is_enabled(db.session, citizen.id)
    method = _method(has_totp)
    form = CodeForm()
    error, status, locked = None, 200, False
    if request.method == "POST":
        if not form.validate_on_submit():
            error, status = MESSAGES[(method, Reason.MALFORMED)], 400
        else:
            now = utcnow()
            outcome = check_second_factor(
                db.session, citizen, method, form.code.data,
                secret_key=deps.settings().secret_key, ip=request.remote_addr, now=now,
                flow_token=sms_flow_token(sso))
            if outcome.ok:
                return _upgrade(token, pending, sso, method, now)
            db.session.commit()  # failures are counted and audited
            error = message_for(method, outcome)
            locked = outcome.reason is Reason.LOCKED
            status = 429 if outcome.reason in (Reason.THROTTLED, Reason.LOCKED) else 400
            form.code.data = ""
    live, resend_wait = flow_state(sso) if method is Method.SMS else (False, 0)
    return render_template(
        "auth/second_factor.html", form=form, send_form=SendCodeForm(), method=method,
        has_totp=has_totp, error=error, masked_phone=_masked_phone(citizen), locked=locked,
        recovery_left=recovery_codes.remaining(db.session, citizen.id) if has_totp else 0,
        sms_live=live, resend_wait=resend_wait, **interaction_context(pending, token),
    ), status


def _masked_phone(citizen: Citizen) -> str:
    return identifiers.mask_phone(citizen.phone)


def sms_flow_token(sso: SsoSession) -> str | None:
    """This browser's SMS-code flow for this session (shared with the account pages)."""
    saved = session.get(FLOW_KEY)
    if isinstance(saved, dict) and saved.get("sid") == sso.sid:
        return saved.get("flow")
    return None


def flow_state(sso: SsoSession) -> tuple[bool, int | None]:
    """(a code was sent in this browser's flow and can still be typed, seconds until a new
    one may be asked — None: no more for this flow). Without a live flow the page shows
    only the "send a code" button: nothing is ever sent on a GET."""
    flow = one_time_codes.find(db.session, sms_flow_token(sso), SMS_PURPOSE)
    if flow is None or flow.citizen_id != sso.citizen_id:
        return False, 0
    now = utcnow()
    live = flow.consumed_at is None and now < flow.expires_at \
        and flow.attempts < one_time_codes.MAX_ATTEMPTS
    return live, one_time_codes.resend_wait(flow, now=now)


def send_sms(sso: SsoSession, *, resend: bool) -> bool:
    """Text a code unless this browser's flow has a live one (``resend``: a new one, within
    the limits); False when the phone has had too many codes lately."""
    result = send_sms_code(
        db.session, sso.citizen, sms_flow_token(sso), resend=resend,
        secret_key=deps.settings().secret_key, ip=request.remote_addr or "",
        domain=urlsplit(deps.settings().issuer).hostname, now=utcnow())
    db.session.commit()
    if result.sent:
        session[FLOW_KEY] = {"sid": sso.sid, "flow": result.flow_token}
    return not result.phone_capped


def _upgrade(token: str, pending: interaction.Interaction, sso: SsoSession, method: Method,
             now: datetime) -> Response:
    """Two factors now: the same session (same sid) at acr 2, under a new cookie value."""
    citizen_id = sso.citizen_id
    cookie, sso = step_up(db.session, sso, method, ip=request.remote_addr,
                          user_agent=request.user_agent.string, client_id=pending.client_id,
                          now=now)
    db.session.commit()
    remember_second_factor(sso, method)  # the account pages may count it for 10 minutes
    session.pop(FLOW_KEY, None)
    session.pop("csrf_token", None)  # new privilege level, new CSRF token
    log.info("account:second_factor:success",
             extra={"ip": request.remote_addr, "citizen": str(citizen_id), "sid": sso.sid,
                    "method": method.value})
    response = make_response(redirect(interaction.resume_url(token)))
    current_session.set_cookie(response, cookie)
    return response
