"""``private_key_jwt`` client authentication (RFC 7523 §2.2, OIDC Core §9): the client signs
a short-lived assertion with a key it registered (``jwks``) or publishes (``jwks_uri``)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import requests
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import KeySet
from sqlalchemy.exc import IntegrityError

from idp.extensions import db
from idp.models import Client, UsedAssertion
from idp.oidc import context
from idp.services.clock import utcnow

log = logging.getLogger(__name__)

JWKS_URI_TIMEOUT = 3.0
JWKS_URI_CACHE_SECONDS = 300
MAX_JWKS_BYTES = 64 * 1024


class _RemoteJwksCache:
    """A remote key set is fetched at most every few minutes per URI: it is the client's
    published data, the same on every node, so caching it changes nothing but speed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, dict]] = {}

    def get(self, uri: str) -> dict:
        with self._lock:
            entry = self._entries.get(uri)
            if entry and entry[0] > time.monotonic():
                return entry[1]
        try:
            response = requests.get(uri, timeout=JWKS_URI_TIMEOUT, allow_redirects=False)
            response.raise_for_status()
            if len(response.content) > MAX_JWKS_BYTES:
                raise ValueError("key set too large")
            data = response.json()
        except (requests.RequestException, ValueError) as error:
            log.warning("client jwks_uri unreachable", extra={"uri": uri, "error": str(error)})
            raise InvalidClientError(description="The client's jwks_uri cannot be read.") from None
        with self._lock:
            self._entries[uri] = (time.monotonic() + JWKS_URI_CACHE_SECONDS, data)
        return data


remote_jwks = _RemoteJwksCache()


class PrivateKeyJwtAuthentication(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=30)

    def get_audiences(self) -> list[str]:
        # The token endpoint is the audience; the issuer is accepted too (OIDC Core §9).
        issuer = context.issuer()
        return [issuer, f"{issuer}/token", f"{issuer}/introspect", f"{issuer}/revoke",
                f"{issuer}/par"]

    def resolve_client_public_key(self, client: Client) -> KeySet:
        data = client.jwks if client.jwks else remote_jwks.get(client.jwks_uri or "")
        try:
            return KeySet.import_key_set(data)
        except Exception:  # noqa: BLE001 — any malformed set is the client's error
            raise InvalidClientError(description="The client's key set is invalid.") from None

    def validate_jti(self, claims: dict, jti: str) -> bool:
        """Each assertion is accepted once; a replay fails on the unique (client, jti)."""
        if not isinstance(jti, str) or len(jti) > 255:
            return False
        expires = claims.get("exp")
        now = utcnow()
        until = now + timedelta(seconds=max(0, min(int(expires) - int(time.time()), 3600))) \
            if isinstance(expires, int) else now + timedelta(hours=1)
        try:
            with db.session.begin_nested():
                db.session.add(UsedAssertion(client_id=str(claims.get("sub")), jti=jti,
                                             expires_at=until + timedelta(seconds=60)))
        except IntegrityError:
            return False
        return True
