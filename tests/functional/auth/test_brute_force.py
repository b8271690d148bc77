"""Brute-force defence at /login: growing delays and their cap, the same answers for
identifiers without an account, the known-device exemption, the per-IP limit, new-device
notices. The sign-in page's clock is a fixed, hand-moved one: nothing sleeps."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.auth import guard
from idp.extensions import db
from idp.models import AuditEvent, Citizen, KnownDevice, OutboxMessage, SsoSession
from idp.services import accounts, throttle
from idp.services.clock import utcnow
from idp.services.passwords import PasswordService
from tests.conftest import TEST_PASSWORD, AuthActions, csrf_token

WRONG = "not the password"
GENERIC = ("Số CCCD hoặc số điện thoại, hoặc mật khẩu chưa đúng. Vui lòng kiểm tra lại rồi "
           "thử lại.")


class Clock:
    def __init__(self) -> None:
        self.now = utcnow().replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def app(app_factory) -> Flask:  # noqa: ANN001
    return app_factory(TNID_LOGIN_RATE_LIMIT="10000/minute")  # the per-IP limit has its test


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fixed = Clock()
    monkeypatch.setattr("idp.auth.login.utcnow", fixed)
    return fixed


def answer(response) -> tuple[int, str]:  # noqa: ANN001
    """What the person at the keyboard sees: the status and the page's error line."""
    match = re.search(r'id="login-error">(.*?)</p>', response.text, re.S)
    text = re.sub(r"<[^>]+>", "", match.group(1)) if match else ""
    return response.status_code, html.unescape(text).strip()


def edit(app: Flask, citizen_id, **values) -> None:  # noqa: ANN001, ANN003
    with app.app_context():
        row = db.session.get(Citizen, citizen_id)
        for name, value in values.items():
            setattr(row, name, value)
        db.session.commit()


def sessions(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(SsoSession))


def test_delays_grow_then_stop_at_the_cap(app, auth, make_citizen, clock):
    citizen = make_citizen()
    for _ in range(5):  # typing mistakes cost nothing
        assert answer(auth.login(citizen.cccd, WRONG)) == (401, GENERIC)
    refused = auth.login(citizen.cccd)  # even the right password waits
    assert refused.status_code == 429
    assert answer(refused)[1].endswith("Vui lòng thử lại sau 1 giây.")
    assert refused.headers["Retry-After"] == "1"
    assert sessions(app) == 0
    clock.advance(seconds=1)
    assert answer(auth.login(citizen.cccd, WRONG))[0] == 401
    assert answer(auth.login(citizen.cccd, WRONG))[1].endswith("sau 2 giây.")
    clock.advance(seconds=2)
    auth.login(citizen.cccd, WRONG)
    assert answer(auth.login(citizen.cccd, WRONG))[1].endswith("sau 4 giây.")
    edit(app, citizen.id, failed_attempts=60, last_failure_at=clock.now)
    capped = auth.login(citizen.cccd)
    assert capped.status_code == 429
    assert answer(capped)[1].endswith("Vui lòng thử lại sau 15 phút.")
    clock.advance(minutes=14, seconds=59)
    assert answer(auth.login(citizen.cccd))[1].endswith("sau 1 giây.")
    clock.advance(seconds=1)
    assert auth.login(citizen.cccd).status_code == 302
    with app.app_context():
        row = db.session.get(Citizen, citizen.id)
        assert row.failed_attempts == 0 and row.last_failure_at is None  # success resets


def test_refused_attempts_are_not_counted(app, auth, make_citizen, clock):
    citizen = make_citizen()
    edit(app, citizen.id, failed_attempts=8, last_failure_at=clock.now)
    for _ in range(3):
        assert auth.login(citizen.cccd, WRONG).status_code == 429
    with app.app_context():
        assert db.session.get(Citizen, citizen.id).failed_attempts == 8


@pytest.mark.parametrize("unknown", ["019085999999", "0988888888", "not an id"])
def test_unknown_identifiers_get_exactly_the_answers_of_an_account(app, make_citizen, clock,
                                                                   unknown):
    citizen = make_citizen()
    known_browser, unknown_browser = (AuthActions(app.test_client()),
                                      AuthActions(app.test_client()))
    seen_known, seen_unknown = [], []
    for _ in range(10):
        seen_known.append(answer(known_browser.login(citizen.cccd, WRONG)))
        seen_unknown.append(answer(unknown_browser.login(unknown, WRONG)))
        clock.advance(seconds=1)
    assert seen_known == seen_unknown
    assert {status for status, _ in seen_known} == {401, 429}

    # Up to the lock: 99 failures an hour ago on both sides, then one more each.
    edit(app, citizen.id, failed_attempts=99, last_failure_at=clock.now - timedelta(hours=1))
    with app.test_request_context():
        key = throttle.counter_key(app.config["SECRET_KEY"], "signin",
                                   accounts.canonical_identifier(unknown))
        guard.counters().touch(key, throttle.Counter(99, clock.now - timedelta(hours=1)))
    last_known = [answer(known_browser.login(citizen.cccd, WRONG)),
                  answer(known_browser.login(citizen.cccd, TEST_PASSWORD))]
    last_unknown = [answer(unknown_browser.login(unknown, WRONG)),
                    answer(unknown_browser.login(unknown, TEST_PASSWORD))]
    assert last_known == last_unknown
    assert last_known[1][0] == 403 and "Tài khoản tạm khóa" in last_known[1][1]


def test_the_same_number_written_differently_shares_one_counter(app, auth, clock):
    for spelling in ("0988 888 888", "+84988888888", "84988888888", "0988888888", "098-888-8888"):
        auth.login(spelling, WRONG)
    assert answer(auth.login("(+84) 988 888 888", WRONG))[0] == 429


def test_lock_page_points_to_the_unlock_screen(app, auth, make_citizen, clock):
    citizen = make_citizen()
    edit(app, citizen.id, failed_attempts=100, last_failure_at=clock.now, unlock_required=True)
    response = auth.login(citizen.cccd)
    assert response.status_code == 403
    assert 'href="/unlock"' in response.text and "Mở khóa tài khoản" in response.text
    assert sessions(app) == 0


class CountingPasswords(PasswordService):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_kib=64, parallelism=1)
        self.calls: list[str] = []

    def verify(self, password_hash: str | None, password: str) -> bool:
        self.calls.append("verify")
        return super().verify(password_hash, password)

    def verify_dummy(self, password: str) -> None:
        self.calls.append("verify_dummy")
        super().verify_dummy(password)


def test_every_checked_attempt_costs_one_hash_and_refused_ones_none(app, make_citizen):
    """Known or not, the argon2 work is the same: one hash when the attempt is checked, none
    when it is refused (so the throttled answer is fast for both, not for one)."""
    citizen = make_citizen()
    now = utcnow()
    with app.test_request_context():
        store = guard.counters()
        for identifier in (citizen.cccd, "019085999999"):
            spy = CountingPasswords()
            outcomes = [accounts.password_sign_in(
                db.session, identifier, WRONG, passwords=spy, counters=store,
                secret_key="k" * 48, device_token=None, ip="10.0.0.1", now=now).outcome
                for _ in range(7)]
            db.session.commit()
            assert outcomes == [accounts.Outcome.WRONG] * 5 + [accounts.Outcome.THROTTLED] * 2
            assert len(spy.calls) == 5, (identifier, spy.calls)
        failures = db.session.scalars(select(AuditEvent.citizen_id).where(
            AuditEvent.action == "auth:password:failure")).all()
        assert failures.count(citizen.id) == 5 and failures.count(None) == 5  # both audited


def test_per_ip_limit_answers_in_vietnamese(app_factory):
    app = app_factory(TNID_LOGIN_RATE_LIMIT="2/minute")
    browser = AuthActions(app.test_client())
    assert [browser.login("019085000001", WRONG).status_code for _ in range(2)] == [401, 401]
    limited = browser.login("019085000001", WRONG)
    assert limited.status_code == 429
    assert "Bạn đã thử quá nhiều lần. Vui lòng thử lại sau vài phút." in limited.text


# --- known devices -----------------------------------------------------------------------------


def device_cookie(response) -> str | None:  # noqa: ANN001
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(("tnid_device=", "__Host-tnid_device=")):
            return header
    return None


def new_device_texts(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(OutboxMessage.body).where(
            OutboxMessage.purpose == "new_device")))


def sign_out(browser: FlaskClient) -> None:
    page = browser.get("/logout")
    browser.post("/logout", data={"csrf_token": csrf_token(page.text)})


def test_known_device_is_not_made_to_wait_by_an_attacker(app, make_citizen, clock):
    citizen = make_citizen()
    home, attacker = app.test_client(), app.test_client()
    assert AuthActions(home).login(citizen.cccd).status_code == 302
    sign_out(home)
    for _ in range(8):
        AuthActions(attacker).login(citizen.cccd, WRONG)
    assert AuthActions(attacker).login(citizen.cccd).status_code == 429
    # The citizen's own browser: its own counter, not the account's.
    assert answer(AuthActions(home).login(citizen.cccd, WRONG)) == (401, GENERIC)
    assert AuthActions(home).login(citizen.cccd).status_code == 302
    with app.app_context():
        assert db.session.get(Citizen, citizen.id).failed_attempts == 5  # attacker's, kept
    edit(app, citizen.id, failed_attempts=100, unlock_required=True)
    sign_out(home)
    assert AuthActions(home).login(citizen.cccd).status_code == 302  # even when locked
    assert AuthActions(attacker).login(citizen.cccd).status_code == 403


def test_a_forged_device_cookie_gives_no_exemption(app, make_citizen, clock):
    citizen = make_citizen()
    edit(app, citizen.id, failed_attempts=10, last_failure_at=clock.now)
    browser = app.test_client()
    browser.set_cookie("tnid_device", "A" * 43)
    assert AuthActions(browser).login(citizen.cccd).status_code == 429


def test_new_device_is_told_by_sms_but_not_the_first_one(app, make_citizen, clock):
    citizen = make_citizen()
    first, second = app.test_client(), app.test_client()
    response = AuthActions(first).login(citizen.cccd)
    cookie = device_cookie(response)
    assert cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert new_device_texts(app) == []  # right after registration: only recorded
    sign_out(first)
    AuthActions(first).login(citizen.cccd)
    assert new_device_texts(app) == []  # same browser
    AuthActions(second).login(citizen.cccd, User_Agent="Mozilla/5.0 (Windows NT 10.0; Win64; "
                              "x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 "
                              "Safari/537.36")
    [text] = new_device_texts(app)
    assert "vừa được đăng nhập trên thiết bị mới: Chrome trên Windows, lúc" in text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(KnownDevice)) == 2
        success = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "auth:login:success")).all()
        assert len(success) == 3 and success[-1].details["new_device"] is True
        assert success[0].details["method"] == "pwd" and success[0].citizen_id == citizen.id


def test_device_cookie_is_host_prefixed_and_secure_under_https(app_factory, make_citizen):
    app = app_factory(TNID_ISSUER="https://id.thainguyen.gov.vn")
    citizen = make_citizen()
    browser = app.test_client()
    base = "https://id.thainguyen.gov.vn"
    page = browser.get("/login", base_url=base)
    response = browser.post("/login", base_url=base, data={
        "csrf_token": csrf_token(page.text), "identifier": citizen.cccd,
        "password": TEST_PASSWORD})
    cookie = device_cookie(response)
    assert cookie.startswith("__Host-tnid_device=") and "Secure" in cookie
    assert "Domain=" not in cookie and "Path=/" in cookie


# --- parallel requests: one check per delay window ----------------------------------------------


def parallel_sign_ins(app: Flask, identifier: str, n: int = 8) -> list[int]:
    """``n`` browsers (other addresses) post a wrong password at once; the statuses."""
    import threading

    browsers = []
    for i in range(n):
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = f"10.0.0.{i + 1}"
        browsers.append((browser, csrf_token(browser.get("/login").text)))
    statuses, lock, barrier = [], threading.Lock(), threading.Barrier(n)

    def run(browser: FlaskClient, token: str) -> None:
        barrier.wait()
        response = browser.post("/login", data={"csrf_token": token, "identifier": identifier,
                                                "password": "wrong password x"})
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=run, args=pair) for pair in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses)


def test_parallel_guesses_after_a_delay_get_one_check(app, make_citizen):
    """Eight requests at once against the real database, past a delay: one password is
    checked (one hash, one failure counted), seven are told to wait."""
    citizen = make_citizen()
    edit(app, citizen.id, failed_attempts=20, last_failure_at=utcnow() - timedelta(hours=1))
    assert parallel_sign_ins(app, citizen.cccd) == [401] + [429] * 7
    with app.app_context():
        assert db.session.get(Citizen, citizen.id).failed_attempts == 21
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "auth:password:failure")) == 1


def test_parallel_guesses_at_an_unknown_identifier_get_one_check(app):  # noqa: ANN001
    """A ghost counter claims its window the same way (no answer tells it apart)."""
    key = throttle.counter_key("t" * 48, "signin", accounts.canonical_identifier("019085999999"))
    with app.app_context():
        guard.counters().touch(key, throttle.Counter(20, utcnow() - timedelta(hours=1)))
    assert parallel_sign_ins(app, "019085999999") == [401] + [429] * 7
