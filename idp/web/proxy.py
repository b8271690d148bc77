"""Believe X-Forwarded-For / -Proto only from the load balancers named in
TNID_TRUSTED_PROXIES; walk the chain from the right so a client cannot forge its address."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxyMiddleware:
    def __init__(self, wsgi_app: Any, trusted: Iterable[Network]) -> None:
        self.wsgi_app = wsgi_app
        self.trusted = tuple(trusted)

    @staticmethod
    def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        try:
            return ipaddress.ip_address(address.strip())
        except ValueError:
            return None

    def _is_trusted(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in self.trusted)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not self.trusted:  # no load balancer configured: nothing to believe
            return self.wsgi_app(environ, start_response)
        peer = self._parse(environ.get("REMOTE_ADDR", ""))
        if peer is not None and self._is_trusted(peer):
            client = peer
            forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
            for hop in reversed([h for h in forwarded.split(",") if h.strip()]):
                address = self._parse(hop)
                if address is None:  # garbage ends the walk: keep the last real address
                    break
                client = address
                if not self._is_trusted(address):
                    break
            environ["REMOTE_ADDR"] = str(client)
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        return self.wsgi_app(environ, start_response)
