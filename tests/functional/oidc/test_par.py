"""Pushed Authorization Requests (RFC 9126): the app pushes the request over its
authenticated back channel and sends the browser with only client_id and request_uri."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import update
from werkzeug.datastructures import MultiDict

from idp.extensions import db
from idp.models import PushedAuthorizationRequest
from idp.services.clock import utcnow
from tests.support.authorize import (
    at_app,
    basic,
    exchange,
    follow,
    is_login,
    issuer,
    sign_in,
    through,
)
from tests.support.oidc import App, pkce, register


@pytest.fixture
def rp(app) -> App:  # noqa: ANN001
    return register(app)


def request_params(rp: App, challenge: str | None = None, **extra: str | None) -> dict:
    values = {"response_type": "code", "client_id": rp.client_id,
              "redirect_uri": rp.redirect_uri, "scope": "openid profile",
              "state": "pushed-state", "nonce": "pushed-nonce",
              "code_challenge": challenge or pkce()[1], "code_challenge_method": "S256",
              **extra}
    return {k: v for k, v in values.items() if v is not None}


def push(http, rp: App, **params: str | None):  # noqa: ANN001, ANN201
    data = request_params(rp, **params)
    if rp.secret is None:
        return http.post("/par", data=data)
    return http.post("/par", data=data, headers=basic(rp))


def visit(browser, rp: App, request_uri: str):  # noqa: ANN001, ANN201
    return browser.get("/authorize?" + urlencode({"client_id": rp.client_id,
                                                  "request_uri": request_uri}))


def assert_json_error(response, error: str, status: int = 400) -> None:  # noqa: ANN001
    assert response.status_code == status, response.text
    assert response.is_json and response.json["error"] == error
    assert response.headers["Cache-Control"] == "no-store"


def assert_page(response) -> None:  # noqa: ANN001
    assert response.status_code == 400 and "Location" not in response.headers


@pytest.fixture
def signed_in(auth, make_citizen):  # noqa: ANN001, ANN201
    citizen = make_citizen()
    auth.login(citizen.cccd)
    return citizen


def test_confidential_client_pushes_and_the_browser_completes_it(client, rp, signed_in,
                                                                 signing_keys):
    verifier, challenge = pkce()
    pushed = push(client, rp, challenge=challenge)
    assert pushed.status_code == 201
    assert pushed.headers["Cache-Control"] == "no-store"
    assert pushed.json["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert 0 < pushed.json["expires_in"] <= 600
    got = through(client, visit(client, rp, pushed.json["request_uri"]), rp)
    assert (got["state"], got["iss"]) == ("pushed-state", issuer(client))
    token = exchange(client, rp, got["code"], verifier)
    assert token.status_code == 200, token.json


def test_only_the_pushed_parameters_count(client, rp, signed_in):
    pushed = push(client, rp)
    query = urlencode({"client_id": rp.client_id, "request_uri": pushed.json["request_uri"],
                       "state": "from-the-browser", "redirect_uri": "https://evil.example/cb",
                       "prompt": "none"})
    got = through(client, client.get("/authorize?" + query), rp)
    assert "code" in got and got["state"] == "pushed-state"


def test_pushed_request_survives_the_sign_in_screens(client, rp, make_citizen):
    citizen = make_citizen()
    pushed = push(client, rp, login_hint=citizen.cccd)
    page = follow(client, visit(client, rp, pushed.json["request_uri"]), rp)
    assert is_login(page) and f'value="{citizen.cccd}"' in page.text
    got = through(client, sign_in(client, page, citizen.cccd), rp)
    assert "code" in got and got["state"] == "pushed-state"


def test_pushed_prompt_none_without_session_is_login_required_at_the_app(client, rp):
    pushed = push(client, rp, prompt="none")
    got = at_app(visit(client, rp, pushed.json["request_uri"]), rp)
    assert (got["error"], got["state"], got["iss"]) == (
        "login_required", "pushed-state", issuer(client))


def test_request_uri_is_single_use(client, rp, signed_in):
    request_uri = push(client, rp).json["request_uri"]
    assert "code" in through(client, visit(client, rp, request_uri), rp)
    assert_page(visit(client, rp, request_uri))


def test_another_clients_request_uri_is_refused(app, client, rp, signed_in):
    other = register(app, name_vi="Sàn thương mại")
    request_uri = push(client, other).json["request_uri"]
    assert_page(visit(client, rp, request_uri))
    # Refusing the wrong client does not burn it for the right one.
    assert "code" in through(client, visit(client, other, request_uri), other)


def test_request_uri_without_client_id_is_refused(client, rp):
    request_uri = push(client, rp).json["request_uri"]
    assert_page(client.get("/authorize?" + urlencode({"request_uri": request_uri})))


def test_expired_request_uri_is_refused(app, client, rp, signed_in):
    request_uri = push(client, rp).json["request_uri"]
    with app.app_context():
        db.session.execute(update(PushedAuthorizationRequest).values(
            expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert_page(visit(client, rp, request_uri))


@pytest.mark.parametrize("request_uri", [
    "urn:ietf:params:oauth:request_uri:unknown", "https://rp.example/request.jwt", "x" * 5000,
])
def test_unknown_request_uri_is_refused(client, rp, request_uri):
    assert_page(visit(client, rp, request_uri))


def test_duplicated_request_uri_is_refused(client, rp):
    request_uri = push(client, rp).json["request_uri"]
    query = urlencode([("client_id", rp.client_id), ("request_uri", request_uri),
                       ("request_uri", request_uri)])
    assert_page(client.get("/authorize?" + query))


# --- the push itself --------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Basic bm9wZTpub3Bl"}, {"Authorization": "Bearer x"},
])
def test_bad_client_authentication_is_invalid_client(client, rp, headers):
    response = client.post("/par", data=request_params(rp), headers=headers)
    assert_json_error(response, "invalid_client", 401)


def test_wrong_secret_is_invalid_client(client, rp):
    wrong = App(rp.client_id, "not-the-secret", rp.redirect_uri)
    assert_json_error(push(client, wrong), "invalid_client", 401)


def test_secret_in_the_body_for_a_basic_client_is_invalid_client(client, rp):
    response = client.post("/par", data={**request_params(rp), "client_secret": rp.secret})
    assert_json_error(response, "invalid_client", 401)


def test_request_uri_inside_a_push_is_invalid_request(client, rp):
    response = push(client, rp, request_uri="urn:ietf:params:oauth:request_uri:abc")
    assert_json_error(response, "invalid_request")


@pytest.mark.parametrize("redirect_uri", [None, "https://evil.example/cb", "not a uri"])
def test_bad_redirect_uri_in_push_is_json_not_a_redirect(client, rp, redirect_uri):
    response = push(client, rp, redirect_uri=redirect_uri)
    assert_json_error(response, "invalid_request")
    assert "Location" not in response.headers


def test_client_id_must_name_the_authenticated_client(app, client, rp):
    other = register(app, name_vi="Sàn thương mại")
    # Client authentication notices first (RFC 6749 §2.3.1: credentials for another client).
    assert_json_error(push(client, rp, client_id=other.client_id), "invalid_client", 401)


def test_client_id_may_be_left_to_the_authorization_header(client, rp, signed_in):
    pushed = push(client, rp, client_id=None)
    assert pushed.status_code == 201
    assert "code" in through(client, visit(client, rp, pushed.json["request_uri"]), rp)


@pytest.mark.parametrize(("params", "error"), [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"scope": "profile"}, "invalid_scope"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"claims": "{not json"}, "invalid_request"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"response_mode": "fragment"}, "invalid_request"),
    ({"nonce": "n" * 5000}, "invalid_request"),
])
def test_pushed_request_is_checked_like_a_browser_request(client, rp, params, error):
    assert_json_error(push(client, rp, **params), error)


def test_duplicated_parameter_in_push_is_invalid_request(client, rp):
    data = MultiDict(list(request_params(rp).items()) + [("scope", "openid")])
    response = client.post("/par", data=data, headers=basic(rp))
    assert_json_error(response, "invalid_request")


@pytest.mark.parametrize("kind", ["json", "multipart", "text"])
def test_wrong_content_type_is_invalid_request(client, rp, kind):
    if kind == "json":
        response = client.post("/par", json=request_params(rp), headers=basic(rp))
    elif kind == "multipart":
        response = client.post("/par", data={**request_params(rp), "f": (b"", "f.txt")},
                               headers=basic(rp), content_type="multipart/form-data")
    else:
        response = client.post("/par", data=urlencode(request_params(rp)),
                               headers={**basic(rp), "Content-Type": "text/plain"})
    assert_json_error(response, "invalid_request")


def test_get_is_not_allowed(client):
    assert client.get("/par").status_code == 405


def test_public_client_pushes_with_client_id_only(app, client, signed_in, signing_keys):
    public = register(app, token_endpoint_auth_method="none")
    verifier, challenge = pkce()
    pushed = push(client, public, challenge=challenge)
    assert pushed.status_code == 201, pushed.json
    got = through(client, visit(client, public, pushed.json["request_uri"]), public)
    assert exchange(client, public, got["code"], verifier).status_code == 200


def test_public_client_push_without_pkce_is_refused(app, client):
    public = register(app, token_endpoint_auth_method="none")
    data = request_params(public)
    del data["code_challenge"], data["code_challenge_method"]
    assert_json_error(client.post("/par", data=data), "invalid_request")


def test_public_client_cannot_pass_as_a_confidential_one(client, rp):
    """A confidential client's id without its secret is not a public client."""
    assert_json_error(client.post("/par", data=request_params(rp)), "invalid_client", 401)
