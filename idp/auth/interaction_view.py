"""What the sign-in screens show about the pending request: the app that sent the citizen
(name, logo, domain) and the language the app asked for."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import urlsplit

from flask import render_template, request, session, url_for
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l

from idp.models import Client
from idp.oidc import context, interaction
from idp.oidc.interaction import Interaction
from idp.web import i18n

EXPIRED = _l("This sign-in request has expired or was opened in another browser. Please go "
             "back to the app and start again.")


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
        "client_name": client.display_name(str(get_locale() or i18n.DEFAULT)),
        "client_domain": urlsplit(redirect_uri).hostname or "",
        "cancel_url": url_for("oidc.cancel", interaction=token),
    }


@contextmanager
def app_language(params: Mapping[str, str] | None) -> Iterator[None]:
    """The screens of one interaction speak the app's ``ui_locales`` (OIDC Core §3.1.2.1),
    unless the citizen chose a language (``?lang=``, remembered in the session). Only for this
    interaction: the next app's wish, or none, is not overridden by this one."""
    wish = interaction.ui_locale(params) if params else None
    chose = request.args.get("lang") in i18n.SUPPORTED or session.get("lang") in i18n.SUPPORTED
    if wish is None or chose:
        yield
        return
    with force_locale(wish):
        yield


def expired_page() -> tuple[str, int]:
    return render_template("errors/error.html", status=400, message=EXPIRED), 400
