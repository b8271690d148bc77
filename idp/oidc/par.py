"""Pushed Authorization Requests (RFC 9126): the client sends the authorization request over
an authenticated back channel and gets a one-time ``request_uri`` for the browser."""

from __future__ import annotations

import secrets
from datetime import timedelta

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Response, jsonify, request

from idp.extensions import db, limiter
from idp.models import PushedAuthorizationRequest
from idp.oidc import bp, context
from idp.oidc.authorize_checks import (
    ErrorPage,
    ErrorRedirect,
    Pending,
    check_acr,
    check_claims_request,
    check_client,
    check_max_age,
    check_prompt,
    check_redirect_uri,
    check_response_mode,
    check_single_values,
    oauth_request,
)
from idp.oidc.grants.authorization_code import CLIENT_AUTH_METHODS
from idp.oidc.token import _error
from idp.services import tokens
from idp.services.clock import utcnow

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
LIFETIME = timedelta(seconds=90)


@bp.post("/par")
@limiter.exempt
def pushed_authorization_request() -> Response:
    if request.mimetype != "application/x-www-form-urlencoded":
        return _error("invalid_request", "The body must be application/x-www-form-urlencoded.")
    server = context.server()
    try:
        client = server.authenticate_client(server.create_oauth2_request(None),
                                            CLIENT_AUTH_METHODS, "par")
    except OAuth2Error as error:
        return _error(error.error, error.description or "", error.status_code)
    values = request.form.copy()
    for name in ("client_secret", "client_assertion", "client_assertion_type"):
        values.pop(name, None)
    if "request_uri" in values:
        return _error("invalid_request", "'request_uri' cannot be pushed (RFC 9126 §2.1).")
    if values.get("client_id") != client.client_id:
        return _error("invalid_request", "'client_id' must name the authenticated client.")
    state = Pending.from_params(values, started=None, done=())
    try:
        check_client(state)
        check_redirect_uri(state)
        for check in (check_single_values, check_response_mode, check_prompt, check_max_age,
                      check_claims_request, check_acr):
            check(state)
        grant = server.get_authorization_grant(oauth_request(state))
        grant.validate_authorization_request()
    except ErrorPage:
        return _error("invalid_request", "The redirect_uri is not registered for this client.")
    except ErrorRedirect as error:
        return _error(error.error, error.description)
    except OAuth2Error as error:
        return _error(error.error, error.description or "")
    request_uri = REQUEST_URI_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(PushedAuthorizationRequest(
        request_uri_hash=tokens.digest(request_uri), client_id=client.client_id,
        params=state.single_params, created_at=now, expires_at=now + LIFETIME))
    db.session.commit()
    response = jsonify(request_uri=request_uri, expires_in=int(LIFETIME.total_seconds()))
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response
