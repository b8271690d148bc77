"""Staff sign-in: ``/admin/login`` (username + password), then ``/admin/login/code`` (a code
from the authenticator app) or, at the first sign-in or after a TOTP reset,
``/admin/login/enrol`` (scan a QR code drawn on the server, confirm with a code). Only after
the second step is a console session created (``guard.sign_in``).

The half-way state (password right, TOTP pending) lives in the signed session under
``PENDING_KEY`` for ``PENDING_LIFETIME`` and is bound to the account's ``session_version``:
a TOTP reset or a disable in the meantime voids it. It opens no console page (``guard``
only knows ``STAFF_KEY``). Staff sign-in never reads or writes the citizen's SSO session.

Brute-force defence: ``services.staff_accounts`` (growing delays per account and per unknown
username; a browser that signed in to the account before — the *staff* device cookie set
here after a full sign-in, never the citizens' — on its own counter, so strangers' guesses
never make the staff member wait) plus the per-IP limit below, as on the citizens' ``/login``.

Signing out ends every console session of the account, on every device (the session is a
client-side cookie: bumping ``session_version`` is what makes a copy of it worthless).
"""

from __future__ import annotations

import time
import uuid

from flask import flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from idp.account.qr_svg import qr_svg
from idp.admin import bp, guard
from idp.admin.login_forms import StaffCodeForm, StaffLoginForm, StaffLogoutForm
from idp.auth.guard import DEVICE_COOKIE_MAX_AGE, counters, wait_message
from idp.auth.second_factor import MESSAGES, Method, Reason
from idp.extensions import db, limiter
from idp.models import StaffAccount
from idp.services import staff_accounts as accounts
from idp.services.clock import utcnow
from idp.web import deps

PENDING_KEY = "staff_pending"
PENDING_LIFETIME = 5 * 60  # seconds: long enough to open the app, not to leave a desk

GENERIC_FAILURE = _l("The username or the password is not correct. Please check and try "
                     "again.")
START_AGAIN = _l("Your sign-in took too long. Please sign in again.")


def _limit() -> str:
    return deps.settings().login_rate_limit


def device_cookie_name() -> str:
    """The staff device cookie: its own name, so it never mixes with the citizens'."""
    return "__Host-tnid_staff_device" if deps.settings().uses_https else "tnid_staff_device"


def _device_cookie() -> str | None:
    return request.cookies.get(device_cookie_name())


def _after_sign_in(target: str | None) -> str:
    return guard.safe_next(target) or url_for("admin.home")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
def login() -> Response | str | tuple[str, int]:
    form = StaffLoginForm()
    next_path = guard.safe_next(request.args.get("next"))
    page = {"form": form, "next": next_path}
    if request.method == "GET":
        if guard.current_staff() is not None:
            return redirect(_after_sign_in(next_path))
        return render_template("admin/login.html", **page)
    if not form.validate_on_submit():
        return render_template("admin/login.html", **page), 400

    now, ip = utcnow(), request.remote_addr
    attempt = accounts.authenticate(
        db.session, form.username.data, form.password.data, passwords=deps.passwords(),
        counters=counters(), secret_key=deps.settings().secret_key, ip=ip, now=now,
        device_cookie=_device_cookie())
    db.session.commit()  # a failure's counter and audit entry, or a rehash
    form.password.data = ""
    if attempt.outcome is accounts.Outcome.THROTTLED:
        response = make_response(render_template(
            "admin/login.html", error=wait_message(attempt.retry_after), **page), 429)
        response.headers["Retry-After"] = str(attempt.retry_after)
        return response
    if not attempt.ok or attempt.staff is None:
        return render_template("admin/login.html", error=GENERIC_FAILURE, **page), 401

    staff = attempt.staff
    guard.sign_out()  # a previous console session in this browser ends here
    session[PENDING_KEY] = {"id": str(staff.id), "v": staff.session_version,
                            "at": int(time.time()), "next": next_path}
    step = "admin.login_code" if accounts.is_enrolled(staff) else "admin.login_enrol"
    return redirect(url_for(step))


def _pending() -> StaffAccount | None:
    """The account whose password was right a moment ago, or None (absent, expired,
    disabled, or its sessions were ended since)."""
    saved = session.get(PENDING_KEY)
    if not isinstance(saved, dict):
        return None
    at = saved.get("at")
    if not isinstance(at, int) or not 0 <= time.time() - at <= PENDING_LIFETIME:
        session.pop(PENDING_KEY, None)
        return None
    try:
        staff = db.session.get(StaffAccount, uuid.UUID(str(saved.get("id"))))
    except ValueError:
        staff = None
    if staff is None or not staff.is_active or staff.session_version != saved.get("v"):
        session.pop(PENDING_KEY, None)
        return None
    return staff


def _start_again() -> Response:
    flash(START_AGAIN, "info")
    return redirect(url_for("admin.login"))


def _finish(staff: StaffAccount) -> Response:
    """Open the console session and make this browser a known one for the account."""
    saved = session.pop(PENDING_KEY, {})
    guard.sign_in(staff)
    response = redirect(_after_sign_in(saved.get("next") if isinstance(saved, dict) else None))
    settings = deps.settings()
    response.set_cookie(
        device_cookie_name(),
        accounts.remember_device(staff, _device_cookie(), secret_key=settings.secret_key),
        max_age=DEVICE_COOKIE_MAX_AGE, secure=settings.uses_https, httponly=True,
        samesite="Lax", path="/")
    return response


def _refusal(attempt: accounts.Attempt) -> tuple[str, int, dict[str, str]]:
    """(message, status, headers) for a refused code."""
    if attempt.outcome is accounts.Outcome.THROTTLED:
        return (wait_message(attempt.retry_after), 429,
                {"Retry-After": str(attempt.retry_after)})
    if attempt.outcome is accounts.Outcome.MALFORMED:
        return str(MESSAGES[(Method.TOTP, Reason.MALFORMED)]), 400, {}
    if attempt.outcome is accounts.Outcome.REPLAYED:
        return str(MESSAGES[(Method.TOTP, Reason.REPLAYED)]), 401, {}
    return str(MESSAGES[(Method.TOTP, Reason.WRONG)]), 401, {}


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
def login_code() -> Response | str | tuple[str, int] | tuple[str, int, dict[str, str]]:
    staff = _pending()
    if staff is None:
        return _start_again()
    if not accounts.is_enrolled(staff):
        return redirect(url_for("admin.login_enrol"))
    form = StaffCodeForm()
    if request.method == "GET":
        return render_template("admin/login_code.html", form=form, staff=staff)
    if not form.validate_on_submit():
        return render_template("admin/login_code.html", form=form, staff=staff), 400
    attempt = accounts.verify_totp(db.session, staff, form.code.data,
                                   secret_key=deps.settings().secret_key,
                                   ip=request.remote_addr, now=utcnow(), counters=counters(),
                                   device_cookie=_device_cookie())
    db.session.commit()
    if attempt.ok:
        return _finish(staff)
    form.code.data = ""
    error, status, headers = _refusal(attempt)
    return render_template("admin/login_code.html", form=form, staff=staff,
                           error=error), status, headers


@bp.route("/login/enrol", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
def login_enrol() -> Response | str | tuple[str, int] | tuple[str, int, dict[str, str]]:
    staff = _pending()
    if staff is None:
        return _start_again()
    if accounts.is_enrolled(staff):
        return redirect(url_for("admin.login_code"))
    form = StaffCodeForm()
    secret_key = deps.settings().secret_key
    error, status, headers = None, 200, {}
    if request.method == "POST":
        if not form.validate_on_submit():
            status = 400
        else:
            attempt = accounts.confirm_enrolment(db.session, staff, form.code.data,
                                                 secret_key=secret_key,
                                                 ip=request.remote_addr, now=utcnow())
            db.session.commit()
            if attempt.ok:
                flash(_("Your authenticator app is set up. From now on, sign in with your "
                        "password and a code from the app."), "success")
                return _finish(staff)
            error, status, headers = _refusal(attempt)
        form.code.data = ""
    enrolment = accounts.start_enrolment(db.session, staff, secret_key=secret_key)
    db.session.commit()
    return render_template(
        "admin/login_enrol.html", form=form, error=error, staff=staff,
        qr=qr_svg(enrolment.uri, label=_("QR code to scan with your authenticator app")),
        key_groups=enrolment.secret_groups, label=accounts.account_label(staff),
    ), status, headers


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    form = StaffLogoutForm()
    if form.validate_on_submit():
        staff = guard.current_staff()
        if staff is not None:
            # Every console session of the account ends, copies of this cookie included.
            accounts.sign_out(db.session, staff, ip=request.remote_addr, now=utcnow())
            db.session.commit()
        guard.sign_out()
        session.pop(PENDING_KEY, None)
        flash(_("You have signed out of the staff console on this device and on every other "
                "device where you were signed in."), "info")
    return redirect(url_for("admin.login"))
