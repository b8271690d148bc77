"""``/login``: password sign-in by CCCD or phone number.

Brute-force defence (``services.throttle`` through ``accounts.password_sign_in``): growing
delays per account ("Vui lòng thử lại sau N giây"), the same for identifiers without an
account, a known device on its own counter, an SMS-code unlock (``/unlock``) after 100
failures, and the per-IP limit below. A sign-in from a browser new to the citizen is told to
the citizen by SMS (``services.devices``).

When an app sent the citizen here (``?interaction=``), the page names the app, pre-fills the
``login_hint`` and, once signed in, resumes the authorization request.
"""

from __future__ import annotations

import logging

from flask import make_response, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from idp.auth import bp, finish, guard
from idp.auth.forms import LoginForm
from idp.auth.interaction_view import app_language, interaction_context
from idp.extensions import db, limiter
from idp.oidc import interaction
from idp.services import accounts
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

    now = utcnow()
    ip = request.remote_addr
    device_token = guard.device_token()
    attempt = accounts.password_sign_in(
        db.session, form.identifier.data, form.password.data, passwords=deps.passwords(),
        counters=guard.counters(), secret_key=deps.settings().secret_key,
        device_token=device_token, ip=ip, now=now,
    )
    if attempt.outcome is not accounts.Outcome.OK:
        db.session.commit()  # the failure's counter and audit entry
        log.info("account:login:failure", extra={"ip": ip, "reason": attempt.outcome.value})
        form.password.data = ""
        return _refused(attempt, page)

    assert attempt.citizen is not None
    target = interaction.resume_url(token) if pending is not None else url_for("account.home")
    proof = finish.Proof(method="pwd", amr=["pwd"],
                         details={"known_device": attempt.device is not None})
    return finish.sign_in(attempt.citizen, proof, target=target,
                          client_id=pending.client_id if pending else None,
                          known_device=attempt.known_device)


def _refused(attempt: accounts.SignInAttempt, page: dict) -> tuple[str, int] | Response:
    """The same answers whether or not the account exists (``password_sign_in``)."""
    if attempt.outcome is accounts.Outcome.THROTTLED:
        response = make_response(render_template(
            "auth/login.html", error=guard.wait_message(attempt.retry_after), **page), 429)
        response.headers["Retry-After"] = str(attempt.retry_after)
        return response
    if attempt.outcome is accounts.Outcome.UNLOCK_REQUIRED:
        unlock_url = url_for("auth.unlock", interaction=page.get("interaction"))
        return render_template("auth/login.html", error=guard.UNLOCK_REQUIRED,
                               unlock_url=unlock_url, **page), 403
    # A locked account gets the same answer: telling "locked" only to someone with the
    # right password would confirm the password to whoever is guessing it.
    return render_template("auth/login.html", error=GENERIC_FAILURE, **page), 401
