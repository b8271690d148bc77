"""Malformed token requests (RFC 6749 §3.2, §5.2): wrong method, content type or encoding,
missing, repeated, oversized or unknown parameters. Each gets a JSON error with
``Cache-Control: no-store`` — never a 500, never an HTML page — and changes nothing: the code
used in the bad request still works afterwards."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest

from tests.support.token_endpoint import app_for, basic, code_form, get_code, sign_in


@pytest.fixture
def setup(app, client, make_citizen, auth, signing_keys):  # noqa: ANN001, ANN201
    sign_in(auth, make_citizen())
    rp = app_for(app)
    grant = get_code(client, rp)
    return rp, grant, code_form(rp, grant), basic(rp.client_id, rp.secret)


def assert_json_error(response, error: str, status: int = 400) -> None:  # noqa: ANN001
    assert response.status_code == status, response.data[:300]
    assert response.mimetype == "application/json"
    assert response.json["error"] == error
    description = response.json.get("error_description", "")
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in description), description
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


def assert_code_still_works(client, setup) -> None:  # noqa: ANN001
    _, _, form, headers = setup
    response = client.post("/token", data=form, headers=headers)
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("change", [
    {"grant_type": None}, {"grant_type": ""}, {"code": None},
    {"code": "c" * 5000}, {"code": "c" * 300}, {"redirect_uri": "r" * 5000},
    {"scope": "s" * 5000}, {"unknown_parameter": "u" * 5000},
], ids=["no-grant-type", "empty-grant-type", "no-code", "huge-code", "oversized-code",
        "huge-redirect", "huge-scope", "huge-unknown"])
def test_missing_or_oversized_parameters(client, setup, change):
    _, _, form, headers = setup
    data = {k: v for k, v in {**form, **change}.items() if v is not None}
    assert_json_error(client.post("/token", data=data, headers=headers), "invalid_request")
    assert_code_still_works(client, setup)


@pytest.mark.parametrize("name", ["grant_type", "code", "redirect_uri", "code_verifier",
                                  "client_id", "scope", "ỹ\"\\"])
def test_repeated_parameters(client, setup, name):
    rp, _, form, headers = setup
    value = form.get(name, rp.client_id if name == "client_id" else "x")
    body = "&".join(f"{k}={v}" for k, v in form.items() if k != name)
    body += f"&{quote(name)}={quote(value)}&{quote(name)}={quote(value)}"
    response = client.post("/token", data=body, headers=headers,
                           content_type="application/x-www-form-urlencoded")
    assert_json_error(response, "invalid_request")
    assert_code_still_works(client, setup)


@pytest.mark.parametrize("grant_type", ["password", "implicit", "token", "refresh-token",
                                        "urn:ietf:params:oauth:grant-type:device_code",
                                        "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                        "AUTHORIZATION_CODE", "é" * 20])
def test_unsupported_grant_type(client, setup, grant_type):
    _, _, form, headers = setup
    response = client.post("/token", data={**form, "grant_type": grant_type}, headers=headers)
    assert_json_error(response, "unsupported_grant_type")
    assert_code_still_works(client, setup)


def test_json_body(client, setup):
    _, _, form, headers = setup
    assert_json_error(client.post("/token", json=form, headers=headers), "invalid_request")
    assert_code_still_works(client, setup)


@pytest.mark.parametrize("content_type", [None, "text/plain", "multipart/form-data",
                                          "application/xml", "application/x-www-form-urlencodedx"])
def test_wrong_content_type(client, setup, content_type):
    _, _, form, headers = setup
    body = "&".join(f"{k}={v}" for k, v in form.items())
    if content_type == "multipart/form-data":
        response = client.post("/token", data=form, headers=headers,
                               content_type="multipart/form-data")
    else:
        response = client.post("/token", data=body, headers=headers,
                               content_type=content_type or "")
    assert_json_error(response, "invalid_request")
    assert_code_still_works(client, setup)


def test_empty_body(client, setup):
    _, _, _, headers = setup
    response = client.post("/token", data="", headers=headers,
                           content_type="application/x-www-form-urlencoded")
    assert_json_error(response, "invalid_request")
    assert_json_error(client.post("/token"), "invalid_request")


def test_parameters_in_the_query_string(client, setup):
    _, _, form, headers = setup
    response = client.post("/token?" + urlencode(form), data={}, headers=headers)
    assert_json_error(response, "invalid_request")
    response = client.post("/token?client_secret=x", data=form, headers=headers)
    assert_json_error(response, "invalid_request")
    assert_code_still_works(client, setup)


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_wrong_method(client, setup, method):
    _, _, form, headers = setup
    response = client.open("/token", method=method, data=form, headers=headers)
    assert_json_error(response, "invalid_request", 405)
    assert "POST" in response.headers["Allow"]
    html = client.get("/token", headers={"Accept": "text/html"})
    assert html.status_code == 405 and html.mimetype == "application/json"
    assert_code_still_works(client, setup)


def test_body_that_is_not_utf8(client, setup):
    _, _, form, headers = setup
    body = "&".join(f"{k}={v}" for k, v in form.items()).encode() + b"&x=%FF%FE\xff"
    response = client.post("/token", data=body, headers=headers,
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code in (200, 400)
    assert response.mimetype == "application/json"
    json.dumps(response.json)


def test_code_with_control_characters(client, setup):
    _, _, form, headers = setup
    response = client.post("/token", data={**form, "code": "abc\x00\r\ndef"}, headers=headers)
    assert_json_error(response, "invalid_grant")
    assert_code_still_works(client, setup)
