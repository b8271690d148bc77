"""Tests of idp.services.keys against the real database, with explicit clocks."""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from idp.extensions import db
from idp.models import SigningKey
from idp.services import keys
from idp.services.crypto import DecryptionError, SecretBox

T0 = datetime(2025, 8, 15, 1, 0, 0)  # naive UTC, as stored
T1 = T0 + timedelta(days=30)
PUBLISHED_FOR = timedelta(minutes=15)
SECRET = "t" * 48  # the suite's TNID_SECRET_KEY (tests/conftest.py)
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth"}


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    keys.clear_cache()
    yield
    keys.clear_cache()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    with app.app_context():
        yield db.session


@pytest.fixture
def box() -> SecretBox:
    return keys.box_for(SECRET)


def statuses(session: Session) -> Counter[tuple[str, str]]:
    session.expire_all()
    return Counter((row.alg, row.status) for row in session.scalars(select(SigningKey)))


def row_of(session: Session, alg: str, status: str) -> SigningKey:
    return session.scalars(
        select(SigningKey).where(SigningKey.alg == alg, SigningKey.status == status)).one()


ONE_EACH = Counter({(alg, status): 1 for alg in keys.SUPPORTED_ALGS for status in ("active",
                                                                                   "next")})


def test_ensure_creates_active_and_next_per_alg_and_is_idempotent(session, box):
    created = keys.ensure_keys(session, box, T0)
    session.commit()
    assert len(created) == 4 and len(set(created)) == 4
    assert statuses(session) == ONE_EACH
    assert keys.ensure_keys(session, box, T1) == []
    session.commit()
    assert statuses(session) == ONE_EACH
    assert row_of(session, "RS256", "active").activated_at == T0
    assert row_of(session, "ES256", "next").activated_at is None


def test_ensure_promotes_the_published_next_key_when_active_is_missing(session, box):
    keys.ensure_keys(session, box, T0)
    old_next = row_of(session, "ES256", "next").kid
    session.delete(row_of(session, "ES256", "active"))
    session.commit()
    created = keys.ensure_keys(session, box, T1)
    session.commit()
    assert len(created) == 1  # only a new next key; the active one was already published
    assert row_of(session, "ES256", "active").kid == old_next
    assert row_of(session, "ES256", "active").activated_at == T1
    assert statuses(session) == ONE_EACH


def test_key_types_sizes_and_kids(session, box):
    keys.ensure_keys(session, box, T0)
    session.commit()
    for alg, expected in (("RS256", RSAKey), ("ES256", ECKey)):
        kid, key = keys.signing_key(session, box, alg)
        assert isinstance(key, expected) and key.is_private
        assert kid == key.thumbprint() == key.kid  # RFC 7638 thumbprint
        assert key.alg == alg and key.get("use") == "sig"
    assert keys.signing_key(session, box, "RS256")[1].raw_value.key_size == keys.RSA_BITS
    assert keys.signing_key(session, box, "ES256")[1].curve_name == "P-256"


def test_private_keys_are_stored_encrypted_and_bound_to_their_row(session, box):
    keys.ensure_keys(session, box, T0)
    session.commit()
    rows = list(session.scalars(select(SigningKey)))
    other_secret = SecretBox("o" * 48, keys.BOX_PURPOSE)
    for row in rows:
        stored, aad = bytes(row.private_key_encrypted), keys._associated_data(row.kid, row.alg)
        assert not PRIVATE_MEMBERS & set(row.public_jwk)
        der = box.open(stored, associated_data=aad)
        key = (RSAKey if row.alg == "RS256" else ECKey).import_key(der)
        assert key.is_private and key.thumbprint() == row.kid
        assert der not in stored and b"PRIVATE KEY" not in stored and b'"d"' not in stored
        assert key.as_pem(private=True) not in stored
        for member, value in key.as_dict(private=True).items():
            if member in PRIVATE_MEMBERS:
                raw = base64.urlsafe_b64decode(value + "==")
                assert value.encode() not in stored and raw not in stored
        with pytest.raises(DecryptionError):  # another secret cannot open it
            other_secret.open(stored, associated_data=aad)
    a, b = rows[0], rows[1]
    with pytest.raises(DecryptionError):  # nor can another row's kid
        box.open(bytes(a.private_key_encrypted),
                 associated_data=keys._associated_data(b.kid, b.alg))


def test_a_ciphertext_moved_to_another_row_does_not_open(session, box):
    keys.ensure_keys(session, box, T0)
    active, spare = row_of(session, "RS256", "active"), row_of(session, "RS256", "next")
    active.private_key_encrypted = spare.private_key_encrypted
    session.commit()
    with pytest.raises(keys.KeyStoreError, match="Cannot decrypt"):
        keys.signing_key(session, box, "RS256")


def test_signing_key_with_another_secret_says_what_is_wrong(session, box):
    keys.ensure_keys(session, box, T0)
    session.commit()
    with pytest.raises(keys.KeyStoreError, match="TNID_SECRET_KEY"):
        keys.signing_key(session, keys.box_for("o" * 48), "ES256")


def test_jwks_has_public_members_only(session, box):
    keys.ensure_keys(session, box, T0)
    keys.rotate(session, box, T1, published_for=PUBLISHED_FOR)
    session.commit()
    jwks = keys.public_jwks(session, T1)
    assert len(jwks["keys"]) == 6  # per alg: active, next, retired
    for jwk in jwks["keys"]:
        assert not PRIVATE_MEMBERS & set(jwk), jwk
        assert jwk["use"] == "sig" and jwk["alg"] in keys.SUPPORTED_ALGS and jwk["kid"]
        assert jwk["kid"] == KeySet.import_key_set({"keys": [jwk]}).keys[0].thumbprint()
    assert [k["alg"] for k in jwks["keys"]] == ["RS256"] * 3 + ["ES256"] * 3
    assert jwks["keys"][0]["kid"] == keys.signing_key(session, box, "RS256")[0]  # active first


def test_rotation_lifecycle(session, box):
    keys.ensure_keys(session, box, T0)
    session.commit()
    old_active, old_next = row_of(session, "RS256", "active").kid, row_of(session, "RS256",
                                                                        "next").kid
    result = keys.rotate(session, box, T1, published_for=PUBLISHED_FOR)
    session.commit()
    rs256 = next(r for r in result.rotations if r.alg == "RS256")
    assert (rs256.retired, rs256.activated) == ((old_active,), old_next)
    assert {r.alg for r in result.rotations} == set(keys.SUPPORTED_ALGS)
    retired = session.get(SigningKey, old_active)
    assert retired.status == "retired" and retired.retired_at == T1
    assert retired.unpublish_after == T1 + PUBLISHED_FOR
    assert session.get(SigningKey, old_next).activated_at == T1
    assert session.get(SigningKey, rs256.created).status == "next"

    def published(now: datetime) -> set[str]:
        return {k["kid"] for k in keys.public_jwks(session, now)["keys"]}

    assert old_active in published(T1 + PUBLISHED_FOR - timedelta(seconds=1))
    assert keys.purge_unpublished(session, T1 + PUBLISHED_FOR - timedelta(seconds=1)) == 0
    assert old_active not in published(T1 + PUBLISHED_FOR)
    assert keys.purge_unpublished(session, T1 + PUBLISHED_FOR) == 2  # one per alg
    session.commit()
    assert session.get(SigningKey, old_active) is None
    assert statuses(session) == ONE_EACH


@pytest.mark.parametrize("alg", keys.SUPPORTED_ALGS)
def test_token_signed_before_rotation_verifies_until_unpublished(session, box, alg):
    keys.ensure_keys(session, box, T0)
    session.commit()
    kid, key = keys.signing_key(session, box, alg)
    token = jwt.encode({"alg": alg, "kid": kid}, {"sub": "citizen-1"}, key, algorithms=[alg])
    keys.rotate(session, box, T1, published_for=PUBLISHED_FOR)
    session.commit()
    published = KeySet.import_key_set(keys.public_jwks(session, T1))
    assert jwt.decode(token, published, algorithms=[alg]).claims == {"sub": "citizen-1"}
    keys.purge_unpublished(session, T1 + PUBLISHED_FOR)
    session.commit()
    with pytest.raises(InvalidKeyIdError):
        jwt.decode(token, KeySet.import_key_set(keys.public_jwks(session, T1 + PUBLISHED_FOR)),
                   algorithms=[alg])


def test_the_key_that_starts_signing_was_published_before(session, box):
    keys.ensure_keys(session, box, T0)
    session.commit()
    before = {k["kid"] for k in keys.public_jwks(session, T0)["keys"]}
    keys.rotate(session, box, T1, published_for=PUBLISHED_FOR)
    session.commit()
    for alg in keys.SUPPORTED_ALGS:
        assert keys.signing_key(session, box, alg)[0] in before


def test_signing_key_sees_a_rotation_at_once_despite_the_cache(session, box):
    keys.ensure_keys(session, box, T0)
    session.commit()
    first_kid, first = keys.signing_key(session, box, "ES256")
    assert keys.signing_key(session, box, "ES256")[1] is first  # cached by kid
    result = keys.rotate(session, box, T1, published_for=PUBLISHED_FOR, alg="ES256")
    session.commit()
    kid, key = keys.signing_key(session, box, "ES256")
    assert kid == result.rotations[0].activated != first_kid
    assert key.kid == kid and key is not first


def test_two_rotations_in_a_row_keep_one_active_and_one_next(session, box):
    keys.ensure_keys(session, box, T0)
    keys.rotate(session, box, T1, published_for=PUBLISHED_FOR)
    session.commit()
    keys.rotate(session, box, T1 + timedelta(days=1), published_for=PUBLISHED_FOR)
    session.commit()
    assert statuses(session) == ONE_EACH + Counter({(a, "retired"): 2
                                                   for a in keys.SUPPORTED_ALGS})


def test_rotating_one_alg_leaves_the_other_alone(session, box):
    keys.ensure_keys(session, box, T0)
    session.commit()
    es_active = keys.signing_key(session, box, "ES256")[0]
    result = keys.rotate(session, box, T1, published_for=PUBLISHED_FOR, alg="RS256")
    session.commit()
    assert [r.alg for r in result.rotations] == ["RS256"]
    assert keys.signing_key(session, box, "ES256")[0] == es_active
    assert statuses(session)[("ES256", "retired")] == 0


def test_missing_keys_are_reported_and_nothing_changes(session, box):
    with pytest.raises(keys.NoActiveKey, match="tnid init"):
        keys.signing_key(session, box, "RS256")
    with pytest.raises(keys.KeyStoreError, match="tnid init"):
        keys.rotate(session, box, T1, published_for=PUBLISHED_FOR)
    session.rollback()
    assert keys.public_jwks(session, T1) == {"keys": []}
    assert keys.purge_unpublished(session, T1) == 0


@pytest.mark.parametrize("call", [
    lambda s, b: keys.signing_key(s, b, "HS256"),
    lambda s, b: keys.signing_key(s, b, "none"),
    lambda s, b: keys.rotate(s, b, T1, published_for=PUBLISHED_FOR, alg="PS256"),
    lambda s, b: keys.rotate(s, b, T1, published_for=PUBLISHED_FOR, alg=""),
    lambda s, b: keys.rotate(s, b, T1, published_for=timedelta(seconds=-1)),
])
def test_bad_arguments_are_refused(session, box, call: Callable):
    keys.ensure_keys(session, box, T0)
    session.commit()
    with pytest.raises(ValueError):
        call(session, box)
    session.rollback()
    assert statuses(session) == ONE_EACH


# --- several nodes at once ---------------------------------------------------------------


def wait_until_blocked(engine: Engine, worker: threading.Thread) -> None:
    """Return once ``worker`` waits for the key-store lock (not a timing assertion: a
    worker that never blocks finishes, and the caller's ``is_alive`` check fails)."""
    if engine.dialect.name != "postgresql":
        worker.join(0.5)  # SQLite: nothing to observe; the busy timeout is 10 s
        return
    with engine.connect() as probe:
        for _ in range(400):
            waiting = probe.scalar(text(
                "SELECT count(*) FROM pg_locks WHERE NOT granted "
                "AND relation = 'signing_keys'::regclass"))
            if waiting or not worker.is_alive():
                return
            time.sleep(0.025)


def run_in_thread(engine: Engine, work: Callable[[Session], object]) -> tuple[
        threading.Thread, dict[str, object]]:
    outcome: dict[str, object] = {}

    def target() -> None:
        with Session(engine) as other:
            try:
                outcome["result"] = work(other)
                other.commit()
            except Exception as error:  # reported to the test thread
                outcome["error"] = error

    worker = threading.Thread(target=target)
    worker.start()
    return worker, outcome


def test_concurrent_rotations_run_one_after_the_other(app, box):
    with app.app_context():
        keys.ensure_keys(db.session, box, T0)
        db.session.commit()
        engine = db.engine
    with Session(engine) as first:
        mine = keys.rotate(first, box, T1, published_for=PUBLISHED_FOR)  # holds the lock
        worker, outcome = run_in_thread(
            engine, lambda s: keys.rotate(s, box, T1, published_for=PUBLISHED_FOR))
        wait_until_blocked(engine, worker)
        assert worker.is_alive(), outcome
        first.commit()
    worker.join(30)
    assert "error" not in outcome, outcome
    theirs = outcome["result"]
    for m, t in zip(mine.rotations, theirs.rotations, strict=True):
        assert t.retired == (m.activated,) and t.activated == m.created  # saw our work
    with app.app_context():
        assert statuses(db.session) == ONE_EACH + Counter(
            {(a, "retired"): 2 for a in keys.SUPPORTED_ALGS})


def test_concurrent_first_init_creates_one_set_of_keys(app, box):
    with app.app_context():
        engine = db.engine
    with Session(engine) as first:
        assert len(keys.ensure_keys(first, box, T0)) == 4
        worker, outcome = run_in_thread(engine, lambda s: keys.ensure_keys(s, box, T0))
        wait_until_blocked(engine, worker)
        assert worker.is_alive(), outcome
        first.commit()
    worker.join(30)
    assert outcome == {"result": []}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SigningKey)) == 4
        assert statuses(db.session) == ONE_EACH
