"""Authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2): an ordered list of small checks.

Each rejection has exactly one home. Until the client and its redirect URI are known to be
good, errors are shown as a page and never redirected (RFC 6749 §4.1.2.1); after that they go
back to the app with ``state`` and the RFC 9207 ``iss``. Signing in, choosing an account and
consenting are screens outside the protocol: they get a signed interaction token and resume
here.
"""

from __future__ import annotations

import time

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import g, make_response, redirect, request
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from idp.auth import step_up
from idp.extensions import db, limiter
from idp.oidc import bp, context, interaction
from idp.oidc.authorize_checks import (
    AuthorizationFacts,
    ErrorPage,
    ErrorRedirect,
    Interact,
    Pending,
    apply_ui_locales,
    check_acr,
    check_claims_request,
    check_client,
    check_consent,
    check_id_token_hint,
    check_login,
    check_max_age,
    check_prompt,
    check_redirect_uri,
    check_response_mode,
    check_select_account,
    check_single_values,
    check_step_up,
    load_pushed_request,
    oauth_request,
    redirect_to_client,
    render_error_page,
)
from idp.services import consents, tokens
from idp.services.clock import utcnow
from idp.web import current_session

# After the grant's own validation (client, redirect URI, response type, scope, PKCE, nonce),
# in the order the spec reads: request parameters first, then what the citizen must do.
CHECKS = (
    check_prompt, apply_ui_locales, check_max_age, check_claims_request, check_acr,
    check_id_token_hint, check_login, check_step_up, check_select_account, check_consent,
)


@bp.route("/authorize", methods=["GET", "POST"])
@limiter.exempt
def authorize() -> Response:
    return _handle(request.values, started=None, done=())


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
    try:
        state = Pending.from_params(MultiDict(pending.params), started=pending.started,
                                    done=pending.done)
        check_client(state)
        check_redirect_uri(state)
    except ErrorPage as page:
        return render_error_page(page.reason)
    return redirect_to_client(state, {"error": "access_denied",
                                      "error_description": "The citizen did not allow it."})


def _handle(values: MultiDict, *, started: int | None, done: tuple[str, ...]) -> Response:
    try:
        values = load_pushed_request(values)
        state = Pending.from_params(values, started=started, done=done)
        # Until these two pass, nothing is redirected anywhere.
        check_client(state)
        check_redirect_uri(state)
    except ErrorPage as page:
        return render_error_page(page.reason)
    try:
        check_single_values(state)
        check_response_mode(state)
        state.sso = current_session.current_sso()
        state.grant = context.server().get_consent_grant(
            request=oauth_request(state), end_user=state.citizen
        )
        for check in CHECKS:
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
        params=state.single_params, started=state.started or int(time.time()),
        done=state.done))
    if needed.step == "step_up":
        return make_response(step_up.begin(token, state.sso, state.client))
    return redirect(needed.url(token))


def _issue_code(state: Pending) -> Response:
    sso = state.sso
    g.authorization = AuthorizationFacts(
        sid=sso.sid, auth_time=sso.auth_time, acr=sso.acr, amr=list(sso.amr),
        claims=state.claims_request,
    )
    now = utcnow()
    if state.client.trusted:  # first-party: no screen, but the decision is still recorded
        consents.grant(db.session, sso.citizen_id, state.client.client_id,
                       state.granted_scopes, now, implicit=True)
    tokens.record_session_client(db.session, sso.sid, state.client.client_id,
                                 str(sso.citizen_id))
    server = context.server()
    response = server.handle_response(
        *state.grant.create_authorization_response(state.redirect_uri, state.citizen))
    db.session.commit()
    return redirect_to_client(state, {}, response=response)
