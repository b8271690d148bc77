"""``/select-account`` (``prompt=select_account``): continue as the signed-in citizen, or sign
out and use another account. One browser holds one ThaiNguyen ID session."""

from __future__ import annotations

from flask import make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from idp.auth import bp
from idp.auth.consent import ConsentForm
from idp.auth.interaction_view import app_language, expired_page, interaction_context
from idp.auth.sign_out import sign_out_current
from idp.oidc import interaction
from idp.services import identifiers
from idp.web import current_session


@bp.route("/select-account", methods=["GET", "POST"])
def select_account() -> Response | str | tuple[str, int]:
    token = request.args.get("interaction")
    pending = interaction.load(token)
    if pending is None:
        return expired_page()
    with app_language(pending.params):
        return _select_account(token, pending)


def _select_account(token: str, pending: interaction.Interaction) -> Response | str | tuple[
        str, int]:
    sso = current_session.current_sso()
    if sso is None:
        return redirect(url_for("auth.login", interaction=token))
    form = ConsentForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            done = interaction.mark_done(pending, "select_account")
            if request.form.get("choice") == "continue":
                return redirect(interaction.resume_url(done))
            # One browser holds one session: another account means signing this one out.
            return sign_out_current(make_response(redirect(url_for("auth.login",
                                                                   interaction=done))))
        status = 400
    return render_template("auth/select_account.html", form=form, citizen=sso.citizen,
                           masked_cccd=identifiers.mask_cccd(sso.citizen.cccd),
                           **interaction_context(pending, token)), status
