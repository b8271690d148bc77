"""The browser's SSO session: read from its cookie once per request, set and cleared here.

The cookie is HttpOnly and SameSite=Lax; under https it is Secure with the ``__Host-`` prefix,
so no subdomain can plant or read it.
"""

from __future__ import annotations

from flask import Response, g, request

from idp.extensions import db
from idp.models import SsoSession
from idp.services import sso_sessions
from idp.services.clock import utcnow
from idp.web import deps


def cookie_name() -> str:
    return "__Host-tnid_sso" if deps.settings().uses_https else "tnid_sso"


def cookie_token() -> str | None:
    return request.cookies.get(cookie_name())


def current_sso() -> SsoSession | None:
    """The live session or None; expired sessions are removed as a side effect."""
    if "sso" not in g:
        g.sso = sso_sessions.load_session(
            db.session, cookie_token(), policy=deps.session_policy(), now=utcnow()
        )
        if db.session.dirty or db.session.deleted:  # touched or expired: save it now
            db.session.commit()
    return g.sso


def set_cookie(response: Response, token: str) -> None:
    secure = deps.settings().uses_https
    response.set_cookie(
        cookie_name(), token, max_age=deps.settings().session_max_hours * 3600,
        secure=secure, httponly=True, samesite="Lax", path="/",
    )


def clear_cookie(response: Response) -> None:
    secure = deps.settings().uses_https
    response.delete_cookie(cookie_name(), secure=secure, httponly=True, samesite="Lax", path="/")
