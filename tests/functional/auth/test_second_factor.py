"""Step-up to two factors through the real authorization endpoint: an app that asks for (or
requires) urn:tnid:acr:2 gets the second-factor screen, which asks only for the second factor
(authenticator code, SMS code or recovery code) and then resumes the request."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from idp.extensions import db
from idp.models import AuditEvent, Citizen, OneTimeCode, SsoSession
from idp.services import sso_sessions
from idp.services.clock import utcnow
from tests.conftest import TEST_PASSWORD, csrf_token
from tests.support.authorize import (
    at_app,
    exchange,
    follow,
    form_action,
    go,
    is_consent,
    is_login,
    sign_in,
    submit,
)
from tests.support.oidc import App, pkce, register, verify
from tests.support.second_factor import (
    code,
    enable_totp,
    forget_used_steps,
    last_sms_code,
    make_recovery_codes,
    sms_messages,
)

ACR1, ACR2 = "urn:tnid:acr:1", "urn:tnid:acr:2"
ESSENTIAL_ACR2 = json.dumps({"id_token": {"acr": {"essential": True, "values": [ACR2]}}})


@pytest.fixture
def rp(app) -> App:  # noqa: ANN001
    """An app that requires two factors (the province set its minimum)."""
    return register(app, min_acr=ACR2, trusted=True)


@pytest.fixture
def citizen(make_citizen):  # noqa: ANN001, ANN201
    return make_citizen()


@pytest.fixture
def with_totp(app, citizen):  # noqa: ANN001, ANN201
    enable_totp(app, citizen.id)
    return citizen


def is_second_factor(page) -> bool:  # noqa: ANN001
    """The second-factor screen (whatever its status): a code field, no password field."""
    return 'name="code"' in page.text and "current-password" not in page.text


def start(client, rp: App, **params):  # noqa: ANN001, ANN201
    """The app sends the signed-in browser to /authorize; returns (page, PKCE verifier)."""
    verifier, challenge = pkce()
    page = follow(client, go(client, rp, code_challenge=challenge, **params), rp)
    return page, verifier


def finish(client, rp: App, response, verifier: str) -> dict:  # noqa: ANN001
    """From the answer to the second factor to the app's verified ID token."""
    response = follow(client, response, rp)
    if is_consent(response):
        response = follow(client, submit(client, response, decision="allow"), rp)
    got = at_app(response, rp)
    assert "code" in got, got
    token = exchange(client, rp, got["code"], verifier)
    assert token.status_code == 200, token.json
    return verify(client, token.json["id_token"], rp.client_id)


def sessions(app) -> list[SsoSession]:  # noqa: ANN001
    with app.app_context():
        rows = db.session.scalars(select(SsoSession)).all()
        db.session.expunge_all()
        return list(rows)


def failures(app, kind: str) -> int:  # noqa: ANN001
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == f"auth:{kind}:failure"))


def send_code(client, page):  # noqa: ANN001, ANN201
    """Press "Gửi mã qua SMS" (a POST: nothing is sent on a GET); returns the code page."""
    sent = client.post(_send_action(page), data={"csrf_token": csrf_token(page.text)})
    assert sent.status_code == 302
    return client.get(sent.headers["Location"])


def qr_session(app, client, citizen, *, acr: str = ACR1,  # noqa: ANN001
               amr: tuple[str, ...] = ("qr",)) -> None:
    """This browser signed in by QR (no password in the session)."""
    with app.app_context():
        row = db.session.get(Citizen, citizen.id)
        token, _ = sso_sessions.start_session(db.session, row, amr=list(amr), acr=acr,
                                              ip="127.0.0.1", user_agent="test", now=utcnow())
        db.session.commit()
    client.set_cookie("tnid_sso", token)


def cookie(client) -> str | None:  # noqa: ANN001
    found = client.get_cookie("tnid_sso")
    return found.value if found else None


# --- TOTP --------------------------------------------------------------------------------------


def test_totp_step_up_keeps_the_session_and_gives_acr_2(app, client, auth, rp, with_totp,
                                                         signing_keys):
    auth.login(with_totp.cccd)
    before, old_cookie = sessions(app)[0], cookie(client)
    page, verifier = start(client, rp)
    assert is_second_factor(page)
    assert 'autocomplete="current-password"' not in page.text  # only the second factor
    assert "authenticator app" in page.text or "ứng dụng xác thực" in page.text
    claims = finish(client, rp, submit(client, page, code=code()), verifier)
    assert claims["acr"] == ACR2 and claims["amr"] == ["pwd", "otp", "mfa"]
    after = sessions(app)
    assert len(after) == 1 and after[0].sid == before.sid == claims["sid"]
    assert after[0].acr == ACR2 and after[0].amr == ["pwd", "otp", "mfa"]
    assert cookie(client) != old_cookie  # a new cookie value at the new privilege level
    # The next request of the app needs no second step.
    page, verifier = start(client, rp, prompt="none")
    assert "code" in at_app(page, rp)


def test_acr_values_wish_asks_for_the_second_factor(app, client, auth, with_totp,
                                                    signing_keys):
    rp = register(app, trusted=True)
    auth.login(with_totp.cccd)
    page, verifier = start(client, rp, acr_values=ACR2)
    assert is_second_factor(page)
    claims = finish(client, rp, submit(client, page, code=code()), verifier)
    assert claims["acr"] == ACR2


def test_essential_acr_claim_asks_for_the_second_factor(app, client, auth, with_totp,
                                                        signing_keys):
    rp = register(app, trusted=True)
    auth.login(with_totp.cccd)
    page, verifier = start(client, rp, claims=ESSENTIAL_ACR2)
    assert is_second_factor(page)
    assert finish(client, rp, submit(client, page, code=code()), verifier)["acr"] == ACR2


def test_a_replayed_totp_code_is_refused(app, client, auth, rp, with_totp, signing_keys):
    used = code()
    auth.login(with_totp.cccd)
    page, verifier = start(client, rp)
    finish(client, rp, submit(client, page, code=used), verifier)
    auth.logout()
    auth.login(with_totp.cccd)
    page, _ = start(client, rp)
    again = submit(client, page, code=used)
    assert again.status_code == 400
    assert "already used" in again.text or "đã được sử dụng" in again.text
    assert sessions(app)[0].acr == ACR1
    assert failures(app, "totp") == 1


def test_wrong_codes_are_counted_then_throttled(app, client, auth, rp, with_totp):
    auth.login(with_totp.cccd)
    page, _ = start(client, rp)
    wrong = f"{(int(code()) + 500_000) % 1_000_000:06d}"
    for _ in range(5):
        answer = submit(client, page, code=wrong)
        assert answer.status_code == 400 and is_second_factor(answer)
    assert failures(app, "totp") == 5
    # The sixth attempt must wait, even with the right code: it is not even checked.
    throttled = submit(client, page, code=code())
    assert throttled.status_code == 429
    assert sessions(app)[0].acr == ACR1
    assert failures(app, "totp") == 5
    # Once the delay has passed, the right code works.
    with app.app_context():
        db.session.execute(update(Citizen).values(last_failure_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    ok = submit(client, page, code=code())
    assert ok.status_code == 302 and sessions(app)[0].acr == ACR2
    with app.app_context():
        assert db.session.scalar(select(Citizen.failed_attempts)) == 0


@pytest.mark.parametrize("bad", ["", "12345", "abcdef", "1234567", "x" * 70])
def test_malformed_totp_codes_change_nothing(app, client, auth, rp, with_totp, bad):
    auth.login(with_totp.cccd)
    page, _ = start(client, rp)
    answer = submit(client, page, code=bad)
    assert answer.status_code == 400 and 'role="alert"' in answer.text
    assert failures(app, "totp") == 0 and sessions(app)[0].acr == ACR1


# --- SMS ---------------------------------------------------------------------------------------


def test_citizen_without_an_app_gets_an_sms_code(app, client, auth, rp, citizen,
                                                 signing_keys):
    auth.login(citizen.cccd)
    page, verifier = start(client, rp)
    assert "SMS" in page.text and not is_second_factor(page)
    assert "ứng dụng xác thực" in page.text and "bảo mật" in page.text.lower()  # guided to enrol
    # Nothing is sent on a GET (a reload, a prefetch): the citizen presses the button.
    assert client.get(page.request.url).status_code == 200
    assert not sms_messages(app, "second_factor")
    assert "Gửi mã qua SMS" in page.text
    page = send_code(client, page)
    assert is_second_factor(page)
    texts = sms_messages(app, "second_factor")
    assert len(texts) == 1 and texts[0].recipient == citizen.phone
    # A reload does not send another text.
    assert is_second_factor(client.get(page.request.url))
    assert len(sms_messages(app, "second_factor")) == 1
    claims = finish(client, rp, submit(client, page, code=last_sms_code(app)), verifier)
    assert claims["acr"] == ACR2 and claims["amr"] == ["pwd", "sms", "mfa"]


def test_sms_code_works_once(app, client, auth, rp, citizen, signing_keys):
    auth.login(citizen.cccd)
    page, verifier = start(client, rp)
    page = send_code(client, page)
    sms = last_sms_code(app)
    finish(client, rp, submit(client, page, code=sms), verifier)
    auth.logout()
    auth.login(citizen.cccd)
    page, _ = start(client, rp)
    page = send_code(client, page)
    # A new flow, a new code: the old one does not work in it.
    fresh = last_sms_code(app)
    assert fresh != sms or len(sms_messages(app, "second_factor")) == 2
    if fresh != sms:
        assert submit(client, page, code=sms).status_code == 400


def test_expired_sms_code_then_a_new_one(app, client, auth, rp, citizen, signing_keys):
    auth.login(citizen.cccd)
    page, verifier = start(client, rp)
    page = send_code(client, page)
    old = last_sms_code(app)
    with app.app_context():
        db.session.execute(update(OneTimeCode).values(
            expires_at=utcnow() - timedelta(seconds=1),
            last_sent_at=utcnow() - timedelta(minutes=6)))
        db.session.commit()
    expired = submit(client, page, code=old)
    assert expired.status_code == 400
    assert "expired" in expired.text or "hết hạn" in expired.text
    resent = client.post(_send_action(page), data={"csrf_token": csrf_token(page.text)})
    assert resent.status_code == 302
    assert len(sms_messages(app, "second_factor")) == 2
    page = client.get(resent.headers["Location"])
    claims = finish(client, rp, submit(client, page, code=last_sms_code(app)), verifier)
    assert claims["amr"] == ["pwd", "sms", "mfa"]


def _send_action(page) -> str:  # noqa: ANN001
    match = re.search(r'action="(/login/second-factor/sms[^"]*)"', page.text)
    assert match
    return html.unescape(match.group(1))


def test_resend_is_throttled(app, client, auth, rp, citizen):
    auth.login(citizen.cccd)
    page, _ = start(client, rp)
    page = send_code(client, page)
    client.post(_send_action(page), data={"csrf_token": csrf_token(page.text)})
    assert len(sms_messages(app, "second_factor")) == 1  # too soon after the first


def test_wrong_sms_codes_run_out(app, client, auth, rp, citizen):
    auth.login(citizen.cccd)
    page, _ = start(client, rp)
    page = send_code(client, page)
    right = last_sms_code(app)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    answer = submit(client, page, code=wrong)
    assert answer.status_code == 400
    assert "4" in answer.text  # tries left
    assert failures(app, "sms") == 1


def test_a_spent_sms_flow_gives_way_to_a_new_code(app, client, auth, rp, citizen,
                                                 signing_keys):
    auth.login(citizen.cccd)
    page, verifier = start(client, rp)
    page = send_code(client, page)
    right = last_sms_code(app)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(5):
        with app.app_context():  # let each try through the account's growing delay
            db.session.execute(update(Citizen).values(
                last_failure_at=utcnow() - timedelta(hours=1)))
            db.session.commit()
        submit(client, page, code=wrong)
    with app.app_context():
        db.session.execute(update(Citizen).values(last_failure_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    assert submit(client, page, code=right).status_code == 400  # this flow is spent
    resent = client.post(_send_action(page), data={"csrf_token": csrf_token(page.text)})
    assert resent.status_code == 302
    assert len(sms_messages(app, "second_factor")) == 2  # a new flow, a new text
    page = client.get(resent.headers["Location"])
    with app.app_context():  # the account's delay still applies to the new code
        db.session.execute(update(Citizen).values(last_failure_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    claims = finish(client, rp, submit(client, page, code=last_sms_code(app)), verifier)
    assert claims["acr"] == ACR2


# --- recovery codes ----------------------------------------------------------------------------


def test_recovery_code_step_up(app, client, auth, rp, with_totp, signing_keys):
    codes = make_recovery_codes(app, with_totp.id)
    auth.login(with_totp.cccd)
    page, verifier = start(client, rp)
    assert "recovery" in page.text.lower() or "khôi phục" in page.text
    page = client.get(_link(page.text, "method=recovery"))
    assert is_second_factor(page)
    claims = finish(client, rp, submit(client, page, code=codes[0].lower()), verifier)
    assert claims["acr"] == ACR2 and claims["amr"] == ["pwd", "mfa"]
    # Spent: it does not work a second time.
    auth.logout()
    auth.login(with_totp.cccd)
    page, _ = start(client, rp)
    page = client.get(_link(page.text, "method=recovery"))
    again = submit(client, page, code=codes[0])
    assert again.status_code == 400 and sessions(app)[0].acr == ACR1
    assert failures(app, "recovery") == 1


def _link(text: str, marker: str) -> str:
    match = re.search(rf'href="([^"]*{re.escape(marker)}[^"]*)"', text)
    assert match, marker
    return html.unescape(match.group(1))


def test_sms_instead_of_the_app(app, client, auth, rp, with_totp, signing_keys):
    auth.login(with_totp.cccd)
    page, verifier = start(client, rp)
    assert not sms_messages(app, "second_factor")  # the app is the default: no text sent
    page = send_code(client, client.get(_link(page.text, "method=sms")))
    assert is_second_factor(page)
    claims = finish(client, rp, submit(client, page, code=last_sms_code(app)), verifier)
    assert claims["amr"] == ["pwd", "sms", "mfa"]


# --- protocol edges ----------------------------------------------------------------------------


def test_prompt_none_with_one_factor_is_interaction_required(app, client, auth, rp, with_totp):
    auth.login(with_totp.cccd)
    got = at_app(go(client, rp, prompt="none"), rp)
    assert got["error"] == "interaction_required"


def test_prompt_login_asks_the_password_then_the_second_factor(app, client, auth, rp, with_totp,
                                                              signing_keys):
    auth.login(with_totp.cccd)
    page, verifier = start(client, rp)
    finish(client, rp, submit(client, page, code=code()), verifier)
    forget_used_steps(app)
    page, verifier = start(client, rp, prompt="login")
    assert is_login(page)
    page = follow(client, sign_in(client, page, with_totp.cccd), rp)
    assert is_second_factor(page)  # the password alone went back to one factor
    claims = finish(client, rp, submit(client, page, code=code()), verifier)
    assert claims["acr"] == ACR2


def test_max_age_asks_again(app, client, auth, rp, with_totp, signing_keys):
    auth.login(with_totp.cccd)
    page, verifier = start(client, rp)
    finish(client, rp, submit(client, page, code=code()), verifier)
    with app.app_context():
        db.session.execute(update(SsoSession).values(auth_time=utcnow() - timedelta(hours=1)))
        db.session.commit()
    page, _ = start(client, rp, max_age="60")
    assert is_login(page)


def test_without_a_session_the_screen_sends_to_sign_in(app, client, auth, rp, with_totp):
    auth.login(with_totp.cccd)
    page, _ = start(client, rp)
    url = page.request.url
    auth.logout()
    response = client.get(url)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_another_browser_cannot_use_the_screen(app, client, auth, rp, with_totp, citizen):
    auth.login(with_totp.cccd)
    page, _ = start(client, rp)
    other = app.test_client()
    assert other.get(page.request.url).status_code == 400


def test_no_second_factor_screen_without_an_interaction(client, auth, with_totp):
    auth.login(with_totp.cccd)
    assert client.get("/login/second-factor").status_code == 400
    assert client.get("/login/second-factor?interaction=forged").status_code == 400


def test_throttled_per_ip(app_factory, make_citizen):
    app = app_factory(TNID_LOGIN_RATE_LIMIT="4/minute")
    citizen = make_citizen()
    enable_totp(app, citizen.id)
    rp = register(app, min_acr=ACR2)
    client = app.test_client()
    page = client.get("/login")
    client.post("/login", data={"csrf_token": csrf_token(page.text),
                                "identifier": citizen.cccd, "password": TEST_PASSWORD})
    page = follow(client, go(client, rp), rp)
    assert is_second_factor(page)
    wrong = f"{(int(code()) + 500_000) % 1_000_000:06d}"
    statuses = [submit(client, page, code=wrong).status_code for _ in range(5)]
    # The account allows five free mistakes; the address is stopped after four.
    assert statuses == [400, 400, 400, 400, 429]


def test_too_many_codes_to_one_phone(app, client, auth, rp, citizen):
    auth.login(citizen.cccd)
    send_code(client, start(client, rp)[0])
    assert len(sms_messages(app, "second_factor")) == 1
    with app.app_context():  # as if four more had been sent to this phone in the last hour
        db.session.execute(update(OneTimeCode).values(sends=5))
        db.session.commit()
    auth.logout()
    auth.login(citizen.cccd)
    page, _ = start(client, rp)
    page = send_code(client, page)
    assert 'notice-error' in page.text and "Gửi mã qua SMS" in page.text
    assert len(sms_messages(app, "second_factor")) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "auth:sms:throttled")) == 1


# --- review fixes: no SMS on GET, QR sessions, the unlock link ----------------------------------


def test_reloading_the_sms_page_reuses_the_code(app, client, auth, rp, citizen):
    auth.login(citizen.cccd)
    page = send_code(client, start(client, rp)[0])
    for _ in range(3):
        assert is_second_factor(client.get(page.request.url))
    assert len(sms_messages(app, "second_factor")) == 1


def test_a_get_of_the_send_address_sends_nothing(app, client, auth, rp, citizen):
    auth.login(citizen.cccd)
    page, _ = start(client, rp)
    assert client.get(_send_action(page)).status_code == 405
    assert not sms_messages(app, "second_factor")


def test_qr_session_required_acr_2_asks_the_password_first(app, client, rp, with_totp,
                                                           signing_keys):
    """A QR sign-in at acr 1 plus one code is not two factors: the password comes first."""
    qr_session(app, client, with_totp)
    page, verifier = start(client, rp)
    assert is_login(page) and not is_second_factor(page)
    page = follow(client, sign_in(client, page, with_totp.cccd), rp)
    assert is_second_factor(page)
    claims = finish(client, rp, submit(client, page, code=code()), verifier)
    assert claims["acr"] == ACR2 and claims["amr"] == ["pwd", "otp", "mfa"]


def test_qr_session_cannot_use_the_second_factor_screen(app, client, auth, rp, with_totp):
    auth.login(with_totp.cccd)
    page, _ = start(client, rp)
    url, action = page.request.url, form_action(page.text)
    auth.logout()
    qr_session(app, client, with_totp)
    shown = client.get(url)
    assert shown.status_code == 302 and "/login?" in shown.headers["Location"]
    answer = client.post(action, data={"csrf_token": csrf_token(page.text), "code": code()})
    assert answer.status_code in (302, 400) and sessions(app)[-1].acr == ACR1
    client.post(url.replace("/login/second-factor?", "/login/second-factor/sms?"),
                data={"csrf_token": csrf_token(page.text)})
    assert not sms_messages(app, "second_factor")


def test_qr_session_with_a_wish_gets_acr_1(app, client, with_totp, signing_keys):
    rp = register(app, trusted=True)
    qr_session(app, client, with_totp)
    page, verifier = start(client, rp, acr_values=ACR2)
    claims = finish(client, rp, page, verifier)
    assert claims["acr"] == ACR1 and claims["amr"] == ["qr"]


def test_qr_session_prompt_none_needs_a_sign_in(app, client, rp, with_totp):
    qr_session(app, client, with_totp)
    assert at_app(go(client, rp, prompt="none"), rp)["error"] == "interaction_required"


def test_qr_session_at_acr_2_needs_nothing_more(app, client, rp, with_totp, signing_keys):
    qr_session(app, client, with_totp, acr=ACR2, amr=("qr", "mfa"))
    page, verifier = start(client, rp)
    claims = finish(client, rp, page, verifier)
    assert claims["acr"] == ACR2 and claims["amr"] == ["qr", "mfa"]


def test_locked_account_is_sent_to_the_unlock_screen(app, client, auth, rp, with_totp):
    auth.login(with_totp.cccd)
    page, _ = start(client, rp)
    with app.app_context():
        db.session.execute(update(Citizen).values(unlock_required=True))
        db.session.commit()
    answer = submit(client, page, code=code())
    assert answer.status_code == 429 and sessions(app)[0].acr == ACR1
    assert 'href="/unlock?interaction=' in answer.text
