"""``/account/confirm-password``: type the password again before a security-sensitive change
when the session has no recent password (``guard.RECENT``; a QR sign-in has none). Then on
to the second factor (``confirm_second_factor``) unless one was just given."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from idp.account import bp
from idp.account.forms import ConfirmPasswordForm
from idp.account.guard import (
    NEXT,
    has_fresh_second_factor,
    next_target,
    post_limit,
    remember_reauth,
    signed_in,
)
from idp.account.security import password_message
from idp.extensions import db, limiter
from idp.models import SsoSession
from idp.services.clock import utcnow
from idp.services.second_factors import Reason, check_password
from idp.web import deps


@bp.route("/account/confirm-password", methods=["GET", "POST"])
@limiter.limit(post_limit, methods=["POST"])
def confirm_password() -> Response | str | tuple[str, int]:
    sso = signed_in()
    if not isinstance(sso, SsoSession):
        return sso
    target = next_target(request.args.get("next"))
    form = ConfirmPasswordForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            checked = check_password(db.session, sso.citizen, form.password.data,
                                     passwords=deps.passwords(), ip=request.remote_addr,
                                     now=utcnow())
            db.session.commit()
            if checked.ok:
                remember_reauth(sso)
                if has_fresh_second_factor(sso):
                    return redirect(url_for(NEXT[target]))
                return redirect(url_for("account.confirm_second_factor", next=target))
            form.password.errors = [password_message(checked)]
            if checked.reason in (Reason.THROTTLED, Reason.LOCKED):
                status = 429
    return render_template("account/confirm_password.html", form=form, next=target), status
