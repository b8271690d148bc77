"""Helpers for the resource-side protocol tests (userinfo, revocation, introspection,
discovery). The citizen's browser is a Flask test client walking /authorize and the screens;
the relying app calls the back-channel endpoints over HTTP the way any OAuth client does,
authenticating as it registered. Nothing here imports protocol code."""

from __future__ import annotations

import base64
import html
import re
import secrets
import time
from typing import Any

from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey
from werkzeug.test import TestResponse

from tests.conftest import TEST_PASSWORD, csrf_token
from tests.support.oidc import App, authorize_query, pkce, query_of

Key = RSAKey | ECKey | OctKey
ALL_SCOPES = "openid profile email phone address citizen offline_access"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def basic(rp: App) -> dict[str, str]:
    raw = f"{rp.client_id}:{rp.secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def secret_post(rp: App) -> dict[str, str]:
    """client_secret_post: the credentials as form fields (RFC 6749 §2.3.1)."""
    return {"client_id": rp.client_id, "client_secret": rp.secret or ""}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def form_action(page: str) -> str:
    match = re.search(r'<form method="post" action="([^"]+)"', page)
    assert match, "no form on the page"
    return html.unescape(match.group(1))


def walk(browser: FlaskClient, response: TestResponse, rp: App, *,
         identifier: str | None = None, limit: int = 12) -> dict[str, str]:
    """Follow the provider's redirects and screens (sign in as ``identifier`` when asked,
    agree on the consent screen, keep the current account) until the browser leaves for the
    app; return its query."""
    for _ in range(limit):
        location = response.headers.get("Location", "")
        if response.status_code == 302 and location.startswith(rp.redirect_uri + "?"):
            return query_of(location)
        if response.status_code == 302:
            response = browser.get(location)
        elif response.status_code == 200 and 'name="decision"' in response.text:
            response = browser.post(form_action(response.text), data={
                "csrf_token": csrf_token(response.text), "decision": "allow"})
        elif response.status_code == 200 and 'name="choice"' in response.text:
            response = browser.post(form_action(response.text), data={
                "csrf_token": csrf_token(response.text), "choice": "continue"})
        elif (response.status_code == 200 and identifier
              and 'autocomplete="current-password"' in response.text):
            response = browser.post(form_action(response.text), data={
                "csrf_token": csrf_token(response.text), "identifier": identifier,
                "password": TEST_PASSWORD})
        else:
            raise AssertionError(f"stopped at {response.status_code}: {response.text[:300]}")
    raise AssertionError("too many steps")


def authorize(browser: FlaskClient, rp: App, *, identifier: str | None = None,
              **params: Any) -> dict[str, str]:
    """Send the browser to /authorize and walk it back to the app."""
    return walk(browser, browser.get(authorize_query(rp, **params)), rp, identifier=identifier)


def front(browser: FlaskClient, rp: App, **params: Any) -> dict[str, str]:
    """The app's query after an authorization request answered at once, without a screen
    (an error, or a code for a signed-in citizen who already agreed)."""
    response = browser.get(authorize_query(rp, **params))
    assert response.status_code == 302, response.text[:300]
    assert response.headers["Location"].startswith(rp.redirect_uri + "?")
    return query_of(response.headers["Location"])


def exchange(http: FlaskClient, rp: App, code: str, verifier: str,
             auth: dict[str, str] | None = None) -> TestResponse:
    """POST the code to /token, authenticating as the app registered (Basic, or client_id
    for a public app), or with the form fields in ``auth`` (client_secret_post, assertion)."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
            "code_verifier": verifier}
    return token_request(http, rp, data, auth)


def token_request(http: FlaskClient, rp: App, data: dict[str, str],
                  auth: dict[str, str] | None = None) -> TestResponse:
    if auth is not None:
        return http.post("/token", data={**data, **auth})
    if rp.secret is None:
        return http.post("/token", data={**data, "client_id": rp.client_id})
    return http.post("/token", data=data, headers=basic(rp))


def refresh(http: FlaskClient, rp: App, refresh_token: str) -> TestResponse:
    return token_request(http, rp, {"grant_type": "refresh_token",
                                    "refresh_token": refresh_token})


def tokens_for(browser: FlaskClient, rp: App, identifier: str, scope: str = ALL_SCOPES, *,
               auth: dict[str, str] | None = None, **params: Any) -> dict:
    """A whole sign-in (signing in if needed), PKCE S256, consent, code exchange: the token
    response of the app (``auth``: form fields authenticating it, see ``exchange``)."""
    verifier, challenge = pkce()
    got = authorize(browser, rp, identifier=identifier, scope=scope, code_challenge=challenge,
                    code_challenge_method="S256", **params)
    assert "code" in got, got
    response = exchange(browser, rp, got["code"], verifier, auth)
    assert response.status_code == 200, response.json
    return response.json


# --- private_key_jwt (RFC 7523 §2.2) ----------------------------------------------------------


def client_keys(alg: str) -> RSAKey | ECKey:
    params = {"alg": alg, "use": "sig"}
    key = (RSAKey.generate_key(2048, parameters=params) if alg == "RS256"
           else ECKey.generate_key("P-256", parameters=params))
    key.ensure_kid()
    return key


def public_jwks(key: RSAKey | ECKey) -> dict:
    return {"keys": [key.as_dict(private=False)]}


def assertion(client_id: str, audience: str, key: Key, alg: str) -> dict[str, str]:
    """The form fields of a private_key_jwt client authentication (RFC 7523 §3)."""
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now,
              "exp": now + 60, "jti": secrets.token_urlsafe(16)}
    header = {"alg": alg} | ({"kid": key.kid} if key.kid else {})
    token = jwt.encode(header, claims, key, algorithms=[alg])
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": token}


def endpoint(doc: dict, name: str) -> str:
    """An advertised endpoint (from the discovery document) as a path on this provider."""
    return doc[name][len(doc["issuer"]):]
