"""Signing out, shared by /logout and the OIDC end-session endpoint: the session row goes,
its tokens are revoked, every app that took part gets a back-channel logout token."""

from __future__ import annotations

import logging

from flask import request
from werkzeug.wrappers import Response

from idp.extensions import db
from idp.services import logout
from idp.services.clock import utcnow
from idp.web import current_session

log = logging.getLogger("tnid.audit")


def sign_out_current(response: Response) -> Response:
    from idp.oidc import backchannel, context

    sso = current_session.current_sso()
    if sso is not None:
        sid = sso.sid
        ids = logout.end_session(db.session, sso, signer=context.signer(),
                                 pairwise_secret=context.pairwise_secret(), now=utcnow())
        db.session.commit()
        log.info("account:logout", extra={"ip": request.remote_addr, "sid": sid,
                                          "backchannel": len(ids)})
        backchannel.send(ids)
    current_session.clear_cookie(response)
    return response
