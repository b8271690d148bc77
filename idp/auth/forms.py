"""Sign-in forms (flask-wtf: CSRF on every form)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    identifier = StringField(
        _l("Citizen ID number (CCCD) or phone number"),
        validators=[DataRequired(_l("Enter your citizen ID number or phone number.")),
                    Length(max=64, message=_l("This is too long for an ID or phone number."))],
        render_kw={"autocomplete": "username", "inputmode": "tel", "autocapitalize": "off",
                   "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")),
                    Length(max=1024, message=_l("This password is too long."))],
        render_kw={"autocomplete": "current-password"},
    )


class LogoutForm(FlaskForm):
    """Only the CSRF token: signing out must be a deliberate POST, not a link a page embeds."""
