"""The step-up hook: when an app needs two factors and the session has one.

The authentication issue fills this with the second-factor screen; until then no citizen has
a second factor, so an app that *requires* two factors is told so on a plain page (403) from
which the citizen can only go back to the app (``access_denied``).
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import render_template, url_for

from idp.auth.interaction_view import app_language
from idp.models import Client, SsoSession


def available(sso: SsoSession) -> bool:
    """Can this citizen add a second factor to the session right now?"""
    return False


def begin(interaction_token: str, sso: SsoSession, client: Client,
          params: Mapping[str, str]) -> tuple[str, int]:
    """The step-up screen for the pending request (``params``: its parameters)."""
    with app_language(params):
        return render_template(
            "auth/step_up_unavailable.html",
            client=client,
            cancel_url=url_for("oidc.cancel", interaction=interaction_token),
        ), 403
