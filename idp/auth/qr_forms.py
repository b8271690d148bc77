"""Forms of QR sign-in (flask-wtf: every POST carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import DataRequired, Length


class QrDoneForm(FlaskForm):
    """The desktop finishes: which request (the browser's own secret proves it is its)."""

    r = HiddenField(validators=[DataRequired(), Length(max=40)])


class QrDecisionForm(FlaskForm):
    """The phone's answer; the number (or "deny") comes from the button pressed."""

    r = HiddenField(validators=[DataRequired(), Length(max=40)])
    ticket = HiddenField(validators=[DataRequired(), Length(max=64)])
