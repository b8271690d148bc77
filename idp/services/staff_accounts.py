"""Staff accounts: creation, password + TOTP sign-in, enrolment, disable, TOTP reset.

- **Usernames**: 3–64 characters of ``a-z 0-9 . _ -``, stored lower-cased, unique.
- **Roles and communes**: an officer serves at least one commune/ward of Thái Nguyên (codes
  checked against the administrative units); a superadmin or an auditor has none (they see
  every commune, ``services.staff_access``).
- **Passwords**: the citizens' policy (``services.password_policy``: blocklist, not the
  username) and, because one staff account reaches thousands of citizens, at least
  ``MIN_PASSWORD_LENGTH`` (12) characters.
- **Brute force**: ``services.throttle``'s rule (``delay_after``: free attempts, then doubling
  delays up to 15 minutes) on the staff row's own ``failed_attempts`` / ``last_failure_at``,
  for passwords and TOTP codes alike, with the same one-check-per-window claim (a guarded
  UPDATE). Staff accounts are never locked by failures (no SMS unlock for staff: a
  superadmin resets them); the delays cap the guessing rate. An unknown username walks the
  same path on a ghost counter (``throttle.check_ghost``) with one dummy hash, so neither the
  answer nor its timing tells whether the account exists. Per-IP limits are the views'.
- **Known browsers** (the citizens' known-device rule): staff usernames are easy to guess, so
  a stranger's wrong guesses, one per delay window, could keep the real staff member out.
  A browser that completed a sign-in (password + TOTP) to an account carries the *staff*
  device cookie (its own name, never the citizens'): a random token (``devices.new_token``)
  and, per account signed in from it (at most ``MAX_DEVICE_ACCOUNTS``), a proof — an HMAC
  of the account id, the time its authenticator was confirmed and the token, under a key
  derived from the secret key (no table: staff accounts have no ``known_devices`` rows).
  Such a browser is throttled on its own counter (``throttle.Device`` under the kind
  "staff-device", ``throttle.check_device``) for both steps; its failures do not touch the
  account's counter and its success does not reset it. A TOTP reset forgets every known
  browser of the account (the proof covers ``totp_confirmed_at``); after
  ``throttle.UNLOCK_AFTER`` failures a browser loses the exemption.
- **TOTP** is mandatory: the secret is sealed with ``crypto.SecretBox`` (purpose
  "staff-totp", the account id as associated data); a code is accepted for ±1 step and each
  step once (a conditional UPDATE on ``totp_last_used_step``).
- **Sessions**: disabling an account, resetting its TOTP or changing its password bumps
  ``session_version``, which ends every console session of the account (``admin.guard``).

Every change and sign-in leaves an audit entry ("staff:..."), never with a secret in it.
Functions flush; callers commit.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from idp.models import StaffAccount, StaffCommune, StaffRole
from idp.services import audit, devices, password_policy, throttle
from idp.services.accounts import HASH_SLOTS, MAX_PASSWORD_INPUT
from idp.services.crypto import DecryptionError, SecretBox
from idp.services.identifiers import (
    THAI_NGUYEN_PROVINCE_CODE,
    InvalidInput,
    normalize_commune_code,
)
from idp.services.passwords import PasswordService
from idp.services.totp import DIGITS, ISSUER, STEP_SECONDS, TotpCheck, matching_step
from idp.services.totp import group_key as group_key
from idp.services.totp import normalize_code as normalize_code
from idp.services.totp import time_step as time_step

log = logging.getLogger(__name__)

USERNAME_RE = re.compile(r"[a-z0-9._-]{3,64}")
MIN_PASSWORD_LENGTH = 12
MIN_REASON_LENGTH = 5
MAX_REASON_LENGTH = 500
BOX_PURPOSE = "staff-totp"
SECRET_BYTES = 20
MAX_DEVICE_ACCOUNTS = 8  # accounts remembered per browser (a shared commune office PC)
_PROOF_RE = re.compile(r"[A-Za-z0-9_-]{22}")


class Outcome(enum.StrEnum):
    OK = "ok"
    WRONG = "wrong"            # wrong username/password/code, or a disabled account
    THROTTLED = "throttled"    # wait ``retry_after`` seconds
    REPLAYED = "replayed"      # a TOTP code whose time step was already used
    MALFORMED = "malformed"    # not six digits: not counted as a guess


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    staff: StaffAccount | None = None
    retry_after: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


@dataclass(frozen=True)
class Enrolment:
    secret: str   # base32, shown only to the staff member enrolling
    uri: str      # otpauth://totp/... for the QR code

    @property
    def secret_groups(self) -> str:
        return group_key(self.secret)


class AlreadyEnrolled(Exception):
    """The account already has a confirmed authenticator (reset it first)."""


# --- validation -----------------------------------------------------------------------------


def normalize_username(raw: str | None) -> str:
    username = (raw or "").strip().lower()
    if not USERNAME_RE.fullmatch(username):
        raise InvalidInput("username", _l(
            "The username must have 3 to 64 characters: letters a-z, digits, dot, dash or "
            "underscore."))
    return username


def normalize_role(raw: str | StaffRole | None) -> StaffRole:
    try:
        return StaffRole(raw)
    except ValueError:
        raise InvalidInput("role", _l("The role must be superadmin, officer or auditor.")) \
            from None


def normalize_communes(role: StaffRole, communes: Iterable[str]) -> list[str]:
    """Sorted, unique 5-digit codes of Thái Nguyên; at least one for an officer, none else."""
    codes = sorted({normalize_commune_code(str(c).strip(),
                                           province_code=THAI_NGUYEN_PROVINCE_CODE)
                    for c in communes if str(c).strip()})
    if role is StaffRole.OFFICER and not codes:
        raise InvalidInput("communes", _l("A commune officer needs at least one commune."))
    if role is not StaffRole.OFFICER and codes:
        raise InvalidInput("communes", _l(
            "Only commune officers have communes: administrators and auditors see every "
            "commune."))
    return codes


def check_password(password: str, *, username: str) -> str:
    """The citizens' policy plus a longer minimum; returns the NFC password."""
    password = password_policy.check_new_password(password or "", personal_values=(username,))
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", _l(
            "A staff password must have at least %(num)d characters.", num=MIN_PASSWORD_LENGTH))
    return password


def check_reason(reason: str | None) -> str:
    reason = " ".join((reason or "").split())
    if len(reason) < MIN_REASON_LENGTH:
        raise InvalidInput("reason", _l("Please give a reason (at least 5 characters)."))
    return reason[:MAX_REASON_LENGTH]


def find(session: Session, username: str | None) -> StaffAccount | None:
    name = (username or "").strip().lower()
    if not USERNAME_RE.fullmatch(name):
        return None
    return session.scalar(select(StaffAccount).where(StaffAccount.username == name))


# --- accounts -------------------------------------------------------------------------------


def create_staff(session: Session, username: str, role: str | StaffRole, communes: Iterable[str],
                 password: str, *, passwords: PasswordService, display_name: str = "",
                 actor: StaffAccount | None = None, reason: str | None = None,
                 ip: str | None = None, now: datetime) -> StaffAccount:
    """A new staff account (TOTP enrolled at the first sign-in). Raises ``InvalidInput``
    before anything is written. ``actor``: the superadmin creating it (None: the CLI)."""
    username = normalize_username(username)
    staff_role = normalize_role(role)
    codes = normalize_communes(staff_role, communes)
    display_name = " ".join((display_name or "").split())
    if len(display_name) > 100:
        raise InvalidInput("display_name", _l("The display name must have at most 100 "
                                              "characters."))
    password = check_password(password, username=username)
    if reason is not None or actor is not None:
        reason = check_reason(reason)
    if session.scalar(select(func.count()).select_from(StaffAccount)
                      .where(StaffAccount.username == username)):
        raise InvalidInput("username", _l("This username is already taken."))
    staff = StaffAccount(username=username, display_name=display_name, role=staff_role,
                         password_hash=passwords.hash(password), created_at=now,
                         communes=[StaffCommune(commune_code=c) for c in codes])
    session.add(staff)
    session.flush()
    details: dict[str, object] = {"username": username, "role": staff_role.value,
                                  "communes": codes}
    if reason:
        details["reason"] = reason
    _audit(session, "staff:account:created", actor, ip=ip, now=now,
           details={**details, "staff_id": str(staff.id)})
    return staff


def list_staff(session: Session) -> list[StaffAccount]:
    return list(session.scalars(select(StaffAccount).order_by(StaffAccount.username)))


def disable(session: Session, staff: StaffAccount, *, reason: str, actor: StaffAccount | None,
            ip: str | None, now: datetime) -> bool:
    """Disable the account and end its console sessions. False when it already was."""
    reason = check_reason(reason)
    if actor is not None and actor.id == staff.id:
        raise InvalidInput("reason", _l("You cannot disable your own account."))
    if staff.disabled_at is not None:
        return False
    staff.disabled_at = now
    staff.session_version += 1
    session.flush()
    _audit(session, "staff:account:disabled", actor, ip=ip, now=now,
           details={"staff_id": str(staff.id), "username": staff.username, "reason": reason})
    return True


def reset_totp(session: Session, staff: StaffAccount, *, reason: str,
               actor: StaffAccount | None, ip: str | None, now: datetime) -> None:
    """Forget the authenticator: the next sign-in enrols a new one. Ends its sessions."""
    reason = check_reason(reason)
    staff.totp_secret_sealed = None
    staff.totp_confirmed_at = None
    staff.totp_last_used_step = None
    staff.session_version += 1
    session.flush()
    _audit(session, "staff:totp:reset", actor, ip=ip, now=now,
           details={"staff_id": str(staff.id), "username": staff.username, "reason": reason})


def change_password(session: Session, staff: StaffAccount, current: str, new: str, *,
                    passwords: PasswordService, ip: str | None, now: datetime) -> None:
    """Change one's own password (the current one is checked; other sessions end)."""
    with HASH_SLOTS:
        right = passwords.verify(staff.password_hash, (current or "")[:MAX_PASSWORD_INPUT])
    if not right:
        raise InvalidInput("current_password", _l("The current password is not correct."))
    new = check_password(new, username=staff.username)
    staff.password_hash = passwords.hash(new)
    staff.session_version += 1
    session.flush()
    _audit(session, "staff:password:changed", staff, ip=ip, now=now,
           details={"staff_id": str(staff.id)})


def sign_out(session: Session, staff: StaffAccount, *, ip: str | None, now: datetime) -> None:
    """Signing out ends *every* console session of the account (``session_version`` bumped):
    the console session lives in a client-side cookie, so this is the only way a copy of it
    stops working. Known browsers stay known (sign-out is not a suspicion)."""
    staff.session_version += 1
    session.flush()
    audit.record(session, "staff:logout", actor_type="staff", actor_id=staff.id, ip=ip,
                 now=now, details={"username": staff.username, "all_sessions": True})


def _audit(session: Session, action: str, actor: StaffAccount | None, *, ip: str | None,
           now: datetime, details: dict[str, object], outcome: str = "success") -> None:
    audit.record(session, action, actor_type="staff" if actor is not None else "system",
                 actor_id=actor.id if actor is not None else None, outcome=outcome, ip=ip,
                 details=details, now=now)


# --- brute-force counter on the staff row (throttle's rule) -------------------------------

_STAFF = StaffAccount.__table__.c


def _counter(staff: StaffAccount, now: datetime) -> throttle.Counter:
    last = staff.last_failure_at
    if last is None or now - last >= throttle.FORGET_AFTER:
        return throttle.Counter()
    return throttle.Counter(staff.failed_attempts or 0, last)


def _judge(staff: StaffAccount, now: datetime) -> throttle.Verdict:
    counter = _counter(staff, now)
    if counter.last_failure_at is None:
        return throttle.Verdict(True)
    ready_at = counter.last_failure_at + throttle.delay_after(counter.failures)
    if now >= ready_at:
        return throttle.Verdict(True)
    return throttle.Verdict(False, retry_after=max(1, int((ready_at - now).total_seconds()
                                                          + 0.999)))


def check_throttle(session: Session, staff: StaffAccount, *, now: datetime) -> throttle.Verdict:
    """May a secret of this account be checked now? Under delays, claims the window with a
    compare-and-set UPDATE (one check per window even in parallel, as ``throttle.check``)."""
    session.flush()
    for _ in range(3):
        verdict = _judge(staff, now)
        counter = _counter(staff, now)
        if not verdict.allowed or counter.failures < throttle.FREE_ATTEMPTS:
            return verdict
        won = session.execute(
            update(StaffAccount.__table__)
            .where(_STAFF.id == staff.id, _STAFF.failed_attempts == staff.failed_attempts,
                   _STAFF.last_failure_at == staff.last_failure_at)
            .values(last_failure_at=now)).rowcount
        if won == 1:
            set_committed_value(staff, "last_failure_at", now)
            return verdict
        row = session.execute(select(_STAFF.failed_attempts, _STAFF.last_failure_at)
                              .where(_STAFF.id == staff.id)).one()
        set_committed_value(staff, "failed_attempts", row[0])
        set_committed_value(staff, "last_failure_at", row[1])
    return throttle.Verdict(False, retry_after=1)


def record_failure(session: Session, staff: StaffAccount, *, kind: str, ip: str | None,
                   now: datetime) -> throttle.Verdict:
    """Count a wrong password or code (atomic increment) and audit "staff:login:failure"."""
    session.flush()
    forgotten = or_(_STAFF.last_failure_at.is_(None),
                    _STAFF.last_failure_at <= now - throttle.FORGET_AFTER)

    failures = case((forgotten, 1), else_=func.coalesce(_STAFF.failed_attempts, 0) + 1)
    failed = session.execute(
        update(StaffAccount.__table__).where(_STAFF.id == staff.id)
        .values(failed_attempts=failures, last_failure_at=now)
        .returning(_STAFF.failed_attempts)).scalar_one()
    set_committed_value(staff, "failed_attempts", failed)
    set_committed_value(staff, "last_failure_at", now)
    _audit(session, "staff:login:failure", None, ip=ip, now=now, outcome="failure",
           details={"factor": kind, "staff_id": str(staff.id), "username": staff.username,
                    "consecutive_failures": failed})
    return _judge(staff, now)


def _record_success(staff: StaffAccount) -> None:
    if staff.failed_attempts or staff.last_failure_at is not None:
        staff.failed_attempts = 0
        staff.last_failure_at = None


def _refused(verdict: throttle.Verdict) -> Attempt:
    # A ghost "locked" after 100 failures answers like a real account at its longest delay.
    retry = verdict.retry_after or int(throttle.MAX_DELAY.total_seconds())
    return Attempt(Outcome.THROTTLED, retry_after=retry)


# --- known browsers (the staff device cookie) -----------------------------------------------


def _proof(secret_key: str, staff: StaffAccount, token: str) -> str:
    """22 characters saying "this browser signed in to this account, with this authenticator"."""
    key = hashlib.sha256(b"tnid:staff-device:" + secret_key.encode()).digest()
    at = staff.totp_confirmed_at
    # Whole seconds since the epoch: the same before and after a round trip to the database.
    confirmed = int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()) if at else "-"
    mac = hmac.new(key, f"{staff.id}:{confirmed}:{token}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:16]).rstrip(b"=").decode("ascii")


def _parse_device_cookie(value: str | None) -> tuple[str | None, list[str]]:
    """(token, proofs) of a staff device cookie "token.proof.proof"; (None, []) if not ours."""
    parts = (value or "")[:64 + 23 * MAX_DEVICE_ACCOUNTS].split(".")
    token = devices.valid_token(parts[0])
    if token is None:
        return None, []
    return token, [p for p in parts[1:1 + MAX_DEVICE_ACCOUNTS] if _PROOF_RE.fullmatch(p)]


def known_device(staff: StaffAccount, cookie: str | None, *, counters: throttle.CounterStore,
                 secret_key: str) -> throttle.Device | None:
    """This browser's own counter when it already signed in to ``staff``, else None."""
    token, proofs = _parse_device_cookie(cookie)
    if token is None or not is_enrolled(staff):
        return None
    proof = _proof(secret_key, staff, token)
    if not any(hmac.compare_digest(proof, p) for p in proofs):
        return None
    return throttle.Device(counters, throttle.counter_key(
        secret_key, "staff-device", f"{staff.id}:{devices.token_hash(token)}"))


def remember_device(staff: StaffAccount, cookie: str | None, *, secret_key: str) -> str:
    """The staff device cookie's new value after a full sign-in of ``staff`` in this browser
    (a new token if it had none; the oldest account forgotten beyond MAX_DEVICE_ACCOUNTS)."""
    token, proofs = _parse_device_cookie(cookie)
    token = token or devices.new_token()
    proof = _proof(secret_key, staff, token)
    proofs = [p for p in proofs if p != proof] + [proof]
    return ".".join([token, *proofs[-MAX_DEVICE_ACCOUNTS:]])


def _check(session: Session, staff: StaffAccount, device: throttle.Device | None, *,
           now: datetime) -> throttle.Verdict:
    if device is not None:
        verdict = throttle.check_device(device, now=now)
        if verdict is not None:
            return verdict
    return check_throttle(session, staff, now=now)


def _fail(session: Session, staff: StaffAccount, device: throttle.Device | None, *,
          kind: str, ip: str | None, now: datetime) -> None:
    """A wrong secret: counted on the known browser's counter while it is exempt, else on
    the account's."""
    if device is not None and device.store.get(device.key).failures < throttle.UNLOCK_AFTER:
        counter = device.store.fail(device.key, now)
        _audit(session, "staff:login:failure", None, ip=ip, now=now, outcome="failure",
               details={"factor": kind, "staff_id": str(staff.id),
                        "username": staff.username, "known_device": True,
                        "device_failures": counter.failures})
        return
    record_failure(session, staff, kind=kind, ip=ip, now=now)


# --- sign-in --------------------------------------------------------------------------------


def authenticate(session: Session, username: str | None, password: str | None, *,
                 passwords: PasswordService, counters: throttle.CounterStore, secret_key: str,
                 ip: str | None, now: datetime, device_cookie: str | None = None) -> Attempt:
    """The password step. ``Attempt.staff`` is set on OK; the TOTP step follows
    (``verify_totp`` or the enrolment). A disabled account answers WRONG even with the right
    password (and its attempt is audited). ``device_cookie``: the browser's staff device
    cookie (a known browser is judged on its own counter). Failures are flushed; the caller
    commits."""
    password = password or ""
    if len(password) > MAX_PASSWORD_INPUT:
        password = ""  # never hash megabytes; still one hash below
    staff = find(session, username)
    if staff is None:
        key = throttle.counter_key(secret_key, "staff-signin",
                                   (username or "").strip().lower()[:64])
        verdict = throttle.check_ghost(counters, key, now=now)
        if not verdict.allowed:
            return _refused(verdict)
        with HASH_SLOTS:
            passwords.verify_dummy(password)
        throttle.record_ghost_failure(counters, key, now=now)
        _audit(session, "staff:login:failure", None, ip=ip, now=now, outcome="failure",
               details={"factor": "password", "account": "none"})
        return Attempt(Outcome.WRONG)
    device = known_device(staff, device_cookie, counters=counters, secret_key=secret_key)
    verdict = _check(session, staff, device, now=now)
    if not verdict.allowed:
        return _refused(verdict)
    with HASH_SLOTS:
        right = passwords.verify(staff.password_hash, password)
    if not right:
        _fail(session, staff, device, kind="password", ip=ip, now=now)
        return Attempt(Outcome.WRONG)
    if not staff.is_active:
        _audit(session, "staff:login:failure", None, ip=ip, now=now, outcome="failure",
               details={"factor": "password", "staff_id": str(staff.id),
                        "username": staff.username, "disabled": True})
        return Attempt(Outcome.WRONG)
    if passwords.needs_rehash(staff.password_hash):
        staff.password_hash = passwords.hash(password)
    return Attempt(Outcome.OK, staff=staff)


def complete_sign_in(session: Session, staff: StaffAccount, *, ip: str | None, now: datetime,
                     enrolled: bool = False, device: throttle.Device | None = None) -> None:
    """Both factors passed: the counter that judged the sign-in starts again (a known
    browser's own; the account's stays, or an attacker would get fresh attempts whenever
    the staff member signs in), the sign-in is recorded."""
    if device is not None:
        device.store.clear(device.key)
    else:
        _record_success(staff)
    staff.last_sign_in_at = now
    session.flush()
    audit.record(session, "staff:login:success", actor_type="staff", actor_id=staff.id,
                 ip=ip, now=now, details={"username": staff.username, "role": staff.role.value,
                                          "totp_enrolled_now": enrolled,
                                          "known_device": device is not None})


# --- TOTP -----------------------------------------------------------------------------------


def _box(secret_key: str) -> SecretBox:
    return SecretBox(secret_key, BOX_PURPOSE)


def _aad(staff_id: uuid.UUID) -> bytes:
    return b"staff-totp:" + staff_id.bytes


def _seal(staff: StaffAccount, secret: str, secret_key: str) -> bytes:
    return _box(secret_key).seal(secret.encode("ascii"), associated_data=_aad(staff.id))


def _open(staff: StaffAccount, secret_key: str) -> str | None:
    if staff.totp_secret_sealed is None:
        return None
    try:
        return _box(secret_key).open(staff.totp_secret_sealed,
                                     associated_data=_aad(staff.id)).decode("ascii")
    except (DecryptionError, UnicodeDecodeError):
        log.error("TOTP secret of staff account %s does not open", staff.id)
        return None


def account_label(staff: StaffAccount) -> str:
    """The name shown in the authenticator app."""
    return f"{staff.username} (staff)"


def provisioning_uri(secret: str, staff: StaffAccount) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account_label(staff), issuer_name=f"{ISSUER} Staff")


def is_enrolled(staff: StaffAccount) -> bool:
    return staff.totp_confirmed_at is not None and staff.totp_secret_sealed is not None


def start_enrolment(session: Session, staff: StaffAccount, *, secret_key: str,
                    restart: bool = False) -> Enrolment:
    """A pending key (kept across page reloads until confirmed, so a scanned QR code stays
    valid). Raises ``AlreadyEnrolled`` when a confirmed one exists."""
    if is_enrolled(staff):
        raise AlreadyEnrolled
    secret = None if restart else _open(staff, secret_key)
    if secret is None:
        secret = pyotp.random_base32(length=SECRET_BYTES * 8 // 5)
        staff.totp_secret_sealed = _seal(staff, secret, secret_key)
        staff.totp_last_used_step = None
        session.flush()
    return Enrolment(secret, provisioning_uri(secret, staff))


def _match(session: Session, staff: StaffAccount, code: str | None, *, secret_key: str,
           now: datetime) -> TotpCheck:
    digits = normalize_code(code)
    if digits is None:
        return TotpCheck.MALFORMED
    secret = _open(staff, secret_key)
    if secret is None:
        return TotpCheck.NOT_ENABLED
    matched = matching_step(secret, digits, staff.totp_last_used_step, now=now)
    if isinstance(matched, TotpCheck):
        return matched
    session.flush()
    burnt = session.execute(
        update(StaffAccount.__table__)
        .where(_STAFF.id == staff.id,
               or_(_STAFF.totp_last_used_step.is_(None),
                   _STAFF.totp_last_used_step < matched))
        .values(totp_last_used_step=matched)).rowcount
    if burnt != 1:  # a concurrent request used this step (or a later one) first
        return TotpCheck.REPLAYED
    set_committed_value(staff, "totp_last_used_step", matched)
    return TotpCheck.OK


def check_totp(session: Session, staff: StaffAccount, code: str | None, *, secret_key: str,
               now: datetime) -> TotpCheck:
    """A code from the confirmed authenticator, without throttling (the caller's job)."""
    if not is_enrolled(staff):
        return TotpCheck.NOT_ENABLED
    return _match(session, staff, code, secret_key=secret_key, now=now)


def _second_step(session: Session, staff: StaffAccount, code: str | None, *, secret_key: str,
                 ip: str | None, now: datetime, enrol: bool,
                 counters: throttle.CounterStore | None, device_cookie: str | None) -> Attempt:
    if normalize_code(code) is None:
        return Attempt(Outcome.MALFORMED, staff=staff)
    device = None if counters is None or enrol else known_device(
        staff, device_cookie, counters=counters, secret_key=secret_key)
    verdict = _check(session, staff, device, now=now)
    if not verdict.allowed:
        return _refused(verdict)
    if enrol:
        if is_enrolled(staff) or staff.totp_secret_sealed is None:
            return Attempt(Outcome.WRONG, staff=staff)
        result = _match(session, staff, code, secret_key=secret_key, now=now)
    else:
        result = check_totp(session, staff, code, secret_key=secret_key, now=now)
    if result is TotpCheck.OK:
        if enrol:
            staff.totp_confirmed_at = now
            session.flush()
            audit.record(session, "staff:totp:enrolled", actor_type="staff",
                         actor_id=staff.id, ip=ip, now=now,
                         details={"staff_id": str(staff.id), "username": staff.username})
        complete_sign_in(session, staff, ip=ip, now=now, enrolled=enrol, device=device)
        return Attempt(Outcome.OK, staff=staff)
    if result is TotpCheck.NOT_ENABLED:
        return Attempt(Outcome.WRONG, staff=staff)
    _fail(session, staff, device, kind="totp", ip=ip, now=now)
    return Attempt(Outcome.REPLAYED if result is TotpCheck.REPLAYED else Outcome.WRONG,
                   staff=staff)


def verify_totp(session: Session, staff: StaffAccount, code: str | None, *, secret_key: str,
                ip: str | None, now: datetime, counters: throttle.CounterStore | None = None,
                device_cookie: str | None = None) -> Attempt:
    """The sign-in's second step: throttled (a known browser on its own counter, given
    ``counters`` and its staff device cookie), audited; on OK the sign-in is complete."""
    return _second_step(session, staff, code, secret_key=secret_key, ip=ip, now=now,
                        enrol=False, counters=counters, device_cookie=device_cookie)


def confirm_enrolment(session: Session, staff: StaffAccount, code: str | None, *,
                      secret_key: str, ip: str | None, now: datetime) -> Attempt:
    """The forced enrolment's confirmation: a right code from the pending key turns TOTP on
    (its step is burnt) and completes the sign-in. Always on the account's counter: no
    browser is known to an account without an authenticator."""
    return _second_step(session, staff, code, secret_key=secret_key, ip=ip, now=now,
                        enrol=True, counters=None, device_cookie=None)


def enable_with_secret(session: Session, staff: StaffAccount, secret: str, *,
                       secret_key: str, now: datetime) -> None:
    """A confirmed authenticator with a given key: for ``tnid demo`` only."""
    secret = secret.replace(" ", "").upper()
    pyotp.TOTP(secret).now()  # raises on a key that is not base32
    staff.totp_secret_sealed = _seal(staff, secret, secret_key)
    staff.totp_confirmed_at = now
    staff.totp_last_used_step = None
    session.flush()
