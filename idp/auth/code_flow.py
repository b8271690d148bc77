"""The first two steps shared by ``/unlock`` and ``/forgot-password``: an identifier, then the
SMS code (with "send a new code"). The rules are in ``services.recovery``; this module keeps
the flow token in the browser's session, passes the app's ``?interaction=`` along, and
throttles: per IP (flask-limiter, on the views) and per subject — the account, whether named
by its CCCD or its phone, or the identifier without an account (below and in
``services.recovery``, the same for both so the limits are no oracle either).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from limits import parse
from limits.strategies import MovingWindowRateLimiter
from werkzeug.wrappers import Response

from idp.auth import guard
from idp.auth.interaction_view import app_language, interaction_context
from idp.auth.recovery_forms import IdentifierForm
from idp.auth.register_forms import CodeForm, ResendForm
from idp.extensions import db, limiter
from idp.models import OneTimeCode
from idp.oidc import interaction
from idp.services import one_time_codes, recovery
from idp.services.clock import utcnow
from idp.services.one_time_codes import CodeCheck
from idp.web import deps

# Per IP (flask-limiter syntax): asking for codes, and typing them.
REQUEST_LIMIT = "10/hour;30/day"
CODE_LIMIT = "60/hour"
# Per subject (an account's CCCD and phone together; an identifier without an account).
IDENTIFIER_LIMIT = parse("5/hour")
DAILY_LIMIT = _l("Too many codes were sent for this account today. Please try again tomorrow, "
                 "or go to your commune office (UBND xã/phường) with your citizen ID card for "
                 "help.")

CODE_MESSAGES = {
    CodeCheck.EXPIRED: _l("This code has expired. Please ask for a new code."),
    CodeCheck.TOO_MANY: _l("The code was entered wrongly too many times. Please ask for a new "
                           "code."),
    CodeCheck.USED: _l("This code has already been used. Please ask for a new code."),
    CodeCheck.MALFORMED: _l("The code has 6 digits. Please check the text message and type it "
                            "again."),
    CodeCheck.LIMITED: DAILY_LIMIT,
}
ENDED = _l("This page has expired or was opened in another browser. Please start again.")


@dataclass(frozen=True)
class Screens:
    purpose: str           # recovery.UNLOCK | recovery.RECOVERY
    flow_key: str          # where the flow token lives in the browser's session
    start: str             # endpoint of the identifier page
    code: str              # endpoint of the code page
    resend: str            # endpoint of "send a new code"
    title: str             # template variables (lazy strings)
    lead: str


def token() -> str | None:
    """The pending app request, passed along from page to page while it is valid."""
    value = request.args.get("interaction")
    return value if interaction.load(value) is not None else None


def url(endpoint: str) -> str:
    value = token()
    return url_for(endpoint, interaction=value) if value else url_for(endpoint)


def go(endpoint: str) -> Response:
    return redirect(url(endpoint))


def page(template: str, status: int = 200, **values: object) -> tuple[str, int]:
    value = token()
    return render_template(template, **interaction_context(interaction.load(value), value),
                           **values), status


def ended() -> tuple[str, int]:
    """Unknown flow: finished, expired, or started in another browser."""
    return page("auth/recovery_ended.html", 400, message=ENDED)


def in_app_language(view: Callable[..., object]) -> Callable[..., object]:
    @wraps(view)
    def wrapped(*args: object, **kwargs: object) -> object:
        pending = interaction.load(request.args.get("interaction"))
        with app_language(pending.params if pending else None):
            return view(*args, **kwargs)
    return wrapped


def _identifier_wait(identifier: str, purpose: str) -> int:
    """Seconds until this subject may ask for a code again (0: now; counted)."""
    key = purpose + ":" + recovery.subject_key(db.session, identifier,
                                               secret_key=deps.settings().secret_key)
    strategy = MovingWindowRateLimiter(limiter.limiter.storage)
    try:
        if strategy.hit(IDENTIFIER_LIMIT, "tnid-code", key):
            return 0
        reset_at = strategy.get_window_stats(IDENTIFIER_LIMIT, "tnid-code", key).reset_time
    except Exception:  # storage down: the per-IP limit still holds
        return 0
    return max(1, int(reset_at - time.time() + 0.999))


def start_view(screens: Screens) -> Response | tuple[str, int]:
    form = IdentifierForm()
    values = {"form": form, "title": screens.title, "lead": screens.lead,
              "action": url(screens.start)}
    if request.method == "GET":
        return page("auth/recovery_start.html", **values)
    if not form.validate_on_submit():
        return page("auth/recovery_start.html", 400, **values)
    wait = _identifier_wait(form.identifier.data, screens.purpose)
    if wait:
        return page("auth/recovery_start.html", 429, error=guard.requests_wait_message(wait),
                    **values)
    try:
        flow = recovery.start(db.session, form.identifier.data, purpose=screens.purpose,
                              secret_key=deps.settings().secret_key, now=utcnow(),
                              ip=request.remote_addr or "", domain=_domain(),
                              counters=guard.counters())
    except recovery.DailyLimit:
        db.session.commit()  # the audit entry
        return page("auth/recovery_start.html", 429, error=DAILY_LIMIT, **values)
    db.session.commit()
    session[screens.flow_key] = flow
    return go(screens.code)


def _domain() -> str | None:
    return urlsplit(deps.settings().issuer).hostname


def _code_page(screens: Screens, row: OneTimeCode, status: int = 200,
               **values: object) -> tuple[str, int]:
    return page("auth/recovery_code.html", status,
                form=values.pop("form", None) or CodeForm(), resend_form=ResendForm(),
                title=screens.title, action=url(screens.code), resend_action=url(screens.resend),
                start_url=url(screens.start), attempts_left=one_time_codes.attempts_left(row),
                resend_wait=one_time_codes.resend_wait(row, now=utcnow()), **values)


def code_view(screens: Screens, done: Callable[[recovery.Flow], Response]
              ) -> Response | tuple[str, int]:
    """The code page; ``done`` continues once the code was right."""
    flow_token = session.get(screens.flow_key)
    row = one_time_codes.find(db.session, flow_token, screens.purpose)
    if row is None:
        return ended()
    if row.consumed_at is not None:
        verified = recovery.verified_flow(db.session, flow_token, screens.purpose, now=utcnow())
        return done(verified) if verified is not None else ended()
    form = CodeForm()
    if request.method == "GET":
        return _code_page(screens, row, form=form)
    if not form.validate_on_submit():
        return _code_page(screens, row, 400, form=form)
    now = utcnow()
    check, row = recovery.check_code(db.session, flow_token, screens.purpose, form.code.data,
                                     secret_key=deps.settings().secret_key, now=now,
                                     ip=request.remote_addr or "", counters=guard.counters())
    db.session.commit()
    if row is None or check is CodeCheck.UNKNOWN:
        return ended()
    if check is CodeCheck.OK:
        verified = recovery.verified_flow(db.session, flow_token, screens.purpose, now=now)
        return done(verified) if verified is not None else ended()
    form.code.data = ""
    if check is CodeCheck.WRONG:
        error = _l("This code is not correct. You can try %(n)s more times.",
                   n=one_time_codes.attempts_left(row))
    else:
        error = CODE_MESSAGES[check]
    return _code_page(screens, row, 429 if check is CodeCheck.LIMITED else 400, form=form,
                      error=error)


def resend_view(screens: Screens) -> Response | tuple[str, int]:
    form = ResendForm()
    row = one_time_codes.find(db.session, session.get(screens.flow_key), screens.purpose)
    if row is None or row.consumed_at is not None:
        return ended()
    if not form.validate_on_submit():
        return _code_page(screens, row, 400)
    now = utcnow()
    wait = one_time_codes.resend_wait(row, now=now)
    if wait is None:
        return _code_page(screens, row, 429, error=_l(
            "No more codes can be sent for this request. Please start again later."))
    if wait > 0:
        return _code_page(screens, row, 429, error=_l(
            "Please wait %(n)s seconds before asking for a new code.", n=wait))
    try:
        recovery.resend(db.session, row, secret_key=deps.settings().secret_key, now=now,
                        domain=_domain(), counters=guard.counters())
    except recovery.DailyLimit:
        return _code_page(screens, row, 429, error=DAILY_LIMIT)
    db.session.commit()
    flash(_l("A new code has been sent. The previous code no longer works."), "info")
    return go(screens.code)
