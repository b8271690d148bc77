"""Validating a back-channel logout token (OpenID Connect Back-Channel Logout 1.0 §2.6).

The token is a JWT the provider POSTs to the app's ``backchannel_logout_uri``. It must be
signed by one of the provider's published keys and name this app, and it must look like a
logout token and nothing else: an ``events`` member with the back-channel logout event, a
``sid`` and/or ``sub``, a ``jti``, and **no** ``nonce`` (so an ID token can never be replayed
as a logout token). joserfc is the JOSE library authlib itself uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_TOKEN_LENGTH = 16 * 1024
MAX_AGE_SECONDS = 300  # the provider signs tokens afresh before a late retry
LEEWAY_SECONDS = 60  # clocks of the provider and the app may differ a little
ACCEPTED_TYP = {"logout+jwt", "application/logout+jwt"}


class InvalidLogoutToken(ValueError):
    """The token must be refused (HTTP 400, ``invalid_request``); the message says why."""


# fetch_keys(force) -> the provider's JWK Set; force=True fetches again (an unknown kid may
# mean the provider rotated its keys).
KeyFetcher = Callable[[bool], dict[str, Any]]


def validate(token: object, *, fetch_keys: KeyFetcher, issuer: str, client_id: str,
             algorithms: list[str], now: float | None = None) -> dict[str, Any]:
    """Return the token's claims, or raise InvalidLogoutToken."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        raise InvalidLogoutToken("missing or oversized logout_token")
    algorithms = [alg for alg in algorithms if alg and alg.lower() != "none"]
    decoded = _decode(token, fetch_keys(False), algorithms)
    if decoded is None:  # maybe signed with a key published since we fetched
        decoded = _decode(token, fetch_keys(True), algorithms)
    if decoded is None:
        raise InvalidLogoutToken("signature not valid with the provider's keys")
    header, claims = decoded
    typ = header.get("typ")
    if typ is not None and str(typ).lower() not in ACCEPTED_TYP:
        raise InvalidLogoutToken("typ is not logout+jwt")
    check_claims(claims, issuer=issuer, client_id=client_id,
                 now=time.time() if now is None else now)
    return claims


def _decode(token: str, jwks: dict[str, Any],
            algorithms: list[str]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    try:
        decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=algorithms)
    except (JoseError, ValueError, TypeError, KeyError):  # bad signature, kid, alg or JSON
        return None
    return dict(decoded.header), dict(decoded.claims)


def check_claims(claims: dict[str, Any], *, issuer: str, client_id: str,
                 now: float) -> None:
    """§2.6 steps 3-6 on already verified claims."""
    if claims.get("iss") != issuer:
        raise InvalidLogoutToken("iss is not the provider")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences:
        raise InvalidLogoutToken("aud does not name this app")
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise InvalidLogoutToken("iat missing")
    if iat > now + LEEWAY_SECONDS or iat < now - MAX_AGE_SECONDS - LEEWAY_SECONDS:
        raise InvalidLogoutToken("iat too far from now")
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, int | float) or exp < now - LEEWAY_SECONDS):
        raise InvalidLogoutToken("token expired")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise InvalidLogoutToken("jti missing")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT),
                                                      dict):
        raise InvalidLogoutToken("events has no back-channel logout event")
    sid, sub = claims.get("sid"), claims.get("sub")
    if not (isinstance(sid, str) and sid) and not (isinstance(sub, str) and sub):
        raise InvalidLogoutToken("neither sid nor sub")
    for name in ("sid", "sub"):
        if name in claims and not isinstance(claims[name], str):
            raise InvalidLogoutToken(f"{name} is not a string")
    if "nonce" in claims:
        raise InvalidLogoutToken("a logout token never has a nonce")
