"""Signing out, shared by /logout and the OIDC end-session endpoint: the session row goes,
its tokens are revoked, every app that took part gets a back-channel logout token
(``idp.services.logout``), and the browser's cookie is cleared."""

from __future__ import annotations

import logging

from flask import g, request
from werkzeug.wrappers import Response

from idp.extensions import db
from idp.models import SsoSession
from idp.services import logout
from idp.services.clock import utcnow
from idp.web import current_session

log = logging.getLogger("tnid.audit")


def end_session(sso: SsoSession) -> None:
    """End one SSO session everywhere: its row, its tokens, and its apps (back-channel)."""
    from idp.oidc import backchannel, context

    sid, citizen = sso.sid, str(sso.citizen_id)
    ids = logout.end_session(db.session, sso, signer=context.signer(),
                             pairwise_secret=context.pairwise_secret(), now=utcnow())
    db.session.commit()
    g.sso = None  # the row is gone: nothing later in this request may use it
    log.info("account:logout", extra={"ip": request.remote_addr, "sid": sid,
                                      "citizen": citizen, "backchannel": len(ids)})
    backchannel.send(ids)


def sign_out_current(response: Response, sso: SsoSession | None = None) -> Response:
    """End ``sso`` (default: the browser's session, if any) and clear the browser's cookie on
    ``response``."""
    sso = sso or current_session.current_sso()
    if sso is not None:
        end_session(sso)
    current_session.clear_cookie(response)
    return response
