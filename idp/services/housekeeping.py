"""Removing state nobody can use any more: expired codes, tokens, sessions, pushed requests,
assertion ids, deliveries, retired signing keys, SMS codes, QR sign-in requests, and sent
messages past their retention — and the codes in stored messages once they are of no use.
Run from cron with ``tnid purge``; safe on several nodes at once (plain guarded DELETEs and
UPDATEs)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from idp.models import (
    AuthorizationCode,
    InitialAccessToken,
    LogoutDelivery,
    OneTimeCode,
    OutboxMessage,
    PushedAuthorizationRequest,
    QrSignInRequest,
    SsoSession,
    Token,
    UsedAssertion,
)
from idp.notify.delivery import CODE_IN_TEXT
from idp.services import keys
from idp.services.sso_sessions import SessionPolicy

# A used code is kept a day past its expiry, so a late replay is still recognised and
# answered by revoking what it issued.
CODE_GRACE = timedelta(days=1)
DELIVERY_KEEP = timedelta(days=7)
# SMS-code rows also count how many texts a phone got (per hour, per day): kept two days.
ONE_TIME_CODE_KEEP = timedelta(days=2)
QR_REQUEST_KEEP = timedelta(days=1)
# Sent messages hold phone numbers (personal data): kept a month for support questions
# ("I never got the code"), then deleted.
OUTBOX_KEEP = timedelta(days=30)
# A code in a stored text (the ``outbox`` backend keeps it in clear for /dev/outbox and
# ``tnid outbox``) is useless after minutes; after a day it is blanked.
CODE_TEXT_KEEP = timedelta(days=1)
BLANKED_CODE = "••••••"


def purge(session: Session, now: datetime, policy: SessionPolicy) -> dict[str, int]:
    removed = {
        "authorization_codes": delete_rows(session, AuthorizationCode,
                                              AuthorizationCode.expires_at < now - CODE_GRACE),
        "tokens": delete_rows(session, Token, and_(
            Token.access_expires_at < now,
            or_(Token.refresh_expires_at.is_(None), Token.refresh_expires_at < now,
                Token.revoked_at.is_not(None)))),
        "sso_sessions": delete_rows(session, SsoSession, or_(
            SsoSession.last_seen_at < now - policy.idle,
            SsoSession.created_at < now - policy.absolute)),
        "pushed_authorization_requests": delete_rows(
            session, PushedAuthorizationRequest, PushedAuthorizationRequest.expires_at < now),
        "used_assertions": delete_rows(session, UsedAssertion, UsedAssertion.expires_at <= now),
        "initial_access_tokens": delete_rows(session, InitialAccessToken, or_(
            InitialAccessToken.expires_at < now, InitialAccessToken.uses_left <= 0)),
        "logout_deliveries": delete_rows(session, LogoutDelivery, or_(
            LogoutDelivery.delivered_at < now - DELIVERY_KEEP,
            LogoutDelivery.given_up_at < now - DELIVERY_KEEP)),
        "one_time_codes": delete_rows(session, OneTimeCode,
                                         OneTimeCode.expires_at < now - ONE_TIME_CODE_KEEP),
        "qr_sign_in_requests": delete_rows(session, QrSignInRequest,
                                              QrSignInRequest.expires_at < now - QR_REQUEST_KEEP),
        "outbox_messages": delete_rows(session, OutboxMessage,
                                          OutboxMessage.created_at < now - OUTBOX_KEEP),
        "signing_keys": keys.purge_unpublished(session, now),
        "message_codes_blanked": blank_codes(session, now),
    }
    return removed


def blank_codes(session: Session, now: datetime) -> int:
    """Replace the six-digit codes in message texts older than ``CODE_TEXT_KEEP`` (the
    delivering backends already masked theirs)."""
    table = OutboxMessage.__table__.c
    six_digits = (table.body.op("~")("[0-9]{6}") if session.get_bind().dialect.name ==
                  "postgresql" else table.body.op("GLOB")("*[0-9][0-9][0-9][0-9][0-9][0-9]*"))
    rows = session.execute(select(table.id, table.body).where(
        table.created_at < now - CODE_TEXT_KEEP, six_digits)).all()
    blanked = 0
    for row in rows:
        body = CODE_IN_TEXT.sub(BLANKED_CODE, row.body)
        if body != row.body:
            blanked += session.execute(
                update(OutboxMessage.__table__)
                .where(table.id == row.id, table.body == row.body)
                .values(body=body)).rowcount or 0
    return blanked


def delete_rows(session: Session, model: Any, where: object) -> int:
    """Delete ``model`` rows, locked in id order first, as every other change of several
    rows is (``tokens._locked_ids``): no deadlock with a sign-out on PostgreSQL."""
    ids = select(model.id).where(where).order_by(model.id).with_for_update().scalar_subquery()
    result = session.execute(delete(model).where(model.id.in_(ids))
                             .execution_options(synchronize_session=False))
    return result.rowcount or 0
