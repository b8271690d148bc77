"""``/logout``: a confirmation page (GET) and the sign-out itself (POST)."""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from idp.auth import bp
from idp.auth.forms import LogoutForm
from idp.auth.sign_out import sign_out_current
from idp.web import current_session


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Response | str:
    form = LogoutForm()
    if request.method == "GET":
        if current_session.current_sso() is None:
            return redirect(url_for("auth.login"))
        return render_template("auth/logout.html", form=form)
    if not form.validate_on_submit():
        return render_template("auth/logout.html", form=form), 400
    flash(_l("You have signed out."), "info")
    return sign_out_current(make_response(redirect(url_for("auth.login"))))
