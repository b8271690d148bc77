"""Password sign-in at /login, the SSO session cookie, and sign-out."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import Citizen, CitizenStatus, SsoSession
from idp.services import accounts
from idp.services.clock import utcnow
from idp.web import deps
from tests.conftest import TEST_PASSWORD, AuthActions, csrf_token

GENERIC = "Số CCCD hoặc số điện thoại, hoặc mật khẩu chưa đúng"


def session_count(app) -> int:  # noqa: ANN001
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(SsoSession))


def sso_cookie(response) -> str:  # noqa: ANN001
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(("tnid_sso=", "__Host-tnid_sso=")):
            return header
    raise AssertionError("no SSO cookie set")


def test_login_form_marks_inputs_for_password_managers(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert 'autocomplete="username"' in page.text
    assert 'autocomplete="current-password"' in page.text
    assert 'name="csrf_token"' in page.text


@pytest.mark.parametrize("identifier", [
    "019085000001", "019 085 000 001", "0912300001", "0912 300 001", "+84912300001",
    "84912300001", "(+84) 912-300-001",
])
def test_sign_in_by_cccd_or_phone_in_common_formats(app, client, auth, make_citizen, identifier):
    make_citizen()
    response = auth.login(identifier)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Nguyễn Văn An" in home.text
    assert session_count(app) == 1


def test_session_cookie_is_httponly_lax_and_opaque(app, auth, make_citizen):
    citizen = make_citizen()
    cookie = sso_cookie(auth.login(citizen.cccd))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert citizen.cccd not in value and len(value) >= 43
    with app.app_context():
        row = db.session.scalar(select(SsoSession))
        assert row.token_hash == hashlib.sha256(value.encode()).digest()  # only the hash kept
        assert row.amr == ["pwd"] and row.acr == "urn:tnid:acr:1"


@pytest.mark.parametrize("identifier,password", [
    ("019085000001", "wrong password!"),       # known account, wrong password
    ("019085999999", TEST_PASSWORD),            # unknown CCCD
    ("0988888888", TEST_PASSWORD),              # unknown phone
    ("not an id", TEST_PASSWORD),               # neither
])
def test_failures_share_one_generic_message(app, auth, make_citizen, identifier, password):
    make_citizen()
    response = auth.login(identifier, password)
    assert response.status_code == 401
    assert GENERIC in response.text
    assert TEST_PASSWORD not in response.text  # the password is never echoed back
    assert session_count(app) == 0


def test_account_without_password_cannot_sign_in(app, auth, make_citizen):
    citizen = make_citizen(password=None)
    response = auth.login(citizen.cccd, "")
    assert response.status_code == 400
    response = auth.login(citizen.cccd, "anything at all")
    assert response.status_code == 401 and GENERIC in response.text
    assert session_count(app) == 0


def test_locked_account_gets_the_generic_answer_even_with_the_right_password(
        app, auth, make_citizen):
    citizen = make_citizen()
    with app.app_context():
        db.session.get(Citizen, citizen.id).status = CitizenStatus.LOCKED
        db.session.commit()
    wrong = auth.login(citizen.cccd, "wrong password!")
    right = auth.login(citizen.cccd)
    # Saying "locked" only to the right password would confirm it to a guesser.
    assert wrong.status_code == right.status_code == 401
    assert GENERIC in wrong.text and GENERIC in right.text and "tạm khóa" not in right.text
    assert session_count(app) == 0


@pytest.mark.parametrize("data", [
    {"identifier": "", "password": TEST_PASSWORD},
    {"identifier": "019085000001", "password": ""},
    {"identifier": "1" * 65, "password": TEST_PASSWORD},
    {"identifier": "019085000001", "password": "x" * 1025},
    {},
])
def test_bad_form_input_is_refused_with_a_message(app, client, make_citizen, data):
    make_citizen()
    token = csrf_token(client.get("/login").text)
    response = client.post("/login", data={"csrf_token": token, **data})
    assert response.status_code == 400
    assert 'class="field-error"' in response.text
    assert session_count(app) == 0


def test_missing_csrf_token_is_refused(app, client, make_citizen):
    citizen = make_citizen()
    response = client.post("/login", data={"identifier": citizen.cccd, "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert "hết hạn" in response.text
    assert session_count(app) == 0


def test_json_body_is_refused_without_a_500(app, client, make_citizen):
    citizen = make_citizen()
    response = client.post("/login", json={"identifier": citizen.cccd, "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert response.is_json and response.json["error"] == "invalid_request"
    assert session_count(app) == 0


def test_huge_body_is_refused(app, client):
    response = client.post("/login", data={"identifier": "1" * (300 * 1024), "password": "x"})
    assert response.status_code == 413
    assert session_count(app) == 0


def test_sign_in_again_regenerates_the_session_id(app, client, auth, make_citizen):
    citizen = make_citizen()
    first = sso_cookie(auth.login(citizen.cccd)).split(";")[0]
    token = csrf_token(client.get("/logout").text)  # /login redirects once signed in
    second = sso_cookie(client.post("/login", data={
        "csrf_token": token, "identifier": citizen.phone, "password": TEST_PASSWORD,
    })).split(";")[0]
    assert first != second
    assert session_count(app) == 1  # the first session was ended, not left behind
    name, value = first.split("=", 1)
    client.set_cookie(name, value)
    assert client.get("/").status_code == 302  # the old id no longer works


def test_sign_in_renews_the_csrf_token(client, auth, make_citizen):
    citizen = make_citizen()
    client.get("/login")
    with client.session_transaction() as cookie_session:
        before = cookie_session["csrf_token"]
    auth.login(citizen.cccd)
    client.get("/logout")
    with client.session_transaction() as cookie_session:
        after = cookie_session["csrf_token"]
    assert before != after


def test_ui_cookie_is_also_httponly_and_lax(client):
    header = next(h for h in client.get("/login").headers.getlist("Set-Cookie")
                  if h.startswith("tnid="))
    assert "HttpOnly" in header and "SameSite=Lax" in header


def test_cross_site_post_is_refused_even_with_a_token(app, client, make_citizen):
    citizen = make_citizen()
    token = csrf_token(client.get("/login").text)
    response = client.post("/login", headers={"Origin": "https://evil.example"}, data={
        "csrf_token": token, "identifier": citizen.cccd, "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert session_count(app) == 0
    same_site = client.post("/login", headers={"Origin": "http://localhost"}, data={
        "csrf_token": token, "identifier": citizen.cccd, "password": TEST_PASSWORD})
    assert same_site.status_code == 302


def test_home_needs_a_session(client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/login"


def test_signed_in_user_visiting_login_goes_home(client, auth, make_citizen):
    auth.login(make_citizen().cccd)
    assert client.get("/login").headers["Location"] == "/"


def test_logout_ends_the_server_side_session(app, client, auth, make_citizen):
    citizen = make_citizen()
    cookie = sso_cookie(auth.login(citizen.cccd)).split(";")[0]
    response = auth.logout()
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert session_count(app) == 0
    name, value = cookie.split("=", 1)
    client.set_cookie(name, value)  # replaying the old cookie does not bring it back
    assert client.get("/").status_code == 302
    assert "Bạn đã đăng xuất" in client.get("/login").text


def test_logout_needs_csrf(app, client, auth, make_citizen):
    auth.login(make_citizen().cccd)
    assert client.post("/logout").status_code == 400
    assert session_count(app) == 1


def test_logout_without_session_goes_to_login(client):
    assert client.get("/logout").headers["Location"] == "/login"


def test_idle_session_expires(app, client, auth, make_citizen):
    auth.login(make_citizen().cccd)
    with app.app_context():
        row = db.session.scalar(select(SsoSession))
        row.last_seen_at -= timedelta(minutes=31)
        row.created_at -= timedelta(minutes=31)
        db.session.commit()
    assert client.get("/").status_code == 302
    assert session_count(app) == 0


def test_absolute_session_limit_applies_even_when_active(app, client, auth, make_citizen):
    auth.login(make_citizen().cccd)
    with app.app_context():
        row = db.session.scalar(select(SsoSession))
        row.created_at -= timedelta(hours=12, minutes=1)
        db.session.commit()
    assert client.get("/").status_code == 302


def create_demo_citizen(app, cccd: str, phone: str) -> None:  # noqa: ANN001
    with app.app_context():
        accounts.create_citizen(
            db.session,
            accounts.NewCitizen(cccd=cccd, full_name="Lê Thị Hoa", birthdate="1985-01-01",
                                phone=phone),
            passwords=deps.passwords(), password=TEST_PASSWORD, today=utcnow().date(),
        )
        db.session.commit()


@pytest.mark.parametrize("config_value,minutes,alive", [("5", 6, False), ("60", 45, True)])
def test_idle_limit_is_configurable(app_factory, config_value, minutes, alive):
    app = app_factory(TNID_SESSION_IDLE_MINUTES=config_value)
    create_demo_citizen(app, "019085000777", "0912000777")
    client = app.test_client()
    AuthActions(client).login("019085000777")
    with app.app_context():
        row = db.session.scalar(select(SsoSession))
        row.last_seen_at -= timedelta(minutes=minutes)
        db.session.commit()
    assert (client.get("/").status_code == 200) is alive


def test_https_issuer_uses_host_prefixed_secure_cookie(app_factory):
    app = app_factory(TNID_ISSUER="https://id.thainguyen.gov.vn")
    create_demo_citizen(app, "019085000888", "0912000888")
    client = app.test_client()
    base = "https://id.thainguyen.gov.vn"
    page = client.get("/login", base_url=base)
    response = client.post(  # no Referer: privacy tools strip it, sign-in must still work
        "/login", base_url=base,
        data={"csrf_token": csrf_token(page.text), "identifier": "019085000888",
              "password": TEST_PASSWORD},
    )
    cookie = sso_cookie(response)
    assert cookie.startswith("__Host-tnid_sso=")
    assert "Secure" in cookie and "HttpOnly" in cookie
    assert not re.search(r"Domain=", cookie)


def test_sign_in_is_rate_limited_per_ip(app_factory):
    app = app_factory(TNID_LOGIN_RATE_LIMIT="3/minute")
    actions = AuthActions(app.test_client())
    statuses = [actions.login("019085000001", "wrong password!").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    other = app.test_client()
    page = other.get("/login")
    response = other.post(
        "/login", environ_base={"REMOTE_ADDR": "10.9.8.7"},
        data={"csrf_token": csrf_token(page.text), "identifier": "x", "password": "y"},
    )
    assert response.status_code == 401  # another address has its own budget


def test_signing_in_again_as_the_same_citizen_keeps_the_session_id(app, client, auth,
                                                                   make_citizen):
    citizen = make_citizen()
    auth.login(citizen.cccd)
    with app.app_context():
        sid = db.session.scalar(select(SsoSession.sid))
    token = csrf_token(client.get("/logout").text)
    client.post("/login", data={"csrf_token": token, "identifier": citizen.phone,
                                "password": TEST_PASSWORD})
    with app.app_context():
        assert db.session.scalars(select(SsoSession.sid)).all() == [sid]


def test_signing_in_as_someone_else_ends_the_first_session(app, client, auth, make_citizen):
    first, second = make_citizen(), make_citizen()
    auth.login(first.cccd)
    token = csrf_token(client.get("/logout").text)
    client.post("/login", data={"csrf_token": token, "identifier": second.cccd,
                                "password": TEST_PASSWORD})
    with app.app_context():
        owners = db.session.scalars(select(SsoSession.citizen_id)).all()
    assert owners == [second.id]
