"""Finishing a sign-in, the same way whichever screen proved who the citizen is (password,
sign-up, QR): one place decides the session, the device record, the audit entry and the
cookies, so no screen forgets one of them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask import make_response, redirect, request, session
from werkzeug.wrappers import Response

from idp.auth import guard
from idp.auth.sign_out import end_session
from idp.extensions import client_ip, db
from idp.models import Citizen, KnownDevice
from idp.services import audit, devices, sso_sessions
from idp.services.clock import utcnow
from idp.web import current_session

log = logging.getLogger("tnid.audit")


@dataclass(frozen=True)
class Proof:
    """How the citizen proved who they are, as the session and the audit trail record it."""

    method: str  # pwd | register | qr
    amr: list[str]
    acr: str = sso_sessions.ACR_ONE_FACTOR
    # False when the method texts the citizen itself (QR): one notice per sign-in.
    notify_new_device: bool = True
    details: dict = field(default_factory=dict)


def sign_in(citizen: Citizen, proof: Proof, *, target: str, client_id: str | None = None,
            known_device: KnownDevice | None = None, redirect_status: int = 302) -> Response:
    """Start (or, for the same citizen, continue) the SSO session, record the browser as one
    of the citizen's devices (an SMS when it is new), audit, commit, and send the browser to
    ``target`` with a fresh session cookie and CSRF token."""
    now, ip, user_agent = utcnow(), client_ip(), request.user_agent.string
    previous = current_session.current_sso()
    if previous is not None and previous.citizen_id != citizen.id:
        end_session(previous)  # another citizen's session: its apps are told (back-channel)
        previous = None
    cookie, sso = sso_sessions.start_session(
        db.session, citizen, amr=proof.amr, acr=proof.acr, ip=ip, user_agent=user_agent,
        now=now, continues=previous)
    device_token = guard.device_token()
    fresh = device_token is None
    device_token = device_token or devices.new_token()
    seen = devices.signed_in(db.session, citizen, device_token, known=known_device,
                             fresh=fresh, user_agent=user_agent, ip=ip, now=now,
                             notify_new=proof.notify_new_device)
    citizen_id, sid = citizen.id, sso.sid  # read before the commit expires them
    audit.record(db.session, "auth:login:success", actor_id=citizen_id, citizen_id=citizen_id,
                 ip=ip, client_id=client_id, now=now,
                 details={"method": proof.method, "sid": sid, **proof.details,
                          **seen.audit_details})
    db.session.commit()
    log.info("account:login:success",
             extra={"ip": ip, "citizen": str(citizen_id), "sid": sid, "method": proof.method})
    # New privilege level, new CSRF token (the old one may have been seen by someone else).
    session.pop("csrf_token", None)
    response = make_response(redirect(target, redirect_status))
    current_session.set_cookie(response, cookie)
    guard.set_device_cookie(response, device_token)
    return response
