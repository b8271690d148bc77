"""Token revocation (RFC 7009). Revoking a refresh token ends its whole grant; revoking an
access token ends only it. Unknown tokens are answered 200 like known ones (§2.2)."""

from __future__ import annotations

from authlib.oauth2.rfc7009 import RevocationEndpoint
from flask import Response, request

from idp.extensions import db, limiter
from idp.models import Token
from idp.oidc import bp, context
from idp.oidc.grants.authorization_code import CLIENT_AUTH_METHODS
from idp.oidc.token import _error
from idp.services import tokens
from idp.services.clock import utcnow


class TokenRevocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        if len(token_string) > 256:
            return None
        row = None
        if token_type_hint != "refresh_token":
            row = tokens.find_access_token(db.session, token_string)
            if row is not None:
                row._revoke_whole_grant = False
        if row is None:
            row = tokens.find_refresh_token(db.session, token_string)
            if row is not None:
                row._revoke_whole_grant = True
        if row is None and token_type_hint == "refresh_token":
            row = tokens.find_access_token(db.session, token_string)
            if row is not None:
                row._revoke_whole_grant = False
        return row

    def revoke_token(self, token: Token, request: object) -> None:
        tokens.revoke_token(db.session, token, utcnow(),
                            whole_grant=getattr(token, "_revoke_whole_grant", False))


@bp.post("/revoke")
@limiter.exempt
def revoke() -> Response:
    if request.mimetype != "application/x-www-form-urlencoded":
        return _error("invalid_request", "The body must be application/x-www-form-urlencoded.")
    response = context.server().create_endpoint_response(TokenRevocation.ENDPOINT_NAME)
    db.session.commit()
    response.headers["Cache-Control"] = "no-store"
    return response
