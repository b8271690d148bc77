"""Security headers on every response (OWASP ASVS V14.4)."""

from __future__ import annotations

from flask import Flask, Response, request

# No inline script or style anywhere: every page loads /static files only. No form-action:
# Chromium applies it to the redirect after a form post, which would block the return to a
# relying app's redirect URI after sign-in.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def init_app(app: Flask, *, hsts: bool) -> None:
    static_headers = [
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        # same-origin: apps never learn which ThaiNguyen ID page a citizen came from.
        ("Referrer-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]
    if hsts:
        static_headers.append(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        present = {key.lower() for key in headers.keys()}
        headers.extend([(k, v) for k, v in static_headers if k.lower() not in present])
        if "cache-control" not in present and not request.path.startswith("/static/"):
            # Pages carry personal data; on a shared commune-office computer Back must not
            # show the previous citizen's page.
            headers["Cache-Control"] = "no-store"
        return response
