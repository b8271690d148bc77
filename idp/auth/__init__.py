"""Sign-in screens. The protocol (idp.oidc) never renders these; it hands requests over."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("auth", __name__)

from idp.auth import consent, login, logout, select_account  # noqa: E402, F401  (views)
from idp.auth import second_factor  # noqa: E402, F401  (step-up screen)
from idp.auth import register  # noqa: E402, F401  (sign-up screens)
from idp.auth import qr_desktop, qr_phone  # noqa: E402, F401  (QR sign-in)
from idp.auth import forgot_password, unlock  # noqa: E402, F401  (recovery, unlock)
