"""Tests of idp.services.second_factors: the throttle around every second-factor and password
check, and the amr a step-up produces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import AuditEvent, Citizen, SsoSession
from idp.services import recovery_codes, sso_sessions, totp
from idp.services.clock import epoch
from idp.services.second_factors import (
    Method,
    Proof,
    Reason,
    amr_after,
    can_step_up,
    check_code,
    check_password,
    fresh_second_factor,
    methods_for_changes,
    step_up,
)
from idp.services.sso_sessions import ACR_ONE_FACTOR, ACR_TWO_FACTORS
from idp.web import deps
from tests.conftest import TEST_PASSWORD

KEY = "k" * 48
T0 = datetime(2025, 8, 15, 1, 0, 0)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.mark.parametrize("amr,method,expected", [
    (["pwd"], Method.TOTP, ["pwd", "otp", "mfa"]),
    (["pwd"], Method.SMS, ["pwd", "sms", "mfa"]),
    (["pwd"], Method.RECOVERY, ["pwd", "mfa"]),
    (["pwd", "qr"], Method.TOTP, ["pwd", "qr", "otp", "mfa"]),
    (["pwd", "otp", "mfa"], Method.TOTP, ["pwd", "otp", "mfa"]),
])
def test_amr_after(amr, method, expected):
    assert amr_after(amr, method) == expected


@pytest.mark.parametrize("amr", [["qr"], ["qr", "mfa"], []])
def test_no_step_up_without_the_password(amr):
    """acr 2 = password + second factor: a QR sign-in plus one code is not it."""
    assert not can_step_up(amr)
    with pytest.raises(ValueError):
        amr_after(amr, Method.SMS)


def test_methods_for_changes():
    assert methods_for_changes(True) == (Method.TOTP, Method.RECOVERY)
    assert methods_for_changes(False) == (Method.SMS,)


def _sso(acr: str = ACR_TWO_FACTORS, amr: tuple[str, ...] = ("pwd", "sms", "mfa")):
    return SsoSession(sid="s-1", acr=acr, amr=list(amr))


@pytest.mark.parametrize("sso,proof,has_totp,fresh", [
    (_sso(), Proof("s-1", 0, Method.SMS), False, True),
    (_sso(), Proof("s-1", -600, Method.SMS), False, True),          # exactly 10 minutes
    (_sso(), Proof("s-1", -601, Method.SMS), False, False),         # older
    (_sso(), Proof("s-2", 0, Method.SMS), False, False),            # another session's
    (_sso(), Proof("s-1", 0, Method.SMS), True, False),             # SMS cannot change TOTP
    (_sso(), Proof("s-1", 0, Method.TOTP), True, True),
    (_sso(), Proof("s-1", 0, Method.RECOVERY), True, True),
    (_sso(), None, False, False),                                   # no proof at all
    (_sso(acr=ACR_ONE_FACTOR), Proof("s-1", 0, Method.SMS), False, False),  # acr 1 now
    (_sso(amr=("qr", "mfa")), Proof("s-1", 0, Method.TOTP), True, False),  # no password
])
def test_fresh_second_factor(sso, proof, has_totp, fresh):
    now = T0
    if proof is not None:
        proof = Proof(proof.sid, epoch(now) + proof.at, proof.method)
    assert fresh_second_factor(sso, proof, has_totp=has_totp, now=now) is fresh


def test_step_up_keeps_the_sid_and_refuses_a_qr_session(app: Flask, make_citizen):
    with app.app_context():
        row = db.session.get(Citizen, make_citizen().id)
        _, qr = sso_sessions.start_session(db.session, row, amr=["qr"], acr=ACR_ONE_FACTOR,
                                           ip="", user_agent="", now=T0)
        with pytest.raises(ValueError):
            step_up(db.session, qr, Method.SMS, ip=None, user_agent="", client_id=None, now=T0)
        assert qr.acr == ACR_ONE_FACTOR
        _, pwd = sso_sessions.start_session(db.session, row, amr=["pwd"], acr=ACR_ONE_FACTOR,
                                            ip="", user_agent="", now=T0)
        sid = pwd.sid
        cookie, after = step_up(db.session, pwd, Method.RECOVERY, ip=None, user_agent="",
                                client_id=None, now=T0)
        assert cookie and after.sid == sid and after.acr == ACR_TWO_FACTORS
        assert after.amr == ["pwd", "mfa"]
        actions = set(db.session.scalars(select(AuditEvent.action)))
        assert {"auth:second_factor:success", "auth:recovery_code:used"} <= actions


@pytest.fixture
def citizen(app: Flask, make_citizen):
    with app.app_context():
        row = db.session.get(Citizen, make_citizen().id)
        totp.enable_with_secret(db.session, row, SECRET, secret_key=KEY, now=T0)
        db.session.commit()
        yield row


def code_at(when: datetime) -> str:
    return pyotp.TOTP(SECRET).at(when.replace(tzinfo=UTC))


def failures() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action.like("auth:%:failure")))


def test_right_code_resets_the_count(citizen):
    now = T0 + timedelta(minutes=1)
    assert check_code(db.session, citizen, Method.TOTP, "000000" if code_at(now) != "000000"
                      else "111111", secret_key=KEY, ip="198.51.100.1",
                      now=now).reason is Reason.WRONG
    assert citizen.failed_attempts == 1 and failures() == 1
    assert check_code(db.session, citizen, Method.TOTP, code_at(now), secret_key=KEY,
                      ip=None, now=now).ok
    assert citizen.failed_attempts == 0


def test_malformed_is_not_counted(citizen):
    outcome = check_code(db.session, citizen, Method.TOTP, "12", secret_key=KEY, ip=None, now=T0)
    assert outcome.reason is Reason.MALFORMED and citizen.failed_attempts == 0


def test_throttled_before_the_code_is_even_looked_at(citizen):
    now = T0 + timedelta(minutes=1)
    for _ in range(5):
        check_code(db.session, citizen, Method.RECOVERY, "ZZZZ-ZZZZ-ZZ", secret_key=KEY, ip=None,
                   now=now)
    outcome = check_code(db.session, citizen, Method.TOTP, code_at(now), secret_key=KEY,
                         ip=None, now=now)
    assert outcome.reason is Reason.THROTTLED and outcome.retry_after >= 1
    # The code was not spent: it still works once the delay is over.
    later = now + timedelta(seconds=outcome.retry_after)
    assert check_code(db.session, citizen, Method.TOTP, code_at(now), secret_key=KEY, ip=None,
                      now=later).ok


def test_locked_account(citizen):
    citizen.unlock_required = True
    assert check_code(db.session, citizen, Method.TOTP, code_at(T0), secret_key=KEY, ip=None,
                      now=T0).reason is Reason.LOCKED


def test_recovery_code_reasons(citizen):
    codes = recovery_codes.generate(db.session, citizen, now=T0)
    assert check_code(db.session, citizen, Method.RECOVERY, codes[0], secret_key=KEY, ip=None,
                      now=T0).ok
    assert check_code(db.session, citizen, Method.RECOVERY, codes[0], secret_key=KEY, ip=None,
                      now=T0).reason is Reason.USED


def test_sms_without_a_flow_is_unknown(citizen):
    assert check_code(db.session, citizen, Method.SMS, "123456", secret_key=KEY, ip=None,
                      now=T0, flow_token="nope").reason is Reason.UNKNOWN


def test_password_check(app: Flask, citizen):
    passwords = deps.passwords()
    assert check_password(db.session, citizen, TEST_PASSWORD, passwords=passwords, ip=None,
                          now=T0).ok
    assert check_password(db.session, citizen, "wrong", passwords=passwords, ip=None,
                          now=T0).reason is Reason.WRONG
    assert check_password(db.session, citizen, "", passwords=passwords, ip=None,
                          now=T0).reason is Reason.MALFORMED
    assert check_password(db.session, citizen, "x" * 2000, passwords=passwords, ip=None,
                          now=T0).reason is Reason.MALFORMED
    assert citizen.failed_attempts == 1
