"""Helpers for protocol tests: register apps through the real service, build PKCE pairs,
drive a citizen's browser (Flask test client) through /authorize, and verify tokens against
the published JWKS only — never against the server's own key objects."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.extensions import db
from idp.services import clients

REDIRECT = "https://portal.example.vn/callback"


@dataclass
class App:
    client_id: str
    secret: str | None
    redirect_uri: str


def register(app: Flask, **spec: Any) -> App:
    values = {"name_vi": "Cổng dịch vụ công", "redirect_uris": [REDIRECT],
              "scope": "openid profile phone citizen address email offline_access", **spec}
    with app.app_context():
        client, secret = clients.create_client(db.session, clients.ClientSpec(**values),
                                               production=False)
        db.session.commit()
        return App(client.client_id, secret, values["redirect_uris"][0])


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def authorize_query(rp: App, **extra: str) -> str:
    params = {"response_type": "code", "client_id": rp.client_id, "redirect_uri": rp.redirect_uri,
              "scope": "openid profile", "state": secrets.token_urlsafe(8),
              "nonce": secrets.token_urlsafe(8), **extra}
    return "/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def follow_to_client(browser: FlaskClient, path: str, rp: App, limit: int = 10) -> dict[str, str]:
    """Follow redirects inside the provider until one leaves for the app; return its query."""
    response = browser.get(path)
    for _ in range(limit):
        location = response.headers.get("Location", "")
        if response.status_code != 302:
            raise AssertionError(f"stopped at {response.status_code}: {response.text[:300]}")
        if location.startswith(rp.redirect_uri):
            return query_of(location)
        response = browser.get(location)
    raise AssertionError("too many redirects")


def verify(app_client: FlaskClient, token: str, audience: str) -> dict:
    """Check a JWT the way a relying app must: signature against the published JWKS."""
    jwks = KeySet.import_key_set(app_client.get("/jwks").json)
    decoded = jwt.decode(token, jwks, algorithms=["RS256", "ES256"])
    assert decoded.claims["aud"] == audience
    return decoded.claims
