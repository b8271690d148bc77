"""Encryption of small secrets at rest (signing private keys, TOTP secrets): AES-256-GCM.

The 256-bit key is derived from ``TNID_SECRET_KEY`` with HKDF-SHA256 (RFC 5869) and a purpose
label, so each kind of secret has its own key: a ciphertext of one purpose never opens under
another, and a leak of one derived key exposes nothing else.

Sealed format: ``version (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes)``. The
version byte is also authenticated (it is prefixed to the associated data), so it cannot be
swapped for another one; it lets a later format or key coexist with this one.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"
NONCE_SIZE = 12  # 96-bit random nonces: NIST SP 800-38D §8.2.2; far below 2^32 seals per key
TAG_SIZE = 16
KEY_SIZE = 32
# A fixed, public salt separates our derivations from any other use of the same secret.
HKDF_SALT = b"ThaiNguyen ID SecretBox v1"


class DecryptionError(Exception):
    """The sealed value was tampered with, is garbage, or belongs to another key or row."""


class SecretBox:
    """Seal and open small secrets with a key bound to ``purpose``."""

    def __init__(self, secret_key: str, purpose: str) -> None:
        if not secret_key:
            raise ValueError("SecretBox needs a non-empty secret key.")
        if not purpose:
            raise ValueError("SecretBox needs a purpose label.")
        self.purpose = purpose
        key = HKDF(
            algorithm=hashes.SHA256(), length=KEY_SIZE, salt=HKDF_SALT,
            info=b"tnid:secretbox:" + purpose.encode("utf-8"),
        ).derive(secret_key.encode("utf-8"))
        self._aead = AESGCM(key)

    def __repr__(self) -> str:  # never show key material in logs or tracebacks
        return f"SecretBox(purpose={self.purpose!r})"

    def seal(self, plaintext: bytes, *, associated_data: bytes = b"") -> bytes:
        """Encrypt; ``associated_data`` (e.g. the row's id) must be given again to open."""
        nonce = os.urandom(NONCE_SIZE)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, VERSION + associated_data)

    def open(self, sealed: bytes, *, associated_data: bytes = b"") -> bytes:
        """Decrypt and authenticate, or raise ``DecryptionError`` (never a partial result)."""
        if not isinstance(sealed, bytes | bytearray | memoryview):
            raise DecryptionError("sealed value is not bytes")
        sealed = bytes(sealed)
        if len(sealed) < 1 + NONCE_SIZE + TAG_SIZE:
            raise DecryptionError("sealed value is too short")
        if sealed[:1] != VERSION:
            raise DecryptionError("unknown sealed-value version")
        nonce, body = sealed[1:1 + NONCE_SIZE], sealed[1 + NONCE_SIZE:]
        try:
            return self._aead.decrypt(nonce, body, VERSION + associated_data)
        except InvalidTag:
            raise DecryptionError("sealed value failed authentication") from None
