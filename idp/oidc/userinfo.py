"""UserInfo endpoint (OIDC Core §5.3): the claims of the consented scopes, for a bearer access
token sent in the Authorization header (RFC 6750 §2.1), by GET or POST.

Tokens in the query string or a form body (RFC 6750 §2.2, §2.3) are refused: they end up in
logs and browser history. Errors follow RFC 6750 §3: 401 with ``WWW-Authenticate``.
"""

from __future__ import annotations

import json

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (
    JsonRequest,
    MissingAuthorizationError,
    UnsupportedTokenTypeError,
)
from flask import Response, jsonify, request

from idp.extensions import limiter
from idp.oidc import bp, context
from idp.oidc.server import resource_protector
from idp.services import claims

ALLOWED_METHODS = ("GET", "POST")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@bp.route("/userinfo", methods=[*ALLOWED_METHODS, "PUT", "PATCH", "DELETE"])
@limiter.exempt
def userinfo() -> Response:
    if request.method not in ALLOWED_METHODS:
        return method_not_allowed(ALLOWED_METHODS)
    if "access_token" in request.args or _form_has_access_token():
        return _bearer_error(400, "invalid_request",
                             "Send the access token in the Authorization header only.")
    try:
        # authlib's validation, fed the headers only (its Flask wrapper also rebuilds the URL).
        token = resource_protector.validate_request(
            scopes=None, request=JsonRequest(request.method, "", request.headers))
    except (MissingAuthorizationError, UnsupportedTokenTypeError):
        # §3.1: a request without (Bearer) credentials gets no error code, only the challenge.
        return _bearer_error(401, None, "An access token is required (Authorization: Bearer).")
    except OAuth2Error:
        return _bearer_error(401, "invalid_token", "The access token is not valid.")
    citizen = token.get_user()
    if citizen is None or citizen.status != "active" or token.client.disabled_at is not None:
        # A client_credentials token speaks for no citizen; a locked citizen has none.
        return _bearer_error(401, "invalid_token", "The access token is not valid.")
    if "openid" not in token.scope.split():
        return _bearer_error(403, "insufficient_scope",
                             "The access token was not issued for OpenID Connect.",
                             scope="openid")
    data = claims.userinfo(citizen, token.client, token.scope,
                           pairwise_secret=context.pairwise_secret(),
                           claims_request=token.claims)
    response = Response(json.dumps(data, ensure_ascii=False), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _form_has_access_token() -> bool:
    # Only these bodies are ever parsed into ``request.form``: skip parsing on a plain GET.
    return request.mimetype in FORM_TYPES and "access_token" in request.form


def _bearer_error(status: int, error: str | None, description: str, *,
                  scope: str | None = None) -> Response:
    """RFC 6750 §3: the challenge names the realm and, when there is one, the error."""
    challenge = [f'realm="{context.issuer()}"']
    if error:
        challenge += [f'error="{error}"', f'error_description="{description}"']
    if scope:
        challenge.append(f'scope="{scope}"')
    response = jsonify(error=error or "invalid_token", error_description=description)
    response.status_code = status
    response.headers["WWW-Authenticate"] = "Bearer " + ", ".join(challenge)
    response.headers["Cache-Control"] = "no-store"
    return response


def method_not_allowed(allowed: tuple[str, ...]) -> Response:
    """A JSON 405 for API callers, whatever their Accept header (RFC 9110 §15.5.6)."""
    response = jsonify(error="method_not_allowed",
                       error_description=f"Use {' or '.join(allowed)} here.")
    response.status_code = 405
    response.headers["Allow"] = ", ".join(allowed)
    response.headers["Cache-Control"] = "no-store"
    return response
