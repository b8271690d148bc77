"""``/login``: password sign-in by CCCD or phone number.

When an app sent the citizen here (``?interaction=``), the page names the app, pre-fills the
``login_hint`` and, once signed in, resumes the authorization request.
"""

from __future__ import annotations

import logging

from flask import make_response, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from idp.auth import bp
from idp.auth.forms import LoginForm
from idp.auth.interaction_view import app_language, interaction_context
from idp.auth.sign_out import end_session
from idp.extensions import db, limiter
from idp.oidc import interaction
from idp.services import accounts, sso_sessions
from idp.services.clock import utcnow
from idp.web import current_session, deps

log = logging.getLogger("tnid.audit")

GENERIC_FAILURE = _l(
    "The ID or phone number, or the password, is not correct. Please check and try again."
)


def _login_limit() -> str:
    return deps.settings().login_rate_limit


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login() -> Response | str:
    token = request.args.get("interaction")
    pending = interaction.load(token)
    with app_language(pending.params if pending else None):
        return _login(token, pending)


def _login(token: str | None, pending: interaction.Interaction | None) -> Response | str:
    form = LoginForm()
    page = {"form": form, **interaction_context(pending, token)}
    if request.method == "GET":
        if pending is None and current_session.current_sso() is not None:
            return redirect(url_for("account.home"))
        if pending is not None and not form.identifier.data:
            # OIDC Core §3.1.2.1 login_hint: the app knows who is coming.
            form.identifier.data = pending.params.get("login_hint", "")[:64]
        return render_template("auth/login.html", **page)

    if not form.validate_on_submit():
        return render_template("auth/login.html", **page), 400

    result = accounts.authenticate_password(
        db.session, form.identifier.data, form.password.data, passwords=deps.passwords()
    )
    if result.citizen is None:
        db.session.commit()  # nothing to write; ends the read transaction
        log.info("account:login:failure",
                 extra={"ip": request.remote_addr, "reason": "locked" if result.locked else "bad"})
        form.password.data = ""
        # A locked account gets the same answer: telling "locked" only to someone with the
        # right password would confirm the password to whoever is guessing it.
        return render_template("auth/login.html", error=GENERIC_FAILURE, **page), 401

    previous = current_session.current_sso()
    if previous is not None and previous.citizen_id != result.citizen.id:
        end_session(previous)  # another citizen's session: its apps are told (back-channel)
        previous = None
    cookie, sso = sso_sessions.start_session(
        db.session, result.citizen, amr=["pwd"], acr=sso_sessions.ACR_ONE_FACTOR,
        ip=request.remote_addr or "", user_agent=request.user_agent.string,
        now=utcnow(), continues=previous,
    )
    db.session.commit()
    log.info("account:login:success",
             extra={"ip": request.remote_addr, "citizen": str(result.citizen.id),
                    "sid": sso.sid, "method": "pwd"})
    # New privilege level, new CSRF token (the old one may have been seen by someone else).
    session.pop("csrf_token", None)
    target = interaction.resume_url(token) if pending is not None else url_for("account.home")
    response = make_response(redirect(target))
    current_session.set_cookie(response, cookie)
    return response

