"""The step-up hook: when an app needs two factors and the session has one.

The citizen is sent to the second-factor screen (``idp.auth.second_factor``), which asks only
for the second factor — the session already holds the password — and resumes the request.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import redirect, url_for
from werkzeug.wrappers import Response

from idp.models import Client, SsoSession


def available(sso: SsoSession) -> bool:
    """Can this citizen add a second factor to the session right now? Always, in practice:
    every account has a phone number for an SMS code (an authenticator app and recovery codes
    when set up)."""
    return bool(sso.citizen.phone)


def begin(interaction_token: str, sso: SsoSession, client: Client,
          params: Mapping[str, str]) -> Response:
    """The second-factor screen for the pending request (``params``: its parameters)."""
    return redirect(url_for("auth.second_factor", interaction=interaction_token))
