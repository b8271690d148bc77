"""Helpers for the authorization-endpoint tests: the citizen's browser (a Flask test client,
a real WSGI exchange) walks /authorize and the sign-in, account-choice and consent screens;
the app calls /token like any OAuth client would. Nothing here imports protocol code."""

from __future__ import annotations

import base64
import html
import re
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import TEST_PASSWORD, csrf_token
from tests.support.oidc import App, authorize_query, pkce, query_of, verify


def issuer(http: FlaskClient) -> str:
    """The issuer as a relying app learns it: from the discovery document."""
    return http.get("/.well-known/openid-configuration").json["issuer"]


def go(browser: FlaskClient, rp: App, **params: Any) -> TestResponse:
    """The app sends the browser to /authorize (PKCE S256 unless the test says otherwise)."""
    if "code_challenge" not in params:
        params["code_challenge"] = pkce()[1]
    params.setdefault("code_challenge_method", "S256")
    return browser.get(authorize_query(rp, **params))


def follow(browser: FlaskClient, response: TestResponse, rp: App,
           limit: int = 10) -> TestResponse:
    """Follow redirects inside the provider; stop at a page or at a redirect to the app."""
    for _ in range(limit):
        if response.status_code != 302 or leaves_for(response, rp):
            return response
        response = browser.get(response.headers["Location"])
    raise AssertionError("too many redirects")


def leaves_for(response: TestResponse, rp: App) -> bool:
    location = response.headers.get("Location", "")
    return response.status_code == 302 and location.startswith(rp.redirect_uri + "?")


def at_app(response: TestResponse, rp: App) -> dict[str, str]:
    """The query the app receives; fails unless the response sends the browser there."""
    assert leaves_for(response, rp), (response.status_code, response.headers.get("Location"),
                                      response.text[:300])
    return query_of(response.headers["Location"])


def form_action(page: str, marker: str = "") -> str:
    """The action of the first POST form on the page (after ``marker`` when given)."""
    start = page.index(marker) if marker else 0
    match = re.search(r'<form method="post" action="([^"]+)"', page[start:])
    assert match, "no form on the page"
    return html.unescape(match.group(1))


def submit(browser: FlaskClient, page: TestResponse, **fields: str) -> TestResponse:
    return browser.post(form_action(page.text),
                        data={"csrf_token": csrf_token(page.text), **fields})


def is_login(page: TestResponse) -> bool:
    return page.status_code == 200 and 'autocomplete="current-password"' in page.text


def is_consent(page: TestResponse) -> bool:
    return page.status_code == 200 and 'name="decision"' in page.text


def is_select_account(page: TestResponse) -> bool:
    return page.status_code == 200 and 'name="choice"' in page.text


def sign_in(browser: FlaskClient, page: TestResponse, identifier: str,
            password: str = TEST_PASSWORD) -> TestResponse:
    assert is_login(page), (page.status_code, page.text[:300])
    return submit(browser, page, identifier=identifier, password=password)


def through(browser: FlaskClient, response: TestResponse, rp: App, *,
            identifier: str | None = None, consent: str = "allow") -> dict[str, str]:
    """Walk every screen (signing in as ``identifier`` if asked, answering consent) until the
    browser is sent back to the app; return the app's query."""
    for _ in range(10):
        response = follow(browser, response, rp)
        if leaves_for(response, rp):
            return query_of(response.headers["Location"])
        if is_login(response) and identifier:
            response = sign_in(browser, response, identifier)
        elif is_consent(response):
            response = submit(browser, response, decision=consent)
        else:
            raise AssertionError(f"stopped at {response.status_code}: {response.text[:300]}")
    raise AssertionError("too many screens")


def basic(rp: App) -> dict[str, str]:
    raw = f"{rp.client_id}:{rp.secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def exchange(http: FlaskClient, rp: App, code: str, verifier: str | None) -> TestResponse:
    """The app's back-channel call to /token (client_secret_basic, or client_id if public)."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri}
    if verifier:
        data["code_verifier"] = verifier
    if rp.secret is None:
        return http.post("/token", data={**data, "client_id": rp.client_id})
    return http.post("/token", data=data, headers=basic(rp))


def id_token_of(browser: FlaskClient, rp: App, *, identifier: str | None = None,
                **params: Any) -> dict:
    """A whole sign-in: authorize with PKCE, walk the screens, exchange the code, return the
    verified ID token claims."""
    verifier, challenge = pkce()
    query = through(browser, go(browser, rp, code_challenge=challenge,
                                code_challenge_method="S256", **params), rp,
                    identifier=identifier)
    assert "code" in query, query
    token = exchange(browser, rp, query["code"], verifier)
    assert token.status_code == 200, token.json
    return verify(browser, token.json["id_token"], rp.client_id)
