"""Ending an SSO session everywhere: the session row, its tokens, and a back-channel logout
token queued for every app that took part (OIDC Back-Channel Logout 1.0).

Deliveries are rows, not in-process state: any node (or ``tnid logout deliver``) can send or
retry them, and a claim (guarded UPDATE) makes sure only one node sends each attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import requests
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from idp.models import Client, LogoutDelivery, SessionClient, SsoSession
from idp.services import claims, id_tokens, tokens

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT_SECONDS = 2.0  # a dead app must never hold the citizen up
MAX_ATTEMPTS = 5
BACKOFF = (timedelta(seconds=1), timedelta(seconds=5), timedelta(seconds=30),
           timedelta(minutes=5), timedelta(minutes=30))


def end_session(session: Session, sso: SsoSession, *, signer: id_tokens.Signer,
                pairwise_secret: bytes, now: datetime) -> list[int]:
    """End the session and queue logout tokens; returns the delivery ids to send."""
    sid, citizen_id = sso.sid, sso.citizen_id
    participants = session.scalars(
        select(Client).join(SessionClient, SessionClient.client_id == Client.client_id)
        .where(SessionClient.sid == sid)
    ).all()
    deliveries = []
    for client in participants:
        if not client.backchannel_logout_uri or client.disabled_at is not None:
            continue
        token = id_tokens.logout_token(
            signer, sub=claims.subject(citizen_id, client, pairwise_secret), sid=sid,
            client_id=client.client_id, alg=client.id_token_signed_response_alg, now=now)
        delivery = LogoutDelivery(client_id=client.client_id, uri=client.backchannel_logout_uri,
                                  logout_token=token, next_attempt_at=now, created_at=now)
        session.add(delivery)
        deliveries.append(delivery)
    tokens.revoke_for_sid(session, sid, now)
    session.execute(delete(SessionClient).where(SessionClient.sid == sid))
    session.execute(delete(SsoSession).where(SsoSession.id == sso.id))
    session.flush()
    return [d.id for d in deliveries]


Poster = Callable[..., requests.Response]


def deliver_due(session: Session, now: datetime, *, ids: list[int] | None = None,
                post: Poster = requests.post) -> tuple[int, int]:
    """Send every due delivery (or just ``ids``); returns (delivered, failed)."""
    query = select(LogoutDelivery.id).where(LogoutDelivery.delivered_at.is_(None),
                                            LogoutDelivery.given_up_at.is_(None),
                                            LogoutDelivery.next_attempt_at <= now)
    if ids is not None:
        query = query.where(LogoutDelivery.id.in_(ids))
    delivered = failed = 0
    for delivery_id in session.scalars(query).all():
        ok = _attempt(session, delivery_id, now, post)
        if ok is None:
            continue  # another node took it
        delivered, failed = delivered + ok, failed + (not ok)
    return delivered, failed


def _attempt(session: Session, delivery_id: int, now: datetime, post: Poster) -> bool | None:
    claimed = session.execute(
        update(LogoutDelivery)
        .where(LogoutDelivery.id == delivery_id, LogoutDelivery.delivered_at.is_(None),
               LogoutDelivery.next_attempt_at <= now)
        .values(attempts=LogoutDelivery.attempts + 1,
                next_attempt_at=now + timedelta(minutes=10))  # lease while we send
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    if claimed != 1:
        return None
    delivery = session.get(LogoutDelivery, delivery_id)
    error = _send(delivery, post)
    if error is None:
        delivery.delivered_at = now
        delivery.last_error = None
    else:
        delivery.last_error = error[:200]
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.given_up_at = now
        else:
            delivery.next_attempt_at = now + BACKOFF[min(delivery.attempts, len(BACKOFF)) - 1]
        log.warning("back-channel logout failed",
                    extra={"client_id": delivery.client_id, "attempt": delivery.attempts,
                           "error": delivery.last_error})
    session.commit()
    return error is None


def _send(delivery: LogoutDelivery, post: Poster) -> str | None:
    """Back-Channel Logout §2.5: POST the logout token as a form; 200 or 204 is success."""
    try:
        response = post(delivery.uri, data={"logout_token": delivery.logout_token},
                        timeout=DELIVERY_TIMEOUT_SECONDS, allow_redirects=False,
                        headers={"Cache-Control": "no-store"})
    except requests.RequestException as error:
        return type(error).__name__
    if response.status_code in (200, 204):
        return None
    return f"HTTP {response.status_code}"
