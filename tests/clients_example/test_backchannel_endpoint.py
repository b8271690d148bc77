"""``POST /backchannel-logout`` of the example apps: a valid logout token ends the browser
sessions of that provider session (server-side store), anything else is refused with 400 and
ends nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt

from clients_example.common.logout_token import BACKCHANNEL_LOGOUT_EVENT
from tests.clients_example.conftest import ISSUER, PROVIDER_KEY

ACR_1 = "urn:tnid:acr:1"


def logout_token(app: Flask, **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": app.extensions["rp"].registration.client_id, "iat": now,
              "exp": now + 120, "jti": f"j-{time.monotonic_ns()}", "sub": "citizen-1",
              "sid": "sid-1", "events": {BACKCHANNEL_LOGOUT_EVENT: {}}} | changes
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": "p1", "typ": "logout+jwt"}, claims, PROVIDER_KEY)


def sign_in(app: Flask, client: FlaskClient, *, sid: str = "sid-1", sub: str = "citizen-1",
            **data: Any) -> str:
    """A browser signed in to the app (as the callback leaves it)."""
    store = app.extensions["rp"].store
    lsid = store.create_session(sid=sid, sub=sub, data={
        "claims": {"sub": sub, "sid": sid, "acr": ACR_1, "amr": ["pwd"]}, "id_token": "x.y.z",
        "access_token": "at", "refresh_token": None, "expires_at": time.time() + 600,
        "scope": "openid", "refreshes": 0, "userinfo": {"sub": sub, "name": "Nguyễn Văn An"},
        **data})
    with client.session_transaction() as session:
        session["lsid"] = lsid
    return lsid


@pytest.fixture(params=["portal", "health", "market"])
def app(request: pytest.FixtureRequest, make_rp_app) -> Flask:  # noqa: ANN001
    return make_rp_app(request.param)


def test_a_valid_token_ends_that_sessions_browsers_only(app):
    browser, other = app.test_client(), app.test_client()
    sign_in(app, browser)
    sign_in(app, other, sid="sid-2")
    assert 'id="signed-in-as"' in browser.get("/").text

    answer = app.test_client().post("/backchannel-logout",
                                    data={"logout_token": logout_token(app)})
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert 'id="login-button"' in browser.get("/").text
    assert 'id="signed-in-as"' in other.get("/").text  # another provider session stays


def test_a_token_with_sub_only_ends_every_session_of_that_citizen(app):
    first, second, someone = app.test_client(), app.test_client(), app.test_client()
    sign_in(app, first)
    sign_in(app, second, sid="sid-2")
    sign_in(app, someone, sid="sid-3", sub="citizen-2")
    token = logout_token(app, sid=None)
    assert app.test_client().post("/backchannel-logout",
                                  data={"logout_token": token}).status_code == 200
    assert 'id="login-button"' in first.get("/").text
    assert 'id="login-button"' in second.get("/").text
    assert 'id="signed-in-as"' in someone.get("/").text


@pytest.mark.parametrize("changes", [
    {"aud": "another-app"}, {"iss": "http://127.0.0.1:5001"}, {"events": None},
    {"nonce": "n"}, {"jti": None}, {"iat": None},
], ids=["aud", "iss", "events", "nonce", "jti", "iat"])
def test_a_bad_token_is_refused_and_ends_nothing(app, changes):
    browser = app.test_client()
    sign_in(app, browser)
    answer = app.test_client().post("/backchannel-logout",
                                    data={"logout_token": logout_token(app, **changes)})
    assert answer.status_code == 400 and answer.json["error"] == "invalid_request"
    assert 'id="signed-in-as"' in browser.get("/").text


def test_a_forged_signature_or_missing_token_is_refused(app):
    from joserfc.jwk import RSAKey

    browser = app.test_client()
    sign_in(app, browser)
    forger = RSAKey.generate_key(2048, parameters={"kid": "p1"}, private=True)
    claims = {"iss": ISSUER, "aud": app.extensions["rp"].registration.client_id,
              "iat": int(time.time()), "jti": "j-x", "sid": "sid-1",
              "events": {BACKCHANNEL_LOGOUT_EVENT: {}}}
    forged = jwt.encode({"alg": "RS256", "kid": "p1", "typ": "logout+jwt"}, claims, forger)
    for data in ({"logout_token": forged}, {}, {"logout_token": ""}):
        assert app.test_client().post("/backchannel-logout", data=data).status_code == 400
    assert app.test_client().get("/backchannel-logout").status_code == 405
    assert 'id="signed-in-as"' in browser.get("/").text


def test_a_replayed_token_is_refused(app):
    token = logout_token(app)
    assert app.test_client().post("/backchannel-logout",
                                  data={"logout_token": token}).status_code == 200
    again = app.test_client().post("/backchannel-logout", data={"logout_token": token})
    assert again.status_code == 400 and "jti" in again.json["error_description"]


def test_own_forms_need_the_csrf_token(app):
    browser = app.test_client()
    sign_in(app, browser)
    assert browser.post("/logout").status_code == 400
    assert 'id="signed-in-as"' in browser.get("/").text


def test_logout_ends_the_local_session_and_goes_to_the_provider(app):
    browser = app.test_client()
    sign_in(app, browser)
    page = browser.get("/")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = browser.post("/logout", data={"csrf_token": token})
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(f"{ISSUER}/end-session?")
    assert "id_token_hint=x.y.z" in location and "state=" in location
    assert "post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A5999%2Flogged-out" in location
    assert app.extensions["rp"].store.count_sessions() == 0


def test_sign_in_starts_a_pkce_flow_with_state_and_nonce(app):
    answer = app.test_client().get("/login?next=//evil.example/")
    location = answer.headers["Location"]
    for part in ("code_challenge_method=S256", "code_challenge=", "state=", "nonce=",
                 f"client_id={app.extensions['rp'].registration.client_id}"):
        assert part in location
    assert "acr_values" not in location
    step_up = app.test_client().get("/login?acr=2").headers["Location"]
    assert "acr_values=urn%3Atnid%3Aacr%3A2" in step_up


def test_a_callback_without_a_matching_state_is_explained(app):
    answer = app.test_client().get("/callback?code=c&state=forged")
    assert answer.status_code == 400 and "mismatching_state" in answer.text
    denied = app.test_client().get("/callback?error=access_denied&state=s")
    assert denied.status_code == 400 and "từ chối" in denied.text
    mixed_up = app.test_client().get("/callback?code=c&state=s&iss=https://evil.example")
    assert mixed_up.status_code == 400 and "invalid_issuer" in mixed_up.text
