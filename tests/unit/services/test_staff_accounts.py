"""Tests of idp.services.staff_accounts: validation, password + TOTP sign-in with the
throttle's delays, enrolment, replay, disable, TOTP reset, password change, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from limits.storage import MemoryStorage
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, StaffAccount, StaffRole
from idp.services import staff_accounts as sa
from idp.services import throttle
from idp.services.identifiers import InvalidInput
from idp.services.passwords import PasswordService
from idp.services.totp import TotpCheck

KEY = "k" * 48
T0 = datetime(2025, 8, 15, 1, 0, 0)
PASSWORD = "staff-password-for-tests-2025"
FAST = PasswordService(time_cost=1, memory_kib=8, parallelism=1)


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when.replace(tzinfo=UTC))


@pytest.fixture
def ctx(app: Flask):
    with app.app_context():
        yield


@pytest.fixture
def counters() -> throttle.LimiterCounters:
    return throttle.LimiterCounters(MemoryStorage())


def make(username: str = "canbo.a", role: str = "officer", communes=("05719",),
         password: str = PASSWORD, **kwargs) -> StaffAccount:  # noqa: ANN001, ANN003
    staff = sa.create_staff(db.session, username, role, communes, password, passwords=FAST,
                            now=T0, **kwargs)
    db.session.commit()
    return staff


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def login(username: str, password: str, counters, now: datetime = T0) -> sa.Attempt:  # noqa: ANN001
    attempt = sa.authenticate(db.session, username, password, passwords=FAST,
                              counters=counters, secret_key=KEY, ip="192.0.2.1", now=now)
    db.session.commit()
    return attempt


def enrolled(staff: StaffAccount, now: datetime = T0) -> str:
    enrolment = sa.start_enrolment(db.session, staff, secret_key=KEY)
    assert sa.confirm_enrolment(db.session, staff, code_at(enrolment.secret, now),
                                secret_key=KEY, ip=None, now=now).ok
    db.session.commit()
    return enrolment.secret


# --- creation ---------------------------------------------------------------------------------


def test_create_officer_normalises_and_audits(ctx):
    staff = make("  CanBo.SangMoc ", communes=["5719", "05719"], display_name="  Lê  Thị  Hoa ")
    assert staff.username == "canbo.sangmoc" and staff.role is StaffRole.OFFICER
    assert staff.commune_codes == {"05719"} and staff.display_name == "Lê Thị Hoa"
    assert not sa.is_enrolled(staff) and staff.password_hash.startswith("$argon2id$")
    entry = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "staff:account:created"))
    assert entry.actor_type == "system" and entry.details["communes"] == ["05719"]
    assert PASSWORD not in str(entry.details)


@pytest.mark.parametrize(("fields", "field"), [
    ({"username": "ab"}, "username"),
    ({"username": "có dấu"}, "username"),
    ({"username": "x" * 65}, "username"),
    ({"role": "root"}, "role"),
    ({"communes": []}, "communes"),                        # officer without commune
    ({"communes": ["99999"]}, "commune_code"),             # no such commune
    ({"communes": ["00004"]}, "commune_code"),             # Hà Nội, not Thái Nguyên
    ({"role": "auditor", "communes": ["05719"]}, "communes"),
    ({"role": "superadmin", "communes": ["05719"]}, "communes"),
    ({"password": "short-pass1"}, "password"),             # 11 < 12
    ({"password": "password1234"}, "password"),            # common
    ({"username": "hoang.van.minh", "password": "hoang.van.minh"}, "password"),
])
def test_create_refuses_bad_input_and_writes_nothing(ctx, fields, field):
    values = {"username": "canbo.b", "role": "officer", "communes": ["05719"],
              "password": PASSWORD, **fields}
    with pytest.raises(InvalidInput) as error:
        sa.create_staff(db.session, values["username"], values["role"], values["communes"],
                        values["password"], passwords=FAST, now=T0)
    assert error.value.field == field
    db.session.rollback()
    assert db.session.scalar(select(StaffAccount)) is None and actions() == []


def test_username_is_unique_whatever_the_case(ctx):
    make("kiemtoan", "auditor", ())
    with pytest.raises(InvalidInput) as error:
        make("KiemToan", "auditor", ())
    assert error.value.field == "username"


def test_created_by_a_superadmin_needs_a_reason(ctx):
    boss = make("boss", "superadmin", ())
    with pytest.raises(InvalidInput) as error:
        make("canbo.c", actor=boss, reason=" no ")
    assert error.value.field == "reason"
    db.session.rollback()
    make("canbo.c", actor=boss, reason="Cán bộ mới của xã")
    entry = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "staff:account:created", AuditEvent.actor_type == "staff"))
    assert entry.actor_id == str(boss.id) and entry.details["reason"] == "Cán bộ mới của xã"


# --- password step ----------------------------------------------------------------------------


def test_right_password_then_totp_completes_the_sign_in(ctx, counters):
    staff = make()
    secret = enrolled(staff)
    attempt = login("CANBO.A", PASSWORD, counters, T0 + timedelta(minutes=1))
    assert attempt.ok and attempt.staff.id == staff.id
    later = T0 + timedelta(minutes=2)
    result = sa.verify_totp(db.session, staff, code_at(secret, later), secret_key=KEY,
                            ip=None, now=later)
    db.session.commit()
    assert result.ok and staff.last_sign_in_at == later
    assert actions()[-1] == "staff:login:success"


def test_wrong_password_is_counted_and_audited(ctx, counters):
    staff = make()
    assert login(staff.username, "wrong password!", counters).outcome is sa.Outcome.WRONG
    db.session.refresh(staff)
    assert staff.failed_attempts == 1
    entry = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "staff:login:failure"))
    assert entry.outcome == "failure" and entry.details["factor"] == "password"


def test_delays_follow_the_throttle_rule(ctx, counters):
    staff = make()
    now = T0
    for _ in range(throttle.FREE_ATTEMPTS):
        assert login(staff.username, "wrong password!", counters, now).outcome \
            is sa.Outcome.WRONG
    # The fifth failure means one second of waiting, then two, four...
    refused = login(staff.username, PASSWORD, counters, now)
    assert refused.outcome is sa.Outcome.THROTTLED and refused.retry_after == 1
    now += timedelta(seconds=1)
    assert login(staff.username, "wrong password!", counters, now).outcome is sa.Outcome.WRONG
    assert login(staff.username, PASSWORD, counters, now).retry_after == 2
    now += timedelta(seconds=2)
    assert login(staff.username, PASSWORD, counters, now).ok


def test_unknown_username_gets_the_same_answers(ctx, counters):
    now = T0
    for _ in range(throttle.FREE_ATTEMPTS):
        assert login("nobody", "wrong password!", counters, now).outcome is sa.Outcome.WRONG
    refused = login("nobody", "wrong password!", counters, now)
    assert refused.outcome is sa.Outcome.THROTTLED and refused.retry_after == 1
    entry = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "staff:login:failure"))
    assert entry.details == {"factor": "password", "account": "none"}


def test_unknown_username_costs_one_hash(ctx, counters, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(FAST, "verify_dummy", lambda password: calls.append("dummy"))
    login("nobody", "x", counters)
    assert calls == ["dummy"]


def test_disabled_account_answers_like_a_wrong_password(ctx, counters):
    staff = make()
    enrolled(staff)
    sa.disable(db.session, staff, reason="Đã nghỉ việc", actor=None, ip=None, now=T0)
    db.session.commit()
    assert login(staff.username, PASSWORD, counters).outcome is sa.Outcome.WRONG
    assert actions()[-1] == "staff:login:failure"


# --- TOTP ---------------------------------------------------------------------------------------


def test_enrolment_is_kept_until_confirmed_and_sealed(ctx):
    staff = make()
    first = sa.start_enrolment(db.session, staff, secret_key=KEY)
    again = sa.start_enrolment(db.session, staff, secret_key=KEY)
    assert first.secret == again.secret and len(first.secret) == 32
    assert first.secret.encode() not in staff.totp_secret_sealed
    assert first.uri.startswith("otpauth://totp/") and "secret=" + first.secret in first.uri
    wrong = sa.confirm_enrolment(db.session, staff, "000000", secret_key=KEY, ip=None, now=T0)
    if code_at(first.secret, T0) != "000000":
        assert wrong.outcome is sa.Outcome.WRONG and not sa.is_enrolled(staff)
    assert sa.confirm_enrolment(db.session, staff, code_at(first.secret, T0), secret_key=KEY,
                                ip=None, now=T0).ok
    assert sa.is_enrolled(staff) and "staff:totp:enrolled" in actions()
    with pytest.raises(sa.AlreadyEnrolled):
        sa.start_enrolment(db.session, staff, secret_key=KEY)


def test_sealed_secret_does_not_open_on_another_account(ctx):
    one, two = make("canbo.one"), make("canbo.two")
    secret = enrolled(one)
    two.totp_secret_sealed, two.totp_confirmed_at = one.totp_secret_sealed, T0
    assert sa.check_totp(db.session, two, code_at(secret, T0), secret_key=KEY,
                         now=T0) is TotpCheck.NOT_ENABLED


def test_code_window_and_replay(ctx):
    staff = make()
    secret = enrolled(staff, T0 - timedelta(minutes=5))
    now = T0
    assert sa.check_totp(db.session, staff, code_at(secret, now - timedelta(seconds=30)),
                         secret_key=KEY, now=now) is TotpCheck.OK
    assert sa.check_totp(db.session, staff, code_at(secret, now - timedelta(seconds=30)),
                         secret_key=KEY, now=now) is TotpCheck.REPLAYED
    assert sa.check_totp(db.session, staff, code_at(secret, now - timedelta(seconds=90)),
                         secret_key=KEY, now=now) in (TotpCheck.WRONG, TotpCheck.REPLAYED)
    assert sa.check_totp(db.session, staff, code_at(secret, now + timedelta(seconds=30)),
                         secret_key=KEY, now=now) is TotpCheck.OK
    assert sa.check_totp(db.session, staff, "12345", secret_key=KEY,
                         now=now) is TotpCheck.MALFORMED
    db.session.refresh(staff)
    assert staff.totp_last_used_step == int((now + timedelta(seconds=30)).replace(
        tzinfo=UTC).timestamp()) // 30


def test_replayed_and_wrong_codes_count_as_failures(ctx):
    staff = make()
    secret = enrolled(staff, T0 - timedelta(minutes=5))
    code = code_at(secret, T0)
    assert sa.verify_totp(db.session, staff, code, secret_key=KEY, ip=None, now=T0).ok
    replay = sa.verify_totp(db.session, staff, code, secret_key=KEY, ip=None, now=T0)
    assert replay.outcome is sa.Outcome.REPLAYED
    db.session.commit()
    failure = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "staff:login:failure"))
    assert failure.details["factor"] == "totp" and staff.failed_attempts == 1
    malformed = sa.verify_totp(db.session, staff, "abc", secret_key=KEY, ip=None, now=T0)
    assert malformed.outcome is sa.Outcome.MALFORMED and staff.failed_attempts == 1


# --- disable, reset, password -----------------------------------------------------------------


def test_disable_and_reset_bump_the_session_version(ctx):
    boss = make("boss", "superadmin", ())
    staff = make()
    enrolled(staff)
    version = staff.session_version
    with pytest.raises(InvalidInput):
        sa.reset_totp(db.session, staff, reason="", actor=boss, ip=None, now=T0)
    sa.reset_totp(db.session, staff, reason="Mất điện thoại", actor=boss, ip="192.0.2.9",
                  now=T0)
    assert not sa.is_enrolled(staff) and staff.totp_secret_sealed is None
    assert staff.session_version == version + 1
    with pytest.raises(InvalidInput):
        sa.disable(db.session, boss, reason="Tự khóa mình", actor=boss, ip=None, now=T0)
    assert sa.disable(db.session, staff, reason="Đã nghỉ việc", actor=boss, ip=None, now=T0)
    assert not sa.disable(db.session, staff, reason="Đã nghỉ việc", actor=boss, ip=None,
                          now=T0)
    assert staff.session_version == version + 2 and not staff.is_active
    db.session.commit()
    reset, disabled = (db.session.scalar(select(AuditEvent).where(AuditEvent.action == a))
                       for a in ("staff:totp:reset", "staff:account:disabled"))
    assert reset.actor_type == "staff" and reset.details["reason"] == "Mất điện thoại"
    assert disabled.actor_id == str(boss.id) and disabled.details["reason"] == "Đã nghỉ việc"


def test_change_own_password(ctx, counters):
    staff = make()
    with pytest.raises(InvalidInput) as error:
        sa.change_password(db.session, staff, "not it", "a-new-long-password-2026",
                           passwords=FAST, ip=None, now=T0)
    assert error.value.field == "current_password"
    with pytest.raises(InvalidInput):
        sa.change_password(db.session, staff, PASSWORD, "short", passwords=FAST, ip=None,
                           now=T0)
    version = staff.session_version
    sa.change_password(db.session, staff, PASSWORD, "a-new-long-password-2026",
                       passwords=FAST, ip=None, now=T0)
    db.session.commit()
    assert staff.session_version == version + 1
    assert login(staff.username, "a-new-long-password-2026", counters).ok


# --- sign-out and known browsers ---------------------------------------------------------------


def test_sign_out_ends_every_console_session_and_is_audited(ctx):
    staff = make()
    version = staff.session_version
    sa.sign_out(db.session, staff, ip="192.0.2.7", now=T0)
    db.session.commit()
    assert staff.session_version == version + 1
    entry = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "staff:logout"))
    assert entry.actor_id == str(staff.id) and entry.details["all_sessions"] is True


def _under_delay(staff: StaffAccount, counters, now: datetime) -> None:  # noqa: ANN001
    """A stranger's guesses: the account waits (the fifth failure means a delay)."""
    for _ in range(throttle.FREE_ATTEMPTS):
        assert login(staff.username, "wrong password!", counters, now).outcome \
            is sa.Outcome.WRONG
    assert login(staff.username, PASSWORD, counters, now).outcome is sa.Outcome.THROTTLED


def login_from(cookie: str | None, username: str, password: str, counters,  # noqa: ANN001
               now: datetime) -> sa.Attempt:
    attempt = sa.authenticate(db.session, username, password, passwords=FAST,
                              counters=counters, secret_key=KEY, ip="192.0.2.2", now=now,
                              device_cookie=cookie)
    db.session.commit()
    return attempt


def test_a_known_browser_is_judged_on_its_own_counter(ctx, counters):
    staff = make()
    secret = enrolled(staff)
    cookie = sa.remember_device(staff, None, secret_key=KEY)
    now = T0 + timedelta(minutes=1)
    _under_delay(staff, counters, now)
    db.session.refresh(staff)
    failures = staff.failed_attempts
    # The staff member's browser: checked at once, right or wrong; the account's counter
    # neither grows with its mistakes nor starts again with its success.
    assert login_from(cookie, staff.username, "typo password!", counters, now).outcome \
        is sa.Outcome.WRONG
    assert login_from(cookie, staff.username, PASSWORD, counters, now).ok
    result = sa.verify_totp(db.session, staff, code_at(secret, now), secret_key=KEY,
                            ip=None, now=now, counters=counters, device_cookie=cookie)
    db.session.commit()
    assert result.ok
    db.session.refresh(staff)
    assert staff.failed_attempts == failures
    entries = list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(["staff:login:failure", "staff:login:success"]))
        .order_by(AuditEvent.id)))
    assert entries[-2].details["known_device"] is True
    assert entries[-2].details["device_failures"] == 1
    assert entries[-1].details["known_device"] is True
    # Unknown browsers, forged proofs and the citizens' device token still wait.
    token = cookie.split(".")[0]
    for other in (None, sa.remember_device(staff, None, secret_key="another key"),
                  token, token + "." + "A" * 22):
        assert login_from(other, staff.username, PASSWORD, counters, now).outcome \
            is sa.Outcome.THROTTLED


def test_a_known_browser_has_its_own_delays(ctx, counters):
    staff = make()
    enrolled(staff)
    cookie = sa.remember_device(staff, None, secret_key=KEY)
    now = T0 + timedelta(minutes=1)
    for _ in range(throttle.FREE_ATTEMPTS):
        assert login_from(cookie, staff.username, "wrong password!", counters, now).outcome \
            is sa.Outcome.WRONG
    assert login_from(cookie, staff.username, PASSWORD, counters, now).outcome \
        is sa.Outcome.THROTTLED
    db.session.refresh(staff)
    assert not staff.failed_attempts  # the account itself never waited
    assert login(staff.username, PASSWORD, counters, now).ok


def test_device_cookie_remembers_accounts_per_browser(ctx):
    first, second = make("canbo.a"), make("canbo.b")
    enrolled(first)
    enrolled(second)
    cookie = sa.remember_device(first, None, secret_key=KEY)
    both = sa.remember_device(second, cookie, secret_key=KEY)
    store = throttle.LimiterCounters(MemoryStorage())
    assert both.split(".")[0] == cookie.split(".")[0]  # one token per browser
    assert sa.remember_device(second, both, secret_key=KEY) == both  # no duplicates
    assert sa.known_device(second, cookie, counters=store, secret_key=KEY) is None
    one = sa.known_device(first, both, counters=store, secret_key=KEY)
    two = sa.known_device(second, both, counters=store, secret_key=KEY)
    assert one is not None and two is not None and one.key != two.key
    # At most MAX_DEVICE_ACCOUNTS accounts: the oldest is forgotten.
    crowded = both
    for n in range(sa.MAX_DEVICE_ACCOUNTS):
        other = make(f"canbo.x{n}")
        enrolled(other)
        crowded = sa.remember_device(other, crowded, secret_key=KEY)
    assert len(crowded.split(".")) == 1 + sa.MAX_DEVICE_ACCOUNTS
    assert sa.known_device(first, crowded, counters=store, secret_key=KEY) is None
    for junk in ("", "x" * 5000, "." * 50, cookie.split(".")[0] + ".<script>"):
        assert sa.known_device(first, junk, counters=store, secret_key=KEY) is None


def test_totp_reset_forgets_the_known_browsers(ctx, counters):
    boss = make("boss", "superadmin", ())
    staff = make()
    enrolled(staff)
    cookie = sa.remember_device(staff, None, secret_key=KEY)
    db.session.expire_all()  # the proof survives a round trip to the database
    assert sa.known_device(staff, cookie, counters=counters, secret_key=KEY) is not None
    sa.reset_totp(db.session, staff, reason="Mất điện thoại", actor=boss, ip=None, now=T0)
    assert sa.known_device(staff, cookie, counters=counters, secret_key=KEY) is None
    enrolled(staff, T0 + timedelta(minutes=5))
    assert sa.known_device(staff, cookie, counters=counters, secret_key=KEY) is None
