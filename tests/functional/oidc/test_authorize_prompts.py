"""What the citizen is asked to do, driven by the app's request (OIDC Core §3.1.2.1, §3.1.2.3,
§5.5): prompt, max_age, login_hint, id_token_hint, ui_locales, acr_values, the claims
parameter, and the signed interaction that carries the request through the screens."""

from __future__ import annotations

import html
import json
import re
import time
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import update

from idp.extensions import db
from idp.models import SsoSession
from idp.services.clock import utcnow
from tests.conftest import TEST_PASSWORD, csrf_token
from tests.support.authorize import (
    at_app,
    exchange,
    follow,
    go,
    id_token_of,
    is_consent,
    is_login,
    is_select_account,
    issuer,
    leaves_for,
    sign_in,
    submit,
    through,
)
from tests.support.oidc import App, pkce, register, verify

ACR1, ACR2 = "urn:tnid:acr:1", "urn:tnid:acr:2"


@pytest.fixture
def rp(app) -> App:  # noqa: ANN001
    return register(app)


@pytest.fixture
def citizen(make_citizen):  # noqa: ANN001, ANN201
    return make_citizen()


def age_session(app, seconds: int) -> None:  # noqa: ANN001
    """Pretend every session signed in ``seconds`` ago."""
    with app.app_context():
        db.session.execute(update(SsoSession).values(
            auth_time=utcnow() - timedelta(seconds=seconds)))
        db.session.commit()


def agree_once(client, rp: App) -> None:  # noqa: ANN001
    assert "code" in through(client, go(client, rp), rp)


def id_token_for(client, rp: App, got: dict[str, str], verifier: str) -> dict:  # noqa: ANN001
    assert "code" in got, got
    token = exchange(client, rp, got["code"], verifier)
    assert token.status_code == 200, token.json
    return verify(client, token.json["id_token"], rp.client_id)


def error_at_app(client, response, rp: App) -> str:  # noqa: ANN001
    got = at_app(response, rp)
    assert "code" not in got and got["iss"] == issuer(client)
    return got["error"]


# --- prompt=none ------------------------------------------------------------------------------


def test_prompt_none_without_a_session_is_login_required(client, rp):
    got = at_app(go(client, rp, prompt="none", state="s-9"), rp)
    assert (got["error"], got["state"], got["iss"]) == ("login_required", "s-9", issuer(client))


def test_prompt_none_without_consent_is_consent_required(client, rp, auth, citizen):
    auth.login(citizen.cccd)
    assert error_at_app(client, go(client, rp, prompt="none"), rp) == "consent_required"


def test_prompt_none_with_session_and_consent_gives_a_code(client, rp, auth, citizen):
    auth.login(citizen.cccd)
    agree_once(client, rp)
    got = at_app(go(client, rp, prompt="none", state="s-2"), rp)
    assert "code" in got and got["state"] == "s-2"


def test_prompt_none_after_signing_out_is_login_required(client, rp, auth, citizen):
    auth.login(citizen.cccd)
    agree_once(client, rp)
    auth.logout()
    assert error_at_app(client, go(client, rp, prompt="none"), rp) == "login_required"


@pytest.mark.parametrize("prompt", ["none login", "none consent", "none select_account"])
def test_prompt_none_combined_is_invalid_request(client, rp, auth, citizen, prompt):
    auth.login(citizen.cccd)
    assert error_at_app(client, go(client, rp, prompt=prompt), rp) == "invalid_request"


# --- prompt=login, max_age --------------------------------------------------------------------


def test_prompt_login_asks_again_even_when_signed_in_and_then_resumes(client, rp, auth,
                                                                      citizen, signing_keys):
    auth.login(citizen.cccd)
    agree_once(client, rp)
    age_session(client.application, 120)
    verifier, challenge = pkce()
    page = follow(client, go(client, rp, prompt="login", code_challenge=challenge), rp)
    assert is_login(page)
    before = int(time.time())
    got = at_app(follow(client, sign_in(client, page, citizen.cccd), rp), rp)
    assert id_token_for(client, rp, got, verifier)["auth_time"] >= before


def test_prompt_login_cannot_be_skipped_by_resuming_directly(client, rp, auth, citizen):
    auth.login(citizen.cccd)
    agree_once(client, rp)
    age_session(client.application, 120)
    login = go(client, rp, prompt="login")
    token = login.headers["Location"].split("interaction=", 1)[1]
    again = follow(client, client.get(f"/authorize/resume?interaction={token}"), rp)
    assert is_login(again)


def test_max_age_zero_forces_sign_in_and_a_fresh_one_satisfies_it(client, rp, auth, citizen,
                                                                  signing_keys):
    auth.login(citizen.cccd)
    agree_once(client, rp)
    age_session(client.application, 5)
    verifier, challenge = pkce()
    page = follow(client, go(client, rp, max_age="0", code_challenge=challenge), rp)
    assert is_login(page)
    before = int(time.time())
    got = at_app(follow(client, sign_in(client, page, citizen.cccd), rp), rp)
    assert id_token_for(client, rp, got, verifier)["auth_time"] >= before


def test_old_auth_time_forces_sign_in(client, rp, auth, citizen):
    auth.login(citizen.cccd)
    agree_once(client, rp)
    assert "code" in at_app(go(client, rp, max_age="3600"), rp)  # fresh enough
    age_session(client.application, 2 * 3600)
    assert is_login(follow(client, go(client, rp, max_age="3600"), rp))
    assert error_at_app(client, go(client, rp, max_age="3600", prompt="none"),
                        rp) == "login_required"


# --- select_account -------------------------------------------------------------------------


def test_select_account_continue(client, rp, auth, citizen):
    auth.login(citizen.cccd)
    agree_once(client, rp)
    page = follow(client, go(client, rp, prompt="select_account"), rp)
    assert is_select_account(page)
    assert "Nguyễn Văn An" in page.text and citizen.cccd not in page.text  # masked
    got = at_app(follow(client, submit(client, page, choice="continue"), rp), rp)
    assert "code" in got


def test_select_account_use_another_account(client, rp, auth, make_citizen, signing_keys):
    first = make_citizen()
    second = make_citizen(full_name="Trần Văn Bình")
    auth.login(first.cccd)
    first_sub = id_token_of(client, rp)["sub"]
    page = follow(client, go(client, rp, prompt="select_account"), rp)
    login = follow(client, submit(client, page, choice="other"), rp)
    assert is_login(login)
    assert "code" in through(client, sign_in(client, login, second.cccd), rp)
    assert id_token_of(client, rp)["sub"] not in (first_sub, None)


def test_select_account_is_not_asked_right_after_signing_in(client, rp, citizen):
    page = follow(client, go(client, rp, prompt="select_account"), rp)
    assert is_login(page)
    assert "code" in through(client, sign_in(client, page, citizen.cccd), rp)  # consent only


def test_select_account_go_back_to_the_app(client, rp, auth, citizen):
    auth.login(citizen.cccd)
    page = follow(client, go(client, rp, prompt="select_account", state="s-3"), rp)
    got = at_app(client.get(_link(page.text, "/authorize/cancel")), rp)
    assert (got["error"], got["state"]) == ("access_denied", "s-3")


def test_select_account_post_needs_csrf(client, rp, auth, citizen):
    auth.login(citizen.cccd)
    page = follow(client, go(client, rp, prompt="select_account"), rp)
    response = client.post(page.request.url, data={"choice": "continue"})
    assert response.status_code == 400 and "Location" not in response.headers


# --- prompt=consent, login_hint ---------------------------------------------------------------


def test_prompt_consent_asks_again_even_with_stored_consent(client, rp, auth, citizen):
    auth.login(citizen.cccd)
    agree_once(client, rp)
    page = follow(client, go(client, rp, prompt="consent"), rp)
    assert is_consent(page)
    got = at_app(follow(client, submit(client, page, decision="allow"), rp), rp)
    assert "code" in got


@pytest.mark.parametrize("hint", ["019085000123", "0912 345 678"])
def test_login_hint_prefills_the_identifier(client, rp, hint):
    page = follow(client, go(client, rp, login_hint=hint), rp)
    assert is_login(page)
    assert f'value="{hint}"' in page.text


def test_login_hint_is_escaped(client, rp):
    page = follow(client, go(client, rp, login_hint='"><script>x</script>'), rp)
    assert "<script>x" not in page.text


# --- id_token_hint ----------------------------------------------------------------------------


def test_id_token_hint_for_another_citizen_forces_sign_in(client, rp, auth, make_citizen,
                                                          signing_keys):
    first, second = make_citizen(), make_citizen()
    auth.login(first.cccd)
    first_token = _raw_id_token(client, rp)
    auth.logout()
    auth.login(second.cccd)
    agree_once(client, rp)
    assert is_login(follow(client, go(client, rp, id_token_hint=first_token), rp))
    assert error_at_app(client, go(client, rp, id_token_hint=first_token, prompt="none"),
                        rp) == "login_required"
    # Signing in again (as the hinted citizen) completes the request.
    page = follow(client, go(client, rp, id_token_hint=first_token), rp)
    assert "code" in through(client, sign_in(client, page, first.cccd), rp)


def test_id_token_hint_for_the_signed_in_citizen_passes(client, rp, auth, citizen,
                                                        signing_keys):
    auth.login(citizen.cccd)
    hint = _raw_id_token(client, rp)
    got = at_app(go(client, rp, id_token_hint=hint, prompt="none"), rp)
    assert "code" in got


@pytest.mark.parametrize("hint", ["garbage", "a.b.c", "e30.e30.", "eyJhbGciOiJub25lIn0.e30.",
                                  "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"])
def test_malformed_id_token_hint_is_invalid_request(client, rp, auth, citizen, signing_keys,
                                                    hint):
    auth.login(citizen.cccd)
    assert error_at_app(client, go(client, rp, id_token_hint=hint), rp) == "invalid_request"


def test_id_token_hint_signed_by_someone_else_is_invalid_request(client, rp, signing_keys):
    key = RSAKey.generate_key(2048, parameters={"kid": "attacker"})
    forged = jwt.encode({"alg": "RS256", "kid": "attacker"},
                        {"iss": issuer(client), "aud": rp.client_id, "sub": "x"}, key)
    assert error_at_app(client, go(client, rp, id_token_hint=forged), rp) == "invalid_request"


def test_id_token_hint_from_another_client_is_invalid_request(app, client, rp, auth, citizen,
                                                              signing_keys):
    other = register(app, name_vi="Ứng dụng khác")
    auth.login(citizen.cccd)
    other_token = _raw_id_token(client, other)
    assert error_at_app(client, go(client, rp, id_token_hint=other_token),
                        rp) == "invalid_request"


def _raw_id_token(client, rp: App) -> str:  # noqa: ANN001
    verifier, challenge = pkce()
    got = through(client, go(client, rp, code_challenge=challenge), rp)
    return exchange(client, rp, got["code"], verifier).json["id_token"]


# --- ui_locales -------------------------------------------------------------------------------


def test_ui_locales_en_gives_english_screens_for_that_request_only(client, rp, citizen):
    page = follow(client, go(client, rp, ui_locales="fr-FR en"), rp)
    assert '<html lang="en">' in page.text and "Sign in to continue to" in page.text
    consent = follow(client, sign_in(client, page, citizen.cccd), rp)
    assert is_consent(consent) and "Full name" in consent.text
    # The next app's screens are Vietnamese again: one app's wish does not stick.
    next_page = follow(client, go(client, rp, prompt="consent"), rp)
    assert '<html lang="vi">' in next_page.text and "Họ và tên" in next_page.text


def test_the_citizens_own_language_choice_beats_ui_locales(client, rp):
    client.get("/login?lang=vi")
    page = follow(client, go(client, rp, ui_locales="en"), rp)
    assert '<html lang="vi">' in page.text


# --- acr --------------------------------------------------------------------------------------


def test_acr_values_is_a_wish_the_id_token_says_what_was_achieved(client, rp, auth, citizen,
                                                                  signing_keys):
    auth.login(citizen.cccd)
    claims = id_token_of(client, rp, acr_values=f"{ACR2} {ACR1}")
    assert claims["acr"] == ACR1 and claims["amr"] == ["pwd"]


ESSENTIAL_ACR2 = json.dumps({"id_token": {"acr": {"essential": True, "values": [ACR2]}}})


@pytest.mark.parametrize("how", ["essential_claim", "client_minimum"])
def test_required_second_factor_shows_the_step_up_page(app, client, auth, citizen, how):
    rp = register(app, min_acr=ACR2) if how == "client_minimum" else register(app)
    extra = {"claims": ESSENTIAL_ACR2} if how == "essential_claim" else {}
    auth.login(citizen.cccd)
    page = follow(client, go(client, rp, state="s-5", **extra), rp)
    # Only the second factor is asked (tests/functional/auth/test_second_factor.py).
    assert page.status_code == 200 and "/login/second-factor" in page.request.path
    # No authenticator: the SMS code is sent when the citizen presses the button (a POST).
    assert 'action="/login/second-factor/sms' in page.text
    assert "current-password" not in page.text
    cancel = client.get(_link(page.text, "/authorize/cancel"))
    got = at_app(cancel, rp)
    assert (got["error"], got["state"], got["iss"]) == ("access_denied", "s-5", issuer(client))


def test_required_second_factor_with_prompt_none_is_interaction_required(app, client, auth,
                                                                         citizen):
    rp = register(app, min_acr=ACR2)
    auth.login(citizen.cccd)
    assert error_at_app(client, go(client, rp, prompt="none"), rp) == "interaction_required"


def test_essential_one_factor_is_satisfied(client, rp, auth, citizen, signing_keys):
    auth.login(citizen.cccd)
    request = json.dumps({"id_token": {"acr": {"essential": True, "value": ACR1}}})
    assert id_token_of(client, rp, claims=request)["acr"] == ACR1


def _link(page: str, prefix: str) -> str:
    match = re.search(rf'href="({re.escape(prefix)}[^"]*)"', page)
    assert match, f"no link to {prefix}"
    return html.unescape(match.group(1))


# --- the claims parameter ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "not json", "{", "[]", "null", "42", '"id_token"', '{"id_token": []}', '{"userinfo": null}',
    '{"id_token": "name"}', '{"userinfo": {"name": 1}}', '{"userinfo": {"name": []}}',
    "[" * 3000,
    json.dumps({"id_token": {"acr": {"essential": True, "values": 5}}}),
    json.dumps({"id_token": {"acr": {"essential": True, "values": "urn:tnid:acr:2"}}}),
    json.dumps({"id_token": {"acr": {"essential": True, "value": [ACR2]}}}),
    json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:other"]}}}),
])
def test_bad_claims_parameter_is_invalid_request(client, rp, value):
    assert error_at_app(client, go(client, rp, claims=value), rp) == "invalid_request"


def test_claims_parameter_puts_asked_claims_in_the_id_token(client, rp, auth, citizen,
                                                            signing_keys):
    auth.login(citizen.cccd)
    request = json.dumps({"id_token": {"name": None, "birthdate": {"essential": True}}})
    claims = id_token_of(client, rp, claims=request)
    assert (claims["name"], claims["birthdate"]) == ("Nguyễn Văn An", "1985-03-12")
    assert "phone_number" not in claims


def test_claims_parameter_members_not_understood_are_ignored(client, rp, auth, citizen,
                                                             signing_keys):
    auth.login(citizen.cccd)
    request = json.dumps({"id_token": {"name": None}, "x-future": {"y": 1}})
    assert id_token_of(client, rp, claims=request)["name"] == "Nguyễn Văn An"


# --- the interaction token --------------------------------------------------------------------


def test_interaction_is_bound_to_the_browser(app, client, rp, citizen):
    page = follow(client, go(client, rp), rp)
    token = page.request.args["interaction"]
    # Another browser opens the forwarded sign-in link and signs in there: it lands on its own
    # account page, and the app's request is not completed for it.
    thief = app.test_client()
    stolen = thief.get(f"/login?interaction={token}")
    assert "Cổng dịch vụ công" not in stolen.text  # no app named: the link means nothing here
    after = thief.post(stolen.request.url, data={
        "csrf_token": csrf_token(stolen.text), "identifier": citizen.cccd,
        "password": TEST_PASSWORD})
    assert after.headers["Location"] == "/"
    for path in ("/authorize/resume", "/consent", "/select-account", "/authorize/cancel"):
        response = thief.get(f"{path}?interaction={token}")
        assert response.status_code == 400, path
        assert not leaves_for(response, rp)
    # The browser that started it still can.
    assert "code" in through(client, sign_in(client, page, citizen.cccd), rp)


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
    lambda t: "x" + t,
    lambda t: t.split(".")[0],
    lambda t: "not-a-token",
])
def test_forged_interaction_token_gets_a_page(client, rp, mangle):
    page = follow(client, go(client, rp), rp)
    forged = mangle(page.request.args["interaction"])
    for path in ("/authorize/resume", "/authorize/cancel", "/consent", "/select-account"):
        response = client.get(f"/{path.lstrip('/')}?interaction={forged}")
        assert response.status_code == 400 and not leaves_for(response, rp)


def test_expired_interaction_gets_a_page(client, rp, monkeypatch):
    page = follow(client, go(client, rp), rp)
    token = page.request.args["interaction"]
    later = time.time() + 31 * 60
    monkeypatch.setattr(time, "time", lambda: later)
    response = client.get(f"/authorize/resume?interaction={token}")
    assert response.status_code == 400 and not leaves_for(response, rp)


def test_cancel_from_the_login_page_is_access_denied(client, rp):
    page = follow(client, go(client, rp, state="s-7"), rp)
    got = at_app(client.get(_link(page.text, "/authorize/cancel")), rp)
    assert (got["error"], got["state"], got["iss"]) == ("access_denied", "s-7", issuer(client))

