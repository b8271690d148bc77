"""``/logout``: a confirmation page (GET) and the sign-out itself (POST)."""

from __future__ import annotations

import logging

from flask import make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from idp.auth import bp
from idp.auth.forms import LogoutForm
from idp.auth.login import flash_signed_out
from idp.extensions import db
from idp.services import sso_sessions
from idp.web import current_session

log = logging.getLogger("tnid.audit")


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Response | str:
    form = LogoutForm()
    if request.method == "GET":
        if current_session.current_sso() is None:
            return redirect(url_for("auth.login"))
        return render_template("auth/logout.html", form=form)
    if not form.validate_on_submit():
        return render_template("auth/logout.html", form=form), 400
    sso = current_session.current_sso()
    sid = sso.sid if sso is not None else None
    token = current_session.cookie_token()
    if token:
        sso_sessions.end_session(db.session, token)
        db.session.commit()
    if sid is not None:
        log.info("account:logout", extra={"ip": request.remote_addr, "sid": sid})
    flash_signed_out()
    response = make_response(redirect(url_for("auth.login")))
    current_session.clear_cookie(response)
    return response
