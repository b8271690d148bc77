"""RP-Initiated Logout 1.0 at /end-session, and /logout: who is signed out, where the browser
goes, what stays refused, and what the session's tokens become."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import RSAKey

from idp.extensions import db
from idp.oidc import context
from idp.services import id_tokens, keys
from idp.services.clock import utcnow
from tests.conftest import AuthActions, csrf_token
from tests.support.logout import prompt_none, sign_in, token_request, tokens_for
from tests.support.oidc import App, query_of, register

pytestmark = pytest.mark.usefixtures("signing_keys")

AFTER = "https://portal.example.vn/signed-out"
COOKIE = "tnid_sso"


@pytest.fixture
def rp(app: Flask) -> App:
    return register(app, post_logout_redirect_uris=[AFTER, "https://portal.example.vn/bye"])


@pytest.fixture
def citizen(make_citizen):  # noqa: ANN001, ANN201
    return make_citizen()


@pytest.fixture
def signed_in(client: FlaskClient, auth: AuthActions, citizen: Any, rp: App) -> dict:
    """The citizen signed in and the app holds its tokens (ID token included)."""
    sign_in(auth, citizen.cccd)
    return tokens_for(client, rp)


def end_session(browser: FlaskClient, method: str = "GET", **params: str):  # noqa: ANN201
    if method == "GET":
        return browser.get("/end-session?" + urlencode(params))
    return browser.post("/end-session", data=params)


def assert_signed_in(browser: FlaskClient, rp: App) -> None:
    assert "code" in prompt_none(browser, rp)


def assert_signed_out(browser: FlaskClient, rp: App) -> None:
    assert prompt_none(browser, rp)["error"] == "login_required"


# --- with a valid id_token_hint -----------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_hint_for_this_session_signs_out_at_once_and_returns_with_state(
        client: FlaskClient, rp: App, signed_in: dict, method: str):
    old_cookie = client.get_cookie(COOKIE).value
    response = end_session(client, method, id_token_hint=signed_in["id_token"],
                           post_logout_redirect_uri=AFTER, state="xyz 1")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(AFTER + "?")
    assert query_of(response.headers["Location"]) == {"state": "xyz 1"}
    assert client.get_cookie(COOKIE) is None
    assert_signed_out(client, rp)
    client.set_cookie(COOKIE, old_cookie)  # the old cookie is worth nothing now
    assert_signed_out(client, rp)


def test_client_id_matching_the_hint_is_accepted(client: FlaskClient, rp: App,
                                                 signed_in: dict):
    response = end_session(client, id_token_hint=signed_in["id_token"], client_id=rp.client_id,
                           post_logout_redirect_uri=AFTER)
    assert response.status_code == 302 and response.headers["Location"] == AFTER
    assert_signed_out(client, rp)


def test_without_state_the_uri_is_exactly_the_registered_one(client: FlaskClient, rp: App,
                                                              signed_in: dict):
    response = end_session(client, id_token_hint=signed_in["id_token"],
                           post_logout_redirect_uri="https://portal.example.vn/bye")
    assert response.headers["Location"] == "https://portal.example.vn/bye"


@pytest.mark.parametrize("uri", [
    "https://evil.example/x", AFTER + "/", AFTER + "?a=1", AFTER.upper(), AFTER + "#f",
    "https://portal.example.vn/callback",  # a redirect URI, not a post-logout one
])
def test_unregistered_post_logout_uri_signs_out_without_redirect(
        client: FlaskClient, rp: App, signed_in: dict, uri: str):
    response = end_session(client, id_token_hint=signed_in["id_token"],
                           post_logout_redirect_uri=uri, state="s")
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert 'class="notice notice-error"' not in response.text
    assert_signed_out(client, rp)


def test_another_apps_post_logout_uri_is_not_used(app: Flask, client: FlaskClient, rp: App,
                                                  signed_in: dict):
    register(app, name_vi="Ứng dụng khác", post_logout_redirect_uris=["https://other.vn/out"])
    response = end_session(client, id_token_hint=signed_in["id_token"],
                           post_logout_redirect_uri="https://other.vn/out")
    assert response.status_code == 200 and "Location" not in response.headers


def test_expired_hint_is_still_accepted(app: Flask, client: FlaskClient, rp: App,
                                        signed_in: dict):
    """§2: the OP SHOULD accept ID tokens past their exp from an app of the session."""
    claims = jwt.decode(signed_in["id_token"], keys_of(client)).claims
    hint = sign_id_token(app, claims, now=utcnow() - timedelta(hours=2))
    response = end_session(client, id_token_hint=hint, post_logout_redirect_uri=AFTER)
    assert response.status_code == 302 and response.headers["Location"] == AFTER
    assert_signed_out(client, rp)


def test_hint_without_cookie_ends_the_session_it_names(app: Flask, client: FlaskClient,
                                                       rp: App, signed_in: dict):
    """An app's cross-site POST carries no SameSite=Lax cookie; the hint's sid is enough."""
    other_browser = app.test_client()
    response = other_browser.post("/end-session", headers={"Origin": "https://portal.example.vn"},
                                  data={"id_token_hint": signed_in["id_token"],
                                        "post_logout_redirect_uri": AFTER, "state": "s"})
    assert response.status_code == 302 and response.headers["Location"] == AFTER + "?state=s"
    assert_signed_out(client, rp)


# --- refused: no redirect, nobody signed out -----------------------------------------------------

def keys_of(client: FlaskClient) -> Any:
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(client.get("/jwks").json)


def sign_id_token(app: Flask, claims: dict, *, now: Any = None, issuer: str | None = None) -> str:
    """An ID token signed with the provider's own key (so only the claims are wrong)."""
    with app.test_request_context():
        signer = context.signer()
        if issuer is not None:
            signer = id_tokens.Signer(session=signer.session, box=signer.box, issuer=issuer)
        token = id_tokens.id_token(
            signer, sub=claims["sub"], client_id=claims["aud"], alg="RS256",
            now=now or utcnow(), lifetime_seconds=600, auth_time=utcnow(), acr=None, amr=None,
            sid=claims.get("sid"))
        db.session.commit()
        return token


def foreign_token(claims: dict) -> str:
    key = RSAKey.generate_key(2048, parameters={"kid": "x"})
    return jwt.encode({"alg": "RS256", "kid": "x"}, claims, key, algorithms=["RS256"])


@pytest.mark.parametrize("kind", [
    "garbled", "empty_segments", "not_a_jwt", "alg_none", "foreign_key", "other_issuer",
    "tampered", "non_ascii",
])
def test_bad_hint_is_refused_and_the_session_kept(app: Flask, client: FlaskClient, rp: App,
                                                  signed_in: dict, kind: str):
    good = signed_in["id_token"]
    claims = jwt.decode(good, keys_of(client)).claims
    header, payload, signature = good.split(".")
    hint = {
        "garbled": "abc.def.ghi", "empty_segments": "..", "not_a_jwt": "hello",
        "alg_none": "eyJhbGciOiJub25lIn0." + payload + ".",
        "foreign_key": foreign_token(claims),
        "other_issuer": sign_id_token(app, claims, issuer="https://evil.example"),
        "tampered": f"{header}.{payload}x.{signature}",
        "non_ascii": "é.ü.ß",
    }[kind]
    response = end_session(client, id_token_hint=hint, post_logout_redirect_uri=AFTER, state="s")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert 'class="notice notice-error"' in response.text
    assert client.get_cookie(COOKIE) is not None
    assert_signed_in(client, rp)


def test_client_id_not_the_hints_audience_is_refused(app: Flask, client: FlaskClient, rp: App,
                                                     signed_in: dict):
    other = register(app, name_vi="Khác", post_logout_redirect_uris=[AFTER])
    response = end_session(client, id_token_hint=signed_in["id_token"],
                           client_id=other.client_id, post_logout_redirect_uri=AFTER)
    assert response.status_code == 400 and "Location" not in response.headers
    assert_signed_in(client, rp)


@pytest.mark.parametrize("client_id", ["unknown-app", "x" * 65, "\x00", "ứng-dụng"])
def test_unknown_client_id_is_refused(client: FlaskClient, rp: App, signed_in: dict,
                                      client_id: str):
    response = end_session(client, client_id=client_id, post_logout_redirect_uri=AFTER)
    assert response.status_code == 400 and "Location" not in response.headers
    assert_signed_in(client, rp)


def test_disabled_client_is_refused(app: Flask, client: FlaskClient, rp: App, signed_in: dict):
    from idp.services import clients

    with app.app_context():
        clients.disable_client(db.session, clients.find_client(db.session, rp.client_id),
                               utcnow())
        db.session.commit()
    response = end_session(client, client_id=rp.client_id, post_logout_redirect_uri=AFTER)
    assert response.status_code == 400 and "Location" not in response.headers


@pytest.mark.parametrize("query", [
    "id_token_hint={hint}&id_token_hint={hint}",
    "id_token_hint={hint}&state=a&state=b",
    "id_token_hint={hint}&post_logout_redirect_uri={after}&post_logout_redirect_uri={after}",
    "id_token_hint={hint}&client_id={cid}&client_id={cid}",
    "id_token_hint={hint}&state=" + "s" * 5000,
    "id_token_hint=" + "a" * 20000,
    "id_token_hint={hint}&post_logout_redirect_uri=" + "https://x.vn/" + "p" * 5000,
])
def test_repeated_or_oversized_parameters_are_refused(client: FlaskClient, rp: App,
                                                      signed_in: dict, query: str):
    url = "/end-session?" + query.format(hint=signed_in["id_token"], after=AFTER,
                                         cid=rp.client_id)
    response = client.get(url)
    assert response.status_code == 400 and "Location" not in response.headers
    assert_signed_in(client, rp)


def test_repeated_parameter_across_query_and_body_is_refused(client: FlaskClient, rp: App,
                                                             signed_in: dict):
    response = client.post("/end-session?state=a", data={
        "id_token_hint": signed_in["id_token"], "state": "b"})
    assert response.status_code == 400
    assert_signed_in(client, rp)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_other_methods_are_refused(client: FlaskClient, rp: App, signed_in: dict, method: str):
    assert client.open("/end-session", method=method).status_code == 405
    assert_signed_in(client, rp)


# --- without a hint: the citizen confirms ---------------------------------------------------------

def test_no_hint_asks_the_citizen_and_a_post_with_csrf_signs_out(client: FlaskClient, rp: App,
                                                                 signed_in: dict):
    page = end_session(client, client_id=rp.client_id, post_logout_redirect_uri=AFTER,
                       state="st")
    assert page.status_code == 200
    assert 'name="confirm"' in page.text and "Cổng dịch vụ công" in page.text
    assert_signed_in(client, rp)  # asking is not doing
    response = client.post("/end-session", data={
        "csrf_token": csrf_token(page.text), "confirm": "yes", "client_id": rp.client_id,
        "post_logout_redirect_uri": AFTER, "state": "st"})
    # Registered URI of the named app, after the citizen's own confirmation (§3).
    assert response.status_code == 302 and response.headers["Location"] == AFTER + "?state=st"
    assert_signed_out(client, rp)


def test_confirmation_page_carries_the_parameters_escaped(client: FlaskClient, rp: App,
                                                          signed_in: dict):
    page = end_session(client, state='"><script>alert(1)</script>')
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text
    assert 'value="&#34;&gt;&lt;script&gt;' in page.text or "&quot;&gt;&lt;script" in page.text


def test_no_hint_and_no_client_signs_out_to_the_signed_out_page(client: FlaskClient, rp: App,
                                                                signed_in: dict):
    page = end_session(client)
    response = client.post("/end-session", data={"csrf_token": csrf_token(page.text),
                                                 "confirm": "yes"})
    assert response.status_code == 200 and "Location" not in response.headers
    assert_signed_out(client, rp)


@pytest.mark.parametrize(("form", "status"), [
    ({"confirm": "yes"}, 400),
    ({"confirm": "yes", "csrf_token": "forged"}, 400),
    ({"csrf_token": "GOOD"}, 200),  # a valid token, but the button was not pressed
    ({"csrf_token": "GOOD", "confirm": "no"}, 200),
])
def test_confirmation_needs_the_csrf_token_and_the_button(client: FlaskClient, rp: App,
                                                          signed_in: dict, form: dict,
                                                          status: int):
    page = end_session(client)
    if form.get("csrf_token") == "GOOD":
        form = {**form, "csrf_token": csrf_token(page.text)}
    response = client.post("/end-session", data=form)
    assert response.status_code == status
    assert 'name="confirm"' in response.text  # asked again, with a fresh form
    assert_signed_in(client, rp)


def test_hint_of_another_session_asks_before_ending_this_one(
        app: Flask, client: FlaskClient, citizen: Any, rp: App, signed_in: dict):
    phone = app.test_client()  # the same citizen, signed in on another device
    sign_in(AuthActions(phone), citizen.cccd)
    page = end_session(phone, id_token_hint=signed_in["id_token"],
                       post_logout_redirect_uri=AFTER)
    assert page.status_code == 200 and 'name="confirm"' in page.text
    assert_signed_in(phone, rp)
    assert_signed_in(client, rp)


def test_nobody_signed_in_gets_the_signed_out_page_or_the_apps_uri(client: FlaskClient,
                                                                   rp: App):
    page = end_session(client)
    assert page.status_code == 200 and 'name="confirm"' not in page.text
    response = end_session(client, client_id=rp.client_id, post_logout_redirect_uri=AFTER,
                           state="s")
    assert response.status_code == 302 and response.headers["Location"] == AFTER + "?state=s"


# --- tokens of the ended session ------------------------------------------------------------------

def test_tokens_of_the_session_stop_working(client: FlaskClient, rp: App, signed_in: dict):
    access = signed_in["access_token"]
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {access}"}).status_code \
        == 200
    end_session(client, id_token_hint=signed_in["id_token"])
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {access}"}).status_code \
        == 401


def test_offline_grant_outlives_the_session_but_its_access_token_does_not(
        app: Flask, client: FlaskClient, auth: AuthActions, citizen: Any):
    """Back-Channel Logout §2.7: offline_access refresh tokens normally SHOULD NOT be revoked
    at logout; the access token handed out in the session ends with it."""
    offline = register(app, name_vi="Sổ sức khoẻ", post_logout_redirect_uris=[AFTER])
    online = register(app, name_vi="Chợ", redirect_uris=["https://cho.example.vn/cb"],
                      grant_types=["authorization_code", "refresh_token"])
    sign_in(auth, citizen.cccd)
    kept = tokens_for(client, offline, "openid profile offline_access")
    ended = tokens_for(client, online, "openid profile")
    assert "refresh_token" in kept and "refresh_token" not in ended
    end_session(client, id_token_hint=kept["id_token"])
    for token in (kept["access_token"], ended["access_token"]):
        assert client.get("/userinfo", headers={"Authorization": f"Bearer {token}"}) \
            .status_code == 401
    refreshed = token_request(client, offline, {"grant_type": "refresh_token",
                                                "refresh_token": kept["refresh_token"]})
    assert client.get("/userinfo", headers={
        "Authorization": f"Bearer {refreshed['access_token']}"}).status_code == 200


# --- /logout --------------------------------------------------------------------------------------

def test_logout_page_asks_then_signs_out(client: FlaskClient, rp: App, signed_in: dict):
    page = client.get("/logout")
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    assert_signed_in(client, rp)
    response = client.post("/logout", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    assert client.get_cookie(COOKIE) is None
    assert_signed_out(client, rp)


@pytest.mark.parametrize("data", [{}, {"csrf_token": "forged"}])
def test_logout_without_csrf_is_refused(client: FlaskClient, rp: App, signed_in: dict,
                                        data: dict):
    assert client.post("/logout", data=data).status_code == 400
    assert_signed_in(client, rp)


def test_logout_when_signed_out_goes_to_sign_in(client: FlaskClient):
    response = client.get("/logout")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_discovery_advertises_the_end_session_endpoint(client: FlaskClient):
    document = client.get("/.well-known/openid-configuration").json
    assert document["end_session_endpoint"].endswith("/end-session")
    assert keys.SUPPORTED_ALGS  # the hint is checked against these keys
