"""Authenticator-app codes (TOTP, RFC 6238: SHA-1, 6 digits, 30-second steps) as a second
factor (NIST SP 800-63B §5.1.4 "single-factor OTP device").

- The shared secret (160 random bits) is sealed with AES-GCM (``crypto.SecretBox`` purpose
  "totp") with the citizen's id as associated data, so a sealed secret copied onto another
  citizen's row does not open.
- A credential is usable only after the citizen typed one correct code from it
  (``confirm_enrolment``): a mis-scanned QR code never locks anyone out.
- A code is accepted for the current time step and one step either side (clock drift), and each
  time step is accepted once: ``last_used_step`` only moves forward, with a conditional UPDATE
  so two concurrent submissions of the same code cannot both pass (§5.1.4.2 replay).
- Throttling is the caller's job (``services.throttle``): these functions only answer.
"""

from __future__ import annotations

import enum
import hmac
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from idp.models import Citizen, TotpCredential
from idp.services.crypto import DecryptionError, SecretBox

log = logging.getLogger(__name__)

ISSUER = "ThaiNguyen ID"
STEP_SECONDS = 30
DIGITS = 6
VALID_WINDOW = 1          # ±1 step: about ±30 s of clock drift between phone and server
SECRET_BYTES = 20         # 160 bits, RFC 4226 §4 recommendation
# An unconfirmed enrolment is reused while the citizen is scanning/typing (a page reload must
# not invalidate the QR code they just scanned), and replaced after this long.
PENDING_LIFETIME = timedelta(minutes=30)
BOX_PURPOSE = "totp"


class TotpCheck(enum.StrEnum):
    OK = "ok"
    WRONG = "wrong"
    REPLAYED = "replayed"        # right code, but its time step was already used
    MALFORMED = "malformed"      # not six digits: not worth counting as a guess
    NOT_ENABLED = "not_enabled"  # no (confirmed) authenticator for this citizen


class AlreadyEnabled(Exception):
    """The citizen already has a confirmed authenticator; turn it off first."""


@dataclass(frozen=True)
class Enrolment:
    credential: TotpCredential
    secret: str       # base32, for manual entry; shown only to the citizen enrolling
    uri: str          # otpauth://totp/... for the QR code

    @property
    def secret_groups(self) -> str:
        """The key in groups of four, easier to copy by hand: "ABCD EFGH ..."."""
        return group_key(self.secret)


def group_key(secret: str) -> str:
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def masked_label(citizen: Citizen) -> str:
    """The account name shown in the authenticator app: enough to recognise, never the full
    CCCD or phone (a phone's app list is visible to whoever holds it)."""
    return f"CCCD ••••••••{citizen.cccd[-4:]}"


def provisioning_uri(secret: str, citizen: Citizen) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=masked_label(citizen), issuer_name=ISSUER)


def normalize_code(raw: str | None) -> str | None:
    """Six ASCII digits (spaces and dashes people type are dropped), else None."""
    digits = "".join(ch for ch in (raw or "")[:32] if not ch.isspace() and ch != "-")
    return digits if len(digits) == DIGITS and digits.isascii() and digits.isdigit() else None


def time_step(now: datetime) -> int:
    """The RFC 6238 counter for a naive-UTC (as stored) or aware datetime."""
    aware = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return int(aware.timestamp()) // STEP_SECONDS


def _box(secret_key: str) -> SecretBox:
    return SecretBox(secret_key, BOX_PURPOSE)


def _aad(citizen_id: uuid.UUID) -> bytes:
    return b"totp:" + citizen_id.bytes


def _credential(session: Session, citizen_id: uuid.UUID) -> TotpCredential | None:
    return session.scalar(select(TotpCredential).where(TotpCredential.citizen_id == citizen_id))


def _open_secret(cred: TotpCredential, secret_key: str) -> str | None:
    try:
        return _box(secret_key).open(cred.secret_sealed,
                                     associated_data=_aad(cred.citizen_id)).decode("ascii")
    except (DecryptionError, UnicodeDecodeError):
        # Tampered row or a changed TNID_SECRET_KEY: refuse (never crash) and say so in the log.
        log.error("TOTP secret of credential %s does not open", cred.id)
        return None


def is_enabled(session: Session, citizen_id: uuid.UUID) -> bool:
    return session.scalar(select(TotpCredential.id).where(
        TotpCredential.citizen_id == citizen_id,
        TotpCredential.confirmed_at.is_not(None))) is not None


def start_enrolment(session: Session, citizen: Citizen, *, secret_key: str, now: datetime,
                    restart: bool = False) -> Enrolment:
    """An unconfirmed credential and its otpauth:// URI (flushed, not committed).

    A recent pending enrolment is returned again unless ``restart``; a confirmed one raises
    ``AlreadyEnabled``."""
    cred = _credential(session, citizen.id)
    if cred is not None and cred.confirmed_at is not None:
        raise AlreadyEnabled
    if cred is not None and not restart and now - cred.created_at < PENDING_LIFETIME:
        secret = _open_secret(cred, secret_key)
        if secret is not None:
            return Enrolment(cred, secret, provisioning_uri(secret, citizen))
    secret = pyotp.random_base32(length=SECRET_BYTES * 8 // 5)  # 32 chars = 160 bits
    sealed = _box(secret_key).seal(secret.encode("ascii"), associated_data=_aad(citizen.id))
    if cred is None:
        cred = TotpCredential(citizen_id=citizen.id, secret_sealed=sealed, created_at=now)
        session.add(cred)
    else:
        cred.secret_sealed, cred.created_at, cred.last_used_step = sealed, now, None
    session.flush()
    return Enrolment(cred, secret, provisioning_uri(secret, citizen))


def matching_step(secret: str, digits: str, last_used_step: int | None, *,
                  now: datetime) -> int | TotpCheck:
    """The time step (within ±``VALID_WINDOW`` of ``now``) whose code is ``digits`` and that
    is later than ``last_used_step``; else WRONG, or REPLAYED when only a used step matches.
    Shared by citizens' and staff authenticators; the caller burns the step atomically."""
    otp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = time_step(now)
    replayed = False
    # Newest step first: if a code matches both a used and an unused step, take the unused one.
    for step in range(current + VALID_WINDOW, current - VALID_WINDOW - 1, -1):
        if hmac.compare_digest(otp.generate_otp(step), digits):
            if last_used_step is not None and step <= last_used_step:
                replayed = True
            else:
                return step
    return TotpCheck.REPLAYED if replayed else TotpCheck.WRONG


def _match(session: Session, cred: TotpCredential, code: str | None, *, secret_key: str,
           now: datetime) -> TotpCheck:
    """Check ``code`` against ``cred`` and, when right, burn its time step atomically."""
    digits = normalize_code(code)
    if digits is None:
        return TotpCheck.MALFORMED
    secret = _open_secret(cred, secret_key)
    if secret is None:
        return TotpCheck.WRONG
    matched = matching_step(secret, digits, cred.last_used_step, now=now)
    if isinstance(matched, TotpCheck):
        return matched
    burnt = session.execute(
        update(TotpCredential)
        .where(TotpCredential.id == cred.id,
               or_(TotpCredential.last_used_step.is_(None),
                   TotpCredential.last_used_step < matched))
        .values(last_used_step=matched)
        .execution_options(synchronize_session=False))
    if burnt.rowcount != 1:  # a concurrent request used this step (or a later one) first
        return TotpCheck.REPLAYED
    cred.last_used_step = matched
    return TotpCheck.OK


def check(session: Session, citizen: Citizen, code: str | None, *, secret_key: str,
          now: datetime) -> TotpCheck:
    """Verify a sign-in/step-up code from the citizen's confirmed authenticator. The caller
    commits (a success burns the time step) and throttles failures."""
    cred = _credential(session, citizen.id)
    if cred is None or cred.confirmed_at is None:
        return TotpCheck.NOT_ENABLED
    return _match(session, cred, code, secret_key=secret_key, now=now)


def verify(session: Session, citizen: Citizen, code: str | None, *, secret_key: str,
           now: datetime) -> bool:
    return check(session, citizen, code, secret_key=secret_key, now=now) is TotpCheck.OK


def confirm_enrolment(session: Session, citizen: Citizen, code: str | None, *,
                      secret_key: str, now: datetime) -> TotpCheck:
    """Enable the pending authenticator if ``code`` comes from it. The confirming code's step
    is burnt too, so it cannot be replayed as a second factor right afterwards."""
    cred = _credential(session, citizen.id)
    if cred is None or cred.confirmed_at is not None:
        return TotpCheck.NOT_ENABLED
    if now - cred.created_at >= PENDING_LIFETIME:
        return TotpCheck.NOT_ENABLED
    result = _match(session, cred, code, secret_key=secret_key, now=now)
    if result is TotpCheck.OK:
        cred.confirmed_at = now
        session.flush()
    return result


def disable(session: Session, citizen: Citizen) -> bool:
    """Forget the authenticator (confirmed or pending). True when there was one."""
    result = session.execute(delete(TotpCredential).where(
        TotpCredential.citizen_id == citizen.id).execution_options(synchronize_session=False))
    return bool(result.rowcount)


def enable_with_secret(session: Session, citizen: Citizen, secret: str, *, secret_key: str,
                       now: datetime) -> TotpCredential:
    """A confirmed authenticator with a given key: for ``tnid demo`` only (a known key a
    person can type into an app). Replaces any existing one."""
    disable(session, citizen)
    secret = secret.replace(" ", "").upper()
    pyotp.TOTP(secret).now()  # raises on a key that is not base32
    cred = TotpCredential(
        citizen_id=citizen.id, created_at=now, confirmed_at=now,
        secret_sealed=_box(secret_key).seal(secret.encode("ascii"),
                                            associated_data=_aad(citizen.id)))
    session.add(cred)
    session.flush()
    return cred
