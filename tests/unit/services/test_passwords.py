"""Tests of idp.services.passwords: argon2id hashing, NFC normalisation, rehash detection."""

from __future__ import annotations

import unicodedata

import pytest

from idp.services.passwords import PasswordService, normalize_password
from tests.conftest import TEST_PASSWORD

COMPOSED = unicodedata.normalize("NFC", "mật khẩu")
DECOMPOSED = unicodedata.normalize("NFD", "mật khẩu")


def service(time_cost: int = 1, memory_kib: int = 64, parallelism: int = 1) -> PasswordService:
    return PasswordService(time_cost=time_cost, memory_kib=memory_kib, parallelism=parallelism)


@pytest.fixture(scope="module")
def passwords() -> PasswordService:
    return service()


def test_the_two_vietnamese_spellings_really_differ():
    assert COMPOSED != DECOMPOSED
    assert len(DECOMPOSED) > len(COMPOSED)


@pytest.mark.parametrize(
    "password",
    [TEST_PASSWORD, "correct horse battery staple", COMPOSED, "Đường lên Tam Đảo 🏔", "x" * 256,
     "   leading and trailing   ", "tab\tand\nnewline"],
)
def test_hash_and_verify_round_trip(passwords: PasswordService, password: str):
    hashed = passwords.hash(password)
    assert hashed.startswith("$argon2id$")
    assert password not in hashed
    assert passwords.verify(hashed, password) is True


def test_hash_records_the_configured_parameters(passwords: PasswordService):
    hashed = service(time_cost=3, memory_kib=128, parallelism=2).hash(TEST_PASSWORD)
    assert hashed.startswith("$argon2id$v=19$m=128,t=3,p=2$")
    assert passwords.hash(TEST_PASSWORD).startswith("$argon2id$v=19$m=64,t=1,p=1$")


def test_hashes_are_salted(passwords: PasswordService):
    first, second = passwords.hash(TEST_PASSWORD), passwords.hash(TEST_PASSWORD)
    assert first != second
    assert passwords.verify(first, TEST_PASSWORD) and passwords.verify(second, TEST_PASSWORD)


@pytest.mark.parametrize(
    "attempt",
    [
        "",
        "wrong password",
        TEST_PASSWORD.upper(),
        TEST_PASSWORD + " ",
        " " + TEST_PASSWORD,
        TEST_PASSWORD[:-1],
        "mat khau thu nghiem 2025",  # diacritics stripped
        unicodedata.normalize("NFKD", TEST_PASSWORD).encode("ascii", "ignore").decode(),
    ],
)
def test_wrong_password_is_refused(passwords: PasswordService, attempt: str):
    assert passwords.verify(passwords.hash(TEST_PASSWORD), attempt) is False


@pytest.mark.parametrize(
    ("stored", "typed"),
    [(COMPOSED, DECOMPOSED), (DECOMPOSED, COMPOSED), (COMPOSED, COMPOSED),
     (DECOMPOSED, DECOMPOSED)],
)
def test_composed_and_decomposed_vietnamese_passphrases_are_equal(
    passwords: PasswordService, stored: str, typed: str
):
    assert passwords.verify(passwords.hash(stored), typed) is True


def test_normalize_password_is_nfc_and_changes_nothing_else():
    assert normalize_password(DECOMPOSED) == COMPOSED
    assert normalize_password("  Abc  ") == "  Abc  "
    assert normalize_password("") == ""
    # NFC, not NFKC: compatibility characters are kept as typed.
    assert normalize_password("ﬁ①") == "ﬁ①"


@pytest.mark.parametrize(
    "bad_hash",
    [
        None,
        "",
        "garbage",
        "$argon2id$",
        "$argon2id$v=19$m=64,t=1,p=1$",
        "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$",
        "$2b$12$KIXQJ0vQx0Y7Z5bq8Kp9.uQeQ2Ww5Y8n4Y3k8p7mG6m0yq3jF8h1u",  # bcrypt
        "pbkdf2_sha256$600000$salt$hash",
        "x" * 5000,
    ],
)
def test_verify_with_missing_or_garbage_hash_is_false(passwords: PasswordService, bad_hash):
    assert passwords.verify(bad_hash, TEST_PASSWORD) is False


@pytest.mark.parametrize("cut", [1, 5, 20])
def test_verify_with_truncated_hash_is_false(passwords: PasswordService, cut: int):
    hashed = passwords.hash(TEST_PASSWORD)
    assert passwords.verify(hashed[:-cut], TEST_PASSWORD) is False


def test_verify_with_tampered_hash_is_false(passwords: PasswordService):
    hashed = passwords.hash(TEST_PASSWORD)
    tampered = hashed[:-2] + ("AA" if hashed[-2:] != "AA" else "BB")
    assert passwords.verify(tampered, TEST_PASSWORD) is False


def test_verify_dummy_returns_nothing_and_does_not_raise(passwords: PasswordService):
    for attempt in ("", TEST_PASSWORD, "tnid-dummy-password-for-equal-timing", DECOMPOSED):
        assert passwords.verify_dummy(attempt) is None


def test_hash_of_another_service_verifies(passwords: PasswordService):
    """Parameters live in the hash: a service with new parameters still checks old hashes."""
    old = service(time_cost=2, memory_kib=128).hash(TEST_PASSWORD)
    assert passwords.verify(old, TEST_PASSWORD) is True
    assert passwords.verify(old, "wrong") is False


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"time_cost": 1}, {"time_cost": 2}),
        ({"time_cost": 3}, {"time_cost": 2}),
        ({"memory_kib": 64}, {"memory_kib": 128}),
        ({"parallelism": 1}, {"parallelism": 2}),
    ],
)
def test_needs_rehash_when_parameters_change(old: dict, new: dict):
    before, after = service(**old), service(**new)
    hashed = before.hash(TEST_PASSWORD)
    assert before.needs_rehash(hashed) is False
    assert after.needs_rehash(hashed) is True
    rehashed = after.hash(TEST_PASSWORD)
    assert after.needs_rehash(rehashed) is False
    assert after.verify(rehashed, TEST_PASSWORD)


def test_same_parameters_never_need_rehash(passwords: PasswordService):
    assert service().needs_rehash(passwords.hash(TEST_PASSWORD)) is False


@pytest.mark.parametrize("stored", ["ħ$argon2id$v=19$m=64,t=1,p=1$xx$yy", "\udcff", "🙂"])
def test_non_ascii_stored_hash_is_a_mismatch_not_a_crash(stored):
    from idp.services.passwords import PasswordService

    service = PasswordService(time_cost=1, memory_kib=64, parallelism=1)
    assert service.verify(stored, "any password") is False
