"""Forms of the unlock and forgot-password screens (flask-wtf: CSRF on every form). The code,
resend and new-password forms are sign-up's (``idp.auth.register_forms``)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class IdentifierForm(FlaskForm):
    identifier = StringField(
        _l("Citizen ID number (CCCD) or phone number"),
        validators=[DataRequired(_l("Enter your citizen ID number or phone number.")),
                    Length(max=64, message=_l("This is too long for an ID or phone number."))],
        render_kw={"autocomplete": "username", "inputmode": "tel", "autocapitalize": "off",
                   "spellcheck": "false"},
    )


class SecondFactorForm(FlaskForm):
    totp_code = StringField(
        _l("Code from your authenticator app"),
        validators=[Length(max=32)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric",
                   "pattern": "[0-9 ]*", "maxlength": "12"},
    )
    recovery_code = StringField(
        _l("Or one of your recovery codes"),
        validators=[Length(max=64)],
        render_kw={"autocomplete": "off", "autocapitalize": "characters",
                   "spellcheck": "false"},
    )
