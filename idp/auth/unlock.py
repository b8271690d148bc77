"""``/unlock``: lift the lock (after 100 wrong attempts) and the waiting delays with a code
sent by SMS to the account's phone. Identifier → code → unlocked, back to the sign-in page
(the app's ``?interaction=`` kept). The answers never tell whether an account exists."""

from __future__ import annotations

from flask import flash, request, session
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from idp.auth import bp, code_flow
from idp.extensions import db, limiter
from idp.services import recovery
from idp.services.clock import utcnow

SCREENS = code_flow.Screens(
    purpose=recovery.UNLOCK, flow_key="unlock_flow", start="auth.unlock",
    code="auth.unlock_code", resend="auth.unlock_resend",
    title=_l("Unlock your account"),
    lead=_l("Enter your citizen ID number (CCCD) or phone number. If it belongs to a "
            "ThaiNguyen ID account, we will send a verification code by SMS to the phone "
            "number of that account."),
)


@bp.route("/unlock", methods=["GET", "POST"])
@limiter.limit(code_flow.REQUEST_LIMIT, methods=["POST"])
@code_flow.in_app_language
def unlock() -> Response | tuple[str, int]:
    return code_flow.start_view(SCREENS)


@bp.route("/unlock/code", methods=["GET", "POST"])
@limiter.limit(code_flow.CODE_LIMIT, methods=["POST"])
@code_flow.in_app_language
def unlock_code() -> Response | tuple[str, int]:
    return code_flow.code_view(SCREENS, _unlocked)


@bp.post("/unlock/resend")
@limiter.limit(code_flow.REQUEST_LIMIT)
@code_flow.in_app_language
def unlock_resend() -> Response | tuple[str, int]:
    return code_flow.resend_view(SCREENS)


def _unlocked(flow: recovery.Flow) -> Response:
    recovery.unlock(db.session, flow, ip=request.remote_addr or "", now=utcnow())
    db.session.commit()
    session.pop(SCREENS.flow_key, None)
    flash(_l("Your account is unlocked. You can sign in now."), "info")
    return code_flow.go("auth.login")
