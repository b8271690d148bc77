"""Flask's signed-cookie session with its serializer built once per app instead of on every
request (it only holds the CSRF token, the language and flashed messages)."""

from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class CachedSerializerSessionInterface(SecureCookieSessionInterface):
    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        cached = app.extensions.get("tnid.session_serializer")
        if cached is None:
            cached = super().get_signing_serializer(app)
            app.extensions["tnid.session_serializer"] = cached
        return cached
