"""Refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14)."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants

from idp.extensions import db
from idp.models import Citizen, Token
from idp.oidc.grants.authorization_code import CLIENT_AUTH_METHODS
from idp.services import tokens
from idp.services.clock import utcnow


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotate on every use

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        # The client is authenticated before this runs (authlib validates it first).
        return tokens.claim_refresh_token(db.session, refresh_token, self.request.client,
                                          utcnow())

    def authenticate_user(self, refresh_token: Token) -> Citizen | None:
        citizen = db.session.get(Citizen, refresh_token.citizen_id)
        return citizen if citizen is not None and citizen.status == "active" else None

    def revoke_old_credential(self, refresh_token: Token) -> None:
        """Already marked used when claimed; the old access token lives out its short life."""
