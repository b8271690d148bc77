"""Forms of the unlock and forgot-password screens (flask-wtf: CSRF on every form)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length


class IdentifierForm(FlaskForm):
    identifier = StringField(
        _l("Citizen ID number (CCCD) or phone number"),
        validators=[DataRequired(_l("Enter your citizen ID number or phone number.")),
                    Length(max=64, message=_l("This is too long for an ID or phone number."))],
        render_kw={"autocomplete": "username", "inputmode": "tel", "autocapitalize": "off",
                   "spellcheck": "false"},
    )


class SmsCodeForm(FlaskForm):
    code = StringField(
        _l("Verification code"),
        validators=[DataRequired(_l("Please enter the 6-digit code.")), Length(max=32)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric",
                   "pattern": "[0-9 ]*", "maxlength": "12"},
    )


class ResendCodeForm(FlaskForm):
    """Only the CSRF token: asking for a new code is a deliberate POST."""


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


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Please choose a password.")),
                    Length(max=1024, message=_l("The password must have at most 256 "
                                                "characters."))],
        render_kw={"autocomplete": "new-password", "aria-describedby": "password-hint"},
    )
    confirm = PasswordField(
        _l("Type the password again"),
        validators=[DataRequired(_l("Please type the password again.")), Length(max=1024)],
        render_kw={"autocomplete": "new-password"},
    )
