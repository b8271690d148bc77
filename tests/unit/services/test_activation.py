"""Tests of idp.services.activation: codes (alphabet, HMAC, lifetime, single use, attempts,
older codes ended), redeeming under the throttle, no account oracle, and the self-service SMS
path."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models import ActivationCode, AuditEvent, Citizen, CitizenStatus, OutboxMessage
from idp.services import activation, one_time_codes, recovery
from idp.services.activation import Redeem
from idp.services.identifiers import InvalidInput
from idp.web import deps

NOW = datetime(2025, 8, 15, 2, 0, 0)
KEY = "t" * 48
PASSWORD = "Nhà tôi ở xóm Chè 2025"


@pytest.fixture
def ctx(app: Flask):
    with app.test_request_context():
        yield app


def _counters():
    from idp.auth import guard
    return guard.counters()


def _waiting(make_citizen, **fields) -> Citizen:
    made = make_citizen(password=None, **fields)
    return db.session.get(Citizen, made.id)


def _redeem(cccd: str, code: str, now: datetime = NOW):
    return activation.redeem(db.session, cccd, code, secret_key=KEY, counters=_counters(),
                             ip="10.0.0.1", now=now)


def test_code_shape_and_storage(ctx, make_citizen):
    citizen = _waiting(make_citizen)
    code = activation.issue(db.session, citizen, "slip", staff=None, secret_key=KEY, now=NOW)
    assert len(code) == 11 and code[5] == "-"
    assert all(ch in activation.ALPHABET for ch in code.replace("-", ""))
    row = db.session.scalar(select(ActivationCode))
    assert row.expires_at == NOW + activation.LIFETIME and row.used_at is None
    assert code.replace("-", "") not in row.code_hash and len(row.code_hash) == 64
    assert activation.normalize_code(code.lower().replace("-", " ")) == code.replace("-", "")
    assert activation.normalize_code("ABC") is None
    assert activation.normalize_code("OOOOO-IIIII") is None  # look-alikes are not symbols


def test_redeem_and_activate(ctx, make_citizen):
    citizen = _waiting(make_citizen)
    code = activation.issue(db.session, citizen, "sms", staff=None, secret_key=KEY, now=NOW)
    redeemed = _redeem(citizen.cccd, code)
    assert redeemed.result is Redeem.OK and redeemed.citizen.id == citizen.id
    activation.activate(db.session, redeemed, PASSWORD, passwords=deps.passwords(), ip=None,
                        now=NOW)
    assert citizen.password_hash and citizen.phone_verified_at == NOW
    assert db.session.scalar(select(AuditEvent.action).where(
        AuditEvent.action == "account:activated"))
    # Spent: the same code is now just wrong (and the account is activated).
    assert _redeem(citizen.cccd, code).result is Redeem.WRONG


def test_slip_does_not_verify_the_phone(ctx, make_citizen):
    citizen = _waiting(make_citizen)
    code = activation.issue(db.session, citizen, "slip", staff=None, secret_key=KEY, now=NOW)
    activation.activate(db.session, _redeem(citizen.cccd, code), PASSWORD,
                        passwords=deps.passwords(), ip=None, now=NOW)
    assert citizen.phone_verified_at is None


def test_refused_password_keeps_the_code(ctx, make_citizen):
    citizen = _waiting(make_citizen)
    code = activation.issue(db.session, citizen, "slip", staff=None, secret_key=KEY, now=NOW)
    with pytest.raises(InvalidInput):
        activation.activate(db.session, _redeem(citizen.cccd, code), "12345678",
                            passwords=deps.passwords(), ip=None, now=NOW)
    assert citizen.password_hash is None
    assert db.session.scalar(select(ActivationCode.used_at)) is None


def test_expired_and_replaced_codes(ctx, make_citizen):
    citizen = _waiting(make_citizen)
    old = activation.issue(db.session, citizen, "slip", staff=None, secret_key=KEY, now=NOW)
    new = activation.issue(db.session, citizen, "slip", staff=None, secret_key=KEY, now=NOW)
    assert _redeem(citizen.cccd, old).result is Redeem.WRONG
    assert _redeem(citizen.cccd, new).result is Redeem.OK
    assert _redeem(citizen.cccd, new, NOW + timedelta(hours=73)).result is Redeem.WRONG


def test_attempts_are_capped_per_code(ctx, make_citizen):
    citizen = _waiting(make_citizen)
    code = activation.issue(db.session, citizen, "slip", staff=None, secret_key=KEY, now=NOW)
    t = NOW
    for _ in range(activation.MAX_ATTEMPTS):
        result = _redeem(citizen.cccd, "AAAAA-AAAAA", t)
        assert result.result in (Redeem.WRONG, Redeem.THROTTLED)
        t += timedelta(hours=1)  # past any throttle delay
    assert _redeem(citizen.cccd, code, t).result is Redeem.WRONG  # the code is dead


def test_throttled_after_free_attempts(ctx, make_citizen):
    citizen = _waiting(make_citizen)
    activation.issue(db.session, citizen, "slip", staff=None, secret_key=KEY, now=NOW)
    results = [_redeem(citizen.cccd, "AAAAA-AAAAA").result for _ in range(8)]
    assert Redeem.THROTTLED in results


def test_no_account_oracle(ctx, make_citizen):
    """Unknown CCCD, an activated account, a locked one: the same WRONG, then throttled
    like a real account."""
    active = make_citizen()
    locked = _waiting(make_citizen)
    locked.status = CitizenStatus.LOCKED
    for cccd in ("019085999999", active.cccd, locked.cccd):
        assert _redeem(cccd, "AAAAA-AAAAA").result is Redeem.WRONG
    results = [_redeem("019085999998", "AAAAA-AAAAA").result for _ in range(8)]
    assert Redeem.THROTTLED in results
    assert _redeem("not a cccd", "AAAAA-AAAAA").result is Redeem.WRONG


def test_no_code_for_activated_or_locked(ctx, make_citizen):
    active = db.session.get(Citizen, make_citizen().id)
    with pytest.raises(activation.NotActivatable):
        activation.issue(db.session, active, "slip", staff=None, secret_key=KEY, now=NOW)
    with pytest.raises(InvalidInput):
        activation.issue(db.session, _waiting(make_citizen), "fax", staff=None,
                         secret_key=KEY, now=NOW)


def test_self_service_sms(ctx, make_citizen):
    citizen = _waiting(make_citizen)
    flow = activation.start_sms(db.session, citizen.cccd, "0" + citizen.phone[3:],
                                secret_key=KEY, now=NOW, ip="10.0.0.1", domain=None,
                                counters=_counters())
    sms = db.session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "activation"))
    code = one_time_codes.normalize_code(sms.body.split(":")[1][:12]) or \
        next(w for w in sms.body.replace(".", " ").split() if w.isdigit() and len(w) == 6)
    result, _row = recovery.check_code(db.session, flow, activation.ACTIVATION, code,
                                       secret_key=KEY, now=NOW, ip="10.0.0.1",
                                       counters=_counters())
    assert result.value == "ok"
    verified = recovery.verified_flow(db.session, flow, activation.ACTIVATION, now=NOW)
    activation.activate_by_sms(db.session, verified, PASSWORD, passwords=deps.passwords(),
                               ip=None, now=NOW)
    assert citizen.password_hash and citizen.phone_verified_at == NOW
    with pytest.raises(activation.NotActivatable):
        activation.activate_by_sms(db.session, verified, PASSWORD,
                                   passwords=deps.passwords(), ip=None, now=NOW)


def test_self_service_decoys(ctx, make_citizen):
    citizen = _waiting(make_citizen)
    active = make_citizen()
    for cccd, phone in ((citizen.cccd, "0987654321"), (active.cccd, active.phone),
                        ("019085999999", "0987654321")):
        flow = activation.start_sms(db.session, cccd, phone, secret_key=KEY, now=NOW,
                                    ip="10.0.0.1", domain=None, counters=_counters())
        assert activation.flow_row(db.session, flow).citizen_id is None
    assert db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.purpose == "activation")) is None
