"""QR sign-in through the Flask test client with two browsers: a desktop (``client``) that
shows the code and a phone (``phone``) that is signed in and approves. Time is controlled by
moving the request's row into the past, never by waiting."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from idp.extensions import db
from idp.models import AuditEvent, Citizen, OutboxMessage, QrSignInRequest, SsoSession
from idp.services import qr_login, sso_sessions, throttle
from idp.services.clock import utcnow
from tests.conftest import AuthActions, csrf_token
from tests.support.oidc import REDIRECT, pkce, register, verify
from tests.support.token_flows import exchange, walk

DESKTOP_IP, PHONE_IP = "203.0.113.5", "198.51.100.7"
WINDOWS_CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Chrome/131.0.0.0 Safari/537.36")
OTHER_BROWSER = "được tạo trên một trình duyệt khác"
EXPIRED = "đã hết hạn"
USED = "đã được dùng để đăng nhập rồi"
DENIED = "đã bị từ chối trên điện thoại"
STALE = "Mã QR này đã cũ"
FORGED = "không phải mã thật"


# --- the two devices ---------------------------------------------------------------------------


@pytest.fixture
def desktop(app: Flask) -> FlaskClient:
    browser = app.test_client()
    browser.environ_base.update(REMOTE_ADDR=DESKTOP_IP, HTTP_USER_AGENT=WINDOWS_CHROME)
    return browser


@pytest.fixture
def citizen(make_citizen) -> Citizen:  # noqa: ANN001
    return make_citizen()


@pytest.fixture
def phone(app: Flask, citizen: Citizen) -> FlaskClient:
    """A phone signed in with the password through the real /login page."""
    browser = app.test_client()
    browser.environ_base.update(REMOTE_ADDR=PHONE_IP, HTTP_USER_AGENT="Mozilla/5.0 (Android 14)")
    assert AuthActions(browser).login(citizen.cccd).status_code == 302
    return browser


def signed_in_with(app: Flask, citizen: Citizen, acr: str, ip: str = PHONE_IP) -> FlaskClient:
    """A phone whose session has ``acr`` (a two-factor sign-in is the step-up screens' job:
    here the session is made by the service itself)."""
    browser = app.test_client()
    browser.environ_base.update(REMOTE_ADDR=ip)
    with app.app_context():
        token, _ = sso_sessions.start_session(
            db.session, db.session.get(Citizen, citizen.id), amr=["pwd", "otp", "mfa"], acr=acr,
            ip=ip, user_agent="Android", now=utcnow())
        db.session.commit()
    browser.set_cookie("tnid_sso", token)
    return browser


def start(desktop: FlaskClient, path: str = "/login") -> TestResponse:
    page = desktop.get(path)
    action = re.search(r'<form method="post" action="([^"]*/qr/start[^"]*)"', page.text)
    assert action, "no QR sign-in button on the page"
    response = desktop.post(action.group(1).replace("&amp;", "&"),
                            data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 303 and response.headers["Location"] == "/qr"
    return desktop.get("/qr")


def the_request(app: Flask) -> QrSignInRequest:
    with app.app_context():
        row = db.session.scalars(select(QrSignInRequest).order_by(
            QrSignInRequest.created_at.desc())).first()
        db.session.expunge(row)
        return row


def code_path(desktop: FlaskClient) -> str:
    """The URL in the QR code right now, as the page's script learns it."""
    status = desktop.get("/qr/status")
    assert status.status_code == 200 and status.json["status"] in ("pending", "scanned")
    url = status.json["url"]
    assert url.startswith("http://127.0.0.1:5000/qr/a?")
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def scan(desktop: FlaskClient, phone: FlaskClient) -> TestResponse:
    return phone.get(code_path(desktop))


def decide(phone: FlaskClient, page: TestResponse, **choice: str) -> TestResponse:
    ticket = re.search(r'name="ticket" type="hidden" value="([^"]+)"', page.text)
    request_id = re.search(r'name="r" type="hidden" value="([^"]+)"', page.text)
    assert ticket and request_id, page.text[:500]
    return phone.post("/qr/a", data={"csrf_token": csrf_token(page.text), "r": request_id[1],
                                     "ticket": ticket[1], **choice})


def finish(desktop: FlaskClient, request_id: str | None = None) -> TestResponse:
    page = desktop.get("/qr")
    if request_id is None:
        request_id = re.search(r'name="r" type="hidden" value="([^"]+)"', page.text)[1]
    return desktop.post("/qr/done", data={"csrf_token": csrf_token(page.text), "r": request_id})


def wrong_number(app: Flask) -> str:
    row = the_request(app)
    return next(n for n in row.choices if n != row.matching_number)


def audit_actions(app: Flask) -> list[tuple[str, str, dict]]:
    with app.app_context():
        return [(e.action, e.outcome, e.details)
                for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def qr_sms(app: Flask) -> list[OutboxMessage]:
    with app.app_context():
        return db.session.scalars(select(OutboxMessage)
                                  .where(OutboxMessage.purpose == "qr_sign_in")).all()


def move_back(app: Flask, seconds: int) -> None:
    """Make the request ``seconds`` older (its code clock and expiry both move)."""
    with app.app_context():
        row = db.session.scalars(select(QrSignInRequest)).one()
        row.created_at -= timedelta(seconds=seconds)
        row.expires_at -= timedelta(seconds=seconds)
        db.session.commit()


# --- the happy path ----------------------------------------------------------------------------


def test_desktop_signs_in_after_the_phone_picks_the_number(app, desktop, phone, citizen):
    page = start(desktop)
    row = the_request(app)
    assert f'id="qr-number">{row.matching_number}<' in page.text
    assert "Đăng nhập bằng mã QR" in page.text
    # No inline script (CSP): one deferred file; without it, a plain instruction.
    assert re.findall(r"<script[^>]*>", page.text) == [
        '<script src="/static/js/qr_login.js" defer>']
    assert "<noscript>" in page.text and 'id="qr-live" class="qr-live" hidden' in page.text
    assert desktop.get("/qr/status").json["status"] == "pending"

    svg = desktop.get("/qr/code.svg?t=0")
    assert svg.status_code == 200 and svg.headers["Content-Type"] == "image/svg+xml"
    assert svg.headers["Cache-Control"] == "no-store" and svg.text.startswith("<svg")

    approval = scan(desktop, phone)
    assert approval.status_code == 200
    assert "Không bao giờ quét mã QR do người khác gửi cho bạn" in approval.text
    assert "Chrome trên Windows" in approval.text and DESKTOP_IP in approval.text
    assert "ThaiNguyen ID" in approval.text and "Nguyễn Văn An" in approval.text
    for number in row.choices:
        assert f'name="number" value="{number}"' in approval.text
    assert desktop.get("/qr/status").json["status"] == "scanned"

    result = decide(phone, approval, number=row.matching_number)
    assert result.status_code == 200 and "Đã đồng ý đăng nhập" in result.text
    assert desktop.get("/qr/status").json["status"] == "approved"

    done = finish(desktop)
    assert done.status_code == 303 and done.headers["Location"] == "/"
    home = desktop.get("/")
    assert home.status_code == 200 and "Nguyễn Văn An" in home.text
    with app.app_context():
        desktop_session = db.session.scalars(
            select(SsoSession).where(SsoSession.ip == DESKTOP_IP)).one()
        assert desktop_session.amr == ["qr"] and desktop_session.acr == "urn:tnid:acr:1"
        assert desktop_session.citizen_id == citizen.id
    [sms] = qr_sms(app)
    assert sms.recipient == citizen.phone
    assert sms.body.startswith("Bạn vừa đăng nhập ThaiNguyen ID trên một thiết bị khác bằng "
                               "mã QR")
    actions = [a for a, _, _ in audit_actions(app) if a.startswith("auth:qr:")]
    assert actions == ["auth:qr:created", "auth:qr:approved", "auth:qr:completed"]
    # Finished like every other sign-in: audited, and the desktop is now a known device
    # (the QR text above is the citizen's notice; no second "new device" text).
    [signed_in] = [d for a, _, d in audit_actions(app) if a == "auth:login:success"
                   and d["method"] == "qr"]
    assert signed_in["new_device"] is True and signed_in["device_notified"] is False
    with app.app_context():
        assert db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.purpose == "new_device")).all() == []


def test_a_two_factor_phone_gives_a_two_factor_session(app, desktop, citizen):
    phone = signed_in_with(app, citizen, sso_sessions.ACR_TWO_FACTORS)
    start(desktop)
    decide(phone, scan(desktop, phone), number=the_request(app).matching_number)
    assert finish(desktop).status_code == 303
    with app.app_context():
        row = db.session.scalars(select(SsoSession).where(SsoSession.ip == DESKTOP_IP)).one()
        assert row.amr == ["qr", "mfa"] and row.acr == "urn:tnid:acr:2"


def test_another_citizens_session_on_the_desktop_ends(app, desktop, phone, make_citizen):
    other = make_citizen()
    AuthActions(desktop).login(other.cccd)
    start(desktop, "/qr")
    decide(phone, scan(desktop, phone), number=the_request(app).matching_number)
    assert finish(desktop).status_code == 303
    with app.app_context():
        assert db.session.scalars(select(SsoSession).where(
            SsoSession.citizen_id == other.id)).all() == []


# --- bad input: the completion -----------------------------------------------------------------


def test_completing_twice_fails_with_a_clear_message(app, desktop, phone):
    start(desktop)
    decide(phone, scan(desktop, phone), number=the_request(app).matching_number)
    request_id = the_request(app).id.hex
    assert finish(desktop, request_id).status_code == 303
    again = finish(desktop, request_id)
    assert again.status_code == 409 and USED in again.text
    assert len(qr_sms(app)) == 1


def test_completing_from_another_browser_fails(app, desktop, phone):
    start(desktop)
    decide(phone, scan(desktop, phone), number=the_request(app).matching_number)
    request_id = the_request(app).id.hex
    intruder = app.test_client()
    refused = finish(intruder, request_id)
    assert refused.status_code == 403 and OTHER_BROWSER in refused.text
    assert intruder.get("/").status_code == 302  # not signed in
    assert the_request(app).status == "approved"
    assert ("auth:qr:completion_refused", "failure") in [
        (a, o) for a, o, d in audit_actions(app) if d.get("reason") == "other_browser"]
    assert finish(desktop, request_id).status_code == 303  # the right browser still can


def test_completing_before_the_phone_said_yes_changes_nothing(app, desktop):
    start(desktop)
    early = finish(desktop)
    assert early.status_code == 409 and "Điện thoại chưa đồng ý" in early.text
    assert the_request(app).status == "pending"


def test_expired_request(app, desktop, phone):
    start(desktop)
    path = code_path(desktop)
    decide(phone, phone.get(path), number=the_request(app).matching_number)
    move_back(app, 121)
    assert desktop.get("/qr/status").json["status"] == "expired"
    page = desktop.get("/qr")
    assert EXPIRED in page.text and 'id="qr-live"' not in page.text
    done = finish(desktop, the_request(app).id.hex)
    assert done.status_code == 410 and EXPIRED in done.text
    assert desktop.get("/").status_code == 302
    assert desktop.get("/qr/code.svg").status_code == 404


@pytest.mark.parametrize("t", ["%C2%B2", "-3", "abc", "99999999999", ""])
def test_the_picture_ignores_a_bad_t(desktop, t):
    start(desktop, "/qr")
    svg = desktop.get(f"/qr/code.svg?t={t}")
    assert svg.status_code == 200 and svg.text.startswith("<svg")


def test_scanning_an_expired_request(app, desktop, phone):
    start(desktop)
    move_back(app, 121)
    with app.app_context():  # a code with a valid MAC for the current second
        row = db.session.scalars(select(QrSignInRequest)).one()
        key = qr_login.derive_key(app.config["SECRET_KEY"])
        url = qr_login.code_url("", key, row, qr_login.elapsed(row, utcnow()))
    refused = phone.get(url)
    assert refused.status_code == 400 and EXPIRED in refused.text


def test_denied_request_cannot_be_completed(app, desktop, phone):
    start(desktop)
    result = decide(phone, scan(desktop, phone), deny="1")
    assert result.status_code == 200 and "Đã từ chối đăng nhập" in result.text
    assert desktop.get("/qr/status").json["status"] == "denied"
    done = finish(desktop, the_request(app).id.hex)
    assert done.status_code == 403 and DENIED in done.text


# --- bad input: the code -----------------------------------------------------------------------


def test_stale_code_is_refused_and_audited(app, desktop, phone):
    start(desktop)
    screenshot = code_path(desktop)  # t=0, as a forwarded picture would carry
    move_back(app, 30)
    refused = phone.get(screenshot)
    assert refused.status_code == 400 and STALE in refused.text
    assert the_request(app).status == "pending"
    assert ("auth:qr:code_refused", "stale") in [
        (a, d.get("reason")) for a, _, d in audit_actions(app)]
    assert scan(desktop, phone).status_code == 200  # the code on the screen now works


@pytest.mark.parametrize("tamper", [
    lambda p: re.sub(r"h=[^&]+", "h=AAAAAAAAAAAAAAAAAAAAAA", p),
    lambda p: re.sub(r"t=\d+", "t=1", p),
])
def test_forged_code_is_refused_and_audited(app, desktop, phone, tamper):
    start(desktop)
    refused = phone.get(tamper(code_path(desktop)))
    assert refused.status_code == 400 and FORGED in refused.text
    assert the_request(app).status == "pending"
    assert ("auth:qr:code_refused", "forged") in [
        (a, d.get("reason")) for a, _, d in audit_actions(app)]


@pytest.mark.parametrize("query", [
    "", "?r=x&t=1&h=y", "?r=" + "0" * 32 + "&t=-5&h=y", "?r=" + "0" * 32 + "&t=1",
    "?r=" + "0" * 300 + "&t=1&h=y", "?r=%00&t=%00&h=%00", "?r=" + "0" * 32 + "&t=%C2%B2&h=y",
])
def test_malformed_code_is_refused(phone, query):
    refused = phone.get("/qr/a" + query)
    assert refused.status_code == 400
    assert "Đây không phải mã đăng nhập ThaiNguyen ID" in refused.text


def test_a_signed_out_phone_is_asked_to_sign_in_first(app, desktop):
    start(desktop)
    stranger = app.test_client()
    page = scan(desktop, stranger)
    assert page.status_code == 200 and "Hãy đăng nhập trên điện thoại này trước" in page.text
    assert 'href="/login"' in page.text
    assert the_request(app).status == "pending"


# --- bad input: the decision -------------------------------------------------------------------


def test_wrong_number_denies_and_counts_a_failure(app, desktop, phone, citizen):
    start(desktop)
    result = decide(phone, scan(desktop, phone), number=wrong_number(app))
    assert result.status_code == 400 and "Số bạn chọn không khớp" in result.text
    assert the_request(app).status == "denied"
    with app.app_context():
        assert db.session.get(Citizen, citizen.id).failed_attempts == 1
    assert desktop.get("/qr/status").json["status"] == "denied"
    assert finish(desktop, the_request(app).id.hex).status_code == 403
    assert ("auth:qr:failure", "failure") in [(a, o) for a, o, _ in audit_actions(app)]


def test_one_chance_only(app, desktop, phone):
    start(desktop)
    page = scan(desktop, phone)
    decide(phone, page, number=wrong_number(app))
    again = decide(phone, page, number=the_request(app).matching_number)
    assert again.status_code == 409 and the_request(app).status == "denied"


@pytest.mark.parametrize("choice", [{"number": "00"}, {"number": "abc"}, {}])
def test_a_number_not_offered_changes_nothing(app, desktop, phone, choice):
    start(desktop)
    refused = decide(phone, scan(desktop, phone), **choice)
    assert refused.status_code == 400 and 'id="qr-error"' in refused.text
    assert the_request(app).status == "scanned"


def test_the_decision_needs_the_scan_ticket_of_this_session(app, desktop, phone, citizen):
    start(desktop)
    page = scan(desktop, phone)
    number = the_request(app).matching_number
    forged = page.text.replace('name="ticket" type="hidden" value="',
                               'name="ticket" type="hidden" value="x')
    refused = decide(phone, type("Page", (), {"text": forged})(), number=number)
    assert refused.status_code == 400
    # Another signed-in session of the same citizen did not scan: its ticket differs.
    other_phone = signed_in_with(app, citizen, sso_sessions.ACR_ONE_FACTOR)
    ticket = re.search(r'name="ticket" type="hidden" value="([^"]+)"', page.text)[1]
    form_page = other_phone.get("/qr")  # any page with a form, for a CSRF token
    refused = other_phone.post("/qr/a", data={
        "csrf_token": csrf_token(form_page.text), "r": the_request(app).id.hex,
        "ticket": ticket, "number": number})
    assert refused.status_code == 400
    assert the_request(app).status == "scanned"


def test_the_decision_needs_csrf_and_a_signed_in_phone(app, desktop, phone):
    start(desktop)
    page = scan(desktop, phone)
    row = the_request(app)
    assert phone.post("/qr/a", data={"r": row.id.hex, "number": row.matching_number}
                      ).status_code == 400
    ticket = re.search(r'name="ticket" type="hidden" value="([^"]+)"', page.text)[1]
    AuthActions(phone).logout()
    fresh = phone.get("/qr")  # a valid CSRF token, but no session any more
    signed_out = phone.post("/qr/a", data={"csrf_token": csrf_token(fresh.text), "r": row.id.hex,
                                           "ticket": ticket, "number": row.matching_number})
    assert signed_out.status_code == 401
    assert "Hãy đăng nhập trên điện thoại này trước" in signed_out.text
    assert the_request(app).status == "scanned"


def test_a_throttled_account_cannot_approve(app, desktop, phone, citizen):
    start(desktop)
    page = scan(desktop, phone)
    with app.app_context():
        row = db.session.get(Citizen, citizen.id)
        row.failed_attempts, row.last_failure_at = throttle.FREE_ATTEMPTS + 4, utcnow()
        db.session.commit()
    refused = decide(phone, page, number=the_request(app).matching_number)
    assert refused.status_code == 429 and "Vui lòng thử lại sau" in refused.text
    assert the_request(app).status == "scanned"


# --- rate limits and networks ------------------------------------------------------------------


def test_creation_is_limited_per_ip(app_factory: Callable[..., Flask]):
    app = app_factory(TNID_QR_RATE_LIMIT="2/minute")
    desktop = app.test_client()
    page = desktop.get("/qr")
    token = csrf_token(page.text)
    codes = [desktop.post("/qr/start", data={"csrf_token": token}).status_code
             for _ in range(3)]
    assert codes == [303, 303, 429]


def test_approvals_are_limited_per_account(app_factory: Callable[..., Flask], make_citizen):
    app = app_factory(TNID_QR_APPROVE_RATE_LIMIT="1/minute")
    citizen = make_citizen()
    phone = signed_in_with(app, citizen, sso_sessions.ACR_ONE_FACTOR)
    first, second = app.test_client(), app.test_client()
    start(first, "/qr")
    page_one = scan(first, phone)
    start(second, "/qr")
    page_two = scan(second, phone)
    assert decide(phone, page_one, deny="1").status_code == 200
    limited = decide(phone, page_two, number=the_request(app).matching_number)
    assert limited.status_code == 429
    assert the_request(app).status == "scanned"


def test_polling_much_faster_than_once_a_second_is_cut_off(desktop):
    start(desktop, "/qr")
    codes = {desktop.get("/qr/status").status_code for _ in range(150)}
    assert codes == {200}
    assert desktop.get("/qr/status").status_code == 429


@pytest.mark.parametrize("phone_ip,flagged", [
    ("203.0.113.200", False), ("198.51.100.7", True), ("2001:db8::1", True),
])
def test_different_networks_are_flagged_on_the_phone(app, desktop, citizen, phone_ip, flagged):
    phone = signed_in_with(app, citizen, sso_sessions.ACR_ONE_FACTOR, ip=phone_ip)
    start(desktop)
    page = scan(desktop, phone)
    assert ("Máy tính này đang ở mạng khác với điện thoại của bạn" in page.text) is flagged


def test_local_addresses_are_called_local_network(app, citizen):
    desktop = app.test_client()
    desktop.environ_base.update(REMOTE_ADDR="192.168.1.20")
    phone = signed_in_with(app, citizen, sso_sessions.ACR_ONE_FACTOR, ip="192.168.1.30")
    start(desktop, "/qr")
    page = scan(desktop, phone)
    assert "192.168.1.20 (mạng nội bộ)" in page.text
    assert "Máy tính này đang ở mạng khác" not in page.text


def test_start_is_a_post_with_csrf(desktop):
    assert desktop.get("/qr/start").status_code == 405
    assert desktop.post("/qr/start").status_code == 400
    assert desktop.get("/qr/status").status_code == 404
    assert desktop.get("/qr/code.svg").status_code == 404


# --- inside an app's sign-in (OIDC) ------------------------------------------------------------


def test_an_app_sign_in_through_qr_ends_with_amr_qr(app, signing_keys, desktop, phone):
    rp = register(app)
    verifier, challenge = pkce()
    login = desktop.get(
        f"/authorize?response_type=code&client_id={rp.client_id}&redirect_uri={REDIRECT}"
        f"&scope=openid+profile&state=s1&nonce=n1&code_challenge={challenge}"
        "&code_challenge_method=S256")
    assert login.status_code == 302 and "/login?interaction=" in login.headers["Location"]
    page = start(desktop, login.headers["Location"])
    assert "Cổng dịch vụ công" in page.text  # the app banner stays on the QR page

    approval = scan(desktop, phone)
    assert "Cổng dịch vụ công" in approval.text and "portal.example.vn" in approval.text
    decide(phone, approval, number=the_request(app).matching_number)

    done = finish(desktop)
    assert done.status_code == 303 and "/authorize/resume?interaction=" in done.headers["Location"]
    got = walk(desktop, desktop.get(done.headers["Location"]), rp)
    assert got["state"] == "s1" and "code" in got
    tokens = exchange(app.test_client(), rp, got["code"], verifier)
    assert tokens.status_code == 200, tokens.json
    claims = verify(app.test_client(), tokens.json["id_token"], rp.client_id)
    assert claims["amr"] == ["qr"] and claims["acr"] == "urn:tnid:acr:1"
    assert claims["nonce"] == "n1"
