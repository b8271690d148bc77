"""Sign-up forms (flask-wtf: CSRF on every form). The rules live in services.registration;
these only carry the values and bound their size."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from idp.services import identifiers as ids


class RegisterForm(FlaskForm):
    cccd = StringField(
        _l("Citizen ID number (CCCD)"),
        validators=[DataRequired(_l("Please enter your citizen ID number (CCCD).")),
                    Length(max=64, message=_l("The citizen ID number (CCCD) must have exactly "
                                              "12 digits."))],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "spellcheck": "false"},
    )
    full_name = StringField(
        _l("Full name"),
        validators=[DataRequired(_l("Please enter your full name.")),
                    Length(max=400, message=_l("The full name is too long (at most 100 "
                                               "characters)."))],
        render_kw={"autocomplete": "name", "autocapitalize": "words"},
    )
    birthdate = StringField(
        _l("Date of birth"),
        validators=[DataRequired(_l("Please enter your date of birth.")), Length(max=20)],
        render_kw={"type": "date", "autocomplete": "bday", "min": "1900-01-01"},
    )
    gender = SelectField(
        _l("Gender"), validate_choice=False,
        choices=[SelectChoice("", _l("As on my citizen ID card")),
                 SelectChoice("male", _l("Male")), SelectChoice("female", _l("Female"))],
    )
    phone = StringField(
        _l("Mobile phone number"),
        validators=[DataRequired(_l("Please enter your mobile phone number.")),
                    Length(max=32, message=_l("The phone number is too long."))],
        render_kw={"type": "tel", "inputmode": "tel", "autocomplete": "tel"},
    )
    email = StringField(
        _l("Email (optional)"),
        validators=[Length(max=254, message=_l("The email address is too long."))],
        render_kw={"type": "email", "autocomplete": "email", "spellcheck": "false"},
    )
    commune_code = SelectField(_l("Commune or ward (optional)"), validate_choice=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.commune_code.choices = [
            SelectChoice("", _l("Choose later")),
            *(SelectChoice(code, name)
              for code, name in ids.communes_of_province(ids.THAI_NGUYEN_PROVINCE_CODE))]


class CodeForm(FlaskForm):
    code = StringField(
        _l("Verification code"),
        validators=[DataRequired(_l("Please enter the 6-digit code.")), Length(max=32)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric",
                   "pattern": "[0-9 ]*", "maxlength": "12"},
    )


class ResendForm(FlaskForm):
    """Only the CSRF token: asking for a new code is a deliberate POST."""


class NewPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Please choose a password.")),
                    Length(max=1024, message=_l("The password must have at most 256 "
                                                "characters."))],
        render_kw={"autocomplete": "new-password", "aria-describedby": "password-hint"},
    )
    confirm = PasswordField(
        _l("Type the password again"),
        validators=[DataRequired(_l("Please type the password a second time.")),
                    Length(max=1024)],
        render_kw={"autocomplete": "new-password"},
    )
