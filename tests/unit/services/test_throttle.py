"""Tests of idp.services.throttle: growing delays, the cap, the unlock after 100, success
resets, the known-device exemption and the ghost counters of identifiers without an account.
Time is always passed in (``now=``): nothing sleeps."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Flask
from limits.storage import MemoryStorage
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, Citizen, OutboxMessage
from idp.services import throttle
from idp.services.throttle import Counter, LimiterCounters

T0 = datetime(2026, 11, 22, 7, 5, 0)


@pytest.mark.parametrize(("failures", "seconds"), [
    (0, 0), (1, 0), (4, 0), (5, 1), (6, 2), (7, 4), (10, 32), (14, 512), (15, 900), (99, 900),
    (10_000, 900),
])
def test_delays_grow_and_are_capped(failures: int, seconds: int):
    assert throttle.delay_after(failures) == timedelta(seconds=seconds)


def citizen(failures: int = 0, last: datetime | None = None, locked: bool = False) -> Citizen:
    return Citizen(failed_attempts=failures, last_failure_at=last, unlock_required=locked)


def test_check_without_failures_allows():
    assert throttle.check(citizen(), now=T0) == throttle.Verdict(True)


def test_check_refuses_until_the_delay_has_passed():
    c = citizen(7, T0)  # 4 s
    assert throttle.check(c, now=T0) == throttle.Verdict(False, retry_after=4)
    assert throttle.check(c, now=T0 + timedelta(seconds=3, milliseconds=1)).retry_after == 1
    assert throttle.check(c, now=T0 + timedelta(seconds=4)).allowed


def test_lock_refuses_whatever_the_time():
    c = citizen(100, T0 - timedelta(days=365), locked=True)
    assert throttle.check(c, now=T0) == throttle.Verdict(False, unlock_required=True)


def test_recovery_ignores_the_lock_but_not_the_delay():
    c = citizen(100, T0, locked=True)
    assert throttle.check(c, now=T0, honour_unlock=False).retry_after == 900
    assert throttle.check(c, now=T0 + timedelta(minutes=15), honour_unlock=False).allowed


def test_old_failures_are_forgotten_but_not_the_lock():
    old = T0 - throttle.FORGET_AFTER
    assert throttle.check(citizen(50, old), now=T0).allowed
    assert throttle.check(citizen(50, old, locked=True), now=T0).unlock_required


@pytest.fixture
def stored(app: Flask, make_citizen):  # noqa: ANN001, ANN201
    made = make_citizen()
    with app.app_context():
        yield db.session.get(Citizen, made.id)


def test_record_failure_counts_and_audits(stored: Citizen):
    for n in range(1, 7):
        verdict = throttle.record_failure(db.session, stored, kind="password", ip="10.0.0.1",
                                          now=T0)
        assert stored.failed_attempts == n and stored.last_failure_at == T0
    assert verdict == throttle.Verdict(False, retry_after=2)
    db.session.commit()
    entries = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "auth:password:failure")).all()
    assert len(entries) == 6
    assert entries[-1].details == {"consecutive_failures": 6, "unlock_required": False}
    assert entries[-1].citizen_id == stored.id and entries[-1].ip == "10.0.0.1"


def test_hundredth_failure_locks_and_tells_the_citizen_once(stored: Citizen):
    stored.failed_attempts, stored.last_failure_at = 98, T0
    assert not throttle.record_failure(db.session, stored, kind="totp", ip=None,
                                       now=T0).unlock_required
    verdict = throttle.record_failure(db.session, stored, kind="password", ip=None, now=T0)
    assert verdict == throttle.Verdict(False, unlock_required=True)
    assert stored.unlock_required and stored.failed_attempts == 100
    throttle.record_failure(db.session, stored, kind="sms", ip=None, now=T0)  # e.g. another
    db.session.commit()
    texts = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.purpose == "lockout")).all()
    assert len(texts) == 1
    assert texts[0].recipient == stored.phone and "tạm khóa" in texts[0].body
    assert "14:05 22/11/2026" in texts[0].body  # Vietnam time
    assert db.session.scalar(select(AuditEvent.id).where(
        AuditEvent.action == "auth:lockout")) is not None


def test_success_resets_and_clear_unlocks(stored: Citizen):
    stored.failed_attempts, stored.last_failure_at = 12, T0
    throttle.record_success(stored)
    assert stored.failed_attempts == 0 and stored.last_failure_at is None
    stored.failed_attempts, stored.unlock_required = 100, True
    throttle.clear(stored)
    assert throttle.check(stored, now=T0).allowed


# --- known devices ---------------------------------------------------------------------------


def device() -> throttle.Device:
    return throttle.Device(LimiterCounters(MemoryStorage()), "device-key")


def test_known_device_is_not_held_up_by_a_strangers_failures():
    attacked = citizen(60, T0)
    assert not throttle.check(attacked, now=T0).allowed
    assert throttle.check(attacked, now=T0, device=device()).allowed


def test_known_device_ignores_the_account_lock():
    assert throttle.check(citizen(100, T0, locked=True), now=T0, device=device()).allowed


def test_known_device_failures_use_its_own_counter(stored: Citizen):
    own = device()
    for _ in range(6):
        verdict = throttle.record_failure(db.session, stored, kind="password", ip=None, now=T0,
                                          device=own)
    assert verdict == throttle.Verdict(False, retry_after=2)
    assert stored.failed_attempts == 0  # the account's counter is untouched
    assert throttle.check(stored, now=T0).allowed


def test_known_device_success_leaves_the_account_counter(stored: Citizen):
    own = device()
    own.store.fail(own.key, T0)
    stored.failed_attempts, stored.last_failure_at = 40, T0
    throttle.record_success(stored, device=own)
    assert own.store.get(own.key) == Counter()
    assert stored.failed_attempts == 40  # else every sign-in of the citizen helps the attacker


def test_device_with_100_failures_loses_the_exemption():
    own = device()
    own.store.touch(own.key, Counter(throttle.UNLOCK_AFTER, T0))
    assert throttle.check(citizen(100, T0, locked=True), now=T0,
                          device=own).unlock_required


# --- identifiers without an account (ghosts) -----------------------------------------------


def test_ghost_answers_exactly_like_an_account(stored: Citizen):
    store = LimiterCounters(MemoryStorage())
    for step in range(throttle.UNLOCK_AFTER + 2):
        now = T0 + timedelta(hours=step)  # always past the delay
        real = throttle.check(stored, now=now)
        ghost = throttle.check_ghost(store, "ghost", now=now)
        assert real == ghost, step
        if not real.allowed:
            break
        assert (throttle.record_failure(db.session, stored, kind="password", ip=None, now=now)
                == throttle.record_ghost_failure(store, "ghost", now=now)), step
    assert real == ghost == throttle.Verdict(False, unlock_required=True)


def test_ghost_delays_with_explicit_time():
    store = LimiterCounters(MemoryStorage())
    for _ in range(5):
        throttle.record_ghost_failure(store, "g", now=T0)
    assert throttle.check_ghost(store, "g", now=T0) == throttle.Verdict(False, retry_after=1)
    assert throttle.check_ghost(store, "g", now=T0 + timedelta(seconds=1)).allowed
    store.clear("g")
    assert throttle.check_ghost(store, "g", now=T0).allowed


class BrokenStorage:
    def get(self, key: str) -> int:
        raise ConnectionError("redis down")

    incr = clear = get


def test_storage_outage_does_not_fail_the_sign_in():
    store = LimiterCounters(BrokenStorage())
    assert store.get("k") == Counter()
    assert store.fail("k", T0).failures == 1
    store.clear("k")


def test_counter_keys_are_opaque_and_distinct():
    key = throttle.counter_key("s" * 48, "signin", "cccd:019085000001")
    assert "019085000001" not in key and len(key) == 40
    assert key == throttle.counter_key("s" * 48, "signin", "cccd:019085000001")
    assert key != throttle.counter_key("s" * 48, "unlock", "cccd:019085000001")
    assert key != throttle.counter_key("x" * 48, "signin", "cccd:019085000001")


# --- parallel requests: one check per delay window -----------------------------------------


def test_parallel_checks_after_a_delay_claim_one_window(app: Flask, make_citizen):  # noqa: ANN001
    """Eight requests at once, real database, past a delay: exactly one may check its secret;
    the failure it reports is counted once; the others are told to wait."""
    from tests.support.parallel import run_parallel

    made = make_citizen()
    with app.app_context():
        row = db.session.get(Citizen, made.id)
        row.failed_attempts, row.last_failure_at = 20, T0 - timedelta(hours=1)
        db.session.commit()

    def attempt(_: int) -> bool:
        citizen = db.session.get(Citizen, made.id)
        verdict = throttle.check(citizen, now=T0)
        if verdict.allowed:  # the "secret" is wrong
            throttle.record_failure(db.session, citizen, kind="password", ip=None, now=T0)
        db.session.commit()
        return verdict.allowed

    assert sorted(run_parallel(app, attempt, 8)) == [False] * 7 + [True]
    with app.app_context():
        row = db.session.get(Citizen, made.id)
        assert (row.failed_attempts, row.last_failure_at) == (21, T0)


def test_parallel_failures_are_all_counted(app: Flask, make_citizen):  # noqa: ANN001
    """In the free attempts nothing is claimed, but no failure is lost either."""
    from tests.support.parallel import run_parallel

    made = make_citizen()

    def fail(_: int) -> None:
        citizen = db.session.get(Citizen, made.id)
        throttle.record_failure(db.session, citizen, kind="password", ip=None, now=T0)
        db.session.commit()

    run_parallel(app, fail, 8)
    with app.app_context():
        assert db.session.get(Citizen, made.id).failed_attempts == 8


def test_a_claim_is_not_a_failure(stored: Citizen):
    """A caller that reports nothing (a right QR number, a malformed code) used the window,
    not an attempt."""
    stored.failed_attempts, stored.last_failure_at = 7, T0
    later = T0 + timedelta(seconds=4)
    assert throttle.check(stored, now=later).allowed
    assert stored.failed_attempts == 7 and stored.last_failure_at == later
    assert throttle.check(stored, now=later) == throttle.Verdict(False, retry_after=4)


def test_parallel_ghost_and_device_checks_claim_one_window():
    from concurrent.futures import ThreadPoolExecutor

    store = LimiterCounters(MemoryStorage())
    store.touch("g", Counter(20, T0 - timedelta(hours=1)))
    with ThreadPoolExecutor(8) as pool:
        verdicts = list(pool.map(lambda _: throttle.check_ghost(store, "g", now=T0), range(8)))
    assert sum(v.allowed for v in verdicts) == 1
    assert all(v.retry_after == 900 for v in verdicts if not v.allowed)

    own = device()
    own.store.touch(own.key, Counter(6, T0 - timedelta(hours=1)))
    with ThreadPoolExecutor(8) as pool:
        verdicts = list(pool.map(
            lambda _: throttle.check(citizen(), now=T0, device=own), range(8)))
    assert sum(v.allowed for v in verdicts) == 1


def test_parallel_ghost_failures_are_all_counted():
    from concurrent.futures import ThreadPoolExecutor

    store = LimiterCounters(MemoryStorage())
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: throttle.record_ghost_failure(store, "g", now=T0), range(8)))
    assert store.get("g").failures == 8
