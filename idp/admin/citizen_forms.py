"""Forms of the citizens screens (flask-wtf: CSRF on every POST form). Length caps and
choices only: ``services.staff_citizens`` judges the values and says what is wrong."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from idp.auth.register_forms import RegisterForm
from idp.services import identifiers as ids

STATUS_LABELS = {"active": _l("Active"), "locked": _l("Account temporarily locked"),
                 "disabled": _l("Disabled")}
LEVEL_LABELS = {1: _l("Level 1 (self-registered)"), 2: _l("Level 2 (verified in person)")}
DOCUMENT_LABELS = {"cccd_chip": _l("Chip-based citizen ID card (CCCD)"),
                   "cccd": _l("Citizen ID card (CCCD) without chip"),
                   "vneid": _l("VNeID app, level 2")}
CHANNEL_LABELS = {"slip": _l("Print a slip to hand over now"),
                  "sms": _l("Send by SMS to the citizen's phone")}


def commune_choices(codes: frozenset[str] | None) -> list[SelectChoice]:
    """The province's communes, or only ``codes`` (an officer's)."""
    return [SelectChoice(code, f"{name} ({code})")
            for code, name in ids.communes_of_province(ids.THAI_NGUYEN_PROVINCE_CODE)
            if codes is None or code in codes]


class SearchForm(FlaskForm):
    """GET form (bookmarkable, nothing changes): no CSRF token."""

    class Meta:
        csrf = False

    q = StringField(_l("CCCD, phone number or name"), validators=[Length(max=100)],
                    render_kw={"autocomplete": "off", "spellcheck": "false",
                               "autofocus": True, "type": "search"})
    commune = SelectField(_l("Commune or ward"), validate_choice=False, choices=[])
    status = SelectField(_l("Status"), validate_choice=False, choices=[
        SelectChoice("", _l("Any")), *(SelectChoice(k, v) for k, v in STATUS_LABELS.items())])
    level = SelectField(_l("Identity level"), validate_choice=False, choices=[
        SelectChoice("", _l("Any")), SelectChoice("1", _l("Level 1")),
        SelectChoice("2", _l("Level 2"))])
    after = HiddenField()
    # ``commune`` options are written by the template from a cached list (see
    # admin/citizens.py): the field only reads the value here.


def reason_field() -> TextAreaField:
    return TextAreaField(
        _l("Reason"),
        validators=[DataRequired(_l("Please write the reason (at least 5 characters).")),
                    Length(max=500, message=_l("The reason is too long (at most 500 "
                                               "characters)."))],
        render_kw={"rows": 2, "maxlength": 500, "minlength": 5},
    )


class ReasonForm(FlaskForm):
    """Lock, unlock, end sessions, reset two-step sign-in: only a reason (audited)."""

    reason = reason_field()


class VerifyForm(FlaskForm):
    document_type = SelectField(_l("Document checked"), validate_choice=False, choices=[
        SelectChoice(k, v) for k, v in DOCUMENT_LABELS.items()])
    document_number = StringField(
        _l("Number on the document"),
        validators=[DataRequired(_l("Type the number you read on the document.")),
                    Length(max=64)],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "spellcheck": "false"})
    place = StringField(_l("Place"), validators=[DataRequired(_l("Write where you checked it.")),
                                                Length(max=200)],
                        render_kw={"autocomplete": "off"})
    reason = reason_field()


class ContactForm(FlaskForm):
    phone = StringField(_l("Mobile phone number"),
                        validators=[DataRequired(_l("Please enter the mobile phone number.")),
                                    Length(max=32)],
                        render_kw={"type": "tel", "inputmode": "tel", "autocomplete": "off"})
    email = StringField(_l("Email (optional)"), validators=[Length(max=254)],
                        render_kw={"type": "email", "autocomplete": "off"})
    reason = reason_field()


class ActivationCodeForm(FlaskForm):
    channel = SelectField(_l("Activation code"), validate_choice=False, choices=[
        SelectChoice(k, v) for k, v in CHANNEL_LABELS.items()])
    reason = reason_field()


class EnrolForm(RegisterForm):
    """Sign-up's fields (same caps and labels), plus the in-person evidence and the code."""

    document_type = SelectField(_l("Document checked"), validate_choice=False, choices=[
        SelectChoice(k, v) for k, v in DOCUMENT_LABELS.items()])
    place = StringField(_l("Place"), validators=[DataRequired(_l("Write where you checked it.")),
                                                Length(max=200)],
                        render_kw={"autocomplete": "off"})
    channel = SelectField(_l("Activation code"), validate_choice=False, choices=[
        SelectChoice(k, v) for k, v in CHANNEL_LABELS.items()])
    reason = reason_field()

    def __init__(self, *args: object, communes: frozenset[str] | None = None,
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.commune_code.label.text = _l("Commune or ward")
        self.commune_code.choices = commune_choices(communes)
        self.gender.choices = [SelectChoice("", _l("As on the citizen ID card")),
                               SelectChoice("male", _l("Male")),
                               SelectChoice("female", _l("Female"))]
