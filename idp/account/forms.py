"""Account forms (flask-wtf: CSRF on every form). Length caps only: the services judge the
values (password policy, codes) and say what is wrong in the citizen's words."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

CURRENT_PASSWORD = {"autocomplete": "current-password"}
CODE = {"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*",
        "maxlength": "7", "autocapitalize": "off", "spellcheck": "false"}


def _password(label: str) -> PasswordField:
    return PasswordField(label, validators=[
        DataRequired(_l("Enter your password.")),
        Length(max=1024, message=_l("This password is too long."))],
        render_kw=CURRENT_PASSWORD)


def _code() -> StringField:
    return StringField(_l("Code from your authenticator app"), validators=[
        DataRequired(_l("Type the 6 digits shown in your authenticator app.")),
        Length(max=32, message=_l("Type the 6 digits shown in your authenticator app."))],
        render_kw=CODE)


class ConfirmPasswordForm(FlaskForm):
    password = _password(_l("Password"))


class PasswordChangeForm(FlaskForm):
    current_password = _password(_l("Current password"))
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Choose a new password.")),
                    Length(max=1024, message=_l("This password is too long."))],
        render_kw={"autocomplete": "new-password", "minlength": "8"},
    )


class TotpConfirmForm(FlaskForm):
    code = _code()


class TotpOffForm(FlaskForm):
    """The password here; the code was given just before (``guard``: a fresh second
    factor)."""
    password = _password(_l("Password"))


class RegenerateCodesForm(FlaskForm):
    """Only the CSRF token: the guard asked for a fresh second factor (the password alone
    must never make codes that pass the second-factor screen)."""


class SignOutEverywhereForm(FlaskForm):
    """Only the CSRF token: a deliberate POST."""
