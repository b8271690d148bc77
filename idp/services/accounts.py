"""Citizen accounts: creation with full validation, lookup by identifier, password sign-in."""

from __future__ import annotations

import enum
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from types import SimpleNamespace

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.database import PreparedWrite
from idp.models import Citizen, CitizenStatus, KnownDevice
from idp.services import audit, devices, throttle
from idp.services import identifiers as ids
from idp.services.identifiers import InvalidInput
from idp.services.password_policy import check_new_password
from idp.services.passwords import PasswordService

log = logging.getLogger(__name__)


class DuplicateAccount(InvalidInput):
    """The CCCD or phone already belongs to an account; the message reveals nothing of it."""


@dataclass(frozen=True)
class NewCitizen:
    """Raw, untrusted input for a new account (from a form, the CLI or an import row)."""

    cccd: str
    full_name: str
    birthdate: str | date
    phone: str
    email: str | None = None
    gender: str | None = None
    commune_code: str | None = None
    identity_level: int | str = 1


def create_citizen(
    session: Session,
    data: NewCitizen,
    *,
    passwords: PasswordService,
    password: str | None,
    today: date,
) -> Citizen:
    """Validate everything first, then add the citizen; nothing is written on bad input."""
    cccd = ids.normalize_cccd(data.cccd)
    full_name = ids.normalize_full_name(data.full_name)
    birthdate = ids.parse_birthdate(data.birthdate, today=today)
    gender = _gender(data.gender)
    gender = ids.check_cccd_consistency(cccd, birthdate, gender)
    phone = ids.normalize_phone(data.phone)
    email = ids.normalize_email(data.email)
    commune = ids.normalize_commune_code(data.commune_code) if data.commune_code else None
    level = _identity_level(data.identity_level)
    password_hash = None
    if password is not None:
        personal = (cccd, phone, "0" + phone[3:], birthdate.isoformat(),
                    birthdate.strftime("%d/%m/%Y"), birthdate.strftime("%d%m%Y"))
        password_hash = passwords.hash(check_new_password(password, personal_values=personal))

    if session.scalar(select(Citizen.id).where(Citizen.cccd == cccd)) is not None:
        raise DuplicateAccount("cccd", _l("This citizen ID number already has an account."))
    if session.scalar(select(Citizen.id).where(Citizen.phone == phone)) is not None:
        raise DuplicateAccount("phone", _l("This phone number is already used by an account."))

    citizen = Citizen(
        cccd=cccd, full_name=full_name, birthdate=birthdate, gender=gender, phone=phone,
        email=email, commune_code=commune, identity_level=level, password_hash=password_hash,
    )
    session.add(citizen)
    try:
        session.flush()
    except IntegrityError:  # another request registered the same CCCD or phone just now
        session.rollback()
        raise DuplicateAccount("cccd", _l("This citizen ID number or phone number already "
                                          "has an account.")) from None
    return citizen


def find_by_identifier(session: Session, identifier: str) -> Citizen | None:
    """A CCCD number or a phone number in any common Vietnamese format; None if neither."""
    identifier = (identifier or "").strip()
    if not identifier or len(identifier) > 64:
        return None
    try:
        if ids.looks_like_cccd(identifier):
            where = Citizen.cccd == ids.normalize_cccd(identifier)
        else:
            where = Citizen.phone == ids.normalize_phone(identifier)
    except InvalidInput:
        return None
    return session.scalar(select(Citizen).where(where))


def find_by_any(session: Session, key: str) -> Citizen | None:
    """For operators: an internal id as well as a CCCD or phone."""
    try:
        return session.get(Citizen, uuid.UUID(key.strip()))
    except ValueError:
        return find_by_identifier(session, key)


class SignInResult:
    """Outcome of a password check: ``citizen`` is set only when the sign-in may proceed."""

    def __init__(self, citizen: Citizen | None, *, locked: bool = False) -> None:
        self.citizen = citizen
        self.locked = locked


def authenticate_password(
    session: Session, identifier: str, password: str, *, passwords: PasswordService
) -> SignInResult:
    """Check the password; the same argon2 work is done whether or not the account exists.
    No throttling here: sign-in goes through ``password_sign_in``."""
    password = password or ""
    if len(password) > MAX_PASSWORD_INPUT:  # never hash megabytes; still spend one hash
        with HASH_SLOTS:
            passwords.verify_dummy("")
        return SignInResult(None)
    citizen = find_by_identifier(session, identifier)
    if citizen is None:
        with HASH_SLOTS:
            passwords.verify_dummy(password)
        return SignInResult(None)
    with HASH_SLOTS:
        return _check_password(citizen, password, passwords)


MAX_PASSWORD_INPUT = 1024


def _cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


# argon2id is memory-hard (19 MiB per hash): more hashes at once than the CPUs this process
# may use only thrash the caches and fault pages in — measured +30 % CPU per hash with 8
# threads on one vCPU. Threads take turns instead; the wait costs nothing, the CPU is busy.
HASH_SLOTS = threading.BoundedSemaphore(_cpus())


def _check_password(citizen: Citizen, password: str, passwords: PasswordService) -> SignInResult:
    if len(password) > MAX_PASSWORD_INPUT:
        passwords.verify_dummy("")
        return SignInResult(None)
    if not passwords.verify(citizen.password_hash, password):
        return SignInResult(None)
    if citizen.status != CitizenStatus.ACTIVE:
        # Only someone who knows the password learns that the account is locked.
        return SignInResult(None, locked=True)
    if citizen.password_hash and passwords.needs_rehash(citizen.password_hash):
        citizen.password_hash = passwords.hash(password)
        log.info("password rehashed with current parameters", extra={"citizen": str(citizen.id)})
    return SignInResult(citizen)


class Outcome(enum.StrEnum):
    OK = "ok"
    WRONG = "wrong"                      # unknown identifier, wrong password, or not active
    THROTTLED = "throttled"              # wait ``retry_after`` seconds
    UNLOCK_REQUIRED = "unlock_required"  # 100 consecutive failures: SMS-code unlock first


@dataclass(frozen=True)
class SignInAttempt:
    outcome: Outcome
    citizen: Citizen | None = None
    retry_after: int = 0
    device: throttle.Device | None = None  # the known-device counter that judged it
    known_device: KnownDevice | None = None  # this browser's row for the citizen


def password_sign_in(
    session: Session, identifier: str, password: str, *, passwords: PasswordService,
    counters: throttle.CounterStore, secret_key: str, device_token: str | None,
    ip: str | None, now: datetime,
) -> SignInAttempt:
    """Sign-in by password with the brute-force defence (``services.throttle``).

    An identifier without an account walks the same path as an account: a ghost counter
    with the same delays and lock, one dummy hash when a real one would be computed, none
    when a real attempt would be refused, and one audit entry per failure — so neither the
    answer nor its timing tells whether the account exists. Failures are flushed; the
    caller commits."""
    password = password or ""
    citizen = find_by_identifier(session, identifier)
    if citizen is None:
        key = throttle.counter_key(secret_key, "signin", canonical_identifier(identifier))
        verdict = throttle.check_ghost(counters, key, now=now)
        if not verdict.allowed:
            return _refused(verdict)
        with HASH_SLOTS:
            passwords.verify_dummy(password if len(password) <= MAX_PASSWORD_INPUT else "")
        throttle.record_ghost_failure(counters, key, now=now)
        audit.record(session, "auth:password:failure", actor_type="anonymous",
                     outcome="failure", ip=ip, details={"account": "none"}, now=now)
        return SignInAttempt(Outcome.WRONG)

    device = None
    known = devices.find(session, citizen.id, device_token)
    if known is not None:
        device = throttle.Device(counters, throttle.counter_key(
            secret_key, "device", f"{citizen.id}:{known.device_hash}"))
    verdict = throttle.check(citizen, now=now, device=device)
    if not verdict.allowed:
        return _refused(verdict)
    with HASH_SLOTS:
        result = _check_password(citizen, password, passwords)
    if result.citizen is None:
        if result.locked:  # right password, account locked by staff: not a guess
            return SignInAttempt(Outcome.WRONG)
        throttle.record_failure(session, citizen, kind="password", ip=ip, now=now,
                                device=device)
        return SignInAttempt(Outcome.WRONG)
    throttle.record_success(citizen, device=device)
    return SignInAttempt(Outcome.OK, citizen=citizen, device=device, known_device=known)


def _refused(verdict: throttle.Verdict) -> SignInAttempt:
    if verdict.unlock_required:
        return SignInAttempt(Outcome.UNLOCK_REQUIRED)
    return SignInAttempt(Outcome.THROTTLED, retry_after=verdict.retry_after)


def canonical_identifier(identifier: str | None) -> str:
    """The identifier as an account would be found by it, so "0912 345 678" and
    "+84912345678" share one ghost, as they would share one account."""
    identifier = (identifier or "").strip()[:64]
    try:
        if ids.looks_like_cccd(identifier):
            return "cccd:" + ids.normalize_cccd(identifier)
        return "phone:" + ids.normalize_phone(identifier)
    except InvalidInput:
        return "other:" + identifier.casefold()


def _gender(value: str | None) -> ids.Gender | None:
    if value in (None, ""):
        return None
    if value not in ("male", "female"):
        raise InvalidInput("gender", _l("Gender must be male or female."))
    return value  # type: ignore[return-value]


def _identity_level(value: int | str) -> int:
    if str(value).strip() not in ("1", "2"):
        raise InvalidInput("identity_level", _l("The identity level must be 1 or 2."))
    return int(value)


_ACTIVE_CITIZEN = PreparedWrite(select(*Citizen.__table__.columns).where(
    Citizen.__table__.c.id == bindparam("id"),
    Citizen.__table__.c.status == CitizenStatus.ACTIVE.value))


def read_active_citizen(session: Session, citizen_id: uuid.UUID) -> SimpleNamespace | None:
    """An active citizen's columns as a plain, read-only object (the token endpoint needs
    them for the ID token and nothing else), read inside the exchange's transaction."""
    row = _ACTIVE_CITIZEN.row(session, {"id": citizen_id})
    return SimpleNamespace(**row) if row is not None else None
