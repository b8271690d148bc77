"""``/login``: password sign-in by CCCD or phone number."""

from __future__ import annotations

import logging

from flask import flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from idp.auth import bp
from idp.auth.forms import LoginForm
from idp.extensions import db, limiter
from idp.services import accounts, sso_sessions
from idp.services.clock import utcnow
from idp.web import current_session, deps

log = logging.getLogger("tnid.audit")

GENERIC_FAILURE = _l(
    "The ID or phone number, or the password, is not correct. Please check and try again."
)
LOCKED = _l(
    "Your account is temporarily locked. Please contact your commune office for help."
)


def _login_limit() -> str:
    return deps.settings().login_rate_limit


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login() -> Response | str:
    form = LoginForm()
    if request.method == "GET":
        if current_session.current_sso() is not None:
            return redirect(url_for("account.home"))
        return render_template("auth/login.html", form=form)

    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), 400

    result = accounts.authenticate_password(
        db.session, form.identifier.data, form.password.data, passwords=deps.passwords()
    )
    if result.citizen is None:
        db.session.commit()  # nothing to write; ends the read transaction
        log.info("account:login:failure",
                 extra={"ip": request.remote_addr, "reason": "locked" if result.locked else "bad"})
        form.password.data = ""
        return render_template(
            "auth/login.html", form=form, error=LOCKED if result.locked else GENERIC_FAILURE
        ), 401

    token, sso = sso_sessions.start_session(
        db.session, result.citizen, amr=["pwd"], acr=sso_sessions.ACR_ONE_FACTOR,
        ip=request.remote_addr or "", user_agent=request.user_agent.string,
        now=utcnow(), replaces=current_session.cookie_token(),
    )
    db.session.commit()
    log.info("account:login:success",
             extra={"ip": request.remote_addr, "citizen": str(result.citizen.id),
                    "sid": sso.sid, "method": "pwd"})
    # New privilege level, new CSRF token (the old one may have been seen by someone else).
    session.pop("csrf_token", None)
    response = make_response(redirect(url_for("account.home")))
    current_session.set_cookie(response, token)
    return response


@bp.app_context_processor
def inject_signed_in() -> dict[str, object]:
    return {"current_sso": current_session.current_sso}


def flash_signed_out() -> None:
    flash(_l("You have signed out."), "info")
