"""``/account/security``: the password, two-step sign-in (authenticator app and recovery
codes), and signing out everywhere."""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from idp.account import bp
from idp.account.forms import (
    PasswordChangeForm,
    RegenerateCodesForm,
    SignOutEverywhereForm,
    TotpOffForm,
)
from idp.account.guard import (
    has_fresh_second_factor,
    post_limit,
    require_fresh_second_factor,
    signed_in,
)
from idp.auth.second_factor import message_for
from idp.extensions import db, limiter
from idp.models import SsoSession
from idp.services import account_security, recovery_codes, totp
from idp.services.clock import utcnow
from idp.services.identifiers import InvalidInput
from idp.services.second_factors import Method, Outcome, Reason, check_password
from idp.web import current_session, deps

WRONG_PASSWORD = _l("The password is not correct.")
PASSWORD_CHANGED = _l("Your password has been changed. You were signed out on your other "
                      "devices.")
SIGNED_OUT_EVERYWHERE = _l("You have been signed out on every device.")
TOTP_OFF = _l("Two-step sign-in with an authenticator app is now off.")


def render_security(sso: SsoSession, status: int = 200, **forms: FlaskForm) -> tuple[str, int]:
    citizen = sso.citizen
    enabled = totp.is_enabled(db.session, citizen.id)
    return render_template(
        "account/security.html", citizen=citizen, sso=sso, totp_enabled=enabled,
        recovery_left=recovery_codes.remaining(db.session, citizen.id) if enabled else 0,
        password_form=forms.get("password_form") or PasswordChangeForm(formdata=None),
        totp_off_form=forms.get("totp_off_form") or TotpOffForm(formdata=None, prefix="off"),
        codes_form=forms.get("codes_form") or RegenerateCodesForm(formdata=None, prefix="codes"),
        everywhere_form=SignOutEverywhereForm(formdata=None),
        confirmed=has_fresh_second_factor(sso),
    ), status


def password_message(outcome: Outcome) -> str:
    if outcome.reason in (Reason.THROTTLED, Reason.LOCKED):
        return message_for(Method.TOTP, outcome)
    return str(WRONG_PASSWORD)


@bp.get("/account/security")
def security() -> Response | tuple[str, int]:
    sso = signed_in()
    if not isinstance(sso, SsoSession):
        return sso
    return render_security(sso)


@bp.post("/account/password")
@limiter.limit(post_limit)
def change_password() -> Response | tuple[str, int]:
    sso = signed_in()
    if not isinstance(sso, SsoSession):
        return sso
    form = PasswordChangeForm()
    if not form.validate_on_submit():
        return render_security(sso, 400, password_form=form)
    citizen, now = sso.citizen, utcnow()
    checked = check_password(db.session, citizen, form.current_password.data,
                             passwords=deps.passwords(), ip=request.remote_addr, now=now)
    if not checked.ok:
        db.session.commit()
        form.current_password.errors = [password_message(checked)]
        return render_security(sso, 429 if checked.reason is Reason.THROTTLED else 400,
                               password_form=form)
    from idp.oidc import backchannel, context

    try:
        deliveries = account_security.change_password(
            db.session, citizen, form.new_password.data, current=sso,
            passwords=deps.passwords(), signer=context.signer(),
            pairwise_secret=context.pairwise_secret(), ip=request.remote_addr, now=now)
    except InvalidInput as refused:
        db.session.commit()  # the password check's reset of the failure count
        form.new_password.errors = [str(refused.message)]
        return render_security(sso, 400, password_form=form)
    db.session.commit()
    backchannel.send(deliveries)
    flash(str(PASSWORD_CHANGED), "info")
    return redirect(url_for("account.security"))


@bp.post("/account/sign-out-everywhere")
def sign_out_everywhere() -> Response | tuple[str, int]:
    sso = signed_in()
    if not isinstance(sso, SsoSession):
        return sso
    if not SignOutEverywhereForm().validate_on_submit():
        return render_security(sso, 400)
    from idp.oidc import backchannel, context

    deliveries = account_security.sign_out_everywhere(
        db.session, sso.citizen, signer=context.signer(),
        pairwise_secret=context.pairwise_secret(), ip=request.remote_addr, now=utcnow())
    db.session.commit()
    backchannel.send(deliveries)
    flash(str(SIGNED_OUT_EVERYWHERE), "info")
    response = make_response(redirect(url_for("auth.login")))
    current_session.clear_cookie(response)
    return response


@bp.post("/account/two-step/off")
@limiter.limit(post_limit)
def totp_off() -> Response | tuple[str, int]:
    """Needs a fresh second factor (the guard: the app's code or a recovery code) and the
    password here: a stolen session or password alone cannot remove it."""
    sso = signed_in()
    if not isinstance(sso, SsoSession):
        return sso
    form = TotpOffForm(prefix="off")
    if not form.validate_on_submit():
        return render_security(sso, 400, totp_off_form=form)
    confirm = require_fresh_second_factor(sso, "security")
    if confirm is not None:
        return confirm
    citizen, now = sso.citizen, utcnow()
    checked = check_password(db.session, citizen, form.password.data,
                             passwords=deps.passwords(), ip=request.remote_addr, now=now)
    if not checked.ok:
        db.session.commit()
        form.password.errors = [password_message(checked)]
        return render_security(sso, 429 if checked.reason is Reason.THROTTLED else 400,
                               totp_off_form=form)
    account_security.turn_off_totp(db.session, citizen, ip=request.remote_addr, now=now)
    db.session.commit()
    flash(str(TOTP_OFF), "info")
    return redirect(url_for("account.security"))


@bp.post("/account/recovery-codes")
@limiter.limit(post_limit)
def regenerate_codes() -> Response | str | tuple[str, int]:
    """A new batch, shown once on this response (never stored in clear, never shown again).
    Recovery codes are a second factor: only a fresh second factor may make new ones."""
    sso = signed_in()
    if not isinstance(sso, SsoSession):
        return sso
    citizen = sso.citizen
    form = RegenerateCodesForm(prefix="codes")
    if not totp.is_enabled(db.session, citizen.id):
        return redirect(url_for("account.security"))
    if not form.validate_on_submit():
        return render_security(sso, 400, codes_form=form)
    confirm = require_fresh_second_factor(sso, "security")
    if confirm is not None:
        return confirm
    codes = account_security.regenerate_recovery_codes(db.session, citizen,
                                                       ip=request.remote_addr, now=utcnow())
    db.session.commit()
    return show_codes(codes, first=False)


def show_codes(codes: list[str], *, first: bool) -> Response:
    response = make_response(render_template("account/recovery_codes.html", codes=codes,
                                             first=first))
    response.headers["Cache-Control"] = "no-store"  # never from the back button's cache
    return response
