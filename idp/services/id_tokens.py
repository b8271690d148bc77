"""ID tokens (OIDC Core §2) and logout tokens (OIDC Back-Channel Logout §2.4), signed with
the provider's active key for the client's algorithm (joserfc; no hand-rolled JOSE)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from sqlalchemy.orm import Session

from idp.services import keys
from idp.services.clock import epoch
from idp.services.crypto import SecretBox

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass(frozen=True)
class Signer:
    """What signing needs: the database, the key-encryption box and the issuer."""

    session: Session
    box: SecretBox
    issuer: str

    def sign(self, claims: dict, alg: str, typ: str = "JWT") -> str:
        kid, key = keys.signing_key(self.session, self.box, alg)
        return jwt.encode({"alg": alg, "kid": kid, "typ": typ}, claims, key, algorithms=[alg])


def id_token(
    signer: Signer,
    *,
    sub: str,
    client_id: str,
    alg: str,
    now: datetime,
    lifetime_seconds: int,
    auth_time: datetime | None,
    acr: str | None,
    amr: list[str] | None,
    sid: str | None,
    nonce: str | None = None,
    access_token: str | None = None,
    extra: dict | None = None,
) -> str:
    issued = epoch(now)
    claims: dict = {
        "iss": signer.issuer, "sub": sub, "aud": client_id, "azp": client_id,
        "iat": issued, "exp": issued + lifetime_seconds,
    }
    if auth_time is not None:
        claims["auth_time"] = epoch(auth_time)
    if nonce:
        claims["nonce"] = nonce
    if acr:
        claims["acr"] = acr
    if amr:
        claims["amr"] = list(amr)
    if sid:
        claims["sid"] = sid
    if access_token:
        claims["at_hash"] = create_half_hash(access_token, alg).decode()
    claims.update(extra or {})
    return signer.sign(claims, alg)


def logout_token(signer: Signer, *, sub: str, sid: str, client_id: str, alg: str,
                 now: datetime, lifetime_seconds: int = 120) -> str:
    """Back-Channel Logout §2.4: no nonce, an ``events`` member, typ logout+jwt."""
    issued = epoch(now)
    claims = {
        "iss": signer.issuer, "aud": client_id, "iat": issued, "exp": issued + lifetime_seconds,
        "jti": secrets.token_urlsafe(16), "sub": sub, "sid": sid,
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    return signer.sign(claims, alg, typ="logout+jwt")
