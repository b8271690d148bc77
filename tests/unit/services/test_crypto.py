"""Tests of idp.services.crypto: AES-256-GCM boxes keyed by HKDF(secret, purpose)."""

from __future__ import annotations

import pytest

from idp.services.crypto import NONCE_SIZE, TAG_SIZE, DecryptionError, SecretBox

SECRET = "s" * 48
AD = b"signing-key|kid-1|RS256"


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(SECRET, "signing-keys")


@pytest.mark.parametrize("plaintext", [b"", b"x", b"\x00" * 3000, "khóa bí mật".encode()])
def test_round_trip(box, plaintext):
    sealed = box.seal(plaintext, associated_data=AD)
    assert box.open(sealed, associated_data=AD) == plaintext
    assert len(sealed) == 1 + NONCE_SIZE + len(plaintext) + TAG_SIZE


def test_round_trip_without_associated_data(box):
    assert box.open(box.seal(b"totp secret")) == b"totp secret"


def test_same_plaintext_seals_differently_each_time(box):
    first, second = box.seal(b"same", associated_data=AD), box.seal(b"same", associated_data=AD)
    assert first != second and first[1:1 + NONCE_SIZE] != second[1:1 + NONCE_SIZE]


def test_plaintext_does_not_appear_in_sealed_value(box):
    assert b"-----BEGIN PRIVATE KEY-----" not in box.seal(b"-----BEGIN PRIVATE KEY-----")


def test_a_box_from_the_same_secret_and_purpose_opens_it(box):
    sealed = box.seal(b"secret", associated_data=AD)
    assert SecretBox(SECRET, "signing-keys").open(sealed, associated_data=AD) == b"secret"


@pytest.mark.parametrize("index", [
    0,                          # version byte
    1,                          # first nonce byte
    NONCE_SIZE,                 # last nonce byte
    1 + NONCE_SIZE,             # first ciphertext byte
    1 + NONCE_SIZE + 5,         # inside the ciphertext
    -TAG_SIZE,                  # first tag byte
    -1,                         # last tag byte
])
def test_tampering_with_any_part_is_detected(box, index):
    sealed = bytearray(box.seal(b"a private key of some length", associated_data=AD))
    sealed[index] ^= 0x01
    with pytest.raises(DecryptionError):
        box.open(bytes(sealed), associated_data=AD)


def test_truncated_or_extended_value_is_refused(box):
    sealed = box.seal(b"private", associated_data=AD)
    for bad in (sealed[:-1], sealed + b"\x00", sealed[:1 + NONCE_SIZE + TAG_SIZE - 1]):
        with pytest.raises(DecryptionError):
            box.open(bad, associated_data=AD)


def test_wrong_purpose_cannot_open(box):
    sealed = box.seal(b"private", associated_data=AD)
    with pytest.raises(DecryptionError):
        SecretBox(SECRET, "totp-secrets").open(sealed, associated_data=AD)


def test_wrong_secret_cannot_open(box):
    sealed = box.seal(b"private", associated_data=AD)
    with pytest.raises(DecryptionError):
        SecretBox("o" * 48, "signing-keys").open(sealed, associated_data=AD)


@pytest.mark.parametrize("other", [b"", b"signing-key|kid-2|RS256", AD + b"\x00", AD.upper()])
def test_wrong_associated_data_cannot_open(box, other):
    sealed = box.seal(b"private", associated_data=AD)
    with pytest.raises(DecryptionError):
        box.open(sealed, associated_data=other)


@pytest.mark.parametrize("garbage", [
    b"", b"\x01", b"\x01" + b"\x00" * NONCE_SIZE, b"\x01" + b"\x00" * (NONCE_SIZE + TAG_SIZE),
    b"\x02" + b"\x00" * 64, b"-----BEGIN PRIVATE KEY-----\nMIIE...", "not bytes", None, 42,
])
def test_garbage_is_refused(box, garbage):
    with pytest.raises(DecryptionError):
        box.open(garbage, associated_data=AD)


@pytest.mark.parametrize("secret,purpose", [("", "signing-keys"), (SECRET, "")])
def test_empty_secret_or_purpose_is_refused(secret, purpose):
    with pytest.raises(ValueError):
        SecretBox(secret, purpose)


def test_repr_shows_no_key_material(box):
    assert repr(box) == "SecretBox(purpose='signing-keys')"
