"""What every account page needs: a signed-in citizen, and for sensitive changes a recent
sign-in (NIST SP 800-63B §4.2.3 asks re-authentication before such changes).

"Recent" is the session's sign-in or a password re-entered on ``/account/confirm-password``
within ``RECENT``; the re-entry is remembered in the signed Flask session, bound to the SSO
session's ``sid``, and never moves ``auth_time`` (which apps read as the sign-in time).
"""

from __future__ import annotations

import time
from datetime import timedelta

from flask import redirect, session, url_for
from werkzeug.wrappers import Response

from idp.models import SsoSession
from idp.services.clock import epoch, utcnow
from idp.web import current_session, deps

RECENT = timedelta(minutes=10)
REAUTH_KEY = "reauth"


def signed_in() -> SsoSession | Response:
    """The session, or a redirect to sign in."""
    sso = current_session.current_sso()
    return sso if sso is not None else redirect(url_for("auth.login"))


def is_recent(sso: SsoSession) -> bool:
    latest = epoch(sso.auth_time)
    saved = session.get(REAUTH_KEY)
    if isinstance(saved, dict) and saved.get("sid") == sso.sid \
            and isinstance(saved.get("at"), int):
        latest = max(latest, saved["at"])
    return epoch(utcnow()) - latest <= RECENT.total_seconds()


def remember_reauth(sso: SsoSession) -> None:
    session[REAUTH_KEY] = {"sid": sso.sid, "at": int(time.time())}


def post_limit() -> str:
    """Per-IP limit on every guessed secret of the account pages (the sign-in limit)."""
    return deps.settings().login_rate_limit

