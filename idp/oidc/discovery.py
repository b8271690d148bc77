"""OpenID Provider metadata (OIDC Discovery 1.0 §3, RFC 8414 §2): every value here is true,
and tests/functional/oidc/test_discovery.py exercises each one end to end.

Endpoints are advertised only when this app actually serves them, so a deployment (or a
work-in-progress tree) never points apps at a 404.
"""

from __future__ import annotations

import json

from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException

from idp.extensions import limiter
from idp.oidc import bp, context
from idp.oidc.grants.authorization_code import CLIENT_AUTH_METHODS
from idp.oidc.userinfo import method_not_allowed
from idp.services import claims
from idp.services.keys import SUPPORTED_ALGS
from idp.services.scopes import ACR_VALUES, CLAIMS_SUPPORTED, SUPPORTED_SCOPES

# Metadata name -> (path, method that must be routed for the endpoint to exist).
ENDPOINTS: dict[str, tuple[str, str]] = {
    "authorization_endpoint": ("/authorize", "GET"),
    "token_endpoint": ("/token", "POST"),
    "userinfo_endpoint": ("/userinfo", "GET"),
    "jwks_uri": ("/jwks", "GET"),
    "registration_endpoint": ("/register", "POST"),
    "revocation_endpoint": ("/revoke", "POST"),
    "introspection_endpoint": ("/introspect", "POST"),
    "pushed_authorization_request_endpoint": ("/par", "POST"),
    "end_session_endpoint": ("/end-session", "GET"),
}
# Public clients (method "none") may revoke their own tokens (RFC 7009 §5), but
# introspection is for authenticated clients only (RFC 7662 §2.1).
INTROSPECTION_AUTH = [m for m in CLIENT_AUTH_METHODS if m != "none"]
PROMPTS = ["none", "login", "consent", "select_account"]
UI_LOCALES = ["vi", "en"]


def metadata() -> dict:
    algs = list(SUPPORTED_ALGS)
    document: dict = {"issuer": context.issuer()}
    document.update({name: context.url(path) for name, (path, method) in ENDPOINTS.items()
                     if _served(path, method)})
    document.update({
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        # RFC 8414 §2: REQUIRED alongside private_key_jwt, for each endpoint that takes it.
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "revocation_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "revocation_endpoint_auth_signing_alg_values_supported": algs,
        "introspection_endpoint_auth_methods_supported": INTROSPECTION_AUTH,
        "introspection_endpoint_auth_signing_alg_values_supported": algs,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": list(CLAIMS_SUPPORTED),
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        # Only the request_uri values the PAR endpoint hands out (RFC 9126 §4), not fetched.
        "request_uri_parameter_supported": False,
        "require_pushed_authorization_requests": False,
        "authorization_response_iss_parameter_supported": True,  # RFC 9207 §3
        "acr_values_supported": list(ACR_VALUES),
        "prompt_values_supported": PROMPTS,
        "ui_locales_supported": UI_LOCALES,
        "claims_locales_supported": [claims.DEFAULT_LOCALE],
        "display_values_supported": ["page"],
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
        # OpenID Connect for Identity Assurance 1.0 §8.
        "verified_claims_supported": True,
        "trust_frameworks_supported": [claims.TRUST_FRAMEWORK],
        "evidence_supported": ["document"],
        "documents_supported": [claims.DOCUMENT_TYPE],
        "documents_check_methods_supported": [claims.CHECK_METHOD],
        "claims_in_verified_claims_supported": list(claims.VERIFIABLE),
    })
    return document


def _served(path: str, method: str) -> bool:
    adapter = current_app.url_map.bind("localhost")
    try:
        adapter.match(path, method=method)
    except HTTPException:  # NotFound, MethodNotAllowed (RequestRedirect is one too)
        return False
    return True


WRONG_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


@bp.route("/.well-known/openid-configuration", methods=["GET", *WRONG_METHODS])
@limiter.exempt
def openid_configuration() -> Response:
    if request.method != "GET":
        return method_not_allowed(("GET",))
    # The document depends only on the configuration: serialise it once per app.
    body = current_app.extensions.get("tnid.discovery")
    if body is None:
        body = current_app.extensions["tnid.discovery"] = json.dumps(metadata()).encode()
    response = Response(body, mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"  # public data; SPAs read it
    return response


@bp.route("/.well-known/oauth-authorization-server", methods=["GET", *WRONG_METHODS])
@limiter.exempt
def oauth_authorization_server() -> Response:
    """RFC 8414 §3: the same document for plain OAuth clients."""
    return openid_configuration()
