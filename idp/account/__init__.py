"""Citizen self-service screens."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("account", __name__)

from idp.account import (  # noqa: E402, F401  (registers the views)
    confirm_password,
    confirm_second_factor,
    home,
    security,
    totp_setup,
)
