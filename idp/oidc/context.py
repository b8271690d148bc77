"""Per-request helpers for the protocol code: signer, lifetimes, pairwise secret, issuer."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from idp.extensions import db
from idp.services.crypto import SecretBox
from idp.services.id_tokens import Signer
from idp.services.tokens import Lifetimes
from idp.web import deps


def server():  # noqa: ANN201 — the authlib AuthorizationServer (idp.oidc.server)
    from idp.oidc.server import server as authorization_server

    return authorization_server


def issuer() -> str:
    return deps.settings().issuer


def url(path: str) -> str:
    return f"{issuer()}{path}"


@lru_cache(maxsize=8)
def _box(secret_key: str) -> SecretBox:
    return SecretBox(secret_key, "signing-keys")


def signer() -> Signer:
    return Signer(session=db.session, box=_box(deps.settings().secret_key), issuer=issuer())


@lru_cache(maxsize=8)
def _pairwise(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"tnid pairwise subject").derive(secret_key.encode())


def pairwise_secret() -> bytes:
    """Derived from TNID_SECRET_KEY: changing that key changes every pairwise ``sub``."""
    return _pairwise(deps.settings().secret_key)


def lifetimes() -> Lifetimes:
    s = deps.settings()
    return Lifetimes(
        code=timedelta(seconds=s.code_lifetime_seconds),
        access=timedelta(seconds=s.access_token_lifetime_seconds),
        refresh_idle=timedelta(days=s.refresh_token_idle_days),
        refresh_max=timedelta(days=s.refresh_token_max_days),
    )
