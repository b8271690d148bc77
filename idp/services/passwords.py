"""Password hashing with argon2id (argon2-cffi), parameters from configuration.

``verify`` always does one full hash, also for unknown accounts (``verify_dummy``), so the
time a sign-in takes does not tell whether the account exists.
"""

from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


def normalize_password(password: str) -> str:
    """NFC, so the same Vietnamese passphrase typed on two keyboards hashes the same."""
    return unicodedata.normalize("NFC", password)


class PasswordService:
    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism,
            hash_len=32, salt_len=16, type=Type.ID,
        )
        # Computed once: unknown accounts are checked against this so they cost the same.
        self._dummy_hash = self._hasher.hash("tnid-dummy-password-for-equal-timing")

    def hash(self, password: str) -> str:
        return self._hasher.hash(normalize_password(password))

    def verify(self, password_hash: str | None, password: str) -> bool:
        if not password_hash:
            self.verify_dummy(password)
            return False
        try:
            return self._hasher.verify(password_hash, normalize_password(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError, ValueError):
            return False  # ValueError: a stored hash that is not even ASCII

    def verify_dummy(self, password: str) -> None:
        try:
            self._hasher.verify(self._dummy_hash, normalize_password(password))
        except VerificationError:
            pass

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
