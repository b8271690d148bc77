"""Token endpoint (RFC 6749 §3.2, OIDC Core §3.1.3): codes, refresh tokens and client
credentials for tokens.

authlib validates the grant. This module first checks the shape of the request (a form body,
each parameter once and not oversized, one client authentication method: RFC 6749 §3.2 and
§2.3), then commits what the grant wrote — also when it fails, because a replayed code or
refresh token revokes tokens. Every answer, success or error, carries ``Cache-Control:
no-store`` and ``Pragma: no-cache`` (RFC 6749 §5.1, §5.2).
"""

from __future__ import annotations

import re

from authlib.oauth2.rfc6749.util import extract_basic_authorization
from flask import Response, jsonify, request

from idp.extensions import db, limiter
from idp.oidc import bp, context
from idp.oidc.server import is_client_id
from idp.services import audit

FORM = "application/x-www-form-urlencoded"
# A client assertion signed with a 4096-bit RSA key is under 2 KB; nothing legitimate is longer.
MAX_PARAM_LENGTH = 4096
# Our codes and refresh tokens are 43 and 64 characters: a longer one cannot be ours.
MAX_LENGTHS = {"code": 256, "refresh_token": 256}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


@bp.post("/token")
@limiter.exempt
def token() -> Response:
    problem = malformed_request()
    if problem is not None:
        return _error("invalid_request", problem)
    try:
        response = context.server().create_token_response()
    except Exception:
        db.session.rollback()
        raise
    if response.status_code in (400, 401) and response.is_json:
        record_refusal(response.get_json(silent=True) or {})
    if db.session().in_transaction():  # an issuance has committed already (server.save_token)
        db.session.commit()
    return no_store(response)


# Refusals worth a trace: a wrong client secret or assertion (someone guessing or a leaked
# configuration), and a code or refresh token that is unknown, spent or another client's
# (replay). Malformed requests are not recorded: they say nothing about anyone.
AUDITED_ERRORS = frozenset({"invalid_client", "invalid_grant", "unauthorized_client"})


def record_refusal(body: dict) -> None:
    error = body.get("error")
    if error not in AUDITED_ERRORS:
        return
    try:  # read as authlib's client_secret_basic does; a malformed header claims no one
        basic_id, _secret = extract_basic_authorization(request.headers)
    except (UnicodeError, ValueError):
        basic_id = None
    claimed = basic_id or request.form.get("client_id")
    client_id = claimed if is_client_id(claimed) else None
    audit.record(db.session, "oidc:token:failure", actor_type="client", actor_id=client_id,
                 client_id=client_id, outcome="failure", ip=request.remote_addr,
                 details={"error": error, "grant_type": request.form.get("grant_type", "")[:40]})


@bp.route("/token", methods=["GET", "PUT", "PATCH", "DELETE"])
@limiter.exempt
def token_wrong_method() -> Response:
    """RFC 6749 §3.2: POST only. Answered in JSON, as every other token endpoint error."""
    response = _error("invalid_request", "The token endpoint accepts POST requests only.", 405)
    response.headers["Allow"] = "POST, OPTIONS"
    return response


def malformed_request() -> str | None:
    """Why the request cannot be a token request, or None. The texts are ASCII (RFC 6749
    §5.2 limits error_description to it) and never echo a value, only a parameter's name."""
    if request.mimetype != FORM:
        return "The body must be application/x-www-form-urlencoded."
    if request.args:  # secrets in a URL end up in logs (RFC 6749 §3.2: parameters in the body)
        return "Send the parameters in the request body, not in the URL."
    form = request.form
    for name in form:
        values = form.getlist(name)
        if len(values) > 1:
            return f"Parameter '{_shown(name)}' is repeated."
        if len(values[0]) > MAX_LENGTHS.get(name, MAX_PARAM_LENGTH):
            return f"Parameter '{_shown(name)}' is too long."
    if not form.get("grant_type"):
        return "Missing 'grant_type'."
    methods = (
        request.headers.get("Authorization", "")[:6].lower() == "basic ",
        "client_secret" in form,
        "client_assertion" in form or "client_assertion_type" in form,
    )
    if sum(methods) > 1:
        return "Use only one client authentication method (RFC 6749 section 2.3)."
    return None


def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _shown(name: str) -> str:
    return _UNSAFE.sub("?", name[:40])


def _error(error: str, description: str, status: int = 400) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    return no_store(response)
