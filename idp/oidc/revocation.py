"""Token revocation (RFC 7009). Revoking a refresh token ends its whole grant (§2.1); revoking
an access token ends only that token, and the refresh token issued with it keeps working.
Unknown tokens are answered 200 like known ones (§2.2); another client's token is refused
and left alone (§2.1). Public clients revoke their own tokens with their client_id (§5).
"""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc7009 import RevocationEndpoint
from flask import Response

from idp.extensions import db, limiter
from idp.models import Client
from idp.oidc import bp, context
from idp.oidc.grants.authorization_code import CLIENT_AUTH_METHODS
from idp.oidc.introspection import (
    TOKEN_TYPES,
    Found,
    check_token_param,
    find_token,
    refuse_malformed_form,
)
from idp.services import tokens
from idp.services.clock import utcnow


class UnsupportedTokenType(OAuth2Error):
    """RFC 7009 §2.2.1, a 400 (authlib's class of that name answers 401)."""

    error = "unsupported_token_type"
    status_code = 400


class TokenRevocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def check_params(self, request: OAuth2Request, client: Client) -> None:
        check_token_param(request.form)
        hint = request.form.get("token_type_hint")
        if hint and hint not in TOKEN_TYPES:
            raise UnsupportedTokenType(f"token_type_hint must be one of {', '.join(TOKEN_TYPES)}.")

    def query_token(self, token_string: str, token_type_hint: str | None) -> Found | None:
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: Found, request: OAuth2Request) -> None:
        now, row = utcnow(), token.row
        tokens.revoke_token(db.session, row, now, whole_grant=token.kind == "refresh_token")


@bp.route("/revoke", methods=["POST", "GET", "PUT", "PATCH", "DELETE"])
@limiter.exempt
def revoke() -> Response:
    if (refusal := refuse_malformed_form()) is not None:
        return refusal
    response = context.server().create_endpoint_response(TokenRevocation.ENDPOINT_NAME)
    db.session.commit()
    response.headers["Cache-Control"] = "no-store"
    return response
