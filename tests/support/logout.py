"""Helpers for the logout and registration tests: a tiny back-channel logout receiver on a
real loopback port, a citizen's browser signing in to apps through /authorize (consent
included), and token requests made the way a relying app makes them."""

from __future__ import annotations

import base64
import html
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.conftest import AuthActions, csrf_token
from tests.support.oidc import App, authorize_query, pkce, query_of

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


# --- the receiver ------------------------------------------------------------------------------

@dataclass
class Receiver:
    """Records every POST as (path, form). Per path: "ok" (200), "error" (500), "hold" (answer
    only once ``release`` is set, 200), "hang" (wait ``hang_seconds``, then 200)."""

    base: str = ""
    behaviour: dict[str, str] = field(default_factory=dict)
    posts: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    hang_seconds: float = 5.0
    answered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def uri(self, path: str) -> str:
        return f"{self.base}{path}"

    def received(self, path: str) -> list[dict[str, list[str]]]:
        with self.lock:
            return [form for got, form in self.posts if got == path]

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.posts) >= count:
                    return
            time.sleep(0.02)
        raise AssertionError(f"the receiver got {len(self.posts)} POSTs, expected {count}")


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 — http.server's naming
        receiver: Receiver = self.server.receiver  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        with receiver.lock:
            receiver.posts.append((self.path, parse_qs(body)))
        receiver.arrived.set()
        behaviour = receiver.behaviour.get(self.path, "ok")
        if behaviour == "hold":
            receiver.release.wait(60)
        elif behaviour == "hang":
            receiver.release.wait(receiver.hang_seconds)
        status = 500 if behaviour == "error" else 200
        with receiver.lock:  # counted before the answer leaves, so the sender never sees it first
            receiver.answered += 1
        try:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
        except OSError:  # the provider stopped waiting (its timeout): nobody to answer
            pass

    def log_message(self, *args: object) -> None:
        """Quiet: the test output is for the tests."""


@contextmanager
def receiver(**behaviour: str) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1; ``behaviour`` maps a path name (without /) to its answer."""
    state = Receiver(behaviour={f"/{name}": how for name, how in behaviour.items()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.receiver = state  # type: ignore[attr-defined]
    state.base = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def dead_uri() -> str:
    """A loopback URL nobody listens on (the port was just closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/logout"


# --- the citizen's browser ------------------------------------------------------------------------

def consent_action(page: str) -> str:
    match = re.search(r'<form method="post" action="([^"]+)"', page)
    assert match, "the page has no form"
    return html.unescape(match.group(1))


def authorize(browser: FlaskClient, rp: App, **params: str) -> dict[str, str]:
    """/authorize for a signed-in citizen, agreeing on the consent screen; the app's query."""
    response = browser.get(authorize_query(rp, **params))
    for _ in range(10):
        if response.status_code == 200 and 'name="decision"' in response.text:
            response = browser.post(consent_action(response.text), data={
                "csrf_token": csrf_token(response.text), "decision": "allow"})
            continue
        location = response.headers.get("Location", "")
        assert response.status_code == 302, (response.status_code, response.text[:300])
        if location.startswith(rp.redirect_uri):
            return query_of(location)
        response = browser.get(location)
    raise AssertionError("too many redirects")


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def client_assertion(client_id: str, key: ECKey, audience: str) -> dict[str, str]:
    """RFC 7523 §2.2 private_key_jwt, signed with the app's own key."""
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 60,
              "jti": secrets.token_urlsafe(16)}
    signed = jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key, algorithms=["ES256"])
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": signed}


def token_request(http: FlaskClient, rp: App, data: dict[str, str], *,
                  key: ECKey | None = None, issuer: str = "") -> dict:
    """POST /token authenticating as the app registered: Basic, private_key_jwt or public."""
    if key is not None:
        response = http.post("/token", data={**data, **client_assertion(
            rp.client_id, key, f"{issuer}/token")})
    elif rp.secret is None:
        response = http.post("/token", data={**data, "client_id": rp.client_id})
    else:
        response = http.post("/token", data=data, headers=basic(rp.client_id, rp.secret))
    assert response.status_code == 200, response.text
    return response.json


def tokens_for(browser: FlaskClient, rp: App, scope: str = "openid profile", *,
               key: ECKey | None = None, issuer: str = "") -> dict:
    """Authorize (PKCE) and exchange the code: the token response, with the ID token."""
    verifier, challenge = pkce()
    got = authorize(browser, rp, scope=scope, code_challenge=challenge,
                    code_challenge_method="S256")
    assert "code" in got, got
    return token_request(browser, rp, {
        "grant_type": "authorization_code", "code": got["code"],
        "redirect_uri": rp.redirect_uri, "code_verifier": verifier}, key=key, issuer=issuer)


def sign_in(auth: AuthActions, identifier: str) -> None:
    response = auth.login(identifier)
    assert response.status_code == 302, response.text[:300]


def prompt_none(browser: FlaskClient, rp: App) -> dict[str, str]:
    """What the app gets back from a silent /authorize (prompt=none)."""
    verifier, challenge = pkce()
    response = browser.get(authorize_query(rp, prompt="none", code_challenge=challenge,
                                           code_challenge_method="S256"))
    assert response.status_code == 302, response.text[:300]
    assert response.headers["Location"].startswith(rp.redirect_uri)
    return query_of(response.headers["Location"])


def location_path(response: object) -> str:
    return urlsplit(response.headers.get("Location", "")).path  # type: ignore[attr-defined]
