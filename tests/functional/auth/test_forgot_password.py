"""/forgot-password: SMS code, then (with an authenticator app) a TOTP or recovery code, then a
new password that ends every session, revokes every refresh token and tells the apps; every
bad input refused with a Vietnamese message and nothing changed."""

from __future__ import annotations

import html
import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from limits.storage import MemoryStorage
from sqlalchemy import func, select, update

from idp.extensions import db
from idp.models import AuditEvent, Citizen, KnownDevice, OneTimeCode, SsoSession, Token
from idp.services import one_time_codes, recovery, throttle
from idp.services.clock import utcnow
from idp.services.one_time_codes import CodeCheck
from tests.conftest import AuthActions, csrf_token
from tests.support import second_factor as sf
from tests.support.logout import receiver, sign_in, tokens_for
from tests.support.oidc import authorize_query, pkce, register
from tests.support.token_flows import refresh

NEW_PASSWORD = "một mật khẩu mới dài 2026"


@pytest.fixture
def app(app_factory: Any) -> Flask:
    return app_factory(TNID_LOGIN_RATE_LIMIT="10000/minute", TNID_LOGOUT_DELIVERY="inline")


def post(browser: FlaskClient, path: str, **data: str):  # noqa: ANN201
    page = browser.get(path)
    token = csrf_token(page.text) if 'name="csrf_token"' in page.text else \
        csrf_token(browser.get("/forgot-password").text)
    return browser.post(path, data={"csrf_token": token, **data})


def ask(browser: FlaskClient, identifier: str):  # noqa: ANN201
    return post(browser, "/forgot-password", identifier=identifier)


def through_code(app: Flask, browser: FlaskClient, identifier: str):  # noqa: ANN201
    assert ask(browser, identifier).headers["Location"] == "/forgot-password/code"
    return post(browser, "/forgot-password/code", code=sf.last_sms_code(app, "recovery"))


def new_password(browser: FlaskClient, password: str = NEW_PASSWORD,
                 confirm: str | None = None):  # noqa: ANN201
    return post(browser, "/forgot-password/new-password", password=password,
                confirm=password if confirm is None else confirm)


def password_hash(app: Flask, citizen_id: Any) -> str:
    with app.app_context():
        return db.session.get(Citizen, citizen_id).password_hash


def error_of(response) -> str:  # noqa: ANN001
    found = re.findall(r'(?:id="factor-error"|class="field-error"[^>]*)>(.*?)</p>',
                       response.text, re.S)
    return html.unescape(" ".join(found)).strip()


def test_reset_ends_every_session_revokes_tokens_and_tells_the_apps(app, make_citizen,
                                                                    signing_keys):
    citizen = make_citizen()
    laptop, phone, lost = app.test_client(), app.test_client(), app.test_client()
    with receiver() as got:
        rp = register(app, backchannel_logout_uri=got.uri("/portal"))
        sign_in(AuthActions(laptop), citizen.cccd)
        sign_in(AuthActions(phone), citizen.cccd)
        granted = tokens_for(laptop, rp, scope="openid profile offline_access")
        assert "refresh_token" in granted
        with app.app_context():
            row = db.session.get(Citizen, citizen.id)
            row.failed_attempts, row.last_failure_at, row.unlock_required = 100, utcnow(), True
            db.session.commit()

        assert through_code(app, lost, "0912 300 001").headers["Location"] == \
            "/forgot-password/new-password"
        done = new_password(lost)
        assert done.status_code == 302 and done.headers["Location"] == "/login"
        got.wait_for(1)
        assert len(got.received("/portal")) == 1  # back-channel logout of the laptop session
    assert "Mật khẩu đã được đổi và mọi thiết bị đã được đăng xuất" in lost.get("/login").text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SsoSession)) == 0
        assert db.session.scalar(select(func.count()).select_from(Token).where(
            Token.revoked_at.is_(None))) == 0  # the offline grant too
        assert db.session.scalar(select(func.count()).select_from(KnownDevice)) == 0
        row = db.session.get(Citizen, citizen.id)
        assert (row.failed_attempts, row.unlock_required) == (0, False)
        assert row.password_changed_at is not None
        assert db.session.scalar(select(AuditEvent.details).where(
            AuditEvent.action == "auth:password:reset"))["sessions_ended"] == 2
    assert refresh(laptop, rp, granted["refresh_token"]).json["error"] == "invalid_grant"
    assert laptop.get("/").status_code == 302 and phone.get("/").status_code == 302
    [text] = sf.sms_messages(app, "password_reset")
    assert text.recipient == citizen.phone and "vừa được đặt lại" in text.body
    browser = AuthActions(lost)
    assert browser.login(citizen.cccd).status_code == 401  # the old password
    assert browser.login(citizen.cccd, NEW_PASSWORD).status_code == 302


def test_reset_keeps_the_apps_request_and_ends_at_sign_in(app, make_citizen, signing_keys):
    citizen = make_citizen()
    rp = register(app)
    browser = app.test_client()
    verifier, challenge = pkce()
    login_page = browser.get(authorize_query(rp, code_challenge=challenge,
                                             code_challenge_method="S256"))
    while login_page.status_code == 302:
        login_page = browser.get(login_page.headers["Location"])
    link = re.search(r'href="(/forgot-password\?interaction=[^"]+)"', login_page.text)
    assert link, "the sign-in page links to the recovery with the app's request"
    start = html.unescape(link.group(1))
    page = browser.get(start)
    assert "Cổng dịch vụ công" in page.text  # the app is still named
    sent = browser.post(start, data={"csrf_token": csrf_token(page.text),
                                     "identifier": citizen.cccd})
    code_url = sent.headers["Location"]
    assert code_url.startswith("/forgot-password/code?interaction=")
    page = browser.get(code_url)
    next_url = browser.post(code_url, data={"csrf_token": csrf_token(page.text),
                                            "code": sf.last_sms_code(app, "recovery")}
                            ).headers["Location"]
    assert next_url.startswith("/forgot-password/new-password?interaction=")
    page = browser.get(next_url)
    done = browser.post(next_url, data={"csrf_token": csrf_token(page.text),
                                        "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.headers["Location"].startswith("/login?interaction=")
    with app.app_context():  # not signed in automatically
        assert db.session.scalar(select(func.count()).select_from(SsoSession)) == 0
    page = browser.get(done.headers["Location"])
    signed_in = browser.post(done.headers["Location"], data={
        "csrf_token": csrf_token(page.text), "identifier": citizen.cccd,
        "password": NEW_PASSWORD})
    assert signed_in.status_code == 302 and "/authorize/resume" in signed_in.headers["Location"]


def test_unknown_identifier_walks_the_same_first_steps(app, make_citizen):
    make_citizen()
    browser = app.test_client()
    assert ask(browser, "019085999999").headers["Location"] == "/forgot-password/code"
    assert sf.sms_messages(app) == []
    wrong = post(browser, "/forgot-password/code", code="123456")
    assert wrong.status_code == 400 and "Mã chưa đúng. Bạn còn 4 lần thử." in wrong.text
    assert browser.get("/forgot-password/new-password").status_code == 400


# --- with an authenticator app ---------------------------------------------------------------


@pytest.fixture
def with_totp(app: Flask, make_citizen):  # noqa: ANN001, ANN201
    citizen = make_citizen()
    sf.enable_totp(app, citizen.id)
    return citizen


def test_totp_is_required_before_the_new_password(app, with_totp):
    browser = app.test_client()
    moved = through_code(app, browser, with_totp.cccd)
    assert moved.headers["Location"] == "/forgot-password/second-factor"
    skipped = browser.get("/forgot-password/new-password")  # no way around it
    assert skipped.status_code == 302
    assert skipped.headers["Location"] == "/forgot-password/second-factor"
    before = password_hash(app, with_totp.id)
    assert new_password(browser).status_code == 302  # redirected, nothing set
    assert password_hash(app, with_totp.id) == before
    page = browser.get("/forgot-password/second-factor")
    assert 'autocomplete="one-time-code"' in page.text and "Mã từ ứng dụng xác thực" in page.text
    wrong = post(browser, "/forgot-password/second-factor",
                 totp_code="000000" if sf.code() != "000000" else "111111")
    assert wrong.status_code == 400 and "Mã chưa đúng" in error_of(wrong)
    with app.app_context():
        assert db.session.get(Citizen, with_totp.id).failed_attempts == 1
    ok = post(browser, "/forgot-password/second-factor", totp_code=sf.code())
    assert ok.headers["Location"] == "/forgot-password/new-password"
    assert new_password(browser).headers["Location"] == "/login"
    assert password_hash(app, with_totp.id) != before
    with app.app_context():
        details = db.session.scalar(select(AuditEvent.details).where(
            AuditEvent.action == "auth:password:reset"))
        assert details["second_factor"] == "totp"


def test_a_totp_code_is_accepted_once(app, with_totp):
    code = sf.code()
    first, second = app.test_client(), app.test_client()
    through_code(app, first, with_totp.cccd)
    assert post(first, "/forgot-password/second-factor", totp_code=code).status_code == 302
    through_code(app, second, with_totp.cccd)
    replay = post(second, "/forgot-password/second-factor", totp_code=code)
    assert replay.status_code == 400 and "đã được dùng" in error_of(replay)


def test_a_recovery_code_works_once(app, with_totp):
    codes = sf.make_recovery_codes(app, with_totp.id)
    first, second = app.test_client(), app.test_client()
    through_code(app, first, with_totp.cccd)
    used = post(first, "/forgot-password/second-factor", recovery_code=codes[0].lower())
    assert used.headers["Location"] == "/forgot-password/new-password"
    through_code(app, second, with_totp.cccd)
    again = post(second, "/forgot-password/second-factor", recovery_code=codes[0])
    assert again.status_code == 400 and "Mã khôi phục này đã được dùng" in error_of(again)
    assert post(second, "/forgot-password/second-factor", recovery_code=codes[1]
                ).status_code == 302


@pytest.mark.parametrize("fields", [{}, {"totp_code": "12"}, {"recovery_code": "???"},
                                    {"totp_code": "abcdef"}])
def test_malformed_second_factor_is_refused_without_counting(app, with_totp, fields):
    browser = app.test_client()
    through_code(app, browser, with_totp.cccd)
    response = post(browser, "/forgot-password/second-factor", **fields)
    assert response.status_code == 400 and "6 chữ số" in error_of(response)
    with app.app_context():
        assert db.session.get(Citizen, with_totp.id).failed_attempts == 0


def test_second_factor_is_throttled_even_with_the_right_code(app, with_totp):
    browser = app.test_client()
    through_code(app, browser, with_totp.cccd)
    with app.app_context():
        row = db.session.get(Citizen, with_totp.id)
        row.failed_attempts, row.last_failure_at, row.unlock_required = 100, utcnow(), True
        db.session.commit()
    refused = post(browser, "/forgot-password/second-factor", totp_code=sf.code())
    assert refused.status_code == 429 and "Vui lòng thử lại sau 15 phút" in error_of(refused)
    with app.app_context():  # a delay, not the lock: the phone was proven, the reset lifts it
        db.session.execute(update(Citizen).values(
            last_failure_at=utcnow() - timedelta(minutes=16)))
        db.session.commit()
    assert post(browser, "/forgot-password/second-factor", totp_code=sf.code()
                ).status_code == 302


def test_neither_authenticator_nor_recovery_code_means_the_commune_office(app, with_totp):
    browser = app.test_client()
    through_code(app, browser, with_totp.cccd)
    page = browser.get("/forgot-password/second-factor")
    assert 'href="/forgot-password/no-second-factor"' in page.text
    office = browser.get("/forgot-password/no-second-factor")
    assert "Xác minh danh tính tại UBND xã/phường" in office.text
    assert "Cán bộ xã/phường" in office.text


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("password", "confirm", "message"), [
    ("019085000001", None, "CCCD"),           # the citizen's own CCCD
    ("0912300001", None, "số điện thoại"),    # own phone
    ("short", None, "ít nhất 8 ký tự"),
    (NEW_PASSWORD, NEW_PASSWORD + "x", "không giống nhau"),
])
def test_refused_passwords_change_nothing(app, client, make_citizen, password, confirm, message):
    citizen = make_citizen()
    sign_in(AuthActions(app.test_client()), citizen.cccd)
    before = password_hash(app, citizen.id)
    through_code(app, client, citizen.cccd)
    response = new_password(client, password, confirm)
    assert response.status_code == 400 and message in error_of(response), error_of(response)
    assert password_hash(app, citizen.id) == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SsoSession)) == 1
    assert new_password(client).status_code == 302  # the flow is still usable


def test_new_password_page_in_another_browser_is_refused(app, make_citizen):
    citizen = make_citizen()
    through_code(app, app.test_client(), citizen.cccd)
    other = app.test_client()
    response = new_password(other)
    assert response.status_code == 400 and "trình duyệt khác" in response.text
    assert password_hash(app, citizen.id) != ""


def test_a_finished_reset_cannot_be_replayed(app, client, make_citizen):
    citizen = make_citizen()
    through_code(app, client, citizen.cccd)
    with client.session_transaction() as cookie_session:
        flow = cookie_session["recovery_flow"]
    assert new_password(client).status_code == 302
    after = password_hash(app, citizen.id)
    with client.session_transaction() as cookie_session:
        cookie_session["recovery_flow"] = flow
    replay = new_password(client, "một mật khẩu khác nữa 2027")
    assert replay.status_code == 400
    assert password_hash(app, citizen.id) == after


def test_the_verified_code_is_good_for_fifteen_minutes(app, client, make_citizen):
    citizen = make_citizen()
    through_code(app, client, citizen.cccd)
    with app.app_context():
        db.session.execute(update(OneTimeCode).values(
            consumed_at=utcnow() - timedelta(minutes=16)))
        db.session.commit()
    before = password_hash(app, citizen.id)
    assert new_password(client).status_code == 400
    assert password_hash(app, citizen.id) == before


def test_wrong_and_expired_codes_do_not_open_the_flow(app, client, make_citizen):
    citizen = make_citizen()
    ask(client, citizen.cccd)
    right = sf.last_sms_code(app, "recovery")
    wrong = post(client, "/forgot-password/code", code="000000" if right != "000000" else "1" * 6)
    assert wrong.status_code == 400
    assert client.get("/forgot-password/new-password").status_code == 400
    with app.app_context():
        db.session.execute(update(OneTimeCode).values(expires_at=utcnow()))
        db.session.commit()
    expired = post(client, "/forgot-password/code", code=right)
    assert expired.status_code == 400 and "đã hết hạn" in expired.text
    assert client.get("/forgot-password/new-password").status_code == 400


def counters() -> throttle.LimiterCounters:
    return throttle.LimiterCounters(MemoryStorage())


def start(app: Flask, identifier: str, store: throttle.LimiterCounters, n: int = 0) -> str:
    with app.app_context():
        flow = recovery.start(db.session, identifier, purpose="recovery", secret_key="k" * 48,
                              now=utcnow(), ip=f"10.0.0.{n}", domain=None, counters=store)
        db.session.commit()
        return flow


def test_codes_per_account_stop_at_the_daily_cap_visibly_for_accounts_and_decoys(
        app, make_citizen):  # noqa: ANN001
    """Many addresses, both spellings of one account: ``DAILY_SENDS`` codes a day, then no
    code is issued at all — and an identifier without an account stops at the same count."""
    citizen, store = make_citizen(), counters()
    flows = [start(app, citizen.phone if n % 2 else citizen.cccd, store, n)
             for n in range(recovery.DAILY_SENDS)]
    assert len(set(flows)) == recovery.DAILY_SENDS
    assert len(sf.sms_messages(app, "recovery")) == recovery.DAILY_SENDS
    for identifier in (citizen.cccd, citizen.phone):
        with pytest.raises(recovery.DailyLimit):
            start(app, identifier, store)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OneTimeCode)) == \
            recovery.DAILY_SENDS  # nothing issued past the cap
    for n in range(recovery.DAILY_SENDS):
        start(app, "019085999999", store, n)
    with pytest.raises(recovery.DailyLimit):
        start(app, "019085999999", store)
    assert len(sf.sms_messages(app, "recovery")) == recovery.DAILY_SENDS


@pytest.mark.parametrize("known", [True, False])
def test_the_daily_cap_answers_the_same_with_and_without_an_account(
        app, make_citizen, monkeypatch, known):  # noqa: ANN001
    monkeypatch.setattr(recovery, "DAILY_SENDS", 2)
    identifier = make_citizen().cccd if known else "019085999999"
    for n in range(2):
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = f"10.9.0.{n + 1}"
        assert ask(browser, identifier).status_code == 302
    refused = ask(app.test_client(), identifier)
    assert refused.status_code == 429
    assert "ngày mai" in refused.text and "UBND xã/phường" in refused.text


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_wrong_codes_are_capped_per_account_across_flows(app, make_citizen, monkeypatch):
    """Five attempts per flow, but ``DAILY_CODE_CHECKS`` per account a day, CCCD and phone
    flows together: then even the right code is not compared."""
    monkeypatch.setattr(one_time_codes, "_new_code", lambda: "123456")
    citizen, store = make_citizen(), counters()
    results = []
    with app.app_context():
        for n in range(3):
            flow = recovery.start(db.session, citizen.phone if n % 2 else citizen.cccd,
                                  purpose="recovery", secret_key="k" * 48, now=utcnow(),
                                  ip="10.0.0.1", domain=None, counters=store)
            for _ in range(4):
                results.append(recovery.check_code(
                    db.session, flow, "recovery", "654321", secret_key="k" * 48, now=utcnow(),
                    ip="10.0.0.1", counters=store)[0])
        right, row = recovery.check_code(db.session, flow, "recovery", "123456",
                                         secret_key="k" * 48, now=utcnow(), ip="10.0.0.1",
                                         counters=store)
        db.session.commit()
        assert row.consumed_at is None
    assert results[:recovery.DAILY_CODE_CHECKS] == [CodeCheck.WRONG] * recovery.DAILY_CODE_CHECKS
    assert set(results[recovery.DAILY_CODE_CHECKS:]) == {CodeCheck.LIMITED}
    assert right is CodeCheck.LIMITED


def test_decoys_have_the_same_daily_code_cap(app):  # noqa: ANN001
    store, results = counters(), []
    with app.app_context():
        for _ in range(3):
            flow = recovery.start(db.session, "0912999888", purpose="recovery",
                                  secret_key="k" * 48, now=utcnow(), ip="10.0.0.1", domain=None,
                                  counters=store)
            for _ in range(4):
                results.append(recovery.check_code(
                    db.session, flow, "recovery", "654321", secret_key="k" * 48, now=utcnow(),
                    ip="10.0.0.1", counters=store)[0])
        db.session.commit()
    assert results.count(CodeCheck.WRONG) == recovery.DAILY_CODE_CHECKS
    assert results[-1] is CodeCheck.LIMITED


def test_the_daily_code_cap_page(app, make_citizen, monkeypatch):  # noqa: ANN001
    monkeypatch.setattr(recovery, "DAILY_CODE_CHECKS", 1)
    citizen, browser = make_citizen(), app.test_client()
    ask(browser, citizen.cccd)
    code = sf.last_sms_code(app, "recovery")
    assert post(browser, "/forgot-password/code", code=wrong(code)).status_code == 400
    limited = post(browser, "/forgot-password/code", code=code)
    assert limited.status_code == 429 and "ngày mai" in limited.text


def test_a_new_code_brings_no_new_attempts(app, make_citizen):  # noqa: ANN001
    citizen, browser = make_citizen(), app.test_client()
    ask(browser, citizen.cccd)
    first = sf.last_sms_code(app, "recovery")
    for _ in range(4):
        assert post(browser, "/forgot-password/code", code=wrong(first)).status_code == 400
    with app.app_context():  # the resend interval has passed
        db.session.execute(update(OneTimeCode).values(
            last_sent_at=utcnow() - timedelta(minutes=2)))
        db.session.commit()
    assert post(browser, "/forgot-password/resend").status_code == 302
    second = sf.last_sms_code(app, "recovery")
    last = post(browser, "/forgot-password/code", code=wrong(second))
    assert last.status_code == 400 and "quá nhiều lần" in last.text  # the fifth, in all
    assert post(browser, "/forgot-password/code", code=second).status_code == 400
    assert client_flow_attempts(app) == one_time_codes.MAX_ATTEMPTS


def client_flow_attempts(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(OneTimeCode.attempts))


def test_parallel_code_guesses_get_five_comparisons_at_most(app, make_citizen):  # noqa: ANN001
    """Twelve browsers sharing the flow's cookie guess at once (real database, threads):
    the flow's attempts are reserved before each comparison."""
    citizen, browser = make_citizen(), app.test_client()
    ask(browser, citizen.cccd)
    code = sf.last_sms_code(app, "recovery")
    token = csrf_token(browser.get("/forgot-password/code").text)
    cookie = browser.get_cookie("tnid").value
    statuses, lock = [], threading.Lock()
    barrier = threading.Barrier(12)

    def guess(i: int) -> None:
        other = app.test_client()
        other.environ_base["REMOTE_ADDR"] = f"10.5.0.{i + 1}"
        other.set_cookie("tnid", cookie)
        barrier.wait()
        response = other.post("/forgot-password/code",
                              data={"csrf_token": token,
                                    "code": f"{(int(code) + 1 + i) % 1_000_000:06d}"})
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # At most ten checks pass the account's daily count (429 past it); only five reserve an
    # attempt of the flow. A request that finds the flow's attempts already spent is refused
    # without touching the daily count, so how many see 429 depends on the interleaving.
    assert len(statuses) == 12 and set(statuses) <= {400, 429}
    assert statuses.count(429) <= 12 - recovery.DAILY_CODE_CHECKS
    assert client_flow_attempts(app) == one_time_codes.MAX_ATTEMPTS
    with app.app_context():
        failures = db.session.scalars(select(AuditEvent.details).where(
            AuditEvent.action == "auth:recovery:code:failure")).all()
    # Five reasoned failures ("wrong" x4, "too_many"), then seven refused without comparing.
    assert sorted(d["reason"] for d in failures).count("wrong") == 4
    assert post(browser, "/forgot-password/code", code=code).status_code == 400


@pytest.mark.parametrize("password", ["NguyenVanAn", "Nguyễn Văn An", "19850312", "12/3/1985"])
def test_reset_refuses_what_sign_up_refuses(app, make_citizen, password):  # noqa: ANN001
    citizen, browser = make_citizen(), app.test_client()
    through_code(app, browser, citizen.cccd)
    refused = new_password(browser, password)
    assert refused.status_code == 400
    assert password_hash(app, citizen.id) == password_hash(app, citizen.id)
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.id).where(
            AuditEvent.action == "auth:password:reset")) is None
