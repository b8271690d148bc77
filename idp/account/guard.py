"""What every account page needs: a signed-in citizen, and for security-sensitive changes a
fresh proof of who they are (NIST SP 800-63B §4.2.3 / §6.1.2.1: re-authenticate, at the
level of the account, before binding or removing an authenticator).

Two kinds of proof, each remembered in the signed Flask session and bound to the SSO
session's ``sid`` (so it dies with the session), neither moving ``auth_time`` (which apps
read as the sign-in time):

- a **recent password** (``is_recent``): the session's own password sign-in, or the
  password re-entered on ``/account/confirm-password``, within ``RECENT``. A QR sign-in
  never counts as a password.
- a **fresh second factor** (``has_fresh_second_factor``): the rule of
  ``services.second_factors.fresh_second_factor`` — the session at acr 2 now, and a second
  factor given in this browser within 10 minutes (on ``/account/confirm-second-factor`` or
  at an app's step-up). Every change to second factors goes through
  ``require_fresh_second_factor``: a stolen or guessed password alone can neither create
  recovery codes nor bind the attacker's authenticator.
"""

from __future__ import annotations

import time

from flask import redirect, session, url_for
from werkzeug.wrappers import Response

from idp.auth.step_up import last_second_factor
from idp.extensions import db
from idp.models import SsoSession
from idp.services import second_factors, totp
from idp.services.clock import epoch, utcnow
from idp.web import current_session, deps

RECENT = second_factors.FRESH  # 10 minutes
REAUTH_KEY = "reauth"

# Where the confirmation pages may send the citizen afterwards: names, never URLs (no open
# redirect).
NEXT = {"totp_setup": "account.totp_setup", "security": "account.security"}


def signed_in() -> SsoSession | Response:
    """The session, or a redirect to sign in."""
    sso = current_session.current_sso()
    return sso if sso is not None else redirect(url_for("auth.login"))


def next_target(asked: str | None) -> str:
    return asked if asked in NEXT else "security"


def is_recent(sso: SsoSession) -> bool:
    """The password was given within ``RECENT`` (a QR sign-in has none to count)."""
    latest = epoch(sso.auth_time) if second_factors.can_step_up(sso.amr) else 0
    saved = session.get(REAUTH_KEY)
    if isinstance(saved, dict) and saved.get("sid") == sso.sid \
            and isinstance(saved.get("at"), int):
        latest = max(latest, saved["at"])
    return epoch(utcnow()) - latest <= RECENT.total_seconds()


def remember_reauth(sso: SsoSession) -> None:
    session[REAUTH_KEY] = {"sid": sso.sid, "at": int(time.time())}


def has_fresh_second_factor(sso: SsoSession) -> bool:
    return second_factors.fresh_second_factor(
        sso, last_second_factor(), has_totp=totp.is_enabled(db.session, sso.citizen_id),
        now=utcnow())


def require_fresh_second_factor(sso: SsoSession, target: str) -> Response | None:
    """None when the change may go ahead; else where to prove it first: the password (when
    not recent, or never given in this session), then a second factor."""
    if has_fresh_second_factor(sso):
        return None
    if not is_recent(sso):
        return redirect(url_for("account.confirm_password", next=target))
    return redirect(url_for("account.confirm_second_factor", next=target))


def post_limit() -> str:
    """Per-IP limit on every guessed secret of the account pages (the sign-in limit)."""
    return deps.settings().login_rate_limit
