"""RP-Initiated Logout 1.0: an app asks to end the citizen's ThaiNguyen ID session.

With a valid ``id_token_hint`` for the current session the logout happens at once; otherwise
the citizen confirms (a logout link is otherwise a cheap nuisance). Redirection happens only
to a registered ``post_logout_redirect_uri`` (exact match), with ``state``.
"""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import make_response, redirect, render_template, request
from werkzeug.wrappers import Response

from idp.auth.forms import LogoutForm
from idp.auth.sign_out import sign_out_current
from idp.extensions import db
from idp.oidc import bp, context
from idp.services import keys
from idp.services.clock import utcnow
from idp.web import current_session


class EndSession(EndSessionEndpoint):
    def get_server_jwks(self) -> dict:
        return keys.public_jwks(db.session, utcnow())

    def end_session(self, end_session_request: object) -> None:
        """Done by the view (it also clears the cookie and sends back-channel tokens)."""


@bp.route("/end-session", methods=["GET", "POST"])
def end_session() -> Response:
    server = context.server()
    try:
        validated = server.validate_endpoint_request(EndSession.ENDPOINT_NAME)
    except OAuth2Error as error:
        # §4: on errors, never redirect; tell the citizen plainly.
        return make_response(render_template(
            "auth/signed_out.html", error=error.description, signed_in=_signed_in()), 400)
    claims = validated.id_token_claims or {}
    if claims and claims.get("iss") != context.issuer():
        return make_response(render_template(
            "auth/signed_out.html", error="id_token_hint", signed_in=_signed_in()), 400)
    sso = current_session.current_sso()
    form = LogoutForm()
    hinted_this_session = sso is not None and claims.get("sid") == sso.sid
    confirmed = request.method == "POST" and request.form.get("confirm") == "yes" \
        and form.validate_on_submit()
    if sso is not None and not hinted_this_session and not confirmed:
        client_name = validated.client.display_name("vi") if validated.client else None
        return render_template("auth/end_session_confirm.html", form=form,
                               client_name=client_name, params=request.values)
    response = (redirect(validated.redirect_uri) if validated.redirect_uri
                else make_response(render_template("auth/signed_out.html", error=None,
                                                   signed_in=False)))
    return sign_out_current(response)


def _signed_in() -> bool:
    return current_session.current_sso() is not None
