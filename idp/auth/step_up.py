"""The step-up hook: when an app needs two factors and the session has one.

The authentication issue fills this with the second-factor screen; until then no citizen has
a second factor, so an app that *requires* two factors is told so on a plain page.
"""

from __future__ import annotations

from flask import render_template, url_for

from idp.models import Client, SsoSession


def available(sso: SsoSession) -> bool:
    """Can this citizen add a second factor to the session right now?"""
    return False


def begin(interaction_token: str, sso: SsoSession, client: Client) -> tuple[str, int]:
    return render_template(
        "auth/step_up_unavailable.html",
        client=client,
        cancel_url=url_for("oidc.cancel", interaction=interaction_token),
    ), 403
