"""``/account/two-step/setup``: add an authenticator app — scan the QR code (or type the key),
then type one code from the app; only a correct code turns it on. Ten recovery codes are
shown once right after.

Needs a fresh second factor (``guard.require_fresh_second_factor``: the password when not
recent, then an SMS code to the phone on record): whoever knows the password, or walks up
to an unlocked computer, must not bind their own authenticator to the account. The citizen
is told by SMS when it is turned on.
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from idp.account import bp
from idp.account.forms import TotpConfirmForm
from idp.account.guard import post_limit, require_fresh_second_factor, signed_in
from idp.account.qr_svg import qr_svg
from idp.account.security import show_codes
from idp.auth.second_factor import message_for, wait_message
from idp.extensions import db, limiter
from idp.models import SsoSession
from idp.services import account_security, throttle, totp
from idp.services.clock import utcnow
from idp.services.second_factors import Method, Outcome, Reason
from idp.services.totp import TotpCheck
from idp.web import deps


@bp.route("/account/two-step/setup", methods=["GET", "POST"])
@limiter.limit(post_limit, methods=["POST"])
def totp_setup() -> Response | str | tuple[str, int]:
    sso = signed_in()
    if not isinstance(sso, SsoSession):
        return sso
    citizen = sso.citizen
    if totp.is_enabled(db.session, citizen.id):
        return redirect(url_for("account.security"))
    confirm = require_fresh_second_factor(sso, "totp_setup")
    if confirm is not None:
        return confirm
    form = TotpConfirmForm()
    now, secret_key = utcnow(), deps.settings().secret_key
    error, status = None, 200
    if request.method == "POST":
        if not form.validate_on_submit():
            error, status = message_for(Method.TOTP, Outcome(Reason.MALFORMED)), 400
        else:
            verdict = throttle.check(citizen, now=now)
            if not verdict.allowed:
                error, status = (message_for(Method.TOTP, Outcome(Reason.LOCKED))
                                 if verdict.unlock_required
                                 else wait_message(verdict.retry_after)), 429
            else:
                result = totp.confirm_enrolment(db.session, citizen, form.code.data,
                                                secret_key=secret_key, now=now)
                if result is TotpCheck.OK:
                    throttle.record_success(citizen)
                    codes = account_security.totp_enabled(db.session, citizen,
                                                          ip=request.remote_addr, now=now)
                    db.session.commit()
                    return show_codes(codes, first=True)
                if result is TotpCheck.WRONG or result is TotpCheck.REPLAYED:
                    throttle.record_failure(db.session, citizen, kind="totp",
                                            ip=request.remote_addr, now=now)
                db.session.commit()
                error, status = message_for(Method.TOTP, Outcome(Reason(result.value))), 400
                if result is TotpCheck.NOT_ENABLED:  # the pending key went stale: a new one
                    error = _("This setup took too long. Scan the new QR code and try again.")
            form.code.data = ""
    enrolment = totp.start_enrolment(db.session, citizen, secret_key=secret_key, now=now)
    db.session.commit()
    return render_template(
        "account/totp_setup.html", form=form, error=error,
        qr=qr_svg(enrolment.uri, label=_("QR code to scan with your authenticator app")),
        key_groups=enrolment.secret_groups, label=totp.masked_label(citizen),
    ), status
