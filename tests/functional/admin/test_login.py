"""Staff sign-in (/admin/login): password, then a TOTP code or the forced enrolment; the
half-way state, throttling, sessions that end, safe redirects, CSRF, audit."""

from __future__ import annotations

import html
import re
import time
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.admin.guard import STAFF_KEY
from idp.admin.login import PENDING_KEY
from idp.extensions import db
from idp.models import AuditEvent, StaffAccount
from idp.services import staff_accounts
from idp.services.clock import utcnow
from tests.conftest import TEST_PASSWORD, AuthActions, csrf_token
from tests.functional.admin.conftest import SANG_MOC, STAFF_PASSWORD

KEY = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
WRONG = "not the staff password"
GENERIC = "Tên đăng nhập hoặc mật khẩu chưa đúng. Vui lòng kiểm tra lại rồi thử lại."


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
    monkeypatch.setattr("idp.admin.login.utcnow", fixed)
    return fixed


@pytest.fixture
def enrolled(app: Flask, make_staff):  # noqa: ANN001, ANN201
    """``enrolled(role, communes)``: staff whose authenticator app has the key ``KEY``."""
    def make(role: str = "officer", communes=(SANG_MOC,), **kwargs) -> StaffAccount:  # noqa: ANN001, ANN003
        staff = make_staff(role, communes, **kwargs)
        with app.app_context():
            row = db.session.get(StaffAccount, staff.id)
            staff_accounts.enable_with_secret(db.session, row, KEY,
                                              secret_key=app.config["SECRET_KEY"],
                                              now=utcnow() - timedelta(hours=1))
            db.session.commit()
        return staff
    return make


def code_at(when: datetime, key: str = KEY) -> str:
    return pyotp.TOTP(key).at(when.replace(tzinfo=UTC))


def password_step(client: FlaskClient, username: str, password: str = STAFF_PASSWORD,
                  next_path: str | None = None, **data: str):  # noqa: ANN201
    url = "/admin/login" + (f"?next={next_path}" if next_path else "")
    page = client.get(url)
    return client.post(url, data={"csrf_token": csrf_token(page.text), "username": username,
                                  "password": password, **data})


def code_step(client: FlaskClient, code: str, url: str = "/admin/login/code"):  # noqa: ANN201
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    return client.post(url, data={"csrf_token": csrf_token(page.text), "code": code})


def error_of(response) -> str:  # noqa: ANN001
    match = re.search(r'id="(?:login|code)-error">(.*?)</p>', response.text, re.S)
    return html.unescape(match.group(1)).strip() if match else ""


def actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def refresh(app: Flask, staff: StaffAccount) -> StaffAccount:
    with app.app_context():
        row = db.session.get(StaffAccount, staff.id)
        db.session.expunge(row)
        return row


def test_page_offers_username_and_password_with_autocomplete(client):
    page = client.get("/admin/login")
    assert page.status_code == 200
    assert 'autocomplete="username"' in page.text
    assert 'autocomplete="current-password"' in page.text


def test_password_then_code_signs_in(app, client, enrolled, clock):
    staff = enrolled()
    answer = password_step(client, staff.username.upper())
    assert answer.status_code == 302 and answer.location.endswith("/admin/login/code")
    page = client.get("/admin/login/code")
    assert 'autocomplete="one-time-code"' in page.text and 'inputmode="numeric"' in page.text
    done = code_step(client, code_at(clock.now))
    assert done.status_code == 302 and done.location.endswith("/admin/")
    home = client.get("/admin/")
    assert home.status_code == 200 and staff.username in home.text
    assert "Xã Sảng Mộc, Thái Nguyên (05719)" in home.text
    assert actions(app)[-1] == "staff:login:success"
    assert refresh(app, staff).last_sign_in_at == clock.now


def test_first_sign_in_forces_enrolment(app, client, make_staff, clock):
    staff = make_staff("auditor")
    answer = password_step(client, staff.username)
    assert answer.location.endswith("/admin/login/enrol")
    assert client.get("/admin/login/code").location.endswith("/admin/login/enrol")
    page = client.get("/admin/login/enrol")
    assert "<svg" in page.text and "qr-code" in page.text
    key = re.search(r'id="setup-key">([^<]+)<', page.text).group(1).replace(" ", "")
    assert client.get("/admin/login/enrol").text.count(re.search(
        r'id="setup-key">([^<]+)<', page.text).group(1)) == 1  # a reload keeps the key
    wrong = client.post("/admin/login/enrol", data={"csrf_token": csrf_token(page.text),
                                                    "code": "12345"})
    assert wrong.status_code == 400 and STAFF_KEY not in _session(client)
    done = client.post("/admin/login/enrol", data={"csrf_token": csrf_token(page.text),
                                                   "code": code_at(clock.now, key)})
    assert done.status_code == 302 and done.location.endswith("/admin/")
    assert client.get("/admin/").status_code == 200
    assert staff_accounts.is_enrolled(refresh(app, staff))
    assert actions(app)[-2:] == ["staff:totp:enrolled", "staff:login:success"]


def _session(client: FlaskClient) -> dict:
    with client.session_transaction() as session:
        return dict(session)


def test_wrong_password_and_unknown_username_get_the_same_answer(app, client, enrolled,
                                                                 clock):
    staff = enrolled()
    known = password_step(client, staff.username, WRONG)
    unknown = password_step(client, "khong.ton.tai", WRONG)
    assert (known.status_code, error_of(known)) == (401, GENERIC)
    assert (unknown.status_code, error_of(unknown)) == (401, GENERIC)
    assert PENDING_KEY not in _session(client)
    with app.app_context():
        entries = list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "staff:login:failure").order_by(AuditEvent.id)))
    assert [e.details.get("account") for e in entries] == [None, "none"]
    assert entries[0].details["factor"] == "password" and WRONG not in str(entries[0].details)


def test_delays_grow_for_known_and_unknown_usernames_alike(app, client, enrolled, clock):
    staff = enrolled()
    for username in (staff.username, "khong.ton.tai"):
        for _ in range(5):
            assert password_step(client, username, WRONG).status_code == 401
        refused = password_step(client, username)  # even the right password waits
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        assert error_of(refused) == "Bạn đã nhập sai nhiều lần. Vui lòng thử lại sau 1 giây."
    clock.advance(seconds=1)
    assert password_step(client, staff.username, WRONG).status_code == 401
    assert password_step(client, staff.username).headers["Retry-After"] == "2"
    clock.advance(seconds=2)
    assert password_step(client, staff.username).status_code == 302


def test_wrong_and_replayed_codes_are_refused_and_counted(app, client, enrolled, clock):
    staff = enrolled()
    password_step(client, staff.username)
    right = code_at(clock.now)
    wrong = "000000" if right != "000000" else "111111"
    refused = code_step(client, wrong)
    assert refused.status_code == 401 and "không đúng" in error_of(refused)
    assert STAFF_KEY not in _session(client)
    assert code_step(client, right).status_code == 302
    # Signed out, the same code again (another browser that watched it being typed).
    other = app.test_client()
    password_step(other, staff.username)
    replay = code_step(other, right)
    assert replay.status_code == 401 and "đã được sử dụng" in error_of(replay)
    with app.app_context():
        factors = [e.details["factor"] for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "staff:login:failure"))]
    assert factors == ["totp", "totp"]


def test_codes_are_throttled_too(app, client, enrolled, clock):
    staff = enrolled()
    password_step(client, staff.username)
    wrong = "000000" if code_at(clock.now) != "000000" else "111111"
    for _ in range(5):
        assert code_step(client, wrong).status_code == 401
    refused = code_step(client, code_at(clock.now))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"


def test_disabled_account_answers_like_a_wrong_password(app, client, enrolled, clock):
    staff = enrolled()
    with app.app_context():
        row = db.session.get(StaffAccount, staff.id)
        staff_accounts.disable(db.session, row, reason="Đã nghỉ việc", actor=None, ip=None,
                               now=utcnow())
        db.session.commit()
    answer = password_step(client, staff.username)
    assert (answer.status_code, error_of(answer)) == (401, GENERIC)


def sign_in(client: FlaskClient, staff: StaffAccount, clock: Clock,
            next_path: str | None = None):  # noqa: ANN201
    password_step(client, staff.username, next_path=next_path)
    answer = code_step(client, code_at(clock.now))
    clock.advance(seconds=30)  # the next sign-in uses a fresh step
    return answer


def test_session_version_bump_ends_console_sessions(app, client, enrolled, clock):
    staff = enrolled("superadmin", ())
    sign_in(client, staff, clock)
    assert client.get("/admin/").status_code == 200
    with app.app_context():
        row = db.session.get(StaffAccount, staff.id)
        staff_accounts.reset_totp(db.session, row, reason="Mất điện thoại", actor=None,
                                  ip=None, now=utcnow())
        db.session.commit()
    answer = client.get("/admin/")
    assert answer.status_code == 302 and "/admin/login" in answer.location
    # The next sign-in enrols a new authenticator app.
    assert password_step(client, staff.username).location.endswith("/admin/login/enrol")


def test_idle_timeout(app, client, enrolled, clock):
    staff = enrolled()
    sign_in(client, staff, clock)
    with client.session_transaction() as session:
        session[STAFF_KEY] = {**session[STAFF_KEY], "seen": int(time.time()) - 16 * 60}
    answer = client.get("/admin/", follow_redirects=True)
    assert "/admin/login" in answer.request.path
    assert "15 phút" in answer.text


def test_half_way_state_opens_no_console_page(app, client, enrolled, make_staff, clock):
    staff = enrolled("superadmin", ())
    password_step(client, staff.username)
    assert PENDING_KEY in _session(client) and STAFF_KEY not in _session(client)
    for path in ("/admin/", "/admin/staff"):
        answer = client.get(path)
        assert answer.status_code == 302 and "/admin/login" in answer.location
    # Nor does a crafted pending state for an account never enrolled: it only reaches enrol.
    fresh = make_staff("superadmin")
    password_step(client, fresh.username)
    assert client.get("/admin/staff").status_code == 302


def test_half_way_state_expires_and_follows_the_account(app, client, enrolled, clock):
    staff = enrolled()
    password_step(client, staff.username)
    with client.session_transaction() as session:
        session[PENDING_KEY] = {**session[PENDING_KEY], "at": int(time.time()) - 6 * 60}
    answer = client.get("/admin/login/code")
    assert answer.status_code == 302 and answer.location.endswith("/admin/login")
    password_step(client, staff.username)
    with app.app_context():
        row = db.session.get(StaffAccount, staff.id)
        row.session_version += 1
        db.session.commit()
    assert client.get("/admin/login/code").location.endswith("/admin/login")


@pytest.mark.parametrize("target", ["https://evil.example/admin", "//evil.example/admin",
                                    "/account", "/admin\\@evil.example"])
def test_next_never_leaves_the_console(app, client, enrolled, clock, target):
    staff = enrolled()
    answer = sign_in(client, staff, clock, next_path=target)
    assert answer.status_code == 302 and answer.location == "/admin/"


def test_next_returns_to_the_console_page_asked_for(app, client, enrolled, clock):
    staff = enrolled("superadmin", ())
    first = client.get("/admin/staff")
    assert first.status_code == 302 and "next=" in first.location
    target = first.location.split("?", 1)[1]
    page = client.get("/admin/login?" + target)
    client.post("/admin/login?" + target, data={
        "csrf_token": csrf_token(page.text), "username": staff.username,
        "password": STAFF_PASSWORD})
    answer = code_step(client, code_at(clock.now))
    assert answer.location.startswith("/admin/staff")


def test_forms_need_the_csrf_token(app, client, enrolled, clock):
    staff = enrolled()
    answer = client.post("/admin/login", data={"username": staff.username,
                                               "password": STAFF_PASSWORD})
    assert answer.status_code == 400 and PENDING_KEY not in _session(client)
    password_step(client, staff.username)
    answer = client.post("/admin/login/code", data={"code": code_at(clock.now)})
    assert answer.status_code == 400 and STAFF_KEY not in _session(client)
    assert code_step(client, code_at(clock.now)).status_code == 302
    client.post("/admin/logout")  # no token: still signed in
    assert client.get("/admin/").status_code == 200


def test_logout_ends_the_console_but_not_the_citizen_session(app, client, enrolled, clock,
                                                             make_citizen):
    citizen = make_citizen()
    assert AuthActions(client).login(citizen.cccd, TEST_PASSWORD).status_code == 302
    staff = enrolled()
    sign_in(client, staff, clock)
    assert client.get("/").status_code == 200
    page = client.get("/admin/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = client.post("/admin/logout", data={"csrf_token": token})
    assert answer.status_code == 302 and answer.location.endswith("/admin/login")
    assert client.get("/admin/").status_code == 302
    assert client.get("/").status_code == 200  # the citizen is still signed in
    assert actions(app)[-1] == "staff:logout"


def test_per_ip_limit(app_factory, make_staff):
    app = app_factory(TNID_LOGIN_RATE_LIMIT="2/minute")
    client = app.test_client()
    assert [password_step(client, "someone", WRONG).status_code for _ in range(2)] == [401, 401]
    assert password_step(client, "someone", WRONG).status_code == 429


def _parallel_password_steps(app: Flask, username: str, n: int = 8) -> list[int]:
    """``n`` browsers (other addresses) post a wrong password at once; the statuses."""
    import threading

    browsers = []
    for i in range(n):
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = f"10.0.0.{i + 1}"
        browsers.append((browser, csrf_token(browser.get("/admin/login").text)))
    statuses, lock, barrier = [], threading.Lock(), threading.Barrier(n)

    def run(browser: FlaskClient, token: str) -> None:
        barrier.wait()
        response = browser.post("/admin/login", data={
            "csrf_token": token, "username": username, "password": WRONG})
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=run, args=pair) for pair in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses)


def test_parallel_guesses_after_a_delay_get_one_check(app, enrolled):
    """Eight requests at once past a delay: one password checked and counted, seven wait."""
    staff = enrolled()
    with app.app_context():
        row = db.session.get(StaffAccount, staff.id)
        row.failed_attempts, row.last_failure_at = 20, utcnow() - timedelta(hours=1)
        db.session.commit()
    assert _parallel_password_steps(app, staff.username) == [401] + [429] * 7
    assert refresh(app, staff).failed_attempts == 21
    assert len([a for a in actions(app) if a == "staff:login:failure"]) == 1


def test_one_code_in_parallel_signs_in_once(app, enrolled):
    """The same right code from several half-way sign-ins at once: one wins its step."""
    from tests.support.parallel import run_parallel

    staff = enrolled()
    now = utcnow()
    code = code_at(now)

    def attempt(_: int) -> bool:
        row = db.session.get(StaffAccount, staff.id)
        result = staff_accounts.verify_totp(db.session, row, code,
                                            secret_key=app.config["SECRET_KEY"], ip=None,
                                            now=now)
        db.session.commit()
        return result.ok

    assert sorted(run_parallel(app, attempt, 4)) == [False, False, False, True]


# --- sign-out ends every copy; an absolute lifetime; known browsers ------------------------------


def _logout(client: FlaskClient):  # noqa: ANN201
    page = client.get("/admin/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/admin/logout", data={"csrf_token": token}, follow_redirects=True)


def _copy(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of ``client``'s session cookie (a stolen cookie)."""
    name = app.config["SESSION_COOKIE_NAME"]
    thief = app.test_client()
    thief.set_cookie(name, client.get_cookie(name).value)
    return thief


def test_signing_out_ends_copies_of_the_cookie_and_other_devices(app, client, enrolled, clock):
    staff = enrolled()
    sign_in(client, staff, clock)
    other_device = app.test_client()
    sign_in(other_device, staff, clock)
    thief = _copy(app, client)
    assert thief.get("/admin/").status_code == 200
    done = _logout(client)
    assert "/admin/login" in done.request.path
    assert "trên thiết bị này và trên mọi thiết bị khác" in done.text
    for browser in (thief, other_device):
        answer = browser.get("/admin/")
        assert answer.status_code == 302 and "/admin/login" in answer.location
    assert refresh(app, staff).session_version == staff.session_version + 1
    with app.app_context():
        entry = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "staff:logout")).one()
    assert entry.actor_id == str(staff.id) and entry.details["all_sessions"] is True
    # The staff member signs in again as usual.
    assert sign_in(client, staff, clock).location.endswith("/admin/")
    assert client.get("/admin/").status_code == 200


def test_console_session_ends_8_hours_after_sign_in_even_when_used(app, client, enrolled,
                                                                    clock):
    staff = enrolled()
    sign_in(client, staff, clock)
    with client.session_transaction() as session:
        session[STAFF_KEY] = {**session[STAFF_KEY], "iat": int(time.time()) - 8 * 3600 + 60,
                              "seen": int(time.time()) - 40}
    assert client.get("/admin/").status_code == 200  # busy: "seen" moves on...
    assert _session(client)[STAFF_KEY]["iat"] <= int(time.time()) - 8 * 3600 + 60  # ...not iat
    with client.session_transaction() as session:
        session[STAFF_KEY] = {**session[STAFF_KEY], "iat": int(time.time()) - 8 * 3600 - 1}
    answer = client.get("/admin/", follow_redirects=True)
    assert "/admin/login" in answer.request.path and "8 giờ" in answer.text
    assert STAFF_KEY not in _session(client)
    # A cookie without the sign-in time (older than this rule) is not accepted either.
    sign_in(client, staff, clock)
    with client.session_transaction() as session:
        session[STAFF_KEY] = {k: v for k, v in session[STAFF_KEY].items() if k != "iat"}
    assert client.get("/admin/").status_code == 302


def _staff_device_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie("tnid_staff_device")
    return cookie.value if cookie is not None else None


def test_a_browser_that_signed_in_before_is_not_kept_out_by_strangers(app, client, enrolled,
                                                                       clock):
    staff = enrolled()
    sign_in(client, staff, clock)  # the staff member's own browser, once
    assert _staff_device_cookie(client) and client.get_cookie("tnid_device") is None
    _logout(client)
    attacker = app.test_client()
    for _ in range(5):
        assert password_step(attacker, staff.username, WRONG).status_code == 401
    refused = password_step(attacker, staff.username)
    assert refused.status_code == 429  # the account is under delay for strangers...
    stranger = password_step(app.test_client(), staff.username)
    assert stranger.status_code == 429  # ...and for any browser it does not know
    failures = refresh(app, staff).failed_attempts
    # The known browser: its password is checked at once, wrong or right, then the code.
    assert password_step(client, staff.username, WRONG).status_code == 401
    assert password_step(client, staff.username).location.endswith("/admin/login/code")
    assert code_step(client, code_at(clock.now)).location.endswith("/admin/")
    assert client.get("/admin/").status_code == 200
    assert refresh(app, staff).failed_attempts == failures  # strangers still wait
    assert password_step(attacker, staff.username).status_code == 429


def test_staff_device_cookie_is_not_the_citizens(app, client, enrolled, clock, make_citizen):
    staff = enrolled()
    citizen = make_citizen()
    assert AuthActions(client).login(citizen.cccd, TEST_PASSWORD).status_code == 302
    citizen_token = client.get_cookie("tnid_device").value
    sign_in(client, staff, clock)
    staff_cookie = _staff_device_cookie(client)
    assert staff_cookie and client.get_cookie("tnid_device").value == citizen_token
    # A citizen's device cookie under the staff name proves nothing.
    fake = app.test_client()
    fake.set_cookie("tnid_staff_device", citizen_token)
    for _ in range(5):
        password_step(app.test_client(), staff.username, WRONG)
    assert password_step(fake, staff.username).status_code == 429
    header = [h for h in client.get("/admin/login").headers.getlist("Set-Cookie")]
    assert not any(h.startswith("tnid_staff_device") for h in header)  # set at sign-in only
