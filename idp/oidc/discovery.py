"""OpenID Provider metadata (OIDC Discovery §3, RFC 8414): every value here is true — a test
exercises each one."""

from __future__ import annotations

from flask import Response, jsonify

from idp.extensions import limiter
from idp.oidc import bp, context
from idp.services.keys import SUPPORTED_ALGS
from idp.services.scopes import ACR_VALUES, CLAIMS_SUPPORTED, SUPPORTED_SCOPES

CLIENT_AUTH = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


def metadata() -> dict:
    url = context.url
    return {
        "issuer": context.issuer(),
        "authorization_endpoint": url("/authorize"),
        "token_endpoint": url("/token"),
        "userinfo_endpoint": url("/userinfo"),
        "jwks_uri": url("/jwks"),
        "registration_endpoint": url("/register"),
        "revocation_endpoint": url("/revoke"),
        "introspection_endpoint": url("/introspect"),
        "pushed_authorization_request_endpoint": url("/par"),
        "end_session_endpoint": url("/end-session"),
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": list(SUPPORTED_ALGS),
        "token_endpoint_auth_methods_supported": CLIENT_AUTH,
        "token_endpoint_auth_signing_alg_values_supported": list(SUPPORTED_ALGS),
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH,
        "introspection_endpoint_auth_methods_supported": CLIENT_AUTH[:3],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": list(CLAIMS_SUPPORTED),
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_pushed_authorization_requests": False,
        "authorization_response_iss_parameter_supported": True,
        "acr_values_supported": list(ACR_VALUES),
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": ["vi", "en"],
        "claims_locales_supported": ["vi"],
        "display_values_supported": ["page"],
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
        "verified_claims_supported": True,
        "trust_frameworks_supported": ["vn_cccd"],
        "evidence_supported": ["document"],
        "claims_in_verified_claims_supported": ["given_name", "family_name", "birthdate", "cccd"],
    }


@bp.get("/.well-known/openid-configuration")
@limiter.exempt
def openid_configuration() -> Response:
    response = jsonify(metadata())
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/.well-known/oauth-authorization-server")
@limiter.exempt
def oauth_authorization_server() -> Response:
    """RFC 8414: the same document for plain OAuth clients."""
    return openid_configuration()
