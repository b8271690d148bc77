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

**One check per delay window, even in parallel.** ``check`` does not only read the counter:
once delays apply (``FREE_ATTEMPTS`` failures) it *claims* the window before the caller looks
at the secret — a compare-and-set UPDATE that moves ``last_failure_at`` to now only if the
row is still what was judged (on PostgreSQL the row lock makes a concurrent claim wait and
then fail; SQLite has one writer), and for device and ghost counters an atomic ``incr`` of a
slot key named after the counter's state that lives as long as the delay. Of eight parallel
requests after a delay, exactly one gets its secret checked; the others are told to wait.
Failures are counted with an atomic ``failed_attempts + 1`` (``incr`` in the rate-limit
storage), so none is lost. A claim is not a failure: a caller that reports nothing (a right
QR number, a malformed code) only used up the window. The free attempts are not claimed:
parallel requests may share them, once, before the delays start.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import case, func, or_, select, true, update
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.attributes import set_committed_value

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
    def take_slot(self, key: str, counter: Counter, seconds: int) -> bool: ...
    def touch(self, key: str, counter: Counter) -> None: ...
    def clear(self, key: str) -> None: ...


class LimiterCounters:
    """A ``CounterStore`` on a ``limits`` storage (what flask-limiter uses: memory or Redis).

    Two integer keys per counter (failures, epoch of the last failure). A failure is an
    atomic ``incr`` (concurrent failures all count); the failures key expires ``FORGET_AFTER``
    after the first failure, the time key after the last (``touch`` renews both). The
    delay window is claimed with ``take_slot``: an ``incr`` of a key named after the
    counter's state, living as long as the delay — the first request wins it. A storage
    outage counts nothing rather than failing the sign-in (logged)."""

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
        if not failures:
            return Counter()
        if not last:  # between the two writes of ``fail``: judged as "just now" by callers
            return Counter(failures, None)
        return Counter(failures, datetime.fromtimestamp(last, UTC).replace(tzinfo=None))

    def fail(self, key: str, now: datetime) -> Counter:
        now = now.replace(microsecond=0)
        stamp = int(now.replace(tzinfo=UTC).timestamp())
        try:
            failures = self._storage.incr(self._prefix + key + ":n", self._ttl)
            self._storage.clear(self._prefix + key + ":t")
            self._storage.incr(self._prefix + key + ":t", self._ttl, amount=stamp)
        except Exception:
            log.warning("throttle counter storage unavailable", exc_info=True)
            return Counter(1, now)
        return Counter(int(failures), now)

    def take_slot(self, key: str, counter: Counter, seconds: int) -> bool:
        """Claim the delay window that follows ``counter`` (True for the first caller)."""
        last = counter.last_failure_at
        stamp = int(last.replace(tzinfo=UTC).timestamp()) if last is not None else 0
        slot = f"{self._prefix}{key}:slot:{counter.failures}:{stamp}"
        try:
            return int(self._storage.incr(slot, max(1, seconds))) == 1
        except Exception:
            log.warning("throttle counter storage unavailable", exc_info=True)
            return True

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

    def hit(self, key: str, window: timedelta) -> int:
        """Count one event under ``key`` (atomic) and return the count in the current window
        (``window`` from the first event). 0 while the storage is down: other limits hold."""
        try:
            return int(self._storage.incr(self._prefix + "hits:" + key,
                                          int(window.total_seconds())))
        except Exception:
            log.warning("throttle counter storage unavailable", exc_info=True)
            return 0

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


def check_device(device: Device, *, now: datetime) -> Verdict | None:
    """A known device's own verdict, its delay window claimed as ``check`` does; None once the
    device has lost its exemption (``UNLOCK_AFTER`` failures): the account's counter judges.
    ``check`` uses it for citizens; staff accounts (their counter on the staff row,
    ``services.staff_accounts``) call it directly."""
    counter = device.store.get(device.key)
    if counter.failures >= UNLOCK_AFTER:
        return None
    return _claim_store(device.store, device.key, counter, now)


# --- the account ---------------------------------------------------------------------------


def check(citizen: Citizen, *, now: datetime, device: Device | None = None,
          honour_unlock: bool = True) -> Verdict:
    """May a secret of this account be checked now? Ask right before checking it: an allowed
    answer under delays *claims* the window (see the module docstring), so ask once per
    secret checked, and flush nothing of the citizen's counter yourself.

    ``device``: the browser is a known device of this account (exempt from the account's
    counter while its own stays under ``UNLOCK_AFTER``). ``honour_unlock=False`` for the
    recovery flow, where the citizen already proved the phone and the lock is lifted at the
    end: the delays still apply."""
    if device is not None:
        verdict = check_device(device, now=now)
        if verdict is not None:
            return verdict
    session = object_session(citizen)
    if session is None:  # a detached citizen (tests, tools): judged only
        return _judge(citizen, now, honour_unlock=honour_unlock)
    return _claim_account(session, citizen, now=now, honour_unlock=honour_unlock)


def _judge(citizen: Citizen, now: datetime, *, honour_unlock: bool = True,
           device: Device | None = None) -> Verdict:
    """``check`` without claiming anything: the answer for the next attempt."""
    if device is not None:
        counter = device.store.get(device.key)
        if counter.failures < UNLOCK_AFTER:
            return _verdict(counter, now, locked=False)
    locked = bool(citizen.unlock_required) and honour_unlock
    return _verdict(_account_counter(citizen, now), now, locked=locked)


_CITIZENS = Citizen.__table__.c


def _claim_account(session: Session, citizen: Citizen, *, now: datetime,
                   honour_unlock: bool) -> Verdict:
    """Compare-and-set ``last_failure_at := now`` on the row as judged. PostgreSQL: a
    concurrent claim waits for the winner's row lock, then finds the row changed (READ
    COMMITTED re-reads it) and loses; SQLite: one writer at a time. The loser re-reads and
    is judged again (normally: wait)."""
    session.flush()  # the UPDATE below must see the citizen as this session has it
    for _ in range(3):
        verdict = _judge(citizen, now, honour_unlock=honour_unlock)
        counter = _account_counter(citizen, now)
        if not verdict.allowed or counter.failures < FREE_ATTEMPTS:
            return verdict  # refused, or a free attempt: nothing to claim
        won = session.execute(
            update(Citizen.__table__)
            .where(_CITIZENS.id == citizen.id,
                   _CITIZENS.failed_attempts == citizen.failed_attempts,
                   _CITIZENS.last_failure_at == citizen.last_failure_at,
                   _CITIZENS.unlock_required.is_(False) if honour_unlock else true())
            .values(last_failure_at=now)).rowcount
        if won == 1:
            set_committed_value(citizen, "last_failure_at", now)
            return verdict
        _reload(session, citizen)
    return Verdict(False, retry_after=1)


def _reload(session: Session, citizen: Citizen) -> None:
    row = session.execute(select(_CITIZENS.failed_attempts, _CITIZENS.last_failure_at,
                                 _CITIZENS.unlock_required)
                          .where(_CITIZENS.id == citizen.id)).one()
    for name, value in zip(("failed_attempts", "last_failure_at", "unlock_required"), row,
                           strict=True):
        set_committed_value(citizen, name, value)


def _claim_store(store: CounterStore, key: str, counter: Counter, now: datetime) -> Verdict:
    """The same claim on a device or ghost counter: the first ``take_slot`` wins."""
    if counter.failures and counter.last_failure_at is None:
        return Verdict(False, retry_after=1)  # another request is writing this counter
    verdict = _verdict(counter, now, locked=False)
    if not verdict.allowed or counter.failures < FREE_ATTEMPTS:
        return verdict
    delay = int(delay_after(counter.failures).total_seconds())
    if store.take_slot(key, counter, delay):
        return verdict
    return Verdict(False, retry_after=max(1, delay))


def record_failure(session: Session, citizen: Citizen, *, kind: str, ip: str | None,
                   now: datetime, device: Device | None = None) -> Verdict:
    """Count a wrong secret (audited, atomic); returns the verdict for the next attempt. The
    moment the account reaches ``UNLOCK_AFTER`` the citizen is told by SMS (once: only one
    failure can be the hundredth)."""
    if device is not None and device.store.get(device.key).failures < UNLOCK_AFTER:
        counter = device.store.fail(device.key, now)
        audit.record(session, f"auth:{kind}:failure", actor_type="anonymous",
                     citizen_id=citizen.id, outcome="failure", ip=ip,
                     details={"known_device": True, "device_failures": counter.failures},
                     now=now)
        return _judge(citizen, now, device=device)
    session.flush()  # the increment below starts from what this session holds
    forgotten = or_(_CITIZENS.last_failure_at.is_(None),
                    _CITIZENS.last_failure_at <= now - FORGET_AFTER)
    failures = case((forgotten, 1), else_=func.coalesce(_CITIZENS.failed_attempts, 0) + 1)
    failed, locked = session.execute(
        update(Citizen.__table__).where(_CITIZENS.id == citizen.id)
        .values(failed_attempts=failures, last_failure_at=now,
                unlock_required=case((failures >= UNLOCK_AFTER, True),
                                     else_=_CITIZENS.unlock_required))
        .returning(_CITIZENS.failed_attempts, _CITIZENS.unlock_required)).one()
    set_committed_value(citizen, "failed_attempts", failed)
    set_committed_value(citizen, "last_failure_at", now)
    set_committed_value(citizen, "unlock_required", bool(locked))
    audit.record(session, f"auth:{kind}:failure", actor_type="anonymous", citizen_id=citizen.id,
                 outcome="failure", ip=ip,
                 details={"consecutive_failures": citizen.failed_attempts,
                          "unlock_required": citizen.unlock_required}, now=now)
    if failed == UNLOCK_AFTER:
        _lockout_notice(session, citizen, ip=ip, now=now)
    return _judge(citizen, now)


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
    """``check`` for an identifier that has no account: the same answers a real one gives,
    the delay window claimed the same way (one check per window, even in parallel)."""
    counter = store.get(key)
    if counter.failures >= UNLOCK_AFTER:
        store.touch(key, counter)  # stays "locked" as long as someone keeps trying
        return Verdict(False, unlock_required=True)
    return _claim_store(store, key, counter, now)


def record_ghost_failure(store: CounterStore, key: str, *, now: datetime) -> Verdict:
    counter = store.fail(key, now)
    if counter.failures >= UNLOCK_AFTER:
        return Verdict(False, unlock_required=True)
    return _verdict(counter, now, locked=False)
