"""``/consent``: the citizen sees exactly which personal data an app will receive, and agrees
or refuses. The decision is remembered per app for that set of data; more data asks again."""

from __future__ import annotations

import logging

from flask import redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from idp.auth import bp
from idp.auth.interaction_view import app_language, expired_page, interaction_context
from idp.extensions import db
from idp.models import Citizen, SsoSession
from idp.oidc import interaction
from idp.services import consents, identifiers
from idp.services.clock import utcnow
from idp.web import current_session, i18n

log = logging.getLogger("tnid.audit")


class ConsentForm(FlaskForm):
    """Only the CSRF token; the decision is the button pressed."""


def data_items(citizen: Citizen, scopes: list[str]) -> list[tuple[str, str]]:
    """(what, the citizen's own value) for every piece of data the scopes release."""
    items: list[tuple[object, str]] = []
    if "profile" in scopes:
        items += [(_l("Full name"), citizen.full_name),
                  (_l("Date of birth"), i18n.format_date(citizen.birthdate)),
                  (_l("Gender"), _l("Male") if citizen.gender == "male" else _l("Female"))]
    if "citizen" in scopes:
        items += [(_l("Citizen ID number (CCCD)"), citizen.cccd),
                  (_l("Identity level"), _l("Level 2 (verified in person)")
                   if citizen.identity_level == 2 else _l("Level 1 (self-registered)"))]
    if "phone" in scopes:
        items.append((_l("Phone number"), "0" + citizen.phone[3:]))
    if "email" in scopes and citizen.email:
        items.append((_l("Email"), citizen.email))
    if "address" in scopes and citizen.commune_code:
        items.append((_l("Commune / ward"), identifiers.describe_commune(citizen.commune_code)))
    if "offline_access" in scopes:
        items.append((_l("Stay connected"),
                      _l("The app may keep using this data when you are not using it")))
    return [(str(label), str(value)) for label, value in items]


@bp.route("/consent", methods=["GET", "POST"])
def consent() -> Response | str | tuple[str, int]:
    token = request.args.get("interaction")
    pending = interaction.load(token)
    if pending is None:
        return expired_page()
    with app_language(pending.params):
        return _consent(token, pending)


def _consent(token: str, pending: interaction.Interaction) -> Response | str | tuple[str, int]:
    sso = current_session.current_sso()
    if sso is None:
        return redirect(url_for("auth.login", interaction=token))
    page = interaction_context(pending, token)
    client = page["client"]
    if client is None:
        return render_template("errors/error.html", status=400, message=_l(
            "This app is no longer available.")), 400
    # The same rule as the authorization endpoint (idp.oidc.authorize_checks.check_scope).
    scopes = (client.get_allowed_scope(pending.params.get("scope")) or "").split()
    form = ConsentForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            return _decide(pending, token, sso, client.client_id, scopes)
        status = 400  # stale or forged form: nothing is recorded, the citizen can try again
    return render_template("auth/consent.html", form=form, items=data_items(sso.citizen, scopes),
                           citizen=sso.citizen, **page), status


def _decide(pending: interaction.Interaction, token: str, sso: SsoSession, client_id: str,
            scopes: list[str]) -> Response:
    if request.form.get("decision") != "allow":
        log.info("consent:denied", extra={"client_id": client_id, "sid": sso.sid})
        return redirect(url_for("oidc.cancel", interaction=token))
    consents.grant(db.session, sso.citizen_id, client_id, scopes, utcnow())
    db.session.commit()
    log.info("consent:granted", extra={"client_id": client_id, "sid": sso.sid,
                                       "scopes": " ".join(sorted(scopes))})
    return redirect(interaction.resume_url(interaction.mark_done(pending, "consent")))
