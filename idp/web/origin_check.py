"""A second CSRF line behind the form tokens: a browser's POST whose ``Origin`` is another
site is refused (OWASP CSRF cheat sheet, "verifying origin with standard headers").

Flask-WTF's https Referer check is off instead: privacy tools and some proxies strip the
Referer, which would lock those citizens out; browsers do not let pages forge ``Origin``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, abort, request

from idp.web import deps

# Machine-to-machine endpoints authenticate the client itself; a browser origin means nothing.
# /authorize and /end-session are posted to from the apps' own sites by design (OIDC Core
# §3.1.2.1, RP-Initiated Logout §2); their confirmations carry their own CSRF tokens.
EXEMPT_PREFIXES = ("/token", "/introspect", "/revoke", "/par", "/register", "/userinfo",
                   "/authorize", "/end-session")


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def init_app(app: Flask) -> None:
    @app.before_request
    def refuse_cross_site_posts() -> None:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return
        origin = request.headers.get("Origin")
        if not origin or request.path.startswith(EXEMPT_PREFIXES):
            return
        allowed = {_origin_of(deps.settings().issuer), _origin_of(request.host_url)}
        if origin.lower() not in allowed:
            abort(400)
