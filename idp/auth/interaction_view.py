"""What the sign-in screens show about the app that sent the citizen (name, logo, domain)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import url_for
from flask_babel import get_locale

from idp.models import Client
from idp.oidc import context
from idp.oidc.interaction import Interaction


def client_for(pending: Interaction | None) -> Client | None:
    if pending is None:
        return None
    return context.server().query_client(pending.client_id)


def interaction_context(pending: Interaction | None, token: str | None) -> dict:
    client = client_for(pending)
    if client is None:
        return {"interaction": None, "client": None}
    redirect_uri = pending.params.get("redirect_uri", "")
    return {
        "interaction": token,
        "client": client,
        "client_name": client.display_name(str(get_locale() or "vi")),
        "client_domain": urlsplit(redirect_uri).hostname or "",
        "cancel_url": url_for("oidc.cancel", interaction=token),
    }
