"""Console forms for relying apps (flask-wtf: CSRF on every form). They carry and bound the
values; every rule about what an app may register lives in ``services.client_metadata``."""

from __future__ import annotations

import json
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from idp.models import Client
from idp.models.client import AUTH_METHODS
from idp.services.client_metadata import GRANT_TYPES, ID_TOKEN_ALGS, ClientSpec
from idp.services.identifiers import InvalidInput
from idp.services.scopes import ACR_ONE_FACTOR, ACR_TWO_FACTORS, SUPPORTED_SCOPES

MIN_REASON = 5

AUTH_METHOD_LABELS = {
    "client_secret_basic": _l("Client secret in the Authorization header (client_secret_basic)"),
    "client_secret_post": _l("Client secret in the request body (client_secret_post)"),
    "private_key_jwt": _l("Signed with the app's own key (private_key_jwt)"),
    "none": _l("No secret: public app with PKCE (none)"),
}
SUBJECT_LABELS = {"public": _l("Public: the same identifier for every app"),
                  "pairwise": _l("Pairwise: a different identifier for this app")}
ACR_LABELS = {"": _l("No minimum"), ACR_ONE_FACTOR: _l("Password (level 1)"),
              ACR_TWO_FACTORS: _l("Two-step sign-in (level 2)")}


class CheckboxesField(SelectMultipleField):
    """A list of checkboxes (readable without JS, unlike a multiple select)."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def reason_field() -> TextAreaField:
    return TextAreaField(
        _l("Reason (recorded in the audit trail)"),
        validators=[DataRequired(_l("Please give the reason for this change.")),
                    Length(min=MIN_REASON, max=500, message=_l(
                        "The reason must be between 5 and 500 characters."))],
        render_kw={"rows": 2, "required": True})


class AppForm(FlaskForm):
    name_vi = StringField(_l("Name in Vietnamese"), validators=[Length(max=1000)])
    name_en = StringField(_l("Name in English (optional)"), validators=[Length(max=1000)])
    logo_uri = StringField(_l("Logo address (optional)"), validators=[Length(max=1000)],
                           render_kw={"inputmode": "url", "spellcheck": "false"})
    redirect_uris = TextAreaField(
        _l("Redirect URIs (one per line)"), validators=[Length(max=20_000)],
        render_kw={"rows": 3, "spellcheck": "false"})
    post_logout_redirect_uris = TextAreaField(
        _l("Addresses after sign-out (one per line, optional)"),
        validators=[Length(max=20_000)], render_kw={"rows": 2, "spellcheck": "false"})
    backchannel_logout_uri = StringField(
        _l("Back-channel logout address (optional)"), validators=[Length(max=1000)],
        render_kw={"inputmode": "url", "spellcheck": "false"})
    scopes = CheckboxesField(_l("Personal data the app may ask for (scopes)"),
                             choices=[SelectChoice(s, s) for s in SUPPORTED_SCOPES],
                             default=["openid"], validate_choice=False)
    grant_types = CheckboxesField(_l("Grant types"),
                                  choices=[SelectChoice(g, g) for g in GRANT_TYPES],
                                  default=["authorization_code"], validate_choice=False)
    token_endpoint_auth_method = SelectField(
        _l("How the app authenticates at the token endpoint"), validate_choice=False,
        choices=[SelectChoice(m, AUTH_METHOD_LABELS[m]) for m in AUTH_METHODS])
    jwks = TextAreaField(_l("Public keys (JWK Set as JSON, for private_key_jwt)"),
                         validators=[Length(max=40_000)],
                         render_kw={"rows": 4, "spellcheck": "false"})
    jwks_uri = StringField(_l("Or the address of the public keys (jwks_uri)"),
                           validators=[Length(max=1000)],
                           render_kw={"inputmode": "url", "spellcheck": "false"})
    subject_type = SelectField(_l("Citizen identifier (sub)"), validate_choice=False,
                               choices=[SelectChoice(k, v) for k, v in SUBJECT_LABELS.items()])
    sector_identifier = StringField(_l("Sector (host name, pairwise only, optional)"),
                                    validators=[Length(max=300)],
                                    render_kw={"spellcheck": "false"})
    id_token_signed_response_alg = SelectField(_l("ID token signature"), validate_choice=False,
                                               choices=[SelectChoice(a, a) for a in ID_TOKEN_ALGS])
    trusted = BooleanField(_l("Trusted app of the province (no consent screen)"))
    min_acr = SelectField(_l("Minimum sign-in level"), validate_choice=False,
                          choices=[SelectChoice(k, v) for k, v in ACR_LABELS.items()])
    reason = reason_field()

    def fill_from(self, client: Client) -> None:
        """Show the registered values (GET of the edit page)."""
        for name in ("name_vi", "name_en", "logo_uri", "backchannel_logout_uri", "jwks_uri",
                     "sector_identifier", "token_endpoint_auth_method", "subject_type",
                     "id_token_signed_response_alg", "trusted"):
            getattr(self, name).data = getattr(client, name)
        self.min_acr.data = client.min_acr or ""
        self.redirect_uris.data = "\n".join(client.redirect_uris)
        self.post_logout_redirect_uris.data = "\n".join(client.post_logout_redirect_uris)
        self.scopes.data = client.scopes
        self.grant_types.data = list(client.grant_types)
        self.jwks.data = json.dumps(client.jwks, indent=2) if client.jwks else ""

    def spec(self) -> ClientSpec:
        """The untrusted values for the service to judge; raises ``InvalidInput`` only for
        what cannot even be read (the JWK Set's JSON)."""
        return ClientSpec(
            name_vi=self.name_vi.data or "", name_en=self.name_en.data or None,
            logo_uri=self.logo_uri.data or None,
            redirect_uris=_lines(self.redirect_uris.data),
            post_logout_redirect_uris=_lines(self.post_logout_redirect_uris.data),
            backchannel_logout_uri=self.backchannel_logout_uri.data or None,
            scope=" ".join(self.scopes.data or []), grant_types=list(self.grant_types.data or []),
            token_endpoint_auth_method=self.token_endpoint_auth_method.data or "",
            jwks=_jwks(self.jwks.data), jwks_uri=self.jwks_uri.data or None,
            subject_type=self.subject_type.data or "",
            sector_identifier=self.sector_identifier.data or None,
            id_token_signed_response_alg=self.id_token_signed_response_alg.data or "",
            trusted=bool(self.trusted.data), min_acr=self.min_acr.data or None)


class ActionForm(FlaskForm):
    """Rotate the secret, disable or enable: only a reason."""

    reason = reason_field()


def _lines(raw: str | None) -> list[str]:
    return [line.strip() for line in (raw or "").splitlines() if line.strip()]


def _jwks(raw: str | None) -> Any:
    if not raw or not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deep
        raise InvalidInput("jwks", _l("The public keys are not valid JSON.")) from None
