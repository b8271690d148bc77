"""Client credentials grant (RFC 6749 §4.4) for service-to-service calls: no citizen, so no
scope that releases a citizen's data is ever granted."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants

CITIZEN_SCOPES = {"openid", "profile", "email", "phone", "address", "citizen", "offline_access"}


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,  # noqa: ANN001, ANN201
                       include_refresh_token=False):
        allowed = self.request.client.get_allowed_scope(scope)
        service_scope = " ".join(s for s in allowed.split() if s not in CITIZEN_SCOPES)
        return super().generate_token(user=None, scope=service_scope, grant_type=grant_type,
                                      expires_in=expires_in, include_refresh_token=False)
