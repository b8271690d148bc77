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

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        peer = environ.get("REMOTE_ADDR", "")
        if self.trusted and self._is_trusted(peer):
            chain = [peer]
            forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
            hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
            client = peer
            for hop in reversed(hops):
                client = hop
                if not self._is_trusted(hop):
                    break
                chain.append(hop)
            environ["REMOTE_ADDR"] = client
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        return self.wsgi_app(environ, start_response)
