"""Citizen self-service screens."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("account", __name__)

from idp.account import home  # noqa: E402, F401  (registers the views)
