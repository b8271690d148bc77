"""RP-Initiated Logout 1.0: an app asks to end the citizen's ThaiNguyen ID session.

With a valid ``id_token_hint`` for the current session the logout happens at once; otherwise
the citizen confirms with a POST carrying a CSRF token (§6: a bare logout link would be a
cheap nuisance). Redirection happens only to a registered ``post_logout_redirect_uri`` (exact
match, §3), with ``state``; on any error (§4) there is no redirection and the session stays.
"""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from flask import make_response, redirect, render_template, request
from flask_babel import get_locale
from werkzeug.wrappers import Response

from idp.auth.forms import LogoutForm
from idp.auth.sign_out import sign_out_current
from idp.extensions import db
from idp.models import Client
from idp.oidc import bp, context
from idp.services import keys, logout
from idp.services.clock import utcnow
from idp.web import current_session

PARAMETERS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "logout_hint",
              "ui_locales")
MAX_HINT_LENGTH = 16 * 1024  # an ID token with every claim is a few KiB
MAX_PARAM_LENGTH = 4096


class EndSession(EndSessionEndpoint):
    def get_server_jwks(self) -> dict:
        # Retired keys stay published until their ID tokens expire: hints signed by them pass.
        return keys.public_jwks(db.session, utcnow())

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        """Done by the view (it also clears the cookie and sends back-channel tokens)."""

    def _is_valid_post_logout_redirect_uri(self, client: Client, uri: str) -> bool:
        # authlib reads client.client_metadata, which does not carry these URIs: read the
        # column. Exact string comparison (§3).
        return uri in client.post_logout_redirect_uris

    def is_post_logout_redirect_uri_legitimate(self, request: object, uri: str, client: Client,
                                               logout_hint: str | None) -> bool:
        """§3 without id_token_hint: the ``client_id`` names the app and the URI is one it
        registered, so the redirect goes nowhere the app did not choose; the citizen has
        confirmed the logout (or had no session to end)."""
        return True


@bp.route("/end-session", methods=["GET", "POST"])
def end_session() -> Response:
    if _malformed():
        return _refused()
    try:
        validated = context.server().validate_endpoint_request(EndSession.ENDPOINT_NAME)
    except (OAuth2Error, ValueError, TypeError):  # bad hint, client_id not its audience
        return _refused()
    hint = validated.id_token_claims or {}
    if hint and hint.get("iss") != context.issuer():
        return _refused()
    if request.values.get("client_id") and validated.client is None:
        return _refused()  # unknown or disabled app
    sso = current_session.current_sso()
    if sso is None and hint.get("sid"):
        # An app's cross-site POST carries no SameSite=Lax cookie: the hint names the session.
        sso = logout.find_session(db.session, str(hint["sid"]))
    elif sso is not None and hint.get("sid") != sso.sid:
        # Not proven to come from an app of this session: the citizen decides.
        form = LogoutForm()
        confirming = request.method == "POST" and request.form.get("confirm") == "yes"
        if not confirming or not form.validate_on_submit():
            return _confirmation(validated, form, 400 if confirming else 200)
    if validated.redirect_uri:
        response = redirect(validated.redirect_uri)
    else:
        response = make_response(render_template("auth/signed_out.html", error=False,
                                                 signed_in=False))
    return sign_out_current(response, sso)


def _malformed() -> bool:
    """A parameter repeated, longer than any honest value, or with control characters
    (PostgreSQL cannot even compare a text with NUL in it)."""
    for name in PARAMETERS:
        values = request.args.getlist(name) + request.form.getlist(name)
        limit = MAX_HINT_LENGTH if name == "id_token_hint" else MAX_PARAM_LENGTH
        if len(values) > 1 or any(len(value) > limit or not value.isprintable()
                                  for value in values):
            return True
    return False


def _refused() -> Response:
    signed_in = current_session.current_sso() is not None
    return make_response(render_template("auth/signed_out.html", error=True,
                                         signed_in=signed_in), 400)


def _confirmation(validated: EndSessionRequest, form: LogoutForm, status: int) -> Response:
    client = validated.client
    params = {name: request.values[name] for name in PARAMETERS if name in request.values}
    return make_response(render_template(
        "auth/end_session_confirm.html", form=form, params=params, expired=status == 400,
        client_name=client.display_name(str(get_locale())) if client is not None else None),
        status)
