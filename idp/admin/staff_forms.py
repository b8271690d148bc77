"""Forms of the staff screen (flask-wtf: CSRF). Length caps and choices only: the service
(``services.staff_accounts``) judges the values and says what is wrong."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from idp.admin import ROLE_LABELS
from idp.services.identifiers import communes_of_province


def _reason() -> StringField:
    return StringField(
        _l("Reason"),
        validators=[DataRequired(_l("Please give a reason (at least 5 characters).")),
                    Length(max=500, message=_l("The reason must have at most 500 "
                                               "characters."))],
        render_kw={"autocomplete": "off"},
    )


class StaffCreateForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(_l("Enter a username.")), Length(max=64)],
        render_kw={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"},
    )
    display_name = StringField(_l("Display name"), validators=[Length(max=100)],
                               render_kw={"autocomplete": "off"})
    role = SelectField(_l("Role"), choices=[SelectChoice(role.value, label)
                                            for role, label in ROLE_LABELS.items()],
                       default="officer")  # the most common, and the least powerful
    communes = SelectMultipleField(_l("Communes (commune officers only)"),
                                   validate_choice=False)  # the service checks the codes
    password = PasswordField(
        _l("Initial password"),
        validators=[DataRequired(_l("Choose a password.")), Length(max=1024)],
        render_kw={"autocomplete": "new-password", "minlength": "12"},
    )
    reason = _reason()

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.communes.choices = [SelectChoice(code, f"{name} ({code})")
                                 for code, name in communes_of_province()]


class StaffReasonForm(FlaskForm):
    """Disable or reset the authenticator app: only a reason (audited)."""
    reason = _reason()
