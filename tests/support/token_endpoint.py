"""Helpers for the token endpoint tests: a signed-in citizen's authorization code, client
authentication the way each kind of app does it, RFC 7523 client assertions, and a JWK Set
published over real HTTP (a tiny server of our own, like an app's ``jwks_uri``)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import select

from idp.extensions import db
from idp.models import Citizen
from tests.conftest import AuthActions
from tests.support.oidc import App, authorize_query, follow_to_client, pkce, register

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class Grant:
    """What the app holds after the authorization response."""

    code: str
    verifier: str | None
    nonce: str


def app_for(app: Flask, **spec: Any) -> App:
    """A first-party app (no consent screen, so tests reach the token endpoint quickly)."""
    return register(app, **{"trusted": True, **spec})


def issuer_of(app: Flask) -> str:
    return app.extensions["tnid.settings"].issuer


def basic(client_id: str, secret: str | None) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def sign_in(auth: AuthActions, citizen: Citizen) -> None:
    response = auth.login(citizen.cccd)
    assert response.status_code == 302, response.text[:300]


def get_code(browser: FlaskClient, rp: App, *, scope: str = "openid profile",
             use_pkce: bool = True, **params: str) -> Grant:
    """Run /authorize for the signed-in citizen; return the code the app receives."""
    verifier, challenge = pkce() if use_pkce else (None, None)
    nonce = secrets.token_urlsafe(12)
    extra = {"code_challenge": challenge, "code_challenge_method": "S256"} if use_pkce else {}
    got = follow_to_client(browser, authorize_query(rp, scope=scope, nonce=nonce, **extra,
                                                    **params), rp)
    assert "code" in got, got
    return Grant(got["code"], verifier, nonce)


def code_form(rp: App, grant: Grant, **extra: str | None) -> dict[str, str]:
    form = {"grant_type": "authorization_code", "code": grant.code,
            "redirect_uri": rp.redirect_uri, "code_verifier": grant.verifier, **extra}
    return {k: v for k, v in form.items() if v is not None}


def exchange(http: FlaskClient, rp: App, grant: Grant, **extra: str | None):  # noqa: ANN201
    """POST the code the way the app authenticates: Basic for secret apps, client_id for
    public ones (private_key_jwt tests build their own requests)."""
    form = code_form(rp, grant, **extra)
    if rp.secret is None:
        return http.post("/token", data={"client_id": rp.client_id, **form})
    return http.post("/token", data=form, headers=basic(rp.client_id, rp.secret))


def refresh(http: FlaskClient, rp: App, refresh_token: str, **extra: str):  # noqa: ANN201
    return http.post("/token", data={"grant_type": "refresh_token",
                                     "refresh_token": refresh_token, **extra},
                     headers=basic(rp.client_id, rp.secret))


def citizen_row(app: Flask, citizen_id: object) -> Citizen:
    with app.app_context():
        return db.session.scalar(select(Citizen).where(Citizen.id == citizen_id))


# --- private_key_jwt ------------------------------------------------------------------------------


def ec_key(kid: str | None = None) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid or secrets.token_hex(8)})


def public_set(*keys: ECKey | RSAKey) -> dict:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def assertion(client_id: str, key: ECKey | RSAKey, *, audience: str,
              alg: str | None = None, lifetime: int = 60, **claims: Any) -> str:
    """A client assertion (RFC 7523 §3); ``claims`` override or (as None) remove members."""
    now = int(time.time())
    body = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now,
            "exp": now + lifetime, "jti": secrets.token_urlsafe(16), **claims}
    body = {k: v for k, v in body.items() if v is not None}
    alg = alg or ("ES256" if isinstance(key, ECKey) else "RS256")
    return jwt.encode({"alg": alg, "kid": key.kid}, body, key, algorithms=[alg])


def assertion_form(signed: str) -> dict[str, str]:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": signed}


class _JwksHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 — http.server's naming
        server: Any = self.server
        body = server.raw if server.raw is not None else json.dumps(server.jwks).encode()
        server.hits += 1
        self.send_response(server.status)
        if server.status in (301, 302, 303, 307, 308):
            self.send_header("Location", server.location)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet: the test output is for the tests."""


@contextmanager
def jwks_server(jwks: dict) -> Iterator[ThreadingHTTPServer]:
    """Publish ``jwks`` at ``jwks_url(server)`` until the block ends; change
    ``server.jwks`` to rotate, read ``server.hits`` to count fetches; ``server.raw`` (bytes),
    ``server.status`` and ``server.location`` make it misbehave."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JwksHandler)
    server.jwks = jwks  # type: ignore[attr-defined]
    server.hits = 0  # type: ignore[attr-defined]
    server.raw, server.status, server.location = None, 200, ""  # type: ignore[attr-defined]
    # A fresh path each time: the provider caches key sets by URI, and ports get reused.
    server.path = f"/{secrets.token_hex(8)}/jwks.json"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def jwks_url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_port}{server.path}"  # type: ignore[attr-defined]


def decode_unverified(token: str, part: int = 1) -> dict:
    """A JWT's claims (``part=0``: its header) without checking it: only for tests that
    verify it separately."""
    segment = token.split(".")[part]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8)})


def key_set(*keys: ECKey | RSAKey) -> KeySet:
    return KeySet(list(keys))


def race(count: int, request: requests.PreparedRequest) -> list[requests.Response]:
    """Send one request from ``count`` threads released together by a barrier (real HTTP);
    return every response."""
    barrier = threading.Barrier(count)
    responses: list[requests.Response] = []
    lock = threading.Lock()

    def one() -> None:
        with requests.Session() as http:
            barrier.wait(timeout=30)
            response = http.send(request, timeout=60)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert len(responses) == count, "a racer did not finish"
    return responses
