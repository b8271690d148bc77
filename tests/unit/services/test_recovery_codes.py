"""Tests of idp.services.recovery_codes against the real database."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.extensions import db
from idp.models import Citizen, RecoveryCode
from idp.services import recovery_codes as rc
from idp.services.recovery_codes import RecoveryCheck

T0 = datetime(2025, 8, 15, 1, 0, 0)
FORMAT = re.compile(r"^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{2}$")


@pytest.fixture
def citizen(app: Flask, make_citizen):
    with app.app_context():
        row = db.session.get(Citizen, make_citizen().id)
        assert row is not None
        yield row


def test_ten_distinct_codes_without_look_alikes(citizen):
    codes = rc.generate(db.session, citizen, now=T0)
    db.session.commit()
    assert len(codes) == 10 == len(set(codes))
    for code in codes:
        assert FORMAT.match(code), code
        assert not set(code) & set("01OIL")
    assert rc.remaining(db.session, citizen.id) == 10


def test_only_hashes_are_stored(citizen):
    codes = rc.generate(db.session, citizen, now=T0)
    db.session.commit()
    stored = [row.code_hash for row in db.session.scalars(select(RecoveryCode))]
    assert len(stored) == 10
    for code in codes:
        raw = code.replace("-", "")
        assert all(raw not in value and code not in value for value in stored)
        assert all(len(value) == 64 for value in stored)


def test_each_code_works_once(citizen):
    codes = rc.generate(db.session, citizen, now=T0)
    db.session.commit()
    assert rc.check(db.session, citizen, codes[3], now=T0) is RecoveryCheck.OK
    db.session.commit()
    assert rc.check(db.session, citizen, codes[3], now=T0 + timedelta(minutes=1)) \
        is RecoveryCheck.USED
    assert rc.remaining(db.session, citizen.id) == 9
    assert rc.use(db.session, citizen, codes[4], now=T0)
    assert rc.remaining(db.session, citizen.id) == 8


def test_typing_variants_are_accepted(citizen):
    codes = rc.generate(db.session, citizen, now=T0)
    assert rc.use(db.session, citizen, f"  {codes[0].lower().replace('-', ' ')} ", now=T0)
    assert rc.use(db.session, citizen, codes[1].replace("-", ""), now=T0)


@pytest.mark.parametrize("raw", ["", None, "ABCD-EFGH", "ABCD-EFGH-JKM", "ABCD-EFGH-J0",
                                 "ABCD-EFGH-JI", "ÀBCD-EFGH-JK", "A" * 10_000])
def test_malformed(citizen, raw):
    rc.generate(db.session, citizen, now=T0)
    assert rc.check(db.session, citizen, raw, now=T0) is RecoveryCheck.MALFORMED
    assert rc.remaining(db.session, citizen.id) == 10


def test_wrong_code(citizen):
    codes = rc.generate(db.session, citizen, now=T0)
    guess = "ABCD-EFGH-JK" if "ABCD-EFGH-JK" not in codes else "ZZZZ-ZZZZ-ZZ"
    assert rc.check(db.session, citizen, guess, now=T0) is RecoveryCheck.WRONG
    assert rc.remaining(db.session, citizen.id) == 10


def test_another_citizens_code_does_not_work(citizen, make_citizen):
    other = db.session.get(Citizen, make_citizen().id)
    theirs = rc.generate(db.session, other, now=T0)
    rc.generate(db.session, citizen, now=T0)
    assert rc.check(db.session, citizen, theirs[0], now=T0) is RecoveryCheck.WRONG
    assert rc.remaining(db.session, other.id) == 10


def test_regenerating_invalidates_the_old_batch(citizen):
    old = rc.generate(db.session, citizen, now=T0)
    assert rc.use(db.session, citizen, old[0], now=T0)
    new = rc.generate(db.session, citizen, now=T0 + timedelta(days=1))
    db.session.commit()
    assert not set(old) & set(new)
    assert rc.check(db.session, citizen, old[1], now=T0) is RecoveryCheck.WRONG
    assert rc.remaining(db.session, citizen.id) == 10
    assert {row.batch for row in db.session.scalars(select(RecoveryCode))} == {2}
    assert rc.use(db.session, citizen, new[0], now=T0)


def test_concurrent_use_of_one_code_passes_once(citizen):
    codes = rc.generate(db.session, citizen, now=T0)
    db.session.commit()
    other = Session(db.engine)
    try:
        other_citizen = other.get(Citizen, citizen.id)
        assert rc.check(db.session, citizen, codes[0], now=T0) is RecoveryCheck.OK
        db.session.commit()
        assert rc.check(other, other_citizen, codes[0], now=T0) is RecoveryCheck.USED
        other.commit()
    finally:
        other.close()
    assert rc.remaining(db.session, citizen.id) == 9


def test_delete_all(citizen):
    rc.generate(db.session, citizen, now=T0)
    assert rc.delete_all(db.session, citizen.id) == 10
    assert rc.remaining(db.session, citizen.id) == 0
