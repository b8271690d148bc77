"""Staff sign-in forms (flask-wtf: CSRF on every form). Length caps only: the service judges."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

CODE = {"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*",
        "maxlength": "7", "autocapitalize": "off", "spellcheck": "false"}


class StaffLoginForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(_l("Enter your username.")),
                    Length(max=64, message=_l("This username is too long."))],
        render_kw={"autocomplete": "username", "autocapitalize": "off",
                   "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")),
                    Length(max=1024, message=_l("This password is too long."))],
        render_kw={"autocomplete": "current-password"},
    )


class StaffCodeForm(FlaskForm):
    code = StringField(
        _l("Code from your authenticator app"),
        validators=[DataRequired(_l("Type the 6 digits shown in your authenticator app.")),
                    Length(max=32, message=_l("Type the 6 digits shown in your "
                                              "authenticator app."))],
        render_kw=CODE,
    )


class StaffLogoutForm(FlaskForm):
    """Only the CSRF token: signing out is a deliberate POST."""
