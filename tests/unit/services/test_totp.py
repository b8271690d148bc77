"""Tests of idp.services.totp with real pyotp codes at explicit times."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.extensions import db
from idp.models import Citizen, TotpCredential
from idp.services import totp
from idp.services.totp import TotpCheck

KEY = "k" * 48
T0 = datetime(2025, 8, 15, 1, 0, 0)  # naive UTC, on a step boundary
STEP = timedelta(seconds=30)


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when.replace(tzinfo=UTC))


@pytest.fixture
def ctx(app: Flask):
    with app.app_context():
        yield


@pytest.fixture
def citizen(ctx, make_citizen) -> Citizen:
    made = make_citizen(cccd="019085001234", phone="0912345678")
    row = db.session.get(Citizen, made.id)
    assert row is not None
    return row


def enrol(citizen: Citizen, now: datetime = T0) -> str:
    """An enabled authenticator; returns its secret."""
    enrolment = totp.start_enrolment(db.session, citizen, secret_key=KEY, now=now)
    assert totp.confirm_enrolment(db.session, citizen, code_at(enrolment.secret, now),
                                  secret_key=KEY, now=now) is TotpCheck.OK
    db.session.commit()
    return enrolment.secret


# --- enrolment ---------------------------------------------------------------------------------


def test_enrolment_uri_has_issuer_and_masked_label_only(citizen):
    enrolment = totp.start_enrolment(db.session, citizen, secret_key=KEY, now=T0)
    uri = enrolment.uri
    assert uri.startswith("otpauth://totp/")
    parsed = urllib.parse.urlparse(uri)
    query = urllib.parse.parse_qs(parsed.query)
    assert query["issuer"] == ["ThaiNguyen ID"]
    assert query["secret"] == [enrolment.secret]
    label = urllib.parse.unquote(parsed.path)
    assert label == "/ThaiNguyen ID:CCCD ••••••••1234"
    assert "019085001234" not in uri and "912345678" not in uri
    assert len(enrolment.secret) == 32  # 160 bits
    assert enrolment.secret_groups.split(" ")[0] == enrolment.secret[:4]
    assert len(enrolment.secret_groups.split(" ")) == 8


def test_secret_is_sealed_at_rest_and_bound_to_the_citizen(citizen, make_citizen):
    enrolment = totp.start_enrolment(db.session, citizen, secret_key=KEY, now=T0)
    db.session.commit()
    row = db.session.scalar(select(TotpCredential))
    assert enrolment.secret.encode() not in row.secret_sealed
    # The sealed value moved onto another citizen's row does not open there.
    other = db.session.get(Citizen, make_citizen().id)
    db.session.add(TotpCredential(citizen_id=other.id, secret_sealed=row.secret_sealed,
                                  confirmed_at=T0, created_at=T0))
    db.session.commit()
    assert totp.check(db.session, other, code_at(enrolment.secret, T0), secret_key=KEY,
                      now=T0) is TotpCheck.WRONG
    # A different TNID_SECRET_KEY does not open it either (and does not crash).
    assert totp.confirm_enrolment(db.session, citizen, code_at(enrolment.secret, T0),
                                  secret_key="x" * 48, now=T0) is TotpCheck.WRONG


def test_not_enabled_until_a_correct_code(citizen):
    enrolment = totp.start_enrolment(db.session, citizen, secret_key=KEY, now=T0)
    db.session.commit()
    assert not totp.is_enabled(db.session, citizen.id)
    assert totp.check(db.session, citizen, code_at(enrolment.secret, T0), secret_key=KEY,
                      now=T0) is TotpCheck.NOT_ENABLED
    wrong = f"{(int(code_at(enrolment.secret, T0)) + 1) % 1_000_000:06d}"
    assert totp.confirm_enrolment(db.session, citizen, wrong, secret_key=KEY,
                                  now=T0) is TotpCheck.WRONG
    assert totp.confirm_enrolment(db.session, citizen, "12ab56", secret_key=KEY,
                                  now=T0) is TotpCheck.MALFORMED
    assert not totp.is_enabled(db.session, citizen.id)
    assert totp.confirm_enrolment(db.session, citizen, code_at(enrolment.secret, T0),
                                  secret_key=KEY, now=T0) is TotpCheck.OK
    db.session.commit()
    assert totp.is_enabled(db.session, citizen.id)
    # The confirming code cannot be used again as a second factor.
    assert totp.check(db.session, citizen, code_at(enrolment.secret, T0), secret_key=KEY,
                      now=T0 + timedelta(seconds=5)) is TotpCheck.REPLAYED


def test_reloading_the_enrolment_page_keeps_the_same_key_for_a_while(citizen):
    first = totp.start_enrolment(db.session, citizen, secret_key=KEY, now=T0)
    again = totp.start_enrolment(db.session, citizen, secret_key=KEY, now=T0 + STEP)
    assert again.secret == first.secret
    later = totp.start_enrolment(db.session, citizen, secret_key=KEY,
                                 now=T0 + totp.PENDING_LIFETIME)
    assert later.secret != first.secret
    restarted = totp.start_enrolment(db.session, citizen, secret_key=KEY,
                                     now=T0 + totp.PENDING_LIFETIME, restart=True)
    assert restarted.secret != later.secret
    assert len(db.session.scalars(select(TotpCredential)).all()) == 1


def test_stale_pending_enrolment_cannot_be_confirmed(citizen):
    enrolment = totp.start_enrolment(db.session, citizen, secret_key=KEY, now=T0)
    late = T0 + totp.PENDING_LIFETIME
    assert totp.confirm_enrolment(db.session, citizen, code_at(enrolment.secret, late),
                                  secret_key=KEY, now=late) is TotpCheck.NOT_ENABLED


def test_enrolling_twice_is_refused(citizen):
    enrol(citizen)
    with pytest.raises(totp.AlreadyEnabled):
        totp.start_enrolment(db.session, citizen, secret_key=KEY, now=T0 + STEP)


# --- verification ------------------------------------------------------------------------------


def test_current_code_and_one_step_either_side(citizen):
    secret = enrol(citizen, T0 - 10 * STEP)
    now = T0 + timedelta(seconds=10)
    assert totp.verify(db.session, citizen, code_at(secret, now - STEP), secret_key=KEY, now=now)
    assert totp.verify(db.session, citizen, code_at(secret, now), secret_key=KEY, now=now)
    assert totp.verify(db.session, citizen, code_at(secret, now + STEP), secret_key=KEY, now=now)


def test_two_steps_away_is_wrong(citizen):
    secret = enrol(citizen, T0 - 10 * STEP)
    assert totp.check(db.session, citizen, code_at(secret, T0 - 2 * STEP), secret_key=KEY,
                      now=T0) is TotpCheck.WRONG
    assert totp.check(db.session, citizen, code_at(secret, T0 + 2 * STEP), secret_key=KEY,
                      now=T0) is TotpCheck.WRONG


def test_each_time_step_is_accepted_once(citizen):
    secret = enrol(citizen, T0 - 10 * STEP)
    code = code_at(secret, T0)
    assert totp.check(db.session, citizen, code, secret_key=KEY, now=T0) is TotpCheck.OK
    db.session.commit()
    assert totp.check(db.session, citizen, code, secret_key=KEY,
                      now=T0 + timedelta(seconds=3)) is TotpCheck.REPLAYED
    # Still refused from the next step, where the same code is within the window.
    assert totp.check(db.session, citizen, code, secret_key=KEY,
                      now=T0 + STEP) is TotpCheck.REPLAYED
    # An earlier step's code after a later one was used: refused too (steps only move forward).
    assert totp.check(db.session, citizen, code_at(secret, T0 - STEP), secret_key=KEY,
                      now=T0) is TotpCheck.REPLAYED
    # The next step's code is fine.
    assert totp.check(db.session, citizen, code_at(secret, T0 + STEP), secret_key=KEY,
                      now=T0 + STEP) is TotpCheck.OK


@pytest.mark.parametrize("raw", ["", None, "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12 34 5",
                                 "x" * 10_000])
def test_malformed_codes(citizen, raw):
    enrol(citizen)
    assert totp.check(db.session, citizen, raw, secret_key=KEY,
                      now=T0 + STEP) is TotpCheck.MALFORMED


def test_spaces_and_dashes_are_tolerated(citizen):
    secret = enrol(citizen, T0 - 10 * STEP)
    code = code_at(secret, T0)
    assert totp.verify(db.session, citizen, f" {code[:3]} {code[3:]}-", secret_key=KEY, now=T0)


def test_concurrent_submissions_of_one_code_pass_once(app: Flask, citizen):
    secret = enrol(citizen, T0 - 10 * STEP)
    code = code_at(secret, T0)
    # Two requests load the credential before either one writes.
    other = Session(db.engine)
    try:
        other_citizen = other.get(Citizen, citizen.id)
        other_cred = other.scalar(select(TotpCredential))
        assert other_cred.last_used_step is None or other_cred.last_used_step < totp.time_step(T0)
        assert totp.check(db.session, citizen, code, secret_key=KEY, now=T0) is TotpCheck.OK
        db.session.commit()
        assert totp.check(other, other_citizen, code, secret_key=KEY,
                          now=T0) is TotpCheck.REPLAYED
        other.commit()
    finally:
        other.close()


def test_disable(citizen):
    secret = enrol(citizen)
    assert totp.disable(db.session, citizen)
    db.session.commit()
    assert not totp.is_enabled(db.session, citizen.id)
    assert totp.check(db.session, citizen, code_at(secret, T0 + STEP), secret_key=KEY,
                      now=T0 + STEP) is TotpCheck.NOT_ENABLED
    assert not totp.disable(db.session, citizen)


def test_enable_with_a_known_secret(citizen):
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    totp.enable_with_secret(db.session, citizen, secret, secret_key=KEY, now=T0)
    db.session.commit()
    assert totp.is_enabled(db.session, citizen.id)
    assert totp.verify(db.session, citizen, code_at(secret, T0 + STEP), secret_key=KEY,
                       now=T0 + STEP)
