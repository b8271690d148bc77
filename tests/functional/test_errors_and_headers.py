"""Error pages, security headers and structured logs."""

from __future__ import annotations

import json
import logging

import pytest

from tests.conftest import TEST_PASSWORD


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/khong-co-trang-nay")
    assert response.status_code == 404
    assert "<html" in response.text and "Traceback" not in response.text


def test_json_callers_get_json_errors(client):
    response = client.get("/nope", headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.json["error"] == "not_found"


@pytest.mark.parametrize("method,path", [("PUT", "/login"), ("DELETE", "/"), ("POST", "/")])
def test_wrong_method_is_405_with_allow(client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("path", ["/login", "/healthz", "/nope"])
def test_security_headers_on_every_response(client, path):
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in headers  # plain http issuer


def test_pages_have_no_inline_script_or_style(client):
    html = client.get("/login").text
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    assert " onclick=" not in html


def test_hsts_in_production(app_factory):
    app = app_factory(TNID_ENV="production", TNID_ISSUER="https://id.thainguyen.gov.vn",
                      TNID_ALLOW_SQLITE_IN_PRODUCTION="1", TNID_ARGON2_TIME_COST="2",
                      TNID_ARGON2_MEMORY_KIB="19456")
    response = app.test_client().get("/healthz", base_url="https://id.thainguyen.gov.vn")
    assert "max-age=" in response.headers["Strict-Transport-Security"]


def test_logs_are_json_lines_without_secrets(app, auth, make_citizen, caplog):
    from idp.web.logs import JsonFormatter

    citizen = make_citizen()
    caplog.set_level(logging.INFO)
    auth.login(citizen.cccd, "sai mật khẩu rồi")
    auth.login(citizen.cccd, TEST_PASSWORD)
    auth.client.get("/login?code=s3cr3t-code&login_hint=0912345678")
    formatter = JsonFormatter()
    with app.test_request_context():
        lines = [formatter.format(record) for record in caplog.records]
    events = [json.loads(line) for line in lines]
    assert {"account:login:success", "account:login:failure"} <= {e["msg"] for e in events}
    joined = "\n".join(lines)
    assert TEST_PASSWORD not in joined and "sai mật khẩu" not in joined
    assert citizen.cccd not in joined and citizen.phone not in joined
    assert "s3cr3t-code" not in joined and "0912345678" not in joined
    access = [e for e in events if e["msg"] == "request"]
    assert access and all("?" not in e["path"] for e in access)
