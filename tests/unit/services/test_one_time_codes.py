"""idp.services.one_time_codes: six-digit SMS codes bound to the browser's flow token, against
the real database with explicit clocks."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.extensions import db
from idp.models import OneTimeCode
from idp.services import one_time_codes as otc
from idp.services.one_time_codes import CodeCheck
from tests.support.parallel import run_parallel

T0 = datetime(2025, 8, 15, 1, 0, 0)
KEY = "k" * 48
PHONE = "+84912345678"


@pytest.fixture
def ctx(app):  # noqa: ANN001, ANN201
    with app.app_context():
        yield
        db.session.rollback()


def issue(purpose: str = "register", now: datetime = T0, **kwargs: object) -> otc.Issued:
    issued = otc.issue(db.session, purpose=purpose, phone=PHONE, secret_key=KEY, now=now,
                       **kwargs)
    db.session.commit()
    return issued


def verify(token: str | None, code: str | None, *, purpose: str = "register",
           now: datetime = T0 + timedelta(seconds=30)) -> CodeCheck:
    check, _ = otc.verify(db.session, token, purpose, code, secret_key=KEY, now=now)
    db.session.commit()
    return check


def other(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_issue_stores_only_hashes(ctx):
    issued = issue(payload={"cccd": "019085000001"}, ip="203.0.113.9")
    assert len(issued.code) == 6 and issued.code.isdigit()
    assert len(issued.flow_token) >= 43
    row = db.session.scalar(select(OneTimeCode))
    assert issued.code not in row.code_hash and issued.flow_token != row.flow_hash
    assert (row.attempts, row.sends, row.ip) == (0, 1, "203.0.113.9")
    assert row.expires_at == T0 + otc.LIFETIME and row.payload == {"cccd": "019085000001"}


def test_right_code_once(ctx):
    issued = issue()
    assert verify(issued.flow_token, issued.code) == CodeCheck.OK
    assert verify(issued.flow_token, issued.code) == CodeCheck.USED  # replay


@pytest.mark.parametrize("typed", ["{c}", " {c} ", "{a} {b}", "{a}-{b}", "{c}\n"])
def test_spaces_and_dashes_people_type_are_ignored(ctx, typed):
    issued = issue()
    code = typed.format(c=issued.code, a=issued.code[:3], b=issued.code[3:])
    assert verify(issued.flow_token, code) == CodeCheck.OK


def test_expired(ctx):
    issued = issue()
    assert verify(issued.flow_token, issued.code,
                  now=T0 + otc.LIFETIME) == CodeCheck.EXPIRED
    assert verify(issued.flow_token, issued.code,
                  now=T0 + otc.LIFETIME - timedelta(seconds=1)) == CodeCheck.OK


def test_wrong_codes_then_too_many_even_for_the_right_one(ctx):
    issued = issue()
    for n in range(otc.MAX_ATTEMPTS - 1):
        assert verify(issued.flow_token, other(issued.code)) == CodeCheck.WRONG
        row = otc.find(db.session, issued.flow_token, "register")
        assert otc.attempts_left(row) == otc.MAX_ATTEMPTS - n - 1
    assert verify(issued.flow_token, other(issued.code)) == CodeCheck.TOO_MANY
    assert verify(issued.flow_token, issued.code) == CodeCheck.TOO_MANY


@pytest.mark.parametrize("code", ["", None, "12345", "1234567", "abcdef", "12 34 5",
                                  "١٢٣٤٥٦", "１２３４５６", "1" * 10_000, "12345\x00"])
def test_malformed_codes_do_not_cost_an_attempt(ctx, code):
    issued = issue()
    assert verify(issued.flow_token, code) == CodeCheck.MALFORMED
    assert otc.find(db.session, issued.flow_token, "register").attempts == 0
    assert verify(issued.flow_token, issued.code) == CodeCheck.OK


@pytest.mark.parametrize("token", [None, "", "not-a-flow", "x" * 129, "x" * 100_000])
def test_unknown_flow_tokens(ctx, token):
    issue()
    assert verify(token, "123456") == CodeCheck.UNKNOWN


def test_another_browser_without_the_flow_token_gets_unknown(ctx):
    mine, theirs = issue(), issue()
    # Each flow's code works only with that flow's token, whoever types it.
    same = mine.code == theirs.code  # one chance in a million
    assert verify(theirs.flow_token, mine.code) == (CodeCheck.OK if same else CodeCheck.WRONG)
    assert verify(mine.flow_token, mine.code) == CodeCheck.OK


def test_purpose_is_part_of_the_binding(ctx):
    issued = issue(purpose="recovery")
    assert verify(issued.flow_token, issued.code, purpose="register") == CodeCheck.UNKNOWN
    assert verify(issued.flow_token, issued.code, purpose="recovery") == CodeCheck.OK


def test_code_hash_depends_on_the_secret_key(ctx):
    issued = issue()
    check, _ = otc.verify(db.session, issued.flow_token, "register", issued.code,
                          secret_key="another key" * 4, now=T0)
    assert check == CodeCheck.WRONG


def test_resend_is_throttled_and_replaces_the_code(ctx):
    issued = issue()
    row = otc.find(db.session, issued.flow_token, "register")
    assert otc.resend_wait(row, now=T0 + timedelta(seconds=1)) == 59
    assert otc.resend(db.session, row, secret_key=KEY, now=T0 + timedelta(seconds=59)) is None
    later = T0 + otc.RESEND_INTERVAL
    assert otc.resend_wait(row, now=later) == 0
    verify(issued.flow_token, other(issued.code))  # one wrong attempt before the resend
    new = otc.resend(db.session, row, secret_key=KEY, now=later)
    db.session.commit()
    # The attempts are the flow's: a resend must not buy new guesses.
    assert new is not None and row.sends == 2 and row.attempts == 1
    assert row.expires_at == later + otc.LIFETIME
    if new != issued.code:
        assert verify(issued.flow_token, issued.code, now=later) == CodeCheck.WRONG
    assert verify(issued.flow_token, new, now=later) == CodeCheck.OK


def test_resends_stop_after_the_maximum(ctx):
    issued = issue()
    row = otc.find(db.session, issued.flow_token, "register")
    now = T0
    for _ in range(otc.MAX_SENDS - 1):
        now += otc.RESEND_INTERVAL
        assert otc.resend(db.session, row, secret_key=KEY, now=now) is not None
    assert row.sends == otc.MAX_SENDS
    assert otc.resend_wait(row, now=now + timedelta(hours=1)) is None
    assert otc.resend(db.session, row, secret_key=KEY, now=now + timedelta(hours=1)) is None


def test_no_resend_after_use(ctx):
    issued = issue()
    assert verify(issued.flow_token, issued.code) == CodeCheck.OK
    row = otc.find(db.session, issued.flow_token, "register")
    assert otc.resend_wait(row, now=T0 + timedelta(hours=1)) is None


def test_concurrent_double_consume_only_one_wins(app):
    """Two submissions of the right code that both passed the checks before either wrote:
    the atomic UPDATE lets exactly one consume it."""
    with app.app_context():
        issued = issue()
        engine = db.engine
    first = Session(engine, expire_on_commit=False)
    second = Session(engine, expire_on_commit=False)
    try:
        stale = otc.find(second, issued.flow_token, "register")  # second reads: not consumed
        second.commit()
        assert stale.consumed_at is None
        now = T0 + timedelta(seconds=10)
        assert otc.verify(first, issued.flow_token, "register", issued.code,
                          secret_key=KEY, now=now)[0] == CodeCheck.OK
        first.commit()
        # The second session still holds the stale, unconsumed row in its identity map.
        check, _ = otc.verify(second, issued.flow_token, "register", issued.code,
                              secret_key=KEY, now=now)
        second.commit()
        assert check == CodeCheck.USED
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(("raw", "expected"), [
    ("123456", "123456"), (" 123 456 ", "123456"), ("123-456", "123456"),
    ("12345", None), ("1234567", None), ("12345a", None), ("١٢٣٤٥٦", None), (None, None),
    ("1" * 33, None), ("123456" + " " * 40, "123456"),  # only the first 32 characters count
])
def test_normalize_code(raw, expected):
    assert otc.normalize_code(raw) == expected


def test_sms_body_is_vietnamese_with_the_webotp_line():
    body = otc.sms_body("123456", purpose_vi="xác minh số điện thoại", domain="id.example.vn")
    assert body.startswith("ThaiNguyen ID: 123456 là mã xác minh số điện thoại")
    assert "Không đưa mã này cho bất kỳ ai" in body
    assert body.endswith("\n\n@id.example.vn #123456")
    assert "@" not in otc.sms_body("123456", purpose_vi="x")


def test_attempts_are_per_flow_across_resends(ctx):
    issued = issue()
    row = otc.find(db.session, issued.flow_token, "register")
    now = T0
    for _ in range(otc.MAX_ATTEMPTS - 1):
        assert verify(issued.flow_token, other(issued.code), now=now) == CodeCheck.WRONG
    now += otc.RESEND_INTERVAL
    new = otc.resend(db.session, row, secret_key=KEY, now=now)
    assert new is not None
    assert verify(issued.flow_token, other(new), now=now) == CodeCheck.TOO_MANY
    assert verify(issued.flow_token, new, now=now) == CodeCheck.TOO_MANY  # too late
    assert otc.resend_wait(row, now=now + otc.RESEND_INTERVAL) is None  # nothing to resend


def test_parallel_guesses_get_at_most_the_attempts_left(app):  # noqa: ANN001
    """12 threads guess at once against the real database: only ``MAX_ATTEMPTS`` codes are
    compared; the others are told the flow has no attempts left."""
    with app.app_context():
        issued = otc.issue(db.session, purpose="register", phone="+84912345678",
                           secret_key=KEY, now=T0)
        db.session.commit()
        flow, code = issued.flow_token, issued.code

    def guess(i: int) -> CodeCheck:
        wrong = f"{(int(code) + 1 + i) % 1_000_000:06d}"
        check, _ = otc.verify(db.session, flow, "register", wrong, secret_key=KEY, now=T0)
        db.session.commit()
        return check

    results = run_parallel(app, guess, 12)
    # Four wrong, the fifth TOO_MANY (the last attempt), the seven late ones TOO_MANY
    # without any comparison.
    assert results.count(CodeCheck.WRONG) == otc.MAX_ATTEMPTS - 1
    assert results.count(CodeCheck.TOO_MANY) == 12 - (otc.MAX_ATTEMPTS - 1)
    with app.app_context():
        row = otc.find(db.session, flow, "register")
        assert row.attempts == otc.MAX_ATTEMPTS
        # The right code is refused now: its attempts went to the parallel guesses.
        assert otc.verify(db.session, flow, "register", code, secret_key=KEY,
                          now=T0)[0] == CodeCheck.TOO_MANY
