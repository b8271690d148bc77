"""Authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2): an ordered list of small checks.

Each rejection has exactly one home. Until the client and its redirect URI are known to be
good, errors are shown as a page and never redirected (RFC 6749 §4.1.2.1); after that they go
back to the app with ``state`` and the RFC 9207 ``iss``. Signing in, choosing an account and
consenting are screens outside the protocol: they get a signed interaction token and resume
here.

authlib's grant only issues the code: the request is validated once, by these checks.
authlib's own validation would look the client up a second time and query every code the
app ever received for its nonce; replayed nonces are the relying app's check (OIDC Core
§3.1.3.7 step 11, §15.5.2), and a citizen's back button must not break the sign-in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import g, make_response, redirect, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from idp.auth import step_up
from idp.extensions import db, limiter
from idp.oidc import bp, context, interaction, par
from idp.oidc.authorize_checks import (
    REQUEST_CHECKS,
    ErrorPage,
    ErrorRedirect,
    Pending,
    check_client,
    check_redirect_uri,
    now_ms,
    redirect_to_client,
    render_error_page,
)
from idp.services import claims, consents, tokens
from idp.services.clock import epoch, utcnow
from idp.services.scopes import ACR_RANK
from idp.web import current_session

SCREENS = {"login": "auth.login", "select_account": "auth.select_account",
           "consent": "auth.consent"}


@dataclass(frozen=True)
class AuthorizationFacts:
    """What the code remembers of the sign-in that produced it (read by the grant)."""

    sid: str
    auth_time: datetime
    acr: str
    amr: list[str]
    claims: dict | None


class Interact(Exception):
    """The citizen has a step to take on a screen outside the protocol."""

    def __init__(self, step: str) -> None:
        self.step = step


# --- what the citizen must do (after the request checks of idp.oidc.authorize_checks) -----------


def check_login(state: Pending) -> None:
    """OIDC Core §3.1.2.3: sign in when there is no session, or again when ``prompt=login``,
    an exceeded ``max_age`` or an ``id_token_hint`` for someone else asks for it — unless the
    citizen already signed in during this interaction."""
    sso = state.sso
    if sso is not None and not state.signed_in_since_start():
        too_old = state.max_age is not None and \
            time.time() - epoch(sso.auth_time) > state.max_age
        someone_else = state.hint_sub is not None and state.hint_sub != claims.subject(
            sso.citizen_id, state.client, context.pairwise_secret())
        if "login" in state.prompts or too_old or someone_else:
            sso = None
    if sso is not None:
        return
    if "none" in state.prompts:
        raise ErrorRedirect("login_required", "The citizen must sign in.")
    raise Interact("login")


def check_step_up(state: Pending) -> None:
    """acr 2 is the password plus a second factor: a session without the password (a QR
    sign-in at acr 1) cannot step up, so a required acr 2 signs in again with the password
    (then the second factor); a wish is then not honoured (the ID token says acr 1)."""
    rank = ACR_RANK.get(state.sso.acr, 0)
    if rank >= max(state.required_rank, state.desired_rank):
        return
    if rank >= state.required_rank and ("none" in state.prompts
                                        or not step_up.available(state.sso)):
        return  # only a wish (acr_values): continue, the ID token says what was achieved
    if "none" in state.prompts:
        raise ErrorRedirect("interaction_required", "A second factor is required.")
    if not step_up.can_step_up(list(state.sso.amr)):
        raise Interact("login")
    raise Interact("step_up")


def check_select_account(state: Pending) -> None:
    """``prompt=select_account``: continue as the signed-in citizen or use another account.
    Someone who just signed in during this request has chosen already."""
    if "select_account" in state.prompts and "select_account" not in state.done \
            and not state.signed_in_since_start():
        raise Interact("select_account")


def check_consent(state: Pending) -> None:
    """Asked once per app and set of data; ``prompt=consent`` asks again. Trusted
    (first-party) apps skip the screen, but the agreement is still recorded."""
    asked_again = "consent" in state.prompts and "consent" not in state.done
    agreed = consents.agreed_scopes(db.session, state.sso.citizen_id, state.client.client_id)
    if consents.covers_scopes(agreed, state.granted_scopes) and not asked_again:
        return
    if state.client.trusted and not asked_again:
        consents.grant(db.session, state.sso.citizen_id, state.client.client_id,
                       state.granted_scopes, utcnow(), implicit=True)
        return
    if "none" in state.prompts:
        raise ErrorRedirect("consent_required", "The citizen has not agreed to share this.")
    raise Interact("consent")


CITIZEN_CHECKS = (check_login, check_step_up, check_select_account, check_consent)


# --- the endpoint ---------------------------------------------------------------------------------


@bp.route("/authorize", methods=["GET", "POST"])
@limiter.exempt
def authorize() -> Response:
    """GET, or POST with a form body (OIDC Core §3.1.2.1)."""
    values = request.args if request.method == "GET" else request.values
    return _handle(values, started=None, done=())


@bp.get("/authorize/resume")
@limiter.exempt
def resume() -> Response:
    pending = interaction.load(request.args.get("interaction"))
    if pending is None:
        return render_error_page("expired")
    return _handle(MultiDict(pending.params), started=pending.started, done=pending.done)


@bp.get("/authorize/cancel")
def cancel() -> Response:
    """The citizen said no (or gave up): tell the app, which learns nothing else."""
    pending = interaction.load(request.args.get("interaction"))
    if pending is None:
        return render_error_page("expired")
    state = Pending.from_params(MultiDict(pending.params), started=pending.started,
                                done=pending.done)
    try:
        check_client(state)
        check_redirect_uri(state)
    except ErrorPage as page:
        return render_error_page(page.reason)
    return redirect_to_client(state, {"error": "access_denied",
                                      "error_description": "The citizen did not allow it."})


def _handle(values: MultiDict, *, started: int | None, done: tuple[str, ...]) -> Response:
    try:
        state = Pending.from_params(par.redeem(values), started=started, done=done)
        # Until these two pass, nothing is redirected anywhere.
        check_client(state)
        check_redirect_uri(state)
    except ErrorPage as page:
        return render_error_page(page.reason)
    try:
        for check in REQUEST_CHECKS:
            check(state)
        state.sso = current_session.current_sso()
        for check in CITIZEN_CHECKS:
            check(state)
        return _issue_code(state)
    except OAuth2Error as error:
        return redirect_to_client(state, {"error": error.error,
                                          "error_description": error.description or ""})
    except ErrorRedirect as error:
        return redirect_to_client(state, {"error": error.error,
                                          "error_description": error.description})
    except Interact as needed:
        return _interact(state, needed)


def _interact(state: Pending, needed: Interact) -> Response:
    token = interaction.encode(interaction.Interaction(
        params=state.single_params, started=state.started or now_ms(), done=state.done))
    if needed.step == "step_up":
        return make_response(step_up.begin(token, state.sso, state.client,
                                           state.single_params))
    return redirect(url_for(SCREENS[needed.step], interaction=token))


def _issue_code(state: Pending) -> Response:
    sso = state.sso
    g.authorization = AuthorizationFacts(
        sid=sso.sid, auth_time=sso.auth_time, acr=sso.acr, amr=list(sso.amr),
        claims=state.claims_request,
    )
    tokens.record_session_client(db.session, sso.sid, state.client.client_id,
                                 str(sso.citizen_id))
    response = context.server().handle_response(
        *state.grant.create_authorization_response(state.redirect_uri, state.citizen))
    db.session.commit()
    return redirect_to_client(state, {}, response=response)
