"""Pushed Authorization Requests (RFC 9126): the client sends the authorization request over
an authenticated back channel and gets a one-time ``request_uri`` for the browser, which the
authorization endpoint redeems (§4)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Response, jsonify, request
from sqlalchemy import select, update
from werkzeug.datastructures import MultiDict

from idp.extensions import db, limiter
from idp.models import PushedAuthorizationRequest
from idp.oidc import bp, context
from idp.oidc.authorize_checks import (
    REQUEST_CHECKS,
    ErrorPage,
    ErrorRedirect,
    Pending,
    check_client,
    check_redirect_uri,
)
from idp.oidc.grants.authorization_code import CLIENT_AUTH_METHODS
from idp.services import tokens
from idp.services.clock import utcnow

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
LIFETIME = timedelta(seconds=90)
CLIENT_AUTH_PARAMS = ("client_secret", "client_assertion", "client_assertion_type")


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
        response = _error(error.error, error.description or "", error.status_code)
        for name, value in error.get_headers():
            if name.lower() == "www-authenticate":
                response.headers[name] = value
        return response
    values = request.form.copy()
    for name in CLIENT_AUTH_PARAMS:
        values.poplist(name)
    if "request_uri" in values:
        return _error("invalid_request", "'request_uri' cannot be pushed (RFC 9126 §2.1).")
    # §2.1: client_id is the authenticated client; add it when the client sent it only in
    # its Authorization header.
    if values.getlist("client_id") not in ([], [client.client_id]):
        return _error("invalid_request", "'client_id' must name the authenticated client.")
    values.setdefault("client_id", client.client_id)
    state = Pending.from_params(values, started=None, done=())
    try:
        check_client(state)
        check_redirect_uri(state)
        for check in REQUEST_CHECKS:
            check(state)
    except ErrorPage:
        return _error("invalid_request", "'redirect_uri' is missing or not registered.")
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


def redeem(values: MultiDict) -> MultiDict:
    """RFC 9126 §4: a ``request_uri`` stands for the pushed parameters (the only ones used);
    it must come with the client_id that pushed it, before it expires, and only once."""
    request_uri = values.get("request_uri")
    if not request_uri:
        return values
    if len(values.getlist("request_uri")) != 1 or len(request_uri) > 200:
        raise ErrorPage("request_uri")
    now = utcnow()
    row = db.session.scalar(select(PushedAuthorizationRequest).where(
        PushedAuthorizationRequest.request_uri_hash == tokens.digest(request_uri)))
    if row is None or values.getlist("client_id") != [row.client_id] or row.expires_at <= now:
        raise ErrorPage("request_uri")
    claimed = db.session.execute(
        update(PushedAuthorizationRequest)
        .where(PushedAuthorizationRequest.id == row.id,
               PushedAuthorizationRequest.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    params = dict(row.params)
    db.session.commit()
    if claimed != 1:
        raise ErrorPage("request_uri")
    return MultiDict(params)


def _error(error: str, description: str, status: int = 400) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
