"""Ending an SSO session everywhere: the session row, its tokens, and a back-channel logout
token queued for every app that took part (OIDC Back-Channel Logout 1.0).

Deliveries are rows, not in-process state: any node (or ``tnid logout deliver``) can send or
retry them, and a claim (guarded UPDATE) makes sure only one node sends each attempt.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import requests
from joserfc import jws
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from idp.models import Client, LogoutDelivery, SessionClient, SsoSession
from idp.services import claims, id_tokens, tokens
from idp.services.clock import epoch

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT_SECONDS = 2.0  # a dead app must never hold the citizen up
# Wait before retry n (n = 1, 2, ...); after the last one the delivery is given up, about
# 36 minutes after the sign-out (long enough for an app's restart or deployment).
BACKOFF = (timedelta(seconds=1), timedelta(seconds=5), timedelta(seconds=30),
           timedelta(minutes=5), timedelta(minutes=30))
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = timedelta(minutes=10)  # a node that died mid-send frees its claim after this
FRESH_FOR = timedelta(seconds=60)  # older logout tokens are signed again before a retry
SWEEP_LIMIT = 50


def end_session(session: Session, sso: SsoSession, *, signer: id_tokens.Signer,
                pairwise_secret: bytes, now: datetime) -> list[int]:
    """End the session and queue logout tokens; returns the delivery ids to send.

    Tokens: every access token of the session ends now, and so does every refresh token,
    except those of grants with ``offline_access`` — the citizen gave those for use while
    away, and Back-Channel Logout §2.7 says they "normally SHOULD NOT be revoked" (RFC 9700
    §4.14.2 leaves it open). The citizen withdraws them in the account's connected apps.
    """
    sid, citizen_id = sso.sid, sso.citizen_id
    tokens.lock_for_sid(session, sid)
    participants = session.scalars(
        select(Client).join(SessionClient, SessionClient.client_id == Client.client_id)
        .where(SessionClient.sid == sid).order_by(Client.id)
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
    tokens.end_access_for_sid(session, sid, now)
    session.execute(delete(SessionClient).where(SessionClient.sid == sid))
    session.execute(delete(SsoSession).where(SsoSession.id == sso.id))
    session.flush()
    return [d.id for d in deliveries]


def find_session(session: Session, sid: str) -> SsoSession | None:
    """The SSO session with this public ``sid`` (from an ID token), if it still exists."""
    if not 0 < len(sid) <= 43:
        return None
    return session.scalar(select(SsoSession).where(SsoSession.sid == sid))


Poster = Callable[..., requests.Response]


def deliver_due(session: Session, now: datetime, *, signer: id_tokens.Signer,
                ids: list[int] | None = None, post: Poster = requests.post,
                limit: int = SWEEP_LIMIT) -> tuple[int, int]:
    """Send every due delivery (or just those of ``ids``), oldest first, at most ``limit``;
    returns (delivered, failed). Deliveries another node claimed first are not counted."""
    query = select(LogoutDelivery.id).where(LogoutDelivery.delivered_at.is_(None),
                                            LogoutDelivery.given_up_at.is_(None),
                                            LogoutDelivery.next_attempt_at <= now)
    if ids is not None:
        query = query.where(LogoutDelivery.id.in_(ids))
    due = session.scalars(query.order_by(LogoutDelivery.id).limit(limit)).all()
    session.commit()  # end the read transaction before the claims
    delivered = failed = 0
    for delivery_id in due:
        ok = _attempt(session, delivery_id, now, signer, post)
        if ok is None:
            continue  # another node took it
        delivered, failed = delivered + ok, failed + (not ok)
    return delivered, failed


def undelivered(session: Session, ids: list[int]) -> list[int]:
    """Those of ``ids`` neither delivered nor given up."""
    if not ids:
        return []
    return list(session.scalars(select(LogoutDelivery.id).where(
        LogoutDelivery.id.in_(ids), LogoutDelivery.delivered_at.is_(None),
        LogoutDelivery.given_up_at.is_(None)).order_by(LogoutDelivery.id)))


def _attempt(session: Session, delivery_id: int, now: datetime, signer: id_tokens.Signer,
             post: Poster) -> bool | None:
    claimed = session.execute(
        update(LogoutDelivery)
        .where(LogoutDelivery.id == delivery_id, LogoutDelivery.delivered_at.is_(None),
               LogoutDelivery.given_up_at.is_(None), LogoutDelivery.next_attempt_at <= now)
        .values(attempts=LogoutDelivery.attempts + 1, next_attempt_at=now + LEASE)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    if claimed != 1:
        return None
    delivery = session.get(LogoutDelivery, delivery_id, populate_existing=True)
    assert delivery is not None
    try:
        delivery.logout_token = _fresh(delivery.logout_token, signer, now)
        session.commit()  # signed before sending: no transaction stays open meanwhile
        error = _send(delivery, post)
    except Exception as unexpected:  # e.g. no signing key for the alg: logged, retried later
        log.exception("back-channel logout attempt failed")
        session.rollback()
        delivery = session.get(LogoutDelivery, delivery_id, populate_existing=True)
        assert delivery is not None
        error = type(unexpected).__name__
    if error is None:
        delivery.delivered_at = now
        delivery.last_error = None
    else:
        delivery.last_error = error[:200]
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.given_up_at = now
        else:
            delivery.next_attempt_at = now + BACKOFF[delivery.attempts - 1]
        log.warning("back-channel logout failed",
                    extra={"client_id": delivery.client_id, "attempt": delivery.attempts,
                           "error": delivery.last_error, "given_up": bool(delivery.given_up_at)})
    session.commit()
    return error is None


def _fresh(token: str, signer: id_tokens.Signer, now: datetime) -> str:
    """The same logout (sub, sid, aud) in a token an app still accepts: a retry may come long
    after the first attempt, past the short ``exp`` (§2.4) or an app's ``iat`` window. A new
    token gets a new ``jti``: it is a new token, and a new ``jti`` is not mistaken for a
    replay by an app that already handled an attempt whose answer was lost."""
    signed = jws.extract_compact(token.encode())  # our own token, read from our database
    previous = json.loads(signed.payload)
    if epoch(now) - int(previous["iat"]) < FRESH_FOR.total_seconds():
        return token
    return id_tokens.logout_token(signer, sub=previous["sub"], sid=previous["sid"],
                                  client_id=previous["aud"], alg=signed.protected["alg"],
                                  now=now)


def _send(delivery: LogoutDelivery, post: Poster) -> str | None:
    """Back-Channel Logout §2.5: POST the logout token as a form; 200 or 204 is success.
    Redirects are not followed, and the answer's body is never read."""
    try:
        response = post(delivery.uri, data={"logout_token": delivery.logout_token},
                        timeout=DELIVERY_TIMEOUT_SECONDS, allow_redirects=False, stream=True,
                        headers={"Cache-Control": "no-store"})
    except requests.RequestException as error:
        return type(error).__name__
    response.close()
    if response.status_code in (200, 204):
        return None
    return f"HTTP {response.status_code}"
