"""Tests of idp.services.second_factors: the throttle around every second-factor and password
check, and the amr a step-up produces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import AuditEvent, Citizen
from idp.services import recovery_codes, totp
from idp.services.second_factors import Method, Reason, amr_after, check_code, check_password
from idp.web import deps
from tests.conftest import TEST_PASSWORD

KEY = "k" * 48
T0 = datetime(2025, 8, 15, 1, 0, 0)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.mark.parametrize("amr,method,expected", [
    (["pwd"], Method.TOTP, ["pwd", "otp", "mfa"]),
    (["pwd"], Method.SMS, ["pwd", "sms", "mfa"]),
    (["pwd"], Method.RECOVERY, ["pwd", "mfa"]),
    (["qr"], Method.TOTP, ["qr", "otp", "mfa"]),
    (["pwd", "otp", "mfa"], Method.TOTP, ["pwd", "otp", "mfa"]),
])
def test_amr_after(amr, method, expected):
    assert amr_after(amr, method) == expected


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
