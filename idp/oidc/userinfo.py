"""UserInfo endpoint (OIDC Core §5.3): the claims of the consented scopes, for a bearer
access token sent in the Authorization header (GET or POST)."""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from flask import Response, jsonify
from flask_babel import get_locale

from idp.oidc import bp, context
from idp.oidc.server import resource_protector
from idp.services import claims


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    try:
        token = resource_protector.acquire_token("openid")
    except OAuth2Error as error:
        response = jsonify(dict(error.get_body()))
        response.status_code = error.status_code
        for name, value in error.get_headers():
            if name.lower() == "www-authenticate":
                response.headers[name] = value
        return response
    citizen = token.get_user()
    if citizen is None or citizen.status != "active":
        response = jsonify(error="invalid_token", error_description="No citizen for token.")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    data = claims.userinfo(citizen, token.client, token.scope,
                           pairwise_secret=context.pairwise_secret(),
                           claims_request=token.claims, locale=str(get_locale() or "vi"))
    response = jsonify(data)
    response.headers["Cache-Control"] = "no-store"
    return response
