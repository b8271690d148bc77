"""Web side of the brute-force defence: the rate-limit storage as a throttle counter store,
the device cookie, and the "please wait" messages the sign-in screens share."""

from __future__ import annotations

from flask import Response, request
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from idp.extensions import limiter
from idp.services import devices, throttle
from idp.web import deps

DEVICE_COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie (RFC 6265bis)

UNLOCK_REQUIRED = _l("This account is temporarily locked after too many wrong attempts. "
                     "To unlock it, get a verification code by SMS.")


def counters() -> throttle.LimiterCounters:
    """Counters in flask-limiter's storage (Redis when configured; its in-memory fallback
    while Redis is down)."""
    return throttle.LimiterCounters(limiter.limiter.storage)


def wait_message(seconds: int) -> str:
    """ "Vui lòng thử lại sau N giây/phút" (glossary: try again later)."""
    if seconds < 60:
        return ngettext("Too many wrong attempts. Please try again in %(num)d second.",
                        "Too many wrong attempts. Please try again in %(num)d seconds.",
                        seconds)
    minutes = (seconds + 59) // 60
    return ngettext("Too many wrong attempts. Please try again in %(num)d minute.",
                    "Too many wrong attempts. Please try again in %(num)d minutes.", minutes)


def requests_wait_message(seconds: int) -> str:
    """Too many codes asked for one identifier."""
    minutes = max(1, (seconds + 59) // 60)
    return ngettext("Too many codes were asked for this number. Please try again in %(num)d "
                    "minute.",
                    "Too many codes were asked for this number. Please try again in %(num)d "
                    "minutes.", minutes)


def device_cookie_name() -> str:
    return "__Host-tnid_device" if deps.settings().uses_https else "tnid_device"


def device_token() -> str | None:
    return devices.valid_token(request.cookies.get(device_cookie_name()))


def set_device_cookie(response: Response, token: str) -> None:
    response.set_cookie(device_cookie_name(), token, max_age=DEVICE_COOKIE_MAX_AGE,
                        secure=deps.settings().uses_https, httponly=True, samesite="Lax",
                        path="/")
