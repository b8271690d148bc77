"""``/select-account`` (``prompt=select_account``): continue as the signed-in citizen, or sign
out and use another account. One browser holds one ThaiNguyen ID session."""

from __future__ import annotations

from flask import make_response, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from idp.auth import bp
from idp.auth.consent import ConsentForm
from idp.auth.interaction_view import interaction_context
from idp.auth.sign_out import sign_out_current
from idp.oidc import interaction
from idp.services import identifiers
from idp.web import current_session


@bp.route("/select-account", methods=["GET", "POST"])
def select_account() -> Response | str:
    token = request.args.get("interaction")
    pending = interaction.load(token)
    if pending is None:
        return render_template("errors/error.html", status=400, message=_l(
            "This sign-in request has expired. Please go back to the app and start again.")), 400
    sso = current_session.current_sso()
    if sso is None:
        return redirect(url_for("auth.login", interaction=token))
    form = ConsentForm()
    if request.method == "POST" and form.validate_on_submit():
        if request.form.get("choice") == "continue":
            return redirect(interaction.resume_url(interaction.mark_done(pending,
                                                                         "select_account")))
        target = url_for("auth.login", interaction=interaction.mark_done(pending,
                                                                          "select_account"))
        return sign_out_current(make_response(redirect(target)))
    return render_template("auth/select_account.html", form=form, citizen=sso.citizen,
                           masked_cccd=identifiers.mask_cccd(sso.citizen.cccd),
                           **interaction_context(pending, token))
