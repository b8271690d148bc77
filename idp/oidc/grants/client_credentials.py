"""Client credentials grant (RFC 6749 §4.4) for service-to-service calls: no citizen, so no
scope that releases a citizen's data is ever granted, and no refresh token (§4.4.3)."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants

from idp.services.scopes import SUPPORTED_SCOPES

# Every scope offered today is about a citizen; a service scope would be added apart.
CITIZEN_SCOPES = frozenset(SUPPORTED_SCOPES)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,  # noqa: ANN001, ANN201
                       include_refresh_token=False):
        allowed = self.request.client.get_allowed_scope(scope)
        service_scope = " ".join(s for s in allowed.split() if s not in CITIZEN_SCOPES)
        token = super().generate_token(user=None, scope=service_scope, grant_type=grant_type,
                                       expires_in=expires_in, include_refresh_token=False)
        if scope and "scope" not in token:
            # RFC 6749 §5.1: a scope other than the one asked for must be stated, even empty.
            token["scope"] = service_scope
        return token
