"""Wiring of authlib's authorization server: grants, client authentication, endpoints.

Registered once at import; everything that depends on configuration (lifetimes, issuer) is
read from the current app when a request runs, so several apps (tests) can share it.
"""

from __future__ import annotations

import secrets

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from flask import Flask
from flask import request as flask_request
from sqlalchemy import select

from idp.extensions import db
from idp.models import Client, Token
from idp.oidc import context
from idp.oidc.client_auth import PrivateKeyJwtAuthentication
from idp.oidc.grants.authorization_code import AuthorizationCodeGrant
from idp.oidc.grants.client_credentials import ClientCredentialsGrant
from idp.oidc.grants.openid import OpenIDCodeExtension, OpenIDRefreshExtension
from idp.oidc.grants.refresh_token import RefreshTokenGrant
from idp.oidc.pkce import S256CodeChallenge
from idp.services import tokens
from idp.services.clock import utcnow
from idp.services.scopes import SUPPORTED_SCOPES
from idp.web import deps


class TnidAuthorizationServer(AuthorizationServer):
    def create_oauth2_request(self, request: object) -> OAuth2Request:
        """Accept a prepared request (PAR, resumed interaction) as well as Flask's own."""
        if isinstance(request, OAuth2Request):
            return request
        return super().create_oauth2_request(flask_request)

    def get_error_uri(self, request: object, error: object) -> None:
        return None


def query_client(client_id: str) -> Client | None:
    if not isinstance(client_id, str) or len(client_id) > 64:
        return None
    return db.session.scalar(
        select(Client).where(Client.client_id == client_id, Client.disabled_at.is_(None))
    )


def save_token(token: dict, request: OAuth2Request) -> None:
    tokens.save_token(
        db.session, token, client=request.client,
        citizen_id=request.user.id if request.user else None, now=utcnow(),
        lifetimes=context.lifetimes(), code=request.authorization_code,
        previous=request.refresh_token,
    )


def _expires_in(client: Client, grant_type: str) -> int:
    return deps.settings().access_token_lifetime_seconds


token_generator = BearerTokenGenerator(
    access_token_generator=lambda **_: secrets.token_urlsafe(32),
    refresh_token_generator=lambda **_: secrets.token_urlsafe(48),
    expires_generator=_expires_in,
)


class AccessTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Token | None:
        if not token_string or len(token_string) > 256:
            return None
        return tokens.find_access_token(db.session, token_string)


server = TnidAuthorizationServer()
server.scopes_supported = list(SUPPORTED_SCOPES)
server.register_token_generator("default", token_generator)
server.register_client_auth_method("private_key_jwt", PrivateKeyJwtAuthentication())
server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True),
                                               OpenIDCodeExtension(require_nonce=False)])
server.register_grant(RefreshTokenGrant, [OpenIDRefreshExtension()])
server.register_grant(ClientCredentialsGrant)

resource_protector = ResourceProtector()
resource_protector.register_token_validator(AccessTokenValidator())


def init_app(app: Flask) -> None:
    server._query_client = query_client
    server._save_token = save_token
    server._error_uris = None
    app.extensions["tnid.authorization_server"] = server
