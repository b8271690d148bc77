"""Token introspection (RFC 7662) for authenticated clients: a client learns about its own
tokens only; anything else is simply ``{"active": false}``."""

from __future__ import annotations

from dataclasses import dataclass

from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Response, request

from idp.extensions import db, limiter
from idp.models import Client, Token
from idp.oidc import bp, context
from idp.oidc.grants.authorization_code import CLIENT_AUTH_METHODS
from idp.oidc.token import _error
from idp.services import claims, tokens
from idp.services.clock import epoch, utcnow


@dataclass
class Found:
    row: Token
    kind: str  # access_token | refresh_token


class TokenIntrospection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = [m for m in CLIENT_AUTH_METHODS if m != "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Found | None:
        if len(token_string) > 256:
            return None
        order = ("refresh_token", "access_token") if token_type_hint == "refresh_token" \
            else ("access_token", "refresh_token")
        for kind in order:
            find = tokens.find_access_token if kind == "access_token" else tokens.find_refresh_token
            row = find(db.session, token_string)
            if row is not None:
                return Found(row, kind)
        return None

    def check_permission(self, token: Found, client: Client, request: object) -> bool:
        return token.row.client_id == client.client_id

    def create_introspection_payload(self, token: Found | None) -> dict:
        if token is None or not _active(token):
            return {"active": False}
        row = token.row
        expires = row.access_expires_at if token.kind == "access_token" else row.refresh_expires_at
        payload = {
            "active": True, "client_id": row.client_id, "scope": row.scope,
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "iat": epoch(row.issued_at), "exp": epoch(expires), "iss": context.issuer(),
        }
        if row.citizen_id is not None:
            payload["sub"] = claims.subject(row.citizen_id, row.client, context.pairwise_secret())
        if row.acr:
            payload["acr"] = row.acr
        if row.auth_time:
            payload["auth_time"] = epoch(row.auth_time)
        return payload

    def introspect_token(self, token: Found) -> dict:  # pragma: no cover — payload built above
        return self.create_introspection_payload(token)


def _active(found: Found) -> bool:
    row, now = found.row, utcnow()
    if row.revoked_at is not None:
        return False
    if found.kind == "access_token":
        return row.access_expires_at > now
    return (row.refresh_used_at is None and row.refresh_expires_at is not None
            and row.refresh_expires_at > now)


@bp.post("/introspect")
@limiter.exempt
def introspect() -> Response:
    if request.mimetype != "application/x-www-form-urlencoded":
        return _error("invalid_request", "The body must be application/x-www-form-urlencoded.")
    response = context.server().create_endpoint_response(TokenIntrospection.ENDPOINT_NAME)
    db.session.commit()
    response.headers["Cache-Control"] = "no-store"
    return response
