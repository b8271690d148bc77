"""Brute-force defence for every guessable secret (password, TOTP, SMS code, recovery code,
QR number), per account: growing delays instead of a lockout an attacker could trigger at will
(NIST SP 800-63B §5.2.2), and after ``UNLOCK_AFTER`` consecutive failures the account needs an
SMS-code unlock (``services.recovery``; the citizen is told by SMS when it happens). Per-IP
limits are flask-limiter's job (the views' ``@limiter.limit``).

Three kinds of counter, one rule (``delay_after``):

- **the account's**, on the citizen row (``failed_attempts``, ``last_failure_at``,
  ``unlock_required``), so every node sees it;
- **a known device's** (OWASP "device cookies"): a browser that already signed in to this
  account (``services.devices``) is throttled on its own counter, so a stranger's guesses never
  make the citizen wait at home. Its failures do not touch the account's counter and its
  success does not reset it (or an attacker would get fresh attempts whenever the citizen signs
  in). After ``UNLOCK_AFTER`` failures the device loses the exemption;
- **a ghost** for identifiers without an account: the same delays and the same "locked" answer
  as a real account, so "wait N seconds" never tells whether an account exists.

Device and ghost counters live in the rate-limit storage (Redis with TNID_REDIS_URL, process
memory otherwise), keyed by an HMAC, through ``LimiterCounters``. A counter is forgotten
``FORGET_AFTER`` without failures — the account's too, so both age alike; an account already
needing an unlock stays so until unlocked (a ghost is kept alive by every refused attempt).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from idp.models import Citizen
from idp.services import audit

log = logging.getLogger(__name__)

FREE_ATTEMPTS = 5          # typing mistakes cost nothing
MAX_DELAY = timedelta(minutes=15)
UNLOCK_AFTER = 100         # NIST SP 800-63B §5.2.2: at most 100 consecutive failures
FORGET_AFTER = timedelta(days=30)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0          # seconds until the next attempt is accepted
    unlock_required: bool = False


@dataclass(frozen=True)
class Counter:
    failures: int = 0
    last_failure_at: datetime | None = None


def delay_after(failures: int) -> timedelta:
    """1 s after the fifth failure, doubling each time, at most ``MAX_DELAY``."""
    if failures < FREE_ATTEMPTS:
        return timedelta(0)
    return min(timedelta(seconds=2 ** min(failures - FREE_ATTEMPTS, 20)), MAX_DELAY)


def _verdict(counter: Counter, now: datetime, *, locked: bool) -> Verdict:
    if locked:
        return Verdict(False, unlock_required=True)
    if counter.last_failure_at is None:
        return Verdict(True)
    ready_at = counter.last_failure_at + delay_after(counter.failures)
    if now >= ready_at:
        return Verdict(True)
    return Verdict(False, retry_after=max(1, int((ready_at - now).total_seconds() + 0.999)))


def _account_counter(citizen: Citizen, now: datetime) -> Counter:
    last = citizen.last_failure_at
    if last is None or now - last >= FORGET_AFTER:
        return Counter()
    return Counter(citizen.failed_attempts or 0, last)


# --- counters outside the database (known devices, identifiers without an account) ----------


class CounterStore(Protocol):
    def get(self, key: str) -> Counter: ...
    def fail(self, key: str, now: datetime) -> Counter: ...
    def touch(self, key: str, counter: Counter) -> None: ...
    def clear(self, key: str) -> None: ...


class LimiterCounters:
    """A ``CounterStore`` on a ``limits`` storage (what flask-limiter uses: memory or Redis).

    Two integer keys per counter (failures, epoch of the last failure), rewritten on each
    failure so they expire ``FORGET_AFTER`` after the *last* one. Not atomic: two concurrent
    failures may count once — the per-IP limit bounds what that is worth. A storage outage
    counts nothing rather than failing the sign-in (logged)."""

    def __init__(self, storage: Any, *, prefix: str = "tnid:throttle:") -> None:
        self._storage = storage
        self._prefix = prefix
        self._ttl = int(FORGET_AFTER.total_seconds())

    def get(self, key: str) -> Counter:
        try:
            failures = self._storage.get(self._prefix + key + ":n")
            last = self._storage.get(self._prefix + key + ":t")
        except Exception:  # the storage's own exceptions differ per backend
            log.warning("throttle counter storage unavailable", exc_info=True)
            return Counter()
        if not failures or not last:
            return Counter()
        return Counter(failures, datetime.fromtimestamp(last, UTC).replace(tzinfo=None))

    def fail(self, key: str, now: datetime) -> Counter:
        counter = Counter(self.get(key).failures + 1, now.replace(microsecond=0))
        self.touch(key, counter)
        return counter

    def touch(self, key: str, counter: Counter) -> None:
        """Write ``counter`` again: its keys live ``FORGET_AFTER`` from now."""
        if counter.last_failure_at is None:
            return
        stamp = int(counter.last_failure_at.replace(tzinfo=UTC).timestamp())
        try:
            for suffix, value in ((":n", counter.failures), (":t", stamp)):
                self._storage.clear(self._prefix + key + suffix)
                self._storage.incr(self._prefix + key + suffix, self._ttl, amount=value)
        except Exception:
            log.warning("throttle counter storage unavailable", exc_info=True)

    def clear(self, key: str) -> None:
        try:
            self._storage.clear(self._prefix + key + ":n")
            self._storage.clear(self._prefix + key + ":t")
        except Exception:
            log.warning("throttle counter storage unavailable", exc_info=True)


def counter_key(secret_key: str, kind: str, value: str) -> str:
    """An opaque key: the storage never sees identifiers or device tokens."""
    key = hashlib.sha256(b"tnid:throttle:" + secret_key.encode()).digest()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:40]


@dataclass(frozen=True)
class Device:
    """A known device's counter (the browser holds a device cookie this account knows)."""

    store: CounterStore
    key: str


# --- the account ---------------------------------------------------------------------------


def check(citizen: Citizen, *, now: datetime, device: Device | None = None,
          honour_unlock: bool = True) -> Verdict:
    """May a secret of this account be checked now? Ask before checking it.

    ``device``: the browser is a known device of this account (exempt from the account's
    counter while its own stays under ``UNLOCK_AFTER``). ``honour_unlock=False`` for the
    recovery flow, where the citizen already proved the phone and the lock is lifted at the
    end: the delays still apply."""
    if device is not None:
        counter = device.store.get(device.key)
        if counter.failures < UNLOCK_AFTER:
            return _verdict(counter, now, locked=False)
    locked = bool(citizen.unlock_required) and honour_unlock
    return _verdict(_account_counter(citizen, now), now, locked=locked)


def record_failure(session: Session, citizen: Citizen, *, kind: str, ip: str | None,
                   now: datetime, device: Device | None = None) -> Verdict:
    """Count a wrong secret (audited); returns the verdict for the next attempt. The moment
    the account reaches ``UNLOCK_AFTER`` the citizen is told by SMS (once)."""
    if device is not None and device.store.get(device.key).failures < UNLOCK_AFTER:
        counter = device.store.fail(device.key, now)
        audit.record(session, f"auth:{kind}:failure", actor_type="anonymous",
                     citizen_id=citizen.id, outcome="failure", ip=ip,
                     details={"known_device": True, "device_failures": counter.failures},
                     now=now)
        return check(citizen, now=now, device=device)
    counter = _account_counter(citizen, now)
    citizen.failed_attempts = counter.failures + 1
    citizen.last_failure_at = now
    newly_locked = citizen.failed_attempts >= UNLOCK_AFTER and not citizen.unlock_required
    if newly_locked:
        citizen.unlock_required = True
    audit.record(session, f"auth:{kind}:failure", actor_type="anonymous", citizen_id=citizen.id,
                 outcome="failure", ip=ip,
                 details={"consecutive_failures": citizen.failed_attempts,
                          "unlock_required": citizen.unlock_required}, now=now)
    if newly_locked:
        _lockout_notice(session, citizen, ip=ip, now=now)
    return check(citizen, now=now)


def record_success(citizen: Citizen, *, device: Device | None = None) -> None:
    """A correct secret: the counter it was judged by starts again. A known device's success
    leaves the account's counter as it is (see the module docstring)."""
    if device is not None and device.store.get(device.key).failures < UNLOCK_AFTER:
        device.store.clear(device.key)
        return
    if citizen.failed_attempts or citizen.last_failure_at is not None:  # no needless UPDATE
        citizen.failed_attempts = 0
        citizen.last_failure_at = None


def clear(citizen: Citizen) -> None:
    """After an SMS-code unlock or a password reset: no delay, no lock."""
    citizen.failed_attempts = 0
    citizen.last_failure_at = None
    citizen.unlock_required = False


def _lockout_notice(session: Session, citizen: Citizen, *, ip: str | None,
                    now: datetime) -> None:
    from idp import notify  # services -> notify; imported here to keep import order simple
    from idp.services.devices import local_time

    audit.record(session, "auth:lockout", actor_type="system", citizen_id=citizen.id,
                 outcome="success", ip=ip, details={"after_failures": citizen.failed_attempts},
                 now=now)
    if citizen.phone:
        notify.send_sms(
            session, phone=citizen.phone, purpose="lockout", citizen_id=citizen.id,
            body=(f"ThaiNguyen ID: tài khoản của bạn đã tạm khóa lúc {local_time(now)} vì "
                  "nhập sai quá nhiều lần. Để mở khóa, vào trang Đăng nhập, chọn \"Mở khóa "
                  "tài khoản\" và nhập mã xác thực gửi qua SMS. Nếu không phải bạn nhập sai, "
                  "hãy đổi mật khẩu sau khi mở khóa."))


# --- identifiers without an account ----------------------------------------------------------


def check_ghost(store: CounterStore, key: str, *, now: datetime) -> Verdict:
    """``check`` for an identifier that has no account: the same answers a real one gives."""
    counter = store.get(key)
    if counter.failures >= UNLOCK_AFTER:
        store.touch(key, counter)  # stays "locked" as long as someone keeps trying
        return Verdict(False, unlock_required=True)
    return _verdict(counter, now, locked=False)


def record_ghost_failure(store: CounterStore, key: str, *, now: datetime) -> Verdict:
    store.fail(key, now)
    return check_ghost(store, key, now=now)
