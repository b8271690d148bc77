"""Tests of idp.web.proxy.TrustedProxyMiddleware with a tiny WSGI app that records environ."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from idp.web.proxy import TrustedProxyMiddleware

LB = "10.0.0.1"  # the load balancer in front of the app
CLIENT = "203.0.113.7"
ATTACKER_CHOICE = "198.51.100.66"


class Recorder:
    """A WSGI app that remembers the environ it was called with."""

    def __init__(self) -> None:
        self.environ: dict[str, Any] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.environ = dict(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


def networks(*items: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item, strict=False) for item in items]


def call(trusted: list, remote_addr: str | None = LB, xff: str | None = None,
         proto: str | None = None, scheme: str = "http") -> dict[str, Any]:
    recorder = Recorder()
    middleware = TrustedProxyMiddleware(recorder, trusted)
    environ: dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": "/",
                               "wsgi.url_scheme": scheme}
    if remote_addr is not None:
        environ["REMOTE_ADDR"] = remote_addr
    if xff is not None:
        environ["HTTP_X_FORWARDED_FOR"] = xff
    if proto is not None:
        environ["HTTP_X_FORWARDED_PROTO"] = proto
    statuses: list[str] = []
    body = middleware(environ, lambda status, headers: statuses.append(status))
    assert list(body) == [b"ok"]
    assert statuses == ["200 OK"]
    assert recorder.environ is not None
    return recorder.environ


# --- Nobody trusted -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "xff",
    [CLIENT, f"{ATTACKER_CHOICE}, {CLIENT}", "127.0.0.1", "garbage", ""],
)
def test_without_trusted_proxies_forwarded_headers_are_ignored(xff: str):
    environ = call([], remote_addr=LB, xff=xff, proto="https")
    assert environ["REMOTE_ADDR"] == LB
    assert environ["wsgi.url_scheme"] == "http"


def test_without_headers_nothing_changes():
    environ = call(networks("10.0.0.0/8"), remote_addr=CLIENT)
    assert environ["REMOTE_ADDR"] == CLIENT
    assert environ["wsgi.url_scheme"] == "http"


def test_missing_remote_addr_does_not_crash():
    environ = call(networks("10.0.0.0/8"), remote_addr=None, xff=CLIENT, proto="https")
    assert "REMOTE_ADDR" not in environ
    assert environ["wsgi.url_scheme"] == "http"


# --- Untrusted peer -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "trusted"),
    [
        (CLIENT, ["10.0.0.0/8"]),
        ("10.0.0.2", ["10.0.0.1"]),
        ("192.168.1.10", ["10.0.0.0/8", "2001:db8::/32"]),
        ("2001:db9::1", ["2001:db8::/32"]),
        # An IPv6 address whose low 32 bits spell 10.0.0.5 is not in 10.0.0.0/8.
        ("::a00:5", ["10.0.0.0/8"]),
        ("not-an-ip", ["10.0.0.0/8"]),
        ("", ["10.0.0.0/8"]),
    ],
)
def test_untrusted_peer_cannot_set_address_or_scheme(peer: str, trusted: list[str]):
    environ = call(networks(*trusted), remote_addr=peer, xff=ATTACKER_CHOICE, proto="https")
    assert environ["REMOTE_ADDR"] == peer
    assert environ["wsgi.url_scheme"] == "http"


# --- Trusted peer -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "peer", "xff", "expected"),
    [
        pytest.param(["10.0.0.1"], LB, CLIENT, CLIENT, id="single-hop"),
        pytest.param(["10.0.0.0/8"], LB, f" {CLIENT} ", CLIENT, id="spaces"),
        pytest.param(["10.0.0.0/8"], LB, f"{ATTACKER_CHOICE}, {CLIENT}", CLIENT,
                     id="spoofed-leftmost"),
        pytest.param(["10.0.0.0/8"], LB, f"1.1.1.1, 8.8.8.8, 127.0.0.1, {CLIENT}", CLIENT,
                     id="many-spoofed"),
        pytest.param(["10.0.0.0/8"], LB, f"10.9.9.9, {CLIENT}", CLIENT,
                     id="spoofed-trusted-looking-leftmost"),
        pytest.param(["10.0.0.0/8"], LB, f"{CLIENT}, 10.0.0.2, 10.0.0.3", CLIENT,
                     id="chain-of-trusted"),
        pytest.param(["10.0.0.0/8"], LB, f"{ATTACKER_CHOICE}, {CLIENT}, 10.0.0.2", CLIENT,
                     id="chain-with-spoof"),
        pytest.param(["10.0.0.1", "172.16.0.0/12"], LB, f"{CLIENT}, 172.16.5.5", CLIENT,
                     id="two-networks"),
        pytest.param(["10.0.0.0/8"], LB, "10.0.0.5, 10.0.0.6", "10.0.0.5",
                     id="all-trusted-leftmost-wins"),
        pytest.param(["10.0.0.0/8"], LB, "", LB, id="empty-header"),
        pytest.param(["10.0.0.0/8"], LB, " , ,, ", LB, id="only-commas"),
        pytest.param(["10.0.0.0/8"], LB, f",, {CLIENT} ,,", CLIENT, id="empty-entries"),
        pytest.param(["10.0.0.0/8"], LB, "2400:cb00::17", "2400:cb00::17", id="ipv6-client"),
        pytest.param(["2001:db8::/32"], "2001:db8::1", CLIENT, CLIENT, id="ipv6-proxy"),
        pytest.param(["2001:db8::/32", "10.0.0.0/8"], LB,
                     f"{ATTACKER_CHOICE}, 2400:cb00::17, 2001:db8::5", "2400:cb00::17",
                     id="mixed-families"),
        pytest.param(["10.0.0.0/8"], LB, f"garbage, <script>, {CLIENT}", CLIENT,
                     id="garbage-left-of-client"),
        pytest.param(["10.0.0.0/8"], LB, f"{'9' * 5000}, {CLIENT}", CLIENT,
                     id="huge-garbage-left-of-client"),
        pytest.param(["10.0.0.0/8"], LB, f"{CLIENT};{ATTACKER_CHOICE}, {CLIENT}", CLIENT,
                     id="semicolon-garbage"),
    ],
)
def test_trusted_peer_rightmost_untrusted_hop_is_the_client(
    trusted: list[str], peer: str, xff: str, expected: str
):
    assert call(networks(*trusted), remote_addr=peer, xff=xff)["REMOTE_ADDR"] == expected


def test_trusted_peer_without_forwarded_for_keeps_peer():
    environ = call(networks("10.0.0.0/8"), remote_addr=LB)
    assert environ["REMOTE_ADDR"] == LB


def test_forwarded_for_is_read_only_from_its_own_header():
    recorder = Recorder()
    middleware = TrustedProxyMiddleware(recorder, networks("10.0.0.0/8"))
    environ = {"REMOTE_ADDR": LB, "HTTP_X_REAL_IP": ATTACKER_CHOICE,
               "HTTP_FORWARDED": f"for={ATTACKER_CHOICE}", "wsgi.url_scheme": "http"}
    middleware(environ, lambda status, headers: None)
    assert recorder.environ is not None
    assert recorder.environ["REMOTE_ADDR"] == LB


# --- X-Forwarded-Proto --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proto", "expected"),
    [
        ("https", "https"),
        ("HTTPS", "https"),
        (" https ", "https"),
        ("http", "http"),
        ("http, https", "https"),  # the hop nearest to us (rightmost) wins
        ("https, http", "http"),
        ("ftp", "http"),
        ("javascript", "http"),
        ("", "http"),
        ("https;", "http"),
        ("ws", "http"),
    ],
)
def test_forwarded_proto_from_trusted_peer(proto: str, expected: str):
    environ = call(networks("10.0.0.0/8"), remote_addr=LB, xff=CLIENT, proto=proto)
    assert environ["wsgi.url_scheme"] == expected


def test_forwarded_proto_can_downgrade_only_when_trusted():
    trusted = networks("10.0.0.0/8")
    assert call(trusted, remote_addr=LB, proto="http", scheme="https")["wsgi.url_scheme"] == "http"
    untrusted = call(trusted, remote_addr=CLIENT, proto="http", scheme="https")
    assert untrusted["wsgi.url_scheme"] == "https"


@pytest.mark.parametrize("peer", [CLIENT, "10.0.0.1", "garbage"])
def test_forwarded_proto_ignored_without_trusted_proxies(peer: str):
    assert call([], remote_addr=peer, proto="https")["wsgi.url_scheme"] == "http"


def test_forwarded_proto_ignored_from_untrusted_peer():
    environ = call(networks("10.0.0.1"), remote_addr="10.0.0.2", proto="https")
    assert environ["wsgi.url_scheme"] == "http"


# --- Through the real app -----------------------------------------------------------------------


def test_app_wires_the_middleware_from_settings(
    config: dict[str, Any], request: pytest.FixtureRequest
):
    config["TNID_TRUSTED_PROXIES"] = "10.0.0.0/8"
    app = request.getfixturevalue("app")
    assert isinstance(app.wsgi_app, TrustedProxyMiddleware)
    assert app.wsgi_app.trusted == tuple(networks("10.0.0.0/8"))
    seen = {}

    @app.get("/_test/whoami")
    def whoami() -> str:
        from flask import request as flask_request

        seen["addr"] = flask_request.remote_addr
        seen["scheme"] = flask_request.scheme
        return "ok"

    client = app.test_client()
    client.get("/_test/whoami", environ_base={"REMOTE_ADDR": LB},
               headers={"X-Forwarded-For": f"{ATTACKER_CHOICE}, {CLIENT}",
                        "X-Forwarded-Proto": "https"})
    assert seen == {"addr": CLIENT, "scheme": "https"}
    client.get("/_test/whoami", environ_base={"REMOTE_ADDR": CLIENT},
               headers={"X-Forwarded-For": ATTACKER_CHOICE, "X-Forwarded-Proto": "https"})
    assert seen == {"addr": CLIENT, "scheme": "http"}


# --- Garbage in the chain ---------------------------------------------------------------------


@pytest.mark.parametrize("xff,expected", [
    (f"{CLIENT}, not-an-ip", LB),          # garbage right after the balancer: keep the peer
    ("not-an-ip", LB),
    (f"not-an-ip, {CLIENT}", CLIENT),      # the real client is to the right of the garbage
    (f"{CLIENT}, 10.0.0.9, junk", LB),
])
def test_garbage_hop_never_becomes_the_client_address(xff: str, expected: str):
    environ = call(networks("10.0.0.0/8"), xff=xff)
    assert environ["REMOTE_ADDR"] == expected
