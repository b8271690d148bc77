"""Tests of idp.services.sso_sessions against the real database, with explicit clocks."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import Citizen, CitizenStatus, SsoSession
from idp.services import sso_sessions as sso
from idp.services.sso_sessions import TOUCH_INTERVAL, SessionPolicy

T0 = datetime(2025, 8, 15, 1, 0, 0)  # naive UTC, as stored
POLICY = SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
AMR = ["pwd"]


@pytest.fixture
def citizen_id(make_citizen):
    return make_citizen().id


def citizen(citizen_id) -> Citizen:
    row = db.session.get(Citizen, citizen_id)
    assert row is not None
    return row


def start(citizen_id, *, now: datetime = T0, continues: SsoSession | None = None,
          ip: str = "203.0.113.7", user_agent: str = "Mozilla/5.0 (Android 14)",
          amr: list[str] | None = None):
    token, row = sso.start_session(
        db.session, citizen(citizen_id), amr=amr or AMR, acr=sso.ACR_ONE_FACTOR, ip=ip,
        user_agent=user_agent, now=now, continues=continues,
    )
    db.session.commit()
    return token, row


def load(token: str | None, now: datetime, policy: SessionPolicy = POLICY) -> SsoSession | None:
    row = sso.load_session(db.session, token, policy=policy, now=now)
    db.session.commit()
    return row


def sessions() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(SsoSession))


# --- start_session ------------------------------------------------------------------------------


def test_start_session_stores_only_the_token_hash(app: Flask, citizen_id):
    with app.app_context():
        token, row = start(citizen_id)
        db.session.expire_all()
        stored = db.session.get(SsoSession, row.id)
        assert stored is not None
        assert len(token) >= 43  # 256 bits, url-safe base64
        assert stored.token_hash == hashlib.sha256(token.encode()).digest()
        assert len(stored.token_hash) == 32
        assert stored.sid != token
        assert 0 < len(stored.sid) <= 43
        for column in SsoSession.__table__.columns:
            value = getattr(stored, column.key)
            if isinstance(value, str):
                assert token not in value, column.key
            elif isinstance(value, bytes):
                assert token.encode() not in value, column.key
            else:
                assert token not in str(value), column.key


def test_start_session_records_the_sign_in(app: Flask, citizen_id):
    with app.app_context():
        _, row = start(citizen_id, now=T0)
        db.session.expire_all()
        stored = db.session.get(SsoSession, row.id)
        assert stored.citizen_id == citizen_id
        assert stored.citizen.id == citizen_id
        assert stored.auth_time == T0
        assert stored.created_at == T0
        assert stored.last_seen_at == T0
        assert stored.amr == AMR
        assert stored.acr == sso.ACR_ONE_FACTOR
        assert stored.ip == "203.0.113.7"
        assert stored.user_agent == "Mozilla/5.0 (Android 14)"


@pytest.mark.parametrize(
    ("ip", "user_agent", "stored_ip", "stored_ua"),
    [
        ("2001:db8:85a3:0000:0000:8a2e:0370:7334", "", "2001:db8:85a3:0000:0000:8a2e:0370:7334",
         ""),
        ("x" * 100, "u" * 1000, "x" * 45, "u" * 255),
        ("", None, "", ""),
        ("203.0.113.7", "Trình duyệt Cốc Cốc 🌐", "203.0.113.7", "Trình duyệt Cốc Cốc 🌐"),
    ],
)
def test_start_session_bounds_ip_and_user_agent(
    app: Flask, citizen_id, ip: str, user_agent: str | None, stored_ip: str, stored_ua: str
):
    with app.app_context():
        _, row = start(citizen_id, ip=ip, user_agent=user_agent)  # type: ignore[arg-type]
        db.session.expire_all()
        stored = db.session.get(SsoSession, row.id)
        assert (stored.ip, stored.user_agent) == (stored_ip, stored_ua)


def test_each_session_has_fresh_token_and_sid(app: Flask, citizen_id):
    with app.app_context():
        pairs = [start(citizen_id) for _ in range(5)]
        tokens = {token for token, _ in pairs}
        sids = {row.sid for _, row in pairs}
        assert len(tokens) == 5 and len(sids) == 5
        assert tokens.isdisjoint(sids)
        assert sessions() == 5


# --- load_session -------------------------------------------------------------------------------


def test_load_session_returns_the_live_session(app: Flask, citizen_id):
    with app.app_context():
        token, row = start(citizen_id)
        loaded = load(token, T0 + timedelta(minutes=5))
        assert loaded is not None
        assert loaded.id == row.id
        assert loaded.citizen.id == citizen_id


@pytest.mark.parametrize(
    ("after", "alive"),
    [
        (timedelta(0), True),
        (timedelta(minutes=29, seconds=59), True),
        (timedelta(minutes=30), True),  # the limit itself is still inside
        (timedelta(minutes=30, seconds=1), False),
        (timedelta(hours=2), False),
        (timedelta(days=400), False),
    ],
)
def test_idle_expiry(app: Flask, citizen_id, after: timedelta, alive: bool):
    with app.app_context():
        token, _ = start(citizen_id)
        assert (load(token, T0 + after) is not None) is alive
        assert sessions() == (1 if alive else 0), "an expired session is deleted"
        if not alive:
            assert load(token, T0) is None, "and stays gone"


def test_absolute_expiry_despite_activity(app: Flask, citizen_id):
    with app.app_context():
        token, _ = start(citizen_id)
        now = T0
        while now + timedelta(minutes=20) <= T0 + POLICY.absolute:
            now += timedelta(minutes=20)
            assert load(token, now) is not None, now
        assert now == T0 + POLICY.absolute  # still alive at exactly 12 hours
        assert load(token, now + timedelta(minutes=1)) is None
        assert sessions() == 0


@pytest.mark.parametrize(
    ("policy", "after", "alive"),
    [
        (SessionPolicy(idle=timedelta(minutes=5), absolute=timedelta(hours=1)),
         timedelta(minutes=6), False),
        (SessionPolicy(idle=timedelta(hours=2), absolute=timedelta(hours=1)),
         timedelta(minutes=61), False),
        (SessionPolicy(idle=timedelta(hours=2), absolute=timedelta(hours=1)),
         timedelta(minutes=59), True),
    ],
)
def test_the_tighter_limit_wins(app: Flask, citizen_id, policy, after: timedelta, alive: bool):
    with app.app_context():
        token, _ = start(citizen_id)
        assert (load(token, T0 + after, policy) is not None) is alive


@pytest.mark.parametrize(
    ("after", "touched"),
    [
        (timedelta(0), False),
        (timedelta(seconds=30), False),
        (TOUCH_INTERVAL - timedelta(seconds=1), False),
        (TOUCH_INTERVAL, True),
        (timedelta(minutes=10), True),
    ],
)
def test_last_seen_is_written_only_after_touch_interval(
    app: Flask, citizen_id, after: timedelta, touched: bool
):
    with app.app_context():
        token, row = start(citizen_id)
        assert load(token, T0 + after) is not None
        db.session.expire_all()
        stored = db.session.get(SsoSession, row.id)
        assert stored.last_seen_at == (T0 + after if touched else T0)
        assert stored.created_at == T0 and stored.auth_time == T0


def test_touch_extends_the_idle_window(app: Flask, citizen_id):
    with app.app_context():
        token, _ = start(citizen_id)
        assert load(token, T0 + timedelta(minutes=20)) is not None  # touched
        assert load(token, T0 + timedelta(minutes=45)) is not None  # 25 min after the touch
        assert load(token, T0 + timedelta(minutes=45, seconds=30)) is not None  # not touched
        assert load(token, T0 + timedelta(minutes=75, seconds=1)) is None  # 30 min + 1 s idle


def test_activity_within_touch_interval_does_not_extend_idle(app: Flask, citizen_id):
    with app.app_context():
        token, _ = start(citizen_id)
        assert load(token, T0 + timedelta(seconds=59)) is not None  # too soon to write
        assert load(token, T0 + POLICY.idle + timedelta(seconds=1)) is None


@pytest.mark.parametrize("status", [CitizenStatus.LOCKED, CitizenStatus.DISABLED])
def test_session_of_inactive_citizen_no_longer_loads(app: Flask, citizen_id, status):
    with app.app_context():
        token, _ = start(citizen_id)
        other_token, _ = start(citizen_id)
        citizen(citizen_id).status = status
        db.session.commit()
        assert load(token, T0 + timedelta(minutes=1)) is None
        assert sessions() == 1  # deleted when seen
        citizen(citizen_id).status = CitizenStatus.ACTIVE
        db.session.commit()
        assert load(token, T0 + timedelta(minutes=2)) is None, "unlocking does not revive it"
        assert load(other_token, T0 + timedelta(minutes=2)) is not None


def test_other_citizens_session_unaffected_by_lock(app: Flask, make_citizen):
    a, b = make_citizen().id, make_citizen().id
    with app.app_context():
        token_a, _ = start(a)
        token_b, _ = start(b)
        citizen(a).status = CitizenStatus.LOCKED
        db.session.commit()
        assert load(token_a, T0) is None
        loaded = load(token_b, T0)
        assert loaded is not None and loaded.citizen_id == b


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "",
        "garbage",
        "x" * 43,
        "x" * 129,
        "x" * 10_000,
        "' OR 1=1 --",
        "mật khẩu",
        "\x00",
    ],
)
def test_garbage_tokens_load_nothing(app: Flask, citizen_id, bad: str | None):
    with app.app_context():
        start(citizen_id)
        assert load(bad, T0) is None
        assert sessions() == 1


def test_near_miss_tokens_load_nothing(app: Flask, citizen_id):
    with app.app_context():
        token, _ = start(citizen_id)
        flipped = ("A" if token[0] != "A" else "B") + token[1:]
        for bad in (flipped, token[:-1], token + "x", f" {token}", token.swapcase(),
                    hashlib.sha256(token.encode()).hexdigest()):
            assert load(bad, T0) is None, bad
        assert load(token, T0) is not None


def test_sid_is_not_a_token(app: Flask, citizen_id):
    with app.app_context():
        _, row = start(citizen_id)
        assert load(row.sid, T0) is None


# --- re-authentication, end_session, end_all_sessions ------------------------------------------


def test_reauthentication_rotates_the_cookie_but_keeps_the_sid(app: Flask, citizen_id):
    """prompt=login / max_age: same citizen, same session (its apps stay linked), new cookie
    value (fixation), fresh auth_time."""
    with app.app_context():
        old_token, row = start(citizen_id)
        sid, row_id = row.sid, row.id
        later = T0 + timedelta(minutes=20)
        new_token, again = start(citizen_id, now=later, continues=row, amr=["pwd", "otp"])
        assert new_token != old_token
        assert again.id == row_id and again.sid == sid
        assert again.auth_time == later and again.amr == ["pwd", "otp"]
        assert load(old_token, later) is None  # the old cookie value is dead
        assert load(new_token, later) is not None
        assert sessions() == 1


def test_a_session_cannot_be_continued_by_another_citizen(app: Flask, make_citizen):
    a, b = make_citizen().id, make_citizen().id
    with app.app_context():
        _, row = start(a)
        with pytest.raises(ValueError):
            start(b, continues=row)


def test_end_session(app: Flask, citizen_id):
    with app.app_context():
        token, _ = start(citizen_id)
        other, _ = start(citizen_id)
        assert sso.end_session(db.session, token) is True
        db.session.commit()
        assert sso.end_session(db.session, token) is False
        db.session.commit()
        assert load(token, T0) is None
        assert load(other, T0) is not None


@pytest.mark.parametrize("bad", ["", "garbage", "x" * 10_000])
def test_end_session_with_unknown_token_is_false(app: Flask, citizen_id, bad: str):
    with app.app_context():
        start(citizen_id)
        assert sso.end_session(db.session, bad) is False
        db.session.commit()
        assert sessions() == 1


def test_end_all_sessions_only_of_that_citizen(app: Flask, make_citizen):
    a, b = make_citizen().id, make_citizen().id
    with app.app_context():
        tokens_a = [start(a)[0] for _ in range(3)]
        token_b, _ = start(b)
        assert sso.end_all_sessions(db.session, citizen(a)) == 3
        db.session.commit()
        assert sso.end_all_sessions(db.session, citizen(a)) == 0
        db.session.commit()
        assert all(load(token, T0) is None for token in tokens_a)
        assert load(token_b, T0) is not None
        assert sessions() == 1
