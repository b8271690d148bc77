"""Signing keys for ID tokens and logout tokens: creation, rotation, JWKS, and use.

Each algorithm always has one ``active`` key (signs) and one ``next`` key (published in the
JWKS, signs nothing yet). Rotation retires the active key, promotes the next one and makes a
new next one, so a key is in every relying app's cached JWKS before it signs anything, and a
retired key stays published until everything it signed has expired (RFC 7517 §5 key sets;
OIDC Core §10.1.1 rotation of asymmetric signing keys).

Private keys are stored as PKCS#8 DER sealed with AES-GCM (``idp.services.crypto``), bound to
their kid and alg. The kid is the RFC 7638 JWK thumbprint of the public key.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import and_, bindparam, delete, or_, select, text
from sqlalchemy.orm import Session

from idp.models import SigningKey
from idp.services.crypto import DecryptionError, SecretBox

SUPPORTED_ALGS: tuple[str, ...] = ("RS256", "ES256")  # RS256 first: the OIDC default
BOX_PURPOSE = "signing-keys"
# RSA 2048: NIST SP 800-57 rates it fine through 2030, keys here live weeks, not years, and a
# 3072-bit signature costs about 3x more CPU on every token. ES256 is there for stronger keys.
RSA_BITS = 2048
EC_CURVE = "P-256"

NEXT, ACTIVE, RETIRED = "next", "active", "retired"
_STATUS_ORDER = {ACTIVE: 0, NEXT: 1, RETIRED: 2}

SigningJWK = RSAKey | ECKey


class KeyStoreError(Exception):
    """The key store cannot serve the request; the message says what the operator should do."""


class NoActiveKey(KeyStoreError):
    pass


@dataclass(frozen=True)
class Rotation:
    alg: str
    retired: tuple[str, ...]  # kids that stopped signing (one, unless the store was damaged)
    activated: str  # kid that signs from now on (was ``next``, so already published)
    created: str  # the new ``next`` kid


@dataclass(frozen=True)
class RotationResult:
    rotations: tuple[Rotation, ...]


def box_for(secret_key: str) -> SecretBox:
    return SecretBox(secret_key, BOX_PURPOSE)


def check_alg(alg: str) -> str:
    if alg not in SUPPORTED_ALGS:
        raise ValueError(f"Unsupported signing algorithm {alg!r}: use one of "
                         f"{', '.join(SUPPORTED_ALGS)}.")
    return alg


def ensure_keys(session: Session, box: SecretBox, now: datetime) -> list[str]:
    """Give every algorithm one active and one next key; return the kids created.

    Idempotent. A missing active key is replaced by promoting the next key (it is already
    published) rather than by a fresh one, whenever there is a next key.
    """
    _lock_for_writing(session)
    created: list[str] = []
    for alg in SUPPORTED_ALGS:
        rows = _current(session, alg)
        nexts = [row for row in rows if row.status == NEXT]
        if not any(row.status == ACTIVE for row in rows):
            if nexts:
                _activate(nexts.pop(0), now)
            else:
                created.append(_add(session, box, alg, ACTIVE, now))
        if not nexts:
            created.append(_add(session, box, alg, NEXT, now))
    session.flush()
    forget_published()
    return created


def rotate(session: Session, box: SecretBox, now: datetime, *, published_for: timedelta,
           alg: str | None = None) -> RotationResult:
    """Retire the active key, promote the next one, create a new next one (per algorithm).

    ``published_for`` keeps the retired key in the JWKS until what it signed has expired
    (token lifetime + clock skew). Safe to run on several nodes at once: writers take a lock
    first, so they rotate one after the other and never see half of another's work.
    """
    if published_for < timedelta(0):
        raise ValueError("published_for must not be negative.")
    algs = (check_alg(alg),) if alg is not None else SUPPORTED_ALGS
    _lock_for_writing(session)
    current = {a: _current(session, a) for a in algs}
    for a, rows in current.items():  # check every alg before changing any
        if not any(row.status == NEXT for row in rows):
            raise KeyStoreError(f"No next {a} key to promote: run `tnid init`.")
    rotations = []
    for a, rows in current.items():
        retired = []
        for row in rows:
            if row.status == ACTIVE:
                row.status, row.retired_at, row.unpublish_after = RETIRED, now, now + published_for
                retired.append(row.kid)
        promoted = next(row for row in rows if row.status == NEXT)  # oldest: longest published
        _activate(promoted, now)
        created = _add(session, box, a, NEXT, now)
        rotations.append(Rotation(a, tuple(retired), promoted.kid, created))
    session.flush()
    forget_published()
    return RotationResult(tuple(rotations))


def purge_unpublished(session: Session, now: datetime) -> int:
    """Delete retired keys whose publication time is over; return how many."""
    result = session.execute(
        delete(SigningKey)
        .where(SigningKey.status == RETIRED, SigningKey.unpublish_after <= now)
        .execution_options(synchronize_session=False)
    )
    forget_published()
    return result.rowcount or 0


def public_jwks(session: Session, now: datetime) -> dict[str, list[dict]]:
    """The JWK Set for the ``jwks_uri``: public members only (stored that way)."""
    published = or_(
        SigningKey.status.in_((NEXT, ACTIVE)),
        and_(SigningKey.status == RETIRED,
             or_(SigningKey.unpublish_after.is_(None), SigningKey.unpublish_after > now)),
    )
    rows = session.execute(
        select(SigningKey.public_jwk, SigningKey.status, SigningKey.alg, SigningKey.created_at)
        .where(published)
    ).all()
    # Stable order: RS256 before ES256, then active, next, retired; newest first within.
    rows.sort(key=lambda r: r.created_at, reverse=True)
    rows.sort(key=lambda r: (_alg_rank(r.alg), _STATUS_ORDER.get(r.status, 9)))
    return {"keys": [dict(row.public_jwk) for row in rows]}


class _Expiring:
    """A value remembered for a few seconds in this process."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._values: dict[object, tuple[float, object]] = {}

    def get(self, key: object) -> object | None:
        with self._lock:
            entry = self._values.get(key)
        return entry[1] if entry and entry[0] > time.monotonic() else None

    def put(self, key: object, value: object) -> object:
        with self._lock:
            self._values[key] = (time.monotonic() + self.seconds, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


# A few seconds of memory cannot change what the JWKS or the active key mean on another node:
# the key that starts signing at a rotation was published as "next" long before, and a
# retired key stays published long after (see ``rotate``). It spares a query per token.
SHORT_MEMORY_SECONDS = 5.0
_jwks_body = _Expiring(SHORT_MEMORY_SECONDS)
_active_kid = _Expiring(SHORT_MEMORY_SECONDS)


def published_jwks_body(session: Session, now: datetime) -> bytes:
    """The serialised JWK Set for ``/jwks``, remembered for a few seconds."""
    body = _jwks_body.get("jwks")
    if body is None:
        body = _jwks_body.put("jwks", json.dumps(public_jwks(session, now)).encode())
    return body  # type: ignore[return-value]


def all_keys(session: Session) -> list[SigningKey]:
    rows = list(session.scalars(select(SigningKey)))
    rows.sort(key=lambda r: (_alg_rank(r.alg), _STATUS_ORDER.get(r.status, 9), r.created_at))
    return rows


def is_published(row: SigningKey, now: datetime) -> bool:
    return row.status != RETIRED or row.unpublish_after is None or row.unpublish_after > now


_ACTIVE_KID = (
    select(SigningKey.kid)
    .where(SigningKey.alg == bindparam("alg"), SigningKey.status == ACTIVE)
    .order_by(SigningKey.activated_at.desc(), SigningKey.kid)
    .limit(1)
)


def signing_key(session: Session, box: SecretBox, alg: str) -> tuple[str, SigningJWK]:
    """The active key for ``alg`` and its kid, ready to sign.

    Which kid is active is read from the database at most every few seconds (see
    ``SHORT_MEMORY_SECONDS``); the decrypted key is cached by kid (a kid never changes).
    """
    kid = _active_kid.get(alg)
    if kid is None:
        kid = session.execute(_ACTIVE_KID, {"alg": check_alg(alg)}).scalar()
        if kid is not None:
            _active_kid.put(alg, kid)
    if kid is None:
        raise NoActiveKey(f"No active {alg} signing key: run `tnid init`.")
    key = _cache.get(kid)
    if key is None:
        sealed = session.scalar(
            select(SigningKey.private_key_encrypted).where(SigningKey.kid == kid))
        if sealed is None:  # purged between the two queries: cannot happen to an active key
            raise NoActiveKey(f"Signing key {kid} disappeared: run `tnid init`.")
        key = _cache.put(kid, _unseal(box, kid, alg, sealed))
    return kid, key


def clear_cache() -> None:
    _cache.clear()
    forget_published()


def forget_published() -> None:
    """Drop this process's short memory of the JWKS and active kids (after a key change)."""
    _jwks_body.clear()
    _active_kid.clear()


class _KeyCache:
    """kid -> decrypted key, shared by the threads of one process.

    Cannot go stale, even with many nodes: a kid is the thumbprint of its key, so the key
    material behind a kid never changes. Bounded so a long-lived worker does not keep every
    key it ever used.
    """

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._keys: dict[str, SigningJWK] = {}
        self._lock = threading.Lock()

    def get(self, kid: str) -> SigningJWK | None:
        return self._keys.get(kid)

    def put(self, kid: str, key: SigningJWK) -> SigningJWK:
        with self._lock:
            self._keys[kid] = key
            while len(self._keys) > self._size:
                self._keys.pop(next(iter(self._keys)))  # oldest insertion first
        return key

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


_cache = _KeyCache()


def _lock_for_writing(session: Session) -> None:
    """Make key-lifecycle writers on every node wait for each other, before they read.

    PostgreSQL: a SHARE ROW EXCLUSIVE table lock conflicts with itself and with row writes,
    not with plain SELECTs, so JWKS and signing reads carry on. Not SELECT ... FOR UPDATE: the
    first ``tnid init`` has no rows to lock, and under READ COMMITTED a FOR UPDATE waiter
    re-checks only the rows it first saw, missing the ``next`` key the other node inserted.
    SQLite: one writer per database; a no-op UPDATE as the first statement takes the write
    lock now (waiting on the busy timeout) rather than upgrading a read snapshot later, which
    fails with SQLITE_BUSY_SNAPSHOT when another node wrote in between.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE"))
    else:
        session.execute(text("UPDATE signing_keys SET status = status WHERE 1 = 0"))


def _current(session: Session, alg: str) -> list[SigningKey]:
    """Active and next keys of ``alg``, oldest first, re-read after the lock was taken."""
    return list(session.scalars(
        select(SigningKey)
        .where(SigningKey.alg == alg, SigningKey.status.in_((ACTIVE, NEXT)))
        .order_by(SigningKey.created_at, SigningKey.kid)
        .execution_options(populate_existing=True)  # not stale objects from the identity map
    ))


def _activate(row: SigningKey, now: datetime) -> None:
    row.status, row.activated_at = ACTIVE, now


def _add(session: Session, box: SecretBox, alg: str, status: str, now: datetime) -> str:
    params = {"alg": alg, "use": "sig"}
    key: SigningJWK = (RSAKey.generate_key(RSA_BITS, parameters=params) if alg == "RS256"
                       else ECKey.generate_key(EC_CURVE, parameters=params))
    kid = key.thumbprint()
    session.add(SigningKey(
        kid=kid, alg=alg, status=status, public_jwk=key.as_dict(private=False, kid=kid),
        private_key_encrypted=box.seal(key.as_der(private=True),
                                       associated_data=_associated_data(kid, alg)),
        created_at=now, activated_at=now if status == ACTIVE else None,
    ))
    return kid


def _associated_data(kid: str, alg: str) -> bytes:
    # Binds the ciphertext to its row: moving it to another row, or editing alg, fails to open.
    return f"signing-key|{kid}|{alg}".encode()


def _unseal(box: SecretBox, kid: str, alg: str, sealed: bytes) -> SigningJWK:
    try:
        der = box.open(sealed, associated_data=_associated_data(kid, alg))
    except DecryptionError:
        raise KeyStoreError(f"Cannot decrypt signing key {kid}: was TNID_SECRET_KEY changed "
                            "since it was created?") from None
    params = {"alg": alg, "use": "sig", "kid": kid}
    key: SigningJWK = (RSAKey.import_key(der, parameters=params) if alg == "RS256"
                       else ECKey.import_key(der, parameters=params))
    if key.thumbprint() != kid:  # defence in depth: the row's kid must name this key
        raise KeyStoreError(f"Signing key {kid} does not match its kid.")
    return key


def _alg_rank(alg: str) -> int:
    return SUPPORTED_ALGS.index(alg) if alg in SUPPORTED_ALGS else len(SUPPORTED_ALGS)
