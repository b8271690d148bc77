"""``/``: the signed-in landing page — who you are."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from werkzeug.wrappers import Response

from idp.account import bp
from idp.auth.forms import LogoutForm
from idp.extensions import db
from idp.services import identifiers, totp
from idp.web import current_session


@bp.get("/")
def home() -> Response | str:
    sso = current_session.current_sso()
    if sso is None:
        return redirect(url_for("auth.login"))
    citizen = sso.citizen
    commune = identifiers.describe_commune(citizen.commune_code) if citizen.commune_code else None
    return render_template(
        "account/home.html",
        citizen=citizen,
        masked_cccd=identifiers.mask_cccd(citizen.cccd),
        masked_phone=identifiers.mask_phone(citizen.phone),
        commune=commune,
        sso=sso,
        totp_enabled=totp.is_enabled(db.session, citizen.id),
        logout_form=LogoutForm(),
    )
