"""Flask's signed-cookie session with its serializer built once per app instead of on every
request (it only holds the CSRF token, the language and flashed messages).

The machine-to-machine endpoints (token, introspection, revocation, userinfo, JWKS,
discovery) are called by relying apps' servers, never by a browser page: they neither read
nor write the cookie session, so it is not decoded, verified or re-signed for them.
"""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

# Exact paths: a browser page that merely starts with one of these keeps its session.
SESSIONLESS_PATHS = frozenset({
    "/token", "/introspect", "/revoke", "/userinfo", "/jwks",
    "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
})


def is_sessionless(path: str) -> bool:
    return path in SESSIONLESS_PATHS


class DetachedSession(SecureCookieSession):
    """The session of a sessionless endpoint: empty, never read from nor saved to a cookie
    (so a stray write cannot set one)."""


class CachedSerializerSessionInterface(SecureCookieSessionInterface):
    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        cached = app.extensions.get("tnid.session_serializer")
        if cached is None:
            cached = super().get_signing_serializer(app)
            app.extensions["tnid.session_serializer"] = cached
        return cached

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path in SESSIONLESS_PATHS:
            return DetachedSession()
        return super().open_session(app, request)

    def is_null_session(self, obj: object) -> bool:
        # Flask skips ``save_session`` for a null session: nothing to sign or send.
        return isinstance(obj, DetachedSession) or super().is_null_session(obj)

    def save_session(self, app: Flask, session: SecureCookieSession,
                     response: Response) -> None:
        if isinstance(session, DetachedSession):
            return
        super().save_session(app, session, response)
