"""``/signup``: a citizen creates a ThaiNguyen ID account (identity level 1) in three steps.

1. ``/signup`` — CCCD, name, birthdate, phone (+ e-mail, commune) → a code by SMS;
2. ``/signup/verify`` — the six-digit code (``/signup/resend`` for a new one);
3. ``/signup/password`` — the password → account created, signed in, and the app that sent
   the citizen (``?interaction=``) gets its answer.

The flow token of the code lives in this browser's session cookie only: the same form opened
in another browser is an unknown flow. The rules are in ``services.registration``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from idp import notify
from idp.auth import bp, code_flow, finish
from idp.auth.interaction_view import app_language, interaction_context
from idp.auth.register_forms import CodeForm, NewPasswordForm, RegisterForm, ResendForm
from idp.extensions import db, limiter
from idp.oidc import interaction
from idp.services import accounts, one_time_codes, registration
from idp.services import identifiers as ids
from idp.services.clock import utcnow
from idp.services.identifiers import InvalidInput
from idp.services.one_time_codes import CodeCheck
from idp.web import deps

FLOW_KEY = "register_flow"

CODE_MESSAGES = {
    CodeCheck.EXPIRED: _l("This code has expired. Please ask for a new code."),
    CodeCheck.TOO_MANY: _l("The code was entered wrongly too many times. Please ask for a new "
                           "code."),
    CodeCheck.USED: _l("This code has already been used. Please ask for a new code."),
    CodeCheck.MALFORMED: _l("The code has 6 digits. Please check the text message and type it "
                            "again."),
}
PHONE_THROTTLED = _l("This phone number has received too many codes. Please try again in "
                     "%(n)s minutes.", n=60)
PHONE_THROTTLED_TODAY = _l("This phone number has received too many codes today. Please try "
                           "again tomorrow.")


def _limit() -> str:
    return deps.settings().login_rate_limit


def _token() -> str | None:
    """The pending app request, passed along from page to page while it is valid."""
    token = request.args.get("interaction")
    return token if interaction.load(token) is not None else None


def _page(template: str, status: int = 200, **values: object) -> tuple[str, int]:
    token = _token()
    return render_template(template, **interaction_context(interaction.load(token), token),
                           **values), status


def _ended() -> tuple[str, int]:
    """Unknown flow: finished, expired long ago, or started in another browser."""
    return _page("auth/register_ended.html", 400)


def _go(endpoint: str) -> Response:
    token = _token()
    return redirect(url_for(endpoint, interaction=token) if token else url_for(endpoint))


def _in_app_language(view: Callable[..., Any]) -> Callable[..., Any]:
    """The pages speak the language the app asked for (``ui_locales``), as /login does."""
    @functools.wraps(view)
    def wrapped(*args: object, **kwargs: object) -> Any:
        pending = interaction.load(request.args.get("interaction"))
        with app_language(pending.params if pending else None):
            return view(*args, **kwargs)
    return wrapped


# Sending a code costs an SMS: the stricter per-IP limit of the code flows (SMS pumping).
@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(code_flow.REQUEST_LIMIT, methods=["POST"])
@_in_app_language
def register() -> Response | tuple[str, int]:
    form = RegisterForm()
    if request.method == "GET":
        return _page("auth/register.html", form=form)
    if not form.validate_on_submit():
        return _page("auth/register.html", 400, form=form)
    now = utcnow()
    try:
        applicant = registration.validate(
            accounts.NewCitizen(cccd=form.cccd.data, full_name=form.full_name.data,
                                birthdate=form.birthdate.data, phone=form.phone.data,
                                email=form.email.data, gender=form.gender.data,
                                commune_code=form.commune_code.data),
            today=now.date())
        issued = registration.start(db.session, applicant, secret_key=deps.settings().secret_key,
                                    now=now, ip=request.remote_addr or "")
    except InvalidInput as error:
        field = getattr(form, error.field, None)
        if field is not None:
            field.errors = [*field.errors, error.message]
        return _page("auth/register.html", 400, form=form)
    except registration.TooManyCodes as limit:
        db.session.commit()  # the audit entry
        return _page("auth/register.html", 429, form=form,
                     error=PHONE_THROTTLED_TODAY if limit.window == "day" else PHONE_THROTTLED)
    _send(issued.row, issued.code)
    db.session.commit()
    session[FLOW_KEY] = issued.flow_token
    return _go("auth.register_verify")


def _send(row, code: str) -> None:  # noqa: ANN001
    body = one_time_codes.sms_body(code, purpose_vi="xác minh số điện thoại",
                                   domain=urlsplit(deps.settings().issuer).hostname)
    notify.send_sms(db.session, phone=row.phone, purpose=registration.PURPOSE, body=body)


def _verify_page(row, status: int = 200, **values: object) -> tuple[str, int]:  # noqa: ANN001
    now = utcnow()
    return _page("auth/register_verify.html", status, form=values.pop("form", None) or CodeForm(),
                 resend_form=ResendForm(), phone=ids.mask_phone(row.phone),
                 attempts_left=one_time_codes.attempts_left(row),
                 resend_wait=one_time_codes.resend_wait(row, now=now), **values)


@bp.route("/signup/verify", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
@_in_app_language
def register_verify() -> Response | tuple[str, int]:
    flow = session.get(FLOW_KEY)
    row = one_time_codes.find(db.session, flow, registration.PURPOSE)
    if row is None:
        return _ended()
    if registration.verified(db.session, flow, now=utcnow()) is not None:
        return _go("auth.register_password")  # code already confirmed in this browser
    if row.payload is None:
        return _ended()
    form = CodeForm()
    if request.method == "GET":
        return _verify_page(row, form=form)
    if not form.validate_on_submit():
        return _verify_page(row, 400, form=form)
    check, row, taken = registration.confirm_code(
        db.session, flow, form.code.data, secret_key=deps.settings().secret_key, now=utcnow(),
        ip=request.remote_addr or "")
    db.session.commit()
    if check == CodeCheck.OK and taken is not None:
        session.pop(FLOW_KEY, None)
        return _page("auth/register_taken.html", 409)
    if check == CodeCheck.OK:
        return _go("auth.register_password")
    if row is None or check == CodeCheck.UNKNOWN:
        return _ended()
    form.code.data = ""
    if check == CodeCheck.WRONG:
        error = _l("This code is not correct. You can try %(n)s more times.",
                   n=one_time_codes.attempts_left(row))
    else:
        error = CODE_MESSAGES[check]
    return _verify_page(row, 400, form=form, error=error)


@bp.post("/signup/resend")
@limiter.limit(code_flow.REQUEST_LIMIT)
@_in_app_language
def register_resend() -> Response | tuple[str, int]:
    form = ResendForm()
    row = one_time_codes.find(db.session, session.get(FLOW_KEY), registration.PURPOSE)
    if row is None or row.payload is None or row.consumed_at is not None:
        return _ended()
    if not form.validate_on_submit():
        return _verify_page(row, 400)
    now = utcnow()
    wait = one_time_codes.resend_wait(row, now=now)
    if wait is None:
        return _verify_page(row, 429, error=_l(
            "No more codes can be sent for this registration. Please start again later."))
    if wait > 0:
        return _verify_page(row, 429, error=_l(
            "Please wait %(n)s seconds before asking for a new code.", n=wait))
    code = registration.resend(db.session, row, secret_key=deps.settings().secret_key, now=now,
                               ip=request.remote_addr or "")
    if code is None:
        db.session.commit()
        return _verify_page(row, 429, error=PHONE_THROTTLED)
    _send(row, code)
    db.session.commit()
    flash(_l("A new code has been sent. The previous code no longer works."), "info")
    return _go("auth.register_verify")


@bp.route("/signup/password", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
@_in_app_language
def register_password() -> Response | tuple[str, int]:
    flow = session.get(FLOW_KEY)
    now = utcnow()
    row = registration.verified(db.session, flow, now=now)
    if row is None:
        return _ended()
    form = NewPasswordForm()
    if request.method == "GET":
        return _page("auth/register_password.html", form=form)
    if not form.validate_on_submit():
        return _page("auth/register_password.html", 400, form=form)
    if form.password.data != form.confirm.data:
        form.confirm.errors = [_l("The two passwords are different. Please type them again.")]
        return _page("auth/register_password.html", 400, form=form)
    try:
        citizen = registration.complete(db.session, row, form.password.data,
                                        passwords=deps.passwords(), now=now,
                                        ip=request.remote_addr or "")
    except accounts.DuplicateAccount:  # registered meanwhile by another request
        db.session.rollback()
        session.pop(FLOW_KEY, None)
        return _page("auth/register_taken.html", 409)
    except InvalidInput as error:
        db.session.rollback()
        form.password.errors = [error.message]
        return _page("auth/register_password.html", 400, form=form)
    return _sign_in(citizen)


def _sign_in(citizen) -> Response:  # noqa: ANN001
    """As /login does: a session with one factor (the password just chosen, the phone just
    proved); this browser becomes the citizen's first device."""
    session.pop(FLOW_KEY, None)
    token = _token()
    if token is None:
        flash(_l("Your ThaiNguyen ID account is ready. Welcome!"), "info")
    pending = interaction.load(token) if token else None
    target = interaction.resume_url(token) if token else url_for("account.home")
    return finish.sign_in(citizen, finish.Proof(method="register", amr=["pwd"]), target=target,
                          client_id=pending.client_id if pending else None)
