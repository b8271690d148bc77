"""/unlock: after 100 wrong attempts the account needs a code sent by SMS; the same screens
for identifiers without an account; every bad code is refused with a Vietnamese message and
changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from idp.extensions import db
from idp.models import AuditEvent, Citizen, OneTimeCode
from idp.services.clock import utcnow
from tests.conftest import TEST_PASSWORD, AuthActions, csrf_token
from tests.support.second_factor import last_sms_code, sms_messages

WRONG = "not the password"


@pytest.fixture
def app(app_factory) -> Flask:  # noqa: ANN001
    return app_factory(TNID_LOGIN_RATE_LIMIT="10000/minute")


def lock(app: Flask, citizen_id) -> None:  # noqa: ANN001
    with app.app_context():
        row = db.session.get(Citizen, citizen_id)
        row.failed_attempts, row.last_failure_at, row.unlock_required = 100, utcnow(), True
        db.session.commit()


def state(app: Flask, citizen_id) -> tuple[int, bool]:  # noqa: ANN001
    with app.app_context():
        row = db.session.get(Citizen, citizen_id)
        return row.failed_attempts, row.unlock_required


def ask(browser: FlaskClient, identifier: str):  # noqa: ANN201
    page = browser.get("/unlock")
    return browser.post("/unlock", data={"csrf_token": csrf_token(page.text),
                                         "identifier": identifier})


def enter(browser: FlaskClient, code: str):  # noqa: ANN201
    page = browser.get("/unlock/code")
    return browser.post("/unlock/code", data={"csrf_token": csrf_token(page.text),
                                              "code": code})


def error_of(response) -> str:  # noqa: ANN001
    match = re.search(r'id="code-error">(.*?)</p>', response.text, re.S)
    return match.group(1).strip() if match else ""


def test_the_hundredth_failure_locks_and_texts_the_citizen_once(app, make_citizen):
    citizen = make_citizen()
    with app.app_context():
        row = db.session.get(Citizen, citizen.id)
        row.failed_attempts, row.last_failure_at = 99, utcnow() - timedelta(hours=1)
        db.session.commit()
    browser = AuthActions(app.test_client())
    assert browser.login(citizen.cccd, WRONG).status_code == 401
    for password in (WRONG, TEST_PASSWORD):
        refused = browser.login(citizen.cccd, password)
        assert refused.status_code == 403 and 'href="/unlock"' in refused.text
    [text] = sms_messages(app, "lockout")
    assert text.recipient == citizen.phone and "tạm khóa" in text.body
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "auth:lockout", AuditEvent.citizen_id == citizen.id)) == 1


def test_unlock_by_sms_code_end_to_end(app, client, make_citizen):
    citizen = make_citizen()
    lock(app, citizen.id)
    response = ask(client, "0912 300 001")
    assert response.status_code == 302 and response.headers["Location"] == "/unlock/code"
    page = client.get("/unlock/code")
    assert "Nếu số này thuộc một Tài khoản ThaiNguyen ID" in page.text
    assert 'autocomplete="one-time-code"' in page.text and 'inputmode="numeric"' in page.text
    [text] = sms_messages(app, "unlock")
    assert text.recipient == citizen.phone and "mở khóa tài khoản" in text.body
    done = enter(client, last_sms_code(app, "unlock"))
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert "Tài khoản của bạn đã được mở khóa" in client.get("/login").text
    assert state(app, citizen.id) == (0, False)
    assert sms_messages(app, "unlocked")
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.id).where(
            AuditEvent.action == "auth:unlock", AuditEvent.citizen_id == citizen.id))
    assert AuthActions(client).login(citizen.cccd).status_code == 302


def test_unknown_identifier_gets_the_same_screens_and_no_sms(app, make_citizen):
    citizen = make_citizen()
    known, unknown = app.test_client(), app.test_client()
    assert ask(known, citizen.cccd).headers["Location"] == "/unlock/code"
    assert ask(unknown, "019085999999").headers["Location"] == "/unlock/code"
    csrf = re.compile(r'value="[^"]+"')
    known_page = csrf.sub("", known.get("/unlock/code").text)
    unknown_page = csrf.sub("", unknown.get("/unlock/code").text)
    assert known_page == unknown_page
    assert len(sms_messages(app)) == 1  # only the real account's phone got a text
    wrong_known, wrong_unknown = enter(known, "000000"), enter(unknown, "000000")
    assert (wrong_known.status_code, error_of(wrong_known)) == \
        (wrong_unknown.status_code, error_of(wrong_unknown)) == \
        (400, "Mã chưa đúng. Bạn còn 4 lần thử.")


@pytest.mark.parametrize(("code", "message"), [
    ("12ab56", "gồm 6 chữ số"),
    ("1234567", "gồm 6 chữ số"),
    ("", "Vui lòng nhập mã"),
])
def test_malformed_codes_are_refused_without_using_an_attempt(app, client, make_citizen,
                                                              code, message):
    citizen = make_citizen()
    lock(app, citizen.id)
    ask(client, citizen.cccd)
    response = enter(client, code)
    assert response.status_code == 400 and message in response.text
    with app.app_context():
        assert db.session.scalar(select(OneTimeCode.attempts)) == 0
    assert state(app, citizen.id) == (100, True)


def test_wrong_codes_run_out(app, client, make_citizen):
    citizen = make_citizen()
    lock(app, citizen.id)
    ask(client, citizen.cccd)
    right = last_sms_code(app, "unlock")
    wrong = "000000" if right != "000000" else "111111"
    messages = [error_of(enter(client, wrong)) for _ in range(5)]
    assert messages[0] == "Mã chưa đúng. Bạn còn 4 lần thử."
    assert "quá nhiều lần" in messages[-1] and "yêu cầu mã mới" in messages[-1]
    late = enter(client, right)
    assert late.status_code == 400 and error_of(late) == messages[-1]
    assert state(app, citizen.id) == (100, True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "auth:unlock:code:failure")) == 6  # the late one too


def test_expired_code_is_refused(app, client, make_citizen):
    citizen = make_citizen()
    lock(app, citizen.id)
    ask(client, citizen.cccd)
    with app.app_context():
        db.session.execute(update(OneTimeCode).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = enter(client, last_sms_code(app, "unlock"))
    assert response.status_code == 400 and "đã hết hạn" in response.text
    assert state(app, citizen.id) == (100, True)


def test_a_used_flow_cannot_unlock_again(app, client, make_citizen):
    citizen = make_citizen()
    lock(app, citizen.id)
    ask(client, citizen.cccd)
    with client.session_transaction() as cookie_session:
        flow = cookie_session["unlock_flow"]
    code = last_sms_code(app, "unlock")
    assert enter(client, code).status_code == 302
    lock(app, citizen.id)  # locked again later
    with client.session_transaction() as cookie_session:
        cookie_session["unlock_flow"] = flow  # a replayed cookie
    again = client.post("/unlock/code", data={
        "csrf_token": csrf_token(client.get("/unlock").text), "code": code})
    assert again.status_code == 400 and "làm lại từ đầu" in again.text
    assert state(app, citizen.id) == (100, True)


def test_code_from_another_browser_is_refused(app, make_citizen):
    citizen = make_citizen()
    lock(app, citizen.id)
    ask(app.test_client(), citizen.cccd)
    other = app.test_client()
    page = other.get("/unlock")
    response = other.post("/unlock/code", data={"csrf_token": csrf_token(page.text),
                                                "code": last_sms_code(app, "unlock")})
    assert response.status_code == 400
    assert "được mở trên trình duyệt khác" in response.text
    assert state(app, citizen.id) == (100, True)


@pytest.mark.parametrize("identifier", ["019085000001", "019085999999"])
def test_codes_per_number_are_limited_alike_for_known_and_unknown(app, make_citizen,
                                                                  identifier):
    make_citizen()
    answers = [ask(app.test_client(), identifier).status_code for _ in range(6)]
    assert answers == [302] * 5 + [429]
    refused = ask(app.test_client(), identifier)
    assert "Vui lòng thử lại sau" in refused.text and "phút" in refused.text


def test_resend_is_throttled_then_replaces_the_code(app, client, make_citizen):
    citizen = make_citizen()
    lock(app, citizen.id)
    ask(client, citizen.cccd)
    first = last_sms_code(app, "unlock")
    page = client.get("/unlock/code")
    early = client.post("/unlock/resend", data={"csrf_token": csrf_token(page.text)})
    assert early.status_code == 429 and "yêu cầu mã mới" in error_of(early)
    with app.app_context():
        db.session.execute(update(OneTimeCode).values(
            last_sent_at=utcnow() - timedelta(seconds=61)))
        db.session.commit()
    assert client.post("/unlock/resend", data={"csrf_token": csrf_token(page.text)}
                       ).status_code == 302
    second = last_sms_code(app, "unlock")
    assert len(sms_messages(app, "unlock")) == 2
    if first != second:
        assert enter(client, first).status_code == 400
    assert enter(client, second).status_code == 302
    assert state(app, citizen.id) == (0, False)


def test_requests_are_limited_per_ip(app, make_citizen):
    browser = app.test_client()
    statuses = [ask(browser, f"01908500{n:04d}").status_code for n in range(11)]
    assert statuses == [302] * 10 + [429]


def test_unlock_page_needs_csrf(app, client, make_citizen):
    citizen = make_citizen()
    response = client.post("/unlock", data={"identifier": citizen.cccd})
    assert response.status_code == 400
    assert sms_messages(app) == []
