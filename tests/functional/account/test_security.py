"""The account security page: authenticator enrolment with real pyotp codes, recovery codes
shown once, turning two-step sign-in off, password change, and signing out everywhere."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from idp.extensions import db
from idp.models import AuditEvent, Citizen, LogoutDelivery, SsoSession, Token, TotpCredential
from idp.services import identifiers, recovery_codes, totp
from idp.services.clock import utcnow
from tests.conftest import TEST_PASSWORD, AuthActions, csrf_token
from tests.support.authorize import form_action
from tests.support.oidc import register
from tests.support.second_factor import (
    SECRET,
    code,
    enable_totp,
    last_sms_code,
    sms_messages,
)
from tests.support.token_flows import ALL_SCOPES, refresh, tokens_for

NEW_PASSWORD = "mùa thu Hà Nội có hoa sữa thơm"


@pytest.fixture
def citizen(make_citizen):  # noqa: ANN001, ANN201
    return make_citizen()


@pytest.fixture
def signed_in(auth, citizen):  # noqa: ANN001, ANN201
    assert auth.login(citizen.cccd).status_code == 302
    return citizen


def csrf_after(page: str, marker: str) -> str:
    """The CSRF token of the form whose action contains ``marker``."""
    start = page.index(f'action="{marker}')
    return csrf_token(page[start:])


def post(client: FlaskClient, action: str, page_url: str = "/account/security", **data: str):  # noqa: ANN201
    page = client.get(page_url)
    token = csrf_after(page.text, action)
    return client.post(action, data={**data, **{k: token for k in _csrf_names(action)}})


def _csrf_names(action: str) -> list[str]:
    prefix = {"/account/two-step/off": "off-", "/account/recovery-codes": "codes-"}.get(action, "")
    return [f"{prefix}csrf_token"]


def enabled(app, citizen) -> bool:  # noqa: ANN001
    with app.app_context():
        return totp.is_enabled(db.session, citizen.id)


def audits(app, action: str) -> int:  # noqa: ANN001
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == action))


def setup_key(page: str) -> str:
    match = re.search(r'id="setup-key">([A-Z2-7 ]+)<', page)
    assert match, "no setup key on the page"
    return match.group(1).replace(" ", "")


def confirm_by_sms(client: FlaskClient, app, target: str = "totp_setup"):  # noqa: ANN001, ANN201
    """The fresh second factor of a citizen without an authenticator: press "send", type the
    code from the SMS. Returns the answer (a redirect to ``target``)."""
    page = client.get(f"/account/confirm-second-factor?next={target}")
    assert page.status_code == 200 and 'name="code"' not in page.text  # nothing sent on GET
    sent = client.post(form_action(page.text), data={"csrf_token": csrf_token(page.text)})
    assert sent.status_code == 302
    page = client.get(sent.headers["Location"])
    return client.post(form_action(page.text), data={"csrf_token": csrf_token(page.text),
                                                     "code": last_sms_code(app)})


def confirm_by_code(client: FlaskClient, value: str, method: str = "totp",
                    target: str = "security"):  # noqa: ANN201
    page = client.get(f"/account/confirm-second-factor?next={target}&method={method}")
    assert page.status_code == 200
    return client.post(form_action(page.text), data={"csrf_token": csrf_token(page.text),
                                                     "code": value})


def purposes(app) -> list[str]:  # noqa: ANN001
    """The notification texts (the second-factor codes left out)."""
    return [m.purpose for m in sms_messages(app) if m.purpose != "second_factor"]


def enrol(client: FlaskClient, app) -> tuple[str, list[str]]:  # noqa: ANN001
    """Enrol through the pages (after the SMS-code confirmation); returns (key, recovery
    codes shown)."""
    assert confirm_by_sms(client, app).status_code == 302
    page = client.get("/account/two-step/setup")
    assert page.status_code == 200
    key = setup_key(page.text)
    answer = client.post("/account/two-step/setup",
                         data={"csrf_token": csrf_token(page.text),
                               "code": pyotp.TOTP(key).now()})
    assert answer.status_code == 200, answer.text[:500]
    return key, re.findall(r"<code>([A-Z0-9-]+)</code>", answer.text)


# --- pages need a session ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/account/security", "/account/two-step/setup",
                                  "/account/confirm-password"])
def test_pages_need_a_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_home_shows_who_i_am_and_how_to_reach_level_2(client, signed_in):
    page = client.get("/").text
    assert signed_in.cccd not in page and identifiers.mask_cccd(signed_in.cccd) in page
    assert "UBND" in page or "commune office" in page
    assert "/account/security" in page and "/account/two-step/setup" in page


# --- enrolment ---------------------------------------------------------------------------------


def test_enrolment_with_a_real_code(app, client, signed_in):
    answer = confirm_by_sms(client, app)
    assert answer.status_code == 302 and answer.headers["Location"] == "/account/two-step/setup"
    page = client.get("/account/two-step/setup")
    text = page.text
    assert "<svg" in text and 'class="qr-code"' in text and "style=" not in text
    assert signed_in.cccd not in text and "otpauth://" not in text  # the URI is only in the QR
    assert "CCCD ••••••••" + signed_in.cccd[-4:] in text
    assert page.headers["Content-Security-Policy"]
    key = setup_key(text)
    assert len(key) == 32
    assert not enabled(app, signed_in)
    answer = client.post("/account/two-step/setup",
                         data={"csrf_token": csrf_token(text), "code": pyotp.TOTP(key).now()})
    assert answer.status_code == 200
    codes = re.findall(r"<code>([A-Z0-9-]+)</code>", answer.text)
    assert len(codes) == 10 and answer.headers["Cache-Control"] == "no-store"
    assert enabled(app, signed_in)
    assert audits(app, "auth:totp:enabled") == 1
    assert purposes(app) == ["totp_enabled"]  # told by SMS
    # Shown once: the security page never shows them again.
    security = client.get("/account/security").text
    assert not any(c in security for c in codes)
    assert "10" in security
    # And the setup page now just goes back to the security page.
    assert client.get("/account/two-step/setup").status_code == 302


def test_reloading_the_setup_page_keeps_the_key(app, client, signed_in):
    confirm_by_sms(client, app)
    assert setup_key(client.get("/account/two-step/setup").text) == \
        setup_key(client.get("/account/two-step/setup").text)


@pytest.mark.parametrize("bad,counted", [("000000", True), ("12ab56", False), ("", False),
                                         ("9" * 40, False)])
def test_wrong_or_malformed_confirmation_code(app, client, signed_in, bad, counted):
    confirm_by_sms(client, app)
    page = client.get("/account/two-step/setup")
    key = setup_key(page.text)
    if bad == "000000" and pyotp.TOTP(key).verify("000000", valid_window=1):
        bad = "000001"
    answer = client.post("/account/two-step/setup",
                         data={"csrf_token": csrf_token(page.text), "code": bad})
    assert answer.status_code == 400 and 'role="alert"' in answer.text
    assert not enabled(app, signed_in)
    assert audits(app, "auth:totp:failure") == (1 if counted else 0)
    assert setup_key(answer.text) == key  # the same key: try again


def test_setup_needs_the_password_then_a_second_factor_when_not_recent(app, client,
                                                                      signed_in):
    with app.app_context():
        db.session.execute(update(SsoSession).values(auth_time=utcnow() - timedelta(hours=1)))
        db.session.commit()
    response = client.get("/account/two-step/setup")
    assert response.status_code == 302
    assert "/account/confirm-password" in response.headers["Location"]
    page = client.get(response.headers["Location"])
    wrong = client.post(page.request.url, data={"csrf_token": csrf_token(page.text),
                                                "password": "not my password"})
    assert wrong.status_code == 400 and audits(app, "auth:password:failure") == 1
    right = client.post(page.request.url, data={"csrf_token": csrf_token(page.text),
                                                "password": TEST_PASSWORD})
    assert right.status_code == 302
    assert right.headers["Location"] == "/account/confirm-second-factor?next=totp_setup"
    # The password alone is not enough to bind an authenticator.
    assert client.get("/account/two-step/setup").status_code == 302
    assert confirm_by_sms(client, app).headers["Location"] == "/account/two-step/setup"
    assert client.get("/account/two-step/setup").status_code == 200
    # The second factor raised the session itself to acr 2 (as an app's step-up would).
    with app.app_context():
        row = db.session.scalar(select(SsoSession))
        assert row.acr == "urn:tnid:acr:2" and row.amr == ["pwd", "sms", "mfa"]


def test_confirm_pages_never_redirect_elsewhere(app, client, signed_in):
    page = client.get("/account/confirm-password?next=https://evil.example/")
    answer = client.post("/account/confirm-password?next=https://evil.example/",
                         data={"csrf_token": csrf_token(page.text), "password": TEST_PASSWORD})
    assert answer.headers["Location"] == "/account/confirm-second-factor?next=security"
    assert confirm_by_sms(client, app, "https://evil.example/").headers["Location"] == \
        "/account/security"


def test_post_without_csrf_is_refused(app, client, signed_in):
    assert client.post("/account/two-step/setup", data={"code": "123456"}).status_code == 400
    assert client.post("/account/sign-out-everywhere").status_code == 400
    assert client.get("/account/security").status_code == 200  # still signed in


# --- turning off ---------------------------------------------------------------------------------


def test_turning_off_needs_a_fresh_app_code_and_the_password(app, client, signed_in):
    key, _ = enrol(client, app)
    # The SMS code that allowed the enrolment does not count for changes once an
    # authenticator exists: the security page asks for its code first.
    page = client.get("/account/security").text
    assert 'action="/account/two-step/off"' not in page
    assert "/account/confirm-second-factor?next=security" in page
    refused = client.post("/account/two-step/off", data={
        "off-csrf_token": csrf_token(page), "off-password": TEST_PASSWORD})
    assert refused.status_code == 302 and "confirm-second-factor" in refused.headers["Location"]
    assert enabled(app, signed_in)
    # An SMS code cannot be used for it either.
    assert client.get("/account/confirm-second-factor?next=security&method=sms") \
        .text.count('name="code"') == 1
    assert "/account/confirm-second-factor/sms" not in client.get(
        "/account/confirm-second-factor?next=security&method=sms").text
    wrong = confirm_by_code(client, "00000")
    assert wrong.status_code == 400 and enabled(app, signed_in)
    # The code that confirmed the enrolment cannot be replayed here: use the next step's.
    ok = confirm_by_code(client, code(key, steps=1))
    assert ok.status_code == 302 and ok.headers["Location"] == "/account/security"
    wrong_password = post(client, "/account/two-step/off", **{"off-password": "not it"})
    assert wrong_password.status_code == 400 and enabled(app, signed_in)
    ok = post(client, "/account/two-step/off", **{"off-password": TEST_PASSWORD})
    assert ok.status_code == 302, ok.text[:400]
    assert not enabled(app, signed_in)
    with app.app_context():
        assert recovery_codes.remaining(db.session, signed_in.id) == 0
    assert audits(app, "auth:totp:disabled") == 1
    assert purposes(app) == ["totp_enabled", "totp_disabled"]


# --- recovery codes ----------------------------------------------------------------------------


def test_regenerating_recovery_codes(app, client, signed_in):
    _, first = enrol(client, app)
    # No form until a fresh second factor (the SMS code of the enrolment does not count).
    assert 'action="/account/recovery-codes"' not in client.get("/account/security").text
    # A recovery code is a fresh second factor (it is spent).
    assert confirm_by_code(client, first[0], method="recovery").status_code == 302
    answer = post(client, "/account/recovery-codes")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    second = re.findall(r"<code>([A-Z0-9-]+)</code>", answer.text)
    assert len(second) == 10 and not set(first) & set(second)
    with app.app_context():
        citizen = db.session.get(Citizen, signed_in.id)
        assert not recovery_codes.use(db.session, citizen, first[1], now=utcnow())
        assert recovery_codes.remaining(db.session, citizen.id) == 10
    assert audits(app, "auth:recovery_codes:regenerated") == 1
    assert sms_messages(app)[-1].purpose == "recovery_codes"


def test_password_alone_cannot_make_recovery_codes(app, client, signed_in):
    """The reviewer's attack: a one-factor session plus the password must not mint codes
    that pass the second-factor screen."""
    enable_totp(app, signed_in.id)
    page = client.get("/account/security").text
    token = csrf_token(page)
    answer = client.post("/account/recovery-codes", data={
        "csrf_token": token, "codes-csrf_token": token, "codes-password": TEST_PASSWORD})
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/account/confirm-second-factor?next=security"
    assert not re.findall(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{2}", answer.text)
    assert audits(app, "auth:recovery_codes:regenerated") == 0
    with app.app_context():
        assert recovery_codes.remaining(db.session, signed_in.id) == 0
        assert db.session.scalar(select(SsoSession.acr)) == "urn:tnid:acr:1"


def test_password_alone_cannot_enrol_an_authenticator(app, client, signed_in):
    """The reviewer's attack: binding one's own authenticator with only the password."""
    page = client.get("/account/two-step/setup")
    assert page.status_code == 302
    assert page.headers["Location"] == "/account/confirm-second-factor?next=totp_setup"
    answer = client.post("/account/two-step/setup", data={
        "csrf_token": csrf_token(client.get("/account/security").text), "code": "123456"})
    assert answer.status_code == 302 and not enabled(app, signed_in)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TotpCredential)) == 0


def test_confirmation_expires_after_ten_minutes(app, client, signed_in):
    confirm_by_sms(client, app)
    assert client.get("/account/two-step/setup").status_code == 200
    with client.session_transaction() as flask_session:
        flask_session["second_factor_proof"]["at"] -= 11 * 60
        flask_session["reauth"] = {"sid": "x", "at": 0}
    assert client.get("/account/two-step/setup").status_code == 302


def test_confirmation_is_bound_to_the_session(app, client, auth, signed_in):
    confirm_by_sms(client, app)
    auth.logout()
    auth.login(signed_in.cccd)
    assert client.get("/account/two-step/setup").headers["Location"] == \
        "/account/confirm-second-factor?next=totp_setup"


def test_an_app_step_up_counts_as_the_confirmation(app, client, signed_in, signing_keys):
    from tests.functional.auth.test_second_factor import start

    enable_totp(app, signed_in.id)
    rp = register(app, min_acr="urn:tnid:acr:2", trusted=True)
    page, _ = start(client, rp)
    client.post(form_action(page.text), data={"csrf_token": csrf_token(page.text),
                                              "code": code()})
    assert 'action="/account/recovery-codes"' in client.get("/account/security").text
    assert post(client, "/account/recovery-codes").status_code == 200


def test_qr_session_gives_the_password_before_a_change(app, client, signed_in):
    from tests.functional.auth.test_second_factor import qr_session

    client.delete_cookie("tnid_sso")
    qr_session(app, client, signed_in)
    answer = client.get("/account/two-step/setup")
    assert "/account/confirm-password" in answer.headers["Location"]
    assert client.get("/account/confirm-second-factor?next=totp_setup").headers[
        "Location"].startswith("/account/confirm-password")
    page = client.get(answer.headers["Location"])
    client.post(page.request.url, data={"csrf_token": csrf_token(page.text),
                                        "password": TEST_PASSWORD})
    assert confirm_by_sms(client, app).status_code == 302
    with app.app_context():
        rows = [r for r in db.session.scalars(select(SsoSession)) if "qr" in r.amr]
        assert len(rows) == 1
        assert rows[0].acr == "urn:tnid:acr:2" and rows[0].amr == ["pwd", "qr", "sms", "mfa"]


def test_wrong_confirmation_codes_are_counted_and_throttled(app, client, signed_in):
    enable_totp(app, signed_in.id)
    wrong = f"{(int(code()) + 500_000) % 1_000_000:06d}"
    for _ in range(5):
        assert confirm_by_code(client, wrong).status_code == 400
    assert audits(app, "auth:totp:failure") == 5
    assert confirm_by_code(client, code()).status_code == 429
    with app.app_context():
        db.session.execute(update(Citizen).values(unlock_required=True))
        db.session.commit()
    locked = confirm_by_code(client, code())
    assert locked.status_code == 429 and 'href="/unlock"' in locked.text


def test_no_recovery_codes_without_an_authenticator(client, signed_in):
    page = client.get("/account/security")
    assert 'action="/account/recovery-codes"' not in page.text


# --- password change ---------------------------------------------------------------------------


def test_password_change_ends_other_sessions_and_revokes_refresh_tokens(
        app, client, signed_in, signing_keys):
    rp = register(app, trusted=True)
    other = app.test_client()
    AuthActions(other).login(signed_in.cccd)
    issued = tokens_for(other, rp, signed_in.cccd, ALL_SCOPES)
    assert "refresh_token" in issued
    assert len(_sessions(app)) == 2

    answer = post(client, "/account/password", current_password=TEST_PASSWORD,
                  new_password=NEW_PASSWORD)
    assert answer.status_code == 302
    assert len(_sessions(app)) == 1
    assert client.get("/account/security").status_code == 200  # this browser stays in
    assert other.get("/account/security").status_code == 302  # the other one is out
    assert refresh(client, rp, issued["refresh_token"]).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Token)
                                 .where(Token.revoked_at.is_(None))) == 0
    assert audits(app, "account:password:changed") == 1
    assert sms_messages(app)[-1].purpose == "password_changed"
    fresh = app.test_client()
    assert AuthActions(fresh).login(signed_in.cccd).status_code != 302
    assert AuthActions(fresh).login(signed_in.cccd, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize("new,why", [("short", "8"), ("password123", "common"),
                                     ("x" * 300, "256")])
def test_refused_new_passwords_change_nothing(app, client, signed_in, new, why):
    answer = post(client, "/account/password", current_password=TEST_PASSWORD,
                  new_password=new)
    assert answer.status_code == 400 and 'role="alert"' in answer.text
    assert audits(app, "account:password:changed") == 0
    assert AuthActions(app.test_client()).login(signed_in.cccd).status_code == 302


def test_own_cccd_is_refused_as_password(app, client, signed_in):
    answer = post(client, "/account/password", current_password=TEST_PASSWORD,
                  new_password=signed_in.cccd)
    assert answer.status_code == 400


def test_wrong_current_password_is_counted_then_throttled(app, client, signed_in):
    for _ in range(5):
        answer = post(client, "/account/password", current_password="wrong one!",
                      new_password=NEW_PASSWORD)
        assert answer.status_code == 400
    assert audits(app, "auth:password:failure") == 5
    throttled = post(client, "/account/password", current_password=TEST_PASSWORD,
                     new_password=NEW_PASSWORD)
    assert throttled.status_code == 429
    assert audits(app, "account:password:changed") == 0


# --- sign out everywhere -----------------------------------------------------------------------


def test_sign_out_everywhere(app_factory, make_citizen, signing_keys):
    app = app_factory(TNID_LOGOUT_DELIVERY="inline")
    citizen = make_citizen()
    rp = register(app, trusted=True, backchannel_logout_uri="http://127.0.0.1:9/logout")
    first, second = app.test_client(), app.test_client()
    AuthActions(first).login(citizen.cccd)
    AuthActions(second).login(citizen.cccd)
    issued = tokens_for(second, rp, citizen.cccd, ALL_SCOPES)
    answer = post(first, "/account/sign-out-everywhere")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    assert _sessions(app) == []
    assert first.get("/account/security").status_code == 302
    assert second.get("/account/security").status_code == 302
    assert refresh(first, rp, issued["refresh_token"]).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LogoutDelivery)) == 1
    assert audits(app, "account:sign_out_everywhere") == 1


def _sessions(app) -> list[SsoSession]:  # noqa: ANN001
    with app.app_context():
        rows = list(db.session.scalars(select(SsoSession)))
        db.session.expunge_all()
        return rows


def test_security_page_escapes_nothing_secret(app, client, signed_in):
    enable_totp(app, signed_in.id)
    page = client.get("/account/security").text
    assert SECRET not in page and html.escape(SECRET) not in page
