"""The staff console's session: who is signed in, for how long, and with what rights.

A console session lives in the signed Flask session under ``STAFF_KEY`` — separate from the
citizen's SSO session, so a staff member's citizen account and console never mix. It holds the
account id, the account's ``session_version`` when it was issued (bumping it ends every
console session of that account: sign-out, disable, password or TOTP reset), the time of the
sign-in (``iat``) and the time of the last request (``seen``). After ``IDLE_TIMEOUT`` without
a request the staff member signs in again (shorter than citizens': these accounts can change
thousands of citizens), and in any case ``MAX_LIFETIME`` after the sign-in: a copied cookie
that keeps being used cannot live for ever (``seen`` moves on every request, ``iat`` never).
A cookie without ``iat`` (made before it existed) is not accepted.

Only a full sign-in (password + TOTP) creates a console session; the half-way state (password
right, TOTP pending or being enrolled) is the sign-in screens' business, not this module's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import flash, g, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l

from idp.extensions import db
from idp.models import StaffAccount
from idp.services import staff_access
from idp.services.staff_access import Permission

STAFF_KEY = "staff"
IDLE_TIMEOUT = timedelta(minutes=15)
MAX_LIFETIME = timedelta(hours=8)  # a working day; then password + code again

F = TypeVar("F", bound=Callable[..., Any])


def sign_in(staff: StaffAccount) -> None:
    now = int(time.time())
    session[STAFF_KEY] = {"id": str(staff.id), "v": staff.session_version, "iat": now,
                          "seen": now}
    g.staff = staff


def sign_out() -> None:
    session.pop(STAFF_KEY, None)
    g.staff = None


def current_staff() -> StaffAccount | None:
    """The signed-in, active staff member, or None (expired, disabled, revoked or absent).
    Each call within a request returns the same object; a live session's clock is moved."""
    if "staff" in g:
        return cast(StaffAccount | None, g.staff)
    g.staff = _load()
    return g.staff


def _load() -> StaffAccount | None:
    saved = session.get(STAFF_KEY)
    if not isinstance(saved, dict):
        return None
    now = int(time.time())
    seen, issued = saved.get("seen"), saved.get("iat")
    if not isinstance(issued, int) or not 0 <= now - issued <= MAX_LIFETIME.total_seconds():
        session.pop(STAFF_KEY, None)
        if isinstance(issued, int):
            g.staff_expired = "lifetime"
        return None
    if not isinstance(seen, int) or now - seen > IDLE_TIMEOUT.total_seconds():
        session.pop(STAFF_KEY, None)
        g.staff_expired = "idle"
        return None
    try:
        staff_id = uuid.UUID(str(saved.get("id")))
    except ValueError:
        session.pop(STAFF_KEY, None)
        return None
    staff = db.session.get(StaffAccount, staff_id)
    if staff is None or not staff.is_active or staff.session_version != saved.get("v"):
        session.pop(STAFF_KEY, None)
        return None
    if now - seen >= 30:  # rewrite the cookie at most twice a minute
        session[STAFF_KEY] = {**saved, "seen": now}
    return staff


def staff_required(permission: Permission | None = None) -> Callable[[F], F]:
    """Decorate a console view: sign-in required (redirects to /admin/login, remembering a
    local path to come back to), and the permission when given (403 + audit entry)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            staff = current_staff()
            if staff is None:
                expired = g.get("staff_expired")
                if expired == "idle":
                    flash(_l("You were signed out after 15 minutes without activity."), "info")
                elif expired == "lifetime":
                    flash(_l("You were signed out 8 hours after signing in. Please sign in "
                             "again."), "info")
                target = request.full_path if request.method == "GET" else None
                return redirect(url_for("admin.login", next=target))
            if permission is not None:
                staff_access.require(staff, permission)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def safe_next(target: str | None) -> str | None:
    """A path inside the console to return to after sign-in, never another site."""
    if not target or not target.startswith("/admin") or target.startswith("//") \
            or "\\" in target or "\r" in target or "\n" in target:
        return None
    return target
