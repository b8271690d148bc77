"""Self-registration at /signup: details → SMS code → password → signed in at level 1.
Every step, and every bad input: nothing is created, a clear message is shown."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from idp.extensions import db
from idp.models import (
    AuditEvent,
    Citizen,
    KnownDevice,
    OneTimeCode,
    OutboxMessage,
    SsoSession,
)
from idp.services import one_time_codes
from idp.services.clock import utcnow
from tests.conftest import TEST_PASSWORD, AuthActions, csrf_token
from tests.support.authorize import go
from tests.support.oidc import register as register_app

PASSWORD = "Nhà tôi ở xóm Chè 2025"
DETAILS = {"cccd": "019185000123", "full_name": "Trần Thị Bình", "birthdate": "1985-06-01",
           "gender": "", "phone": "0987 654 321", "email": "binh@example.vn",
           "commune_code": "05719"}
PHONE = "+84987654321"
ENDED = "another browser"
TAKEN = "already used by a ThaiNguyen ID account"


# --- helpers --------------------------------------------------------------------------------


def english(app) -> FlaskClient:  # noqa: ANN001
    """A browser whose citizen chose English (the messages below are the English ones)."""
    browser = app.test_client()
    browser.get("/signup?lang=en")
    return browser


@pytest.fixture
def client(app) -> FlaskClient:  # noqa: ANN001
    return english(app)


def count(app, model) -> int:  # noqa: ANN001
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def last_code(app, phone: str = PHONE) -> str:  # noqa: ANN001
    with app.app_context():
        body = db.session.scalar(select(OutboxMessage.body).where(
            OutboxMessage.recipient == phone).order_by(OutboxMessage.id.desc()).limit(1))
    assert body, "no SMS was sent"
    return re.search(r"ID: (\d{6}) ", body).group(1)


def flow_row(app) -> OneTimeCode:  # noqa: ANN001
    with app.app_context():
        row = db.session.scalar(select(OneTimeCode).order_by(OneTimeCode.id.desc()).limit(1))
        db.session.expunge(row)
        return row


def edit_flow(app, **values: object) -> None:  # noqa: ANN001
    with app.app_context():
        db.session.execute(update(OneTimeCode).values(**values))
        db.session.commit()


def actions(app) -> list[str]:  # noqa: ANN001
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def errors(page: str) -> list[str]:
    return re.findall(r'class="(?:field-error|notice notice-error)"[^>]*>([^<]+)', page)


def post(client: FlaskClient, path: str, data: dict, page_path: str | None = None,
         **kwargs: object):  # noqa: ANN201
    token = csrf_token(client.get(page_path or path).text)
    return client.post(path, data={"csrf_token": token, **data}, **kwargs)


def step1(client: FlaskClient, **changes: str):  # noqa: ANN201
    return post(client, "/signup", {**DETAILS, **changes})


def step2(client: FlaskClient, code: str):  # noqa: ANN201
    return post(client, "/signup/verify", {"code": code})


def step3(client: FlaskClient, password: str = PASSWORD, confirm: str | None = None):  # noqa: ANN201
    return post(client, "/signup/password",
                 {"password": password, "confirm": password if confirm is None else confirm})


def resend(client: FlaskClient):  # noqa: ANN201
    return post(client, "/signup/resend", {}, page_path="/signup/verify")


def verified(app, client: FlaskClient) -> None:  # noqa: ANN001
    assert step1(client).headers["Location"] == "/signup/verify"
    response = step2(client, last_code(app))
    assert response.status_code == 302, errors(response.text)
    assert response.headers["Location"] == "/signup/password"


# --- the happy path -------------------------------------------------------------------------


def test_pages_mark_their_inputs(client):
    page = client.get("/signup")
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    assert 'type="date"' in page.text and 'autocomplete="tel"' in page.text
    assert "Xã Sảng Mộc" in page.text  # Thái Nguyên's communes, from vietnam-provinces
    assert 'href="/signup"' in client.get("/login").text  # linked from the sign-in page


def test_register_from_start_to_signed_in(app, client):
    assert step1(client).status_code == 302
    with app.app_context():
        message = db.session.scalar(select(OutboxMessage))
        assert message.recipient == PHONE and message.purpose == "register"
        assert "là mã xác minh số điện thoại" in message.body
        assert message.body.endswith(f"@127.0.0.1 #{last_code(app)}")  # WebOTP line
    page = client.get("/signup/verify")
    assert "098****321" in page.text and 'autocomplete="one-time-code"' in page.text
    assert 'inputmode="numeric"' in page.text

    assert step2(client, last_code(app)).headers["Location"] == "/signup/password"
    page = client.get("/signup/password")
    assert 'autocomplete="new-password"' in page.text
    assert 'src="/static/js/password_hint.js"' in page.text and "<script>" not in page.text

    response = step3(client)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and "Trần Thị Bình" in home.text
    with app.app_context():
        citizen = db.session.scalar(select(Citizen))
        assert (citizen.cccd, citizen.phone, citizen.identity_level, citizen.gender,
                citizen.email, citizen.commune_code) == (
            "019185000123", PHONE, 1, "female", "binh@example.vn", "05719")
        assert citizen.phone_verified_at is not None and citizen.password_hash
        sso = db.session.scalar(select(SsoSession))
        assert sso.citizen_id == citizen.id and sso.amr == ["pwd"]
        assert sso.acr == "urn:tnid:acr:1"
        row = db.session.scalar(select(OneTimeCode))
        assert row.payload is None and row.citizen_id == citizen.id  # personal data erased
    assert {"auth:sms:sent", "account:phone:verified", "account:register:success"} <= \
        set(actions(app))


def test_the_new_password_signs_in(app, client):
    verified(app, client)
    step3(client)
    assert AuthActions(english(app)).login("0987654321", PASSWORD).status_code == 302


def test_the_registering_browser_is_a_known_device(app, client):
    verified(app, client)
    step3(client)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(KnownDevice)) == 1
    browser = AuthActions(client)
    browser.logout()
    assert browser.login("0987654321", PASSWORD).status_code == 302  # same browser ...
    with app.app_context():
        purposes = list(db.session.scalars(select(OutboxMessage.purpose)))
    assert purposes == ["register"]  # ... so no "new device" SMS


def test_registration_started_by_an_app_resumes_its_request(app, client):
    rp = register_app(app)
    login = go(client, rp)
    assert login.status_code == 302 and "/login?interaction=" in login.headers["Location"]
    token = dict(p.split("=", 1) for p in urlsplit(login.headers["Location"]).query.split("&"))
    suffix = f"?interaction={token['interaction']}"
    page = client.get("/login" + suffix)
    assert f'href="/signup{suffix}"' in page.text
    page = client.get("/signup" + suffix)
    assert "Cổng dịch vụ công" in page.text  # the app is named on the page
    response = client.post("/signup" + suffix, data={"csrf_token": csrf_token(page.text),
                                                     **DETAILS})
    assert response.headers["Location"] == "/signup/verify" + suffix
    page = client.get("/signup/verify" + suffix)
    response = client.post("/signup/verify" + suffix, data={"csrf_token": csrf_token(page.text),
                                                            "code": last_code(app)})
    assert response.headers["Location"] == "/signup/password" + suffix
    page = client.get("/signup/password" + suffix)
    response = client.post("/signup/password" + suffix, data={
        "csrf_token": csrf_token(page.text), "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/authorize/resume?interaction=")


# --- step 1: bad details --------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "message"), [
    ({"cccd": ""}, "CCCD"),
    ({"cccd": "12345"}, "12 digits"),
    ({"cccd": "01918500012a"}, "0 to 9"),
    ({"cccd": "999185000123"}, "first 3 digits"),
    ({"cccd": "1" * 70}, "12 digits"),
    ({"birthdate": "1986-06-01"}, "year of birth does not match"),  # CCCD says 1985
    ({"birthdate": "01/06/1986"}, "year of birth does not match"),
    ({"gender": "male"}, "gender does not match"),  # 4th digit 1: a woman born in 19xx
    ({"gender": "other"}, "male or female"),
    ({"birthdate": "31/02/1985"}, "does not exist"),
    ({"birthdate": "yesterday"}, "day/month/year"),
    ({"birthdate": "2999-01-01"}, "future"),
    ({"full_name": "Bình 2"}, "numbers"),
    ({"full_name": ""}, "full name"),
    ({"phone": "024 3825 3536"}, "mobile"),
    ({"phone": "+1 202 555 0100"}, "Vietnamese"),
    ({"phone": "0987 abc"}, "digits"),
    ({"email": "binh@"}, "email"),
    ({"commune_code": "00004"}, "Thái Nguyên"),  # a Hà Nội ward
    ({"commune_code": "99999"}, "from the list"),
])
def test_bad_details_are_refused_before_any_code(app, client, changes, message):
    response = step1(client, **changes)
    assert response.status_code == 400
    assert any(message.lower() in e.lower() for e in errors(response.text)), errors(response.text)
    assert count(app, OneTimeCode) == count(app, OutboxMessage) == 0


def test_the_vietnamese_date_format_is_accepted(app, client):
    assert step1(client, birthdate="01/06/1985").status_code == 302


def test_missing_csrf_token_changes_nothing(app, client):
    for path in ("/signup", "/signup/verify", "/signup/resend", "/signup/password"):
        response = client.post(path, data={**DETAILS, "code": "123456", "password": PASSWORD,
                                           "confirm": PASSWORD})
        assert response.status_code == 400, path
    assert count(app, OneTimeCode) == count(app, Citizen) == 0


def test_at_most_five_codes_per_phone_per_hour(app, client):
    for _ in range(5):
        assert step1(english(app)).status_code == 302  # other browsers, same number
    response = step1(client)
    assert response.status_code == 429
    assert any("too many codes" in e for e in errors(response.text))
    assert count(app, OutboxMessage) == 5
    assert "auth:sms:throttled" in actions(app)


# --- step 2: the code -------------------------------------------------------------------------


def other(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_wrong_code_shows_attempts_left_and_too_many_stops(app, client):
    step1(client)
    code = last_code(app)
    for left in (4, 3, 2, 1):
        response = step2(client, other(code))
        assert response.status_code == 400
        assert f"You can try {left} more times" in response.text
    response = step2(client, other(code))
    assert response.status_code == 400 and "too many times" in response.text
    response = step2(client, code)  # even the right code, now
    assert response.status_code == 400 and "too many times" in response.text
    assert count(app, Citizen) == 0
    assert actions(app).count("auth:sms:failure") == 6  # every refused attempt is audited


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "١٢٣٤٥٦", "1" * 40])
def test_malformed_code_costs_no_attempt(app, client, code):
    step1(client)
    response = step2(client, code)
    assert response.status_code == 400
    assert flow_row(app).attempts == 0
    assert "6 digits" in response.text or "6-digit" in response.text


def test_empty_code(app, client):
    step1(client)
    response = step2(client, "")
    assert response.status_code == 400 and "6-digit" in response.text


def test_expired_code(app, client):
    step1(client)
    edit_flow(app, expires_at=utcnow() - timedelta(seconds=1))
    response = step2(client, last_code(app))
    assert response.status_code == 400 and "expired" in response.text
    assert count(app, Citizen) == 0


def test_reused_code_after_the_account_was_created(app, client):
    verified(app, client)
    code = last_code(app)
    assert step3(client).status_code == 302
    token = csrf_token(client.get("/signup").text)
    response = client.post("/signup/verify", data={"csrf_token": token, "code": code})
    assert response.status_code == 400 and ENDED in response.text
    assert count(app, Citizen) == 1


def test_the_flow_cannot_finish_twice(app, client):
    verified(app, client)
    token = csrf_token(client.get("/signup/password").text)
    cookies = {c.key: c.value for c in client._cookies.values()}  # the browser, copied
    assert step3(client).status_code == 302
    twin = english(app)
    for key, value in cookies.items():
        twin.set_cookie(key, value)
    response = twin.post("/signup/password", data={"csrf_token": token, "password": PASSWORD,
                                                   "confirm": PASSWORD})
    assert response.status_code == 400 and ENDED in response.text
    assert count(app, Citizen) == 1


def test_another_browser_cannot_use_the_flow(app, client):
    step1(client)
    stranger = english(app)
    token = csrf_token(stranger.get("/signup").text)
    response = stranger.post("/signup/verify", data={"csrf_token": token,
                                                     "code": last_code(app)})
    assert response.status_code == 400 and ENDED in response.text
    assert stranger.get("/signup/password").status_code == 400
    assert flow_row(app).consumed_at is None  # the owner can still finish
    assert step2(client, last_code(app)).status_code == 302


def test_password_step_needs_a_verified_code(app, client):
    assert client.get("/signup/password").status_code == 400
    step1(client)
    response = client.get("/signup/password")
    assert response.status_code == 400 and ENDED in response.text


def test_password_step_expires(app, client):
    verified(app, client)
    edit_flow(app, consumed_at=utcnow() - timedelta(minutes=21))
    assert client.get("/signup/password").status_code == 400


def test_resend_is_throttled_then_replaces_the_code(app, client):
    step1(client)
    first = last_code(app)
    response = resend(client)
    assert response.status_code == 429
    assert re.search(r"Please wait \d+ seconds", response.text)
    assert count(app, OutboxMessage) == 1
    page = client.get("/signup/verify")
    assert re.search(r"new code in \d+ seconds", page.text)
    edit_flow(app, last_sent_at=utcnow() - timedelta(seconds=61))
    assert resend(client).status_code == 302
    assert count(app, OutboxMessage) == 2
    second = last_code(app)
    if second != first:
        assert step2(client, first).status_code == 400
    assert step2(client, second).status_code == 302


def test_resend_stops_after_five_codes(app, client):
    step1(client)
    edit_flow(app, sends=one_time_codes.MAX_SENDS)
    response = resend(client)
    assert response.status_code == 429 and "No more codes" in response.text


def test_resend_respects_the_per_phone_budget(app, client):
    for _ in range(4):
        step1(english(app))
    step1(client)
    edit_flow(app, last_sent_at=utcnow() - timedelta(seconds=61))
    response = resend(client)
    assert response.status_code == 429 and "too many codes" in response.text


def test_resend_from_another_browser(app, client):
    step1(client)
    stranger = english(app)
    token = csrf_token(stranger.get("/signup").text)
    response = stranger.post("/signup/resend", data={"csrf_token": token})
    assert response.status_code == 400 and ENDED in response.text


# --- an account that already exists ---------------------------------------------------------


@pytest.mark.parametrize("clash", ["cccd", "phone"])
def test_existing_account_is_not_revealed(app, client, make_citizen, clash):
    other_values = {"cccd": "019085000001", "phone": "0912300001", "birthdate": "1985-03-12",
                    "full_name": "Lê Văn Cường", "email": "cuong@example.vn"}
    other_values[clash] = DETAILS[clash]
    if clash == "cccd":
        other_values["birthdate"] = DETAILS["birthdate"]
    existing = make_citizen(**other_values)
    verified_response = None
    step1(client)
    verified_response = step2(client, last_code(app))
    assert verified_response.status_code == 409
    page = verified_response.text
    assert TAKEN in page and 'href="/forgot-password"' in page and "commune office" in page
    for secret in ("Lê Văn Cường", "cuong@example.vn", "0912300001", "+84912300001",
                   "091****001", "019085000001", "Mức", "1985-03-12", "12/03/1985"):
        assert secret not in page
    assert count(app, Citizen) == 1
    assert flow_row(app).payload is None  # nothing of the attempt kept
    assert client.get("/signup/password").status_code == 400
    with app.app_context():
        assert db.session.get(Citizen, existing.id).password_hash == existing.password_hash


def test_both_clashes_get_the_same_page(app, make_citizen):
    make_citizen(cccd="019085000001", phone=DETAILS["phone"])
    a = english(app)
    step1(a)
    phone_page = step2(a, last_code(app)).text
    make_citizen(cccd=DETAILS["cccd"], birthdate=DETAILS["birthdate"], phone="0912300002")
    b = english(app)
    step1(b, phone="0912300003")
    cccd_page = step2(b, last_code(app, "+84912300003")).text
    strip = lambda page: re.sub(r'value="[^"]+"', "", page)  # noqa: E731
    assert strip(phone_page) == strip(cccd_page)


# --- step 3: the password -------------------------------------------------------------------


@pytest.mark.parametrize(("password", "message"), [
    ("matkhau123", "too common"),
    ("Mật khẩu 2025", "too common"),
    ("anh yêu em", "too common"),
    ("12345678", "too common"),
    ("iloveyou", "too common"),
    ("019185000123", "citizen ID number"),   # the CCCD
    ("0987654321", "citizen ID number"),     # the phone, national format
    ("+84987654321", "citizen ID number"),   # ... and E.164
    ("0987 654 321", "citizen ID number"),
    ("01/06/1985", "citizen ID number"),     # the birthdate
    ("01061985", "citizen ID number"),
    ("1985-06-01", "citizen ID number"),
    ("Trần Thị Bình", "citizen ID number"),  # the name
    ("short", "at least 8"),
    ("x" * 300, "at most 256"),
    ("        ", "choose a password"),
])
def test_bad_passwords_are_refused(app, client, password, message):
    verified(app, client)
    response = step3(client, password)
    assert response.status_code == 400
    assert any(message in e for e in errors(response.text)), errors(response.text)
    assert f'value="{password}"' not in response.text  # never echoed back
    assert count(app, Citizen) == 0
    assert client.get("/signup/password").status_code == 200  # may try again


def test_passwords_must_match(app, client):
    verified(app, client)
    response = step3(client, PASSWORD, PASSWORD + "!")
    assert response.status_code == 400 and "different" in response.text
    assert count(app, Citizen) == 0


def test_account_registered_meanwhile(app, client, make_citizen):
    verified(app, client)
    make_citizen(cccd=DETAILS["cccd"], birthdate=DETAILS["birthdate"], phone="0912300009")
    response = step3(client)
    assert response.status_code == 409 and TAKEN in response.text
    assert count(app, Citizen) == 1


def test_vietnamese_pages_by_default(app):
    client = app.test_client()
    page = client.get("/signup")
    assert "Đăng ký tài khoản" in page.text
    step1(client)
    response = step2(client, "12")
    assert "Mã gồm 6 chữ số" in response.text


def test_registration_while_another_citizen_is_signed_in(app, client, auth, make_citizen):
    citizen = make_citizen()
    auth.login(citizen.cccd, TEST_PASSWORD)
    verified(app, client)
    assert step3(client).status_code == 302
    with app.app_context():
        sessions = db.session.scalars(select(SsoSession)).all()
        assert len(sessions) == 1 and sessions[0].citizen_id != citizen.id


def test_posts_are_rate_limited_per_ip(app_factory):
    """Sending codes has the code flows' stricter per-IP limit (SMS pumping: 10 an hour);
    typing the code has the sign-in one."""
    app = app_factory(TNID_LOGIN_RATE_LIMIT="3/minute")
    browser = english(app)
    statuses = [step1(browser, cccd="1").status_code for _ in range(11)]
    assert statuses == [400] * 10 + [429]
    assert count(app, OneTimeCode) == 0


def test_codes_to_one_phone_are_capped_per_day(app):  # noqa: ANN001
    """Ten sign-up codes a day to one phone, whatever the hour."""
    for n in range(10):
        browser = english(app)
        browser.environ_base["REMOTE_ADDR"] = f"10.3.0.{n + 1}"  # not the per-IP limit
        assert step1(browser).status_code == 302
        edit_flow(app, last_sent_at=utcnow() - timedelta(hours=2))  # out of the hour
    response = step1(english(app))
    assert response.status_code == 429 and "tomorrow" in response.text
    assert count(app, OutboxMessage) == 10


def test_recovery_codes_do_not_count_against_sign_up(app, make_citizen):
    """The per-phone cap of sign-up counts sign-up codes only: recovery codes sent to an
    account's phone (decoys send none) would otherwise tell whether the phone has an
    account."""
    from tests.functional.auth.test_forgot_password import ask

    make_citizen(phone="0987654321")
    for n in range(5):
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = f"10.2.0.{n + 1}"
        assert ask(browser, "0987654321").status_code == 302
    assert count(app, OutboxMessage) == 5
    assert step1(english(app)).status_code == 302


def test_a_sign_in_from_another_browser_is_a_new_device(app, client):
    verified(app, client)
    step3(client)
    assert AuthActions(english(app)).login("0987654321", PASSWORD).status_code == 302
    with app.app_context():
        purposes = list(db.session.scalars(select(OutboxMessage.purpose)))
    assert purposes == ["register", "new_device"]
