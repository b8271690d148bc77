"""Refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14)."""

from __future__ import annotations

from types import SimpleNamespace

from authlib.oauth2.rfc6749 import InvalidGrantError, grants

from idp.extensions import db
from idp.oidc.grants.authorization_code import CLIENT_AUTH_METHODS
from idp.services import tokens
from idp.services.clock import utcnow
from idp.services.tokens import TokenView


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotate on every use

    def authenticate_refresh_token(self, refresh_token: str) -> TokenView | None:
        """Find the token, check the scope asked for, then spend it. The client is
        authenticated before this runs (authlib validates it first)."""
        row = tokens.read_token(db.session, refresh_token, "refresh_token")
        if row is None or row.client_id != self.request.client.client_id:
            return None  # another app's token: refused, and not spent for its owner
        if row.refresh_used_at is None:
            # A scope mistake must not cost the app its grant; a used token is theft and
            # is handled (family revoked) whatever scope it asks for.
            self._validate_token_scope(row)
        return tokens.claim_refresh_token(db.session, row, utcnow())

    def authenticate_user(self, refresh_token: TokenView) -> SimpleNamespace:
        """A citizen who is no longer active has no grant left (authlib would answer
        ``invalid_request``, which tells the app to fix its request rather than sign in)."""
        citizen = refresh_token.citizen  # loaded with the token row
        if citizen is None or citizen.status != "active":
            raise InvalidGrantError("The citizen's account is not active.")
        return citizen

    def revoke_old_credential(self, refresh_token: TokenView) -> None:
        """Already marked used when claimed; the old access token lives out its short life."""
