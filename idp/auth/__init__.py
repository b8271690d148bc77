"""Sign-in screens. The protocol (idp.oidc) never renders these; it hands requests over."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("auth", __name__)

# The screens register their routes on import.
from idp.auth import (  # noqa: E402, F401
    activate,  # citizens without a password: activation code or SMS
    consent,  # what the app will receive
    forgot_password,  # recovery by SMS code (+ second factor when enrolled)
    login,
    logout,
    qr_desktop,  # QR sign-in: the browser that asks
    qr_phone,  # QR sign-in: the phone that approves
    register,  # sign-up
    second_factor,  # step-up to acr 2
    select_account,
    unlock,  # after 100 failures
)
