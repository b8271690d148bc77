"""``private_key_jwt`` client authentication (RFC 7523 §2.2 and §3, OIDC Core §9): the client
signs a short-lived assertion with a key it registered (``jwks``) or publishes
(``jwks_uri``)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import requests
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.database import release_read_scope
from idp.extensions import db
from idp.models import Client, UsedAssertion
from idp.oidc import context
from idp.services.clock import utcnow
from idp.services.keys import SUPPORTED_ALGS

log = logging.getLogger(__name__)

JWKS_URI_TIMEOUT = 3.0
JWKS_URI_CACHE_SECONDS = 300
# A kid we have not seen may mean the client rotated its keys: fetch again, but not more
# often than this, so forged kids cannot make us hammer the client's server.
JWKS_URI_REFETCH_SECONDS = 30
MAX_JWKS_BYTES = 64 * 1024
# RFC 7523 §3 lets us refuse assertions that live unreasonably long; a replayed jti is only
# recognised while its row is kept, so no assertion may outlive that.
MAX_ASSERTION_SECONDS = 3600
LEEWAY_SECONDS = 30


class _RemoteJwksCache:
    """A remote key set is fetched at most every few minutes per URI: it is the client's
    published data, the same on every node, so caching it changes nothing but speed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, dict]] = {}  # uri -> (fetched at, key set)

    def get(self, uri: str, *, refetch: bool = False) -> dict:
        with self._lock:
            entry = self._entries.get(uri)
        age = time.monotonic() - entry[0] if entry else None
        if entry and age < (JWKS_URI_REFETCH_SECONDS if refetch else JWKS_URI_CACHE_SECONDS):
            return entry[1]
        data = _fetch(uri)
        with self._lock:
            self._entries[uri] = (time.monotonic(), data)
        return data

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _fetch(uri: str) -> dict:
    try:
        with requests.get(uri, timeout=JWKS_URI_TIMEOUT, allow_redirects=False,
                          stream=True) as response:
            if response.status_code != 200:  # redirects are not followed, nor trusted
                raise ValueError(f"HTTP {response.status_code}")
            body = response.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("key set too large")
        return json.loads(body)
    except (requests.RequestException, ValueError) as error:
        log.warning("client jwks_uri unreachable", extra={"uri": uri, "error": str(error)})
        raise InvalidClientError(description="The client's jwks_uri cannot be read.") from None


remote_jwks = _RemoteJwksCache()


def _key_set(data: object) -> KeySet:
    try:
        return KeySet.import_key_set(data)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 — any malformed set is the client's error
        raise InvalidClientError(description="The client's key set is invalid.") from None


class PrivateKeyJwtAuthentication(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=LEEWAY_SECONDS)

    def get_audiences(self) -> list[str]:
        # The token endpoint is the audience; the issuer is accepted too (OIDC Core §9).
        issuer = context.issuer()
        return [issuer, f"{issuer}/token", f"{issuer}/introspect", f"{issuer}/revoke",
                f"{issuer}/par"]

    def resolve_client_public_key(self, client: Client) -> KeySet | Callable:
        if client.jwks:
            return _key_set(client.jwks)
        uri = client.jwks_uri or ""

        def by_kid(guest: object) -> KeySet:
            kid = guest.headers().get("kid")  # type: ignore[attr-defined]
            key_set = _key_set(remote_jwks.get(uri))
            if kid and all(key.kid != kid for key in key_set.keys):
                key_set = _key_set(remote_jwks.get(uri, refetch=True))
            return key_set

        return by_kid

    def process_assertion_claims(self, assertion: str, resolve_key: object) -> dict:
        """Only the algorithms the discovery document names; any decoding failure (joserfc
        raises more than JoseError on hostile input) is the client's failure."""
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=list(SUPPORTED_ALGS))
        except (JoseError, ValueError, TypeError, KeyError):
            raise InvalidClientError(
                description="The client assertion is not validly signed.") from None
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims: jwt.Claims) -> None:
        exp = claims.get("exp")
        if isinstance(exp, int | float) and not isinstance(exp, bool) \
                and exp - time.time() > MAX_ASSERTION_SECONDS + self.leeway:
            raise InvalidClientError(description="The client assertion lives too long.")
        super().verify_claims(claims)

    def validate_jti(self, claims: dict, jti: str) -> bool:
        """Each assertion is accepted once; a replay fails on the unique (client, jti). The
        row is kept until the assertion has expired (``exp`` is bounded above)."""
        if not isinstance(jti, str) or not 0 < len(jti) <= 255 or not jti.isprintable():
            return False  # NUL and friends: PostgreSQL refuses them in text columns
        release_read_scope()  # the session takes its own connection: one at a time
        now = utcnow()
        lifetime = float(claims["exp"]) - time.time()  # validated: a number, not yet past
        until = now + timedelta(seconds=max(0.0, lifetime) + 2 * self.leeway)
        try:
            with db.session.begin_nested():
                db.session.add(UsedAssertion(client_id=str(claims["sub"]), jti=jti,
                                             expires_at=until))
        except IntegrityError:
            return False
        return True


def purge_used_assertions(session: Session, now: datetime) -> int:
    """Forget jtis whose assertions have expired (for a periodic clean-up job)."""
    result = session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at <= now)
                             .execution_options(synchronize_session=False))
    return result.rowcount or 0
