"""Messages to citizens (SMS), one interface whatever the backend.

    from idp import notify
    if notify.may_send_code(db.session, phone=phone, now=now):
        notify.send_sms(db.session, phone="+84912345678", purpose="register",
                        body="Mã xác minh ThaiNguyen ID: 123456 ...", citizen_id=None)
    db.session.commit()   # the SMS leaves now, not before

Every message is recorded in ``outbox_messages``; the backend chosen by TNID_NOTIFY_BACKEND
then delivers it: ``outbox`` (default: stored only, read with ``tnid outbox`` and, in
development, ``/dev/outbox``), ``log`` or ``http`` (an SMS gateway, see ``backends``).

Delivery happens *after* the caller's commit and *outside the request* (``delivery``: a
per-process queue and daemon thread): a rolled-back transaction (whose code was never stored)
sends nothing, the database is not held while the gateway answers, and the page's timing does
not depend on whether a text was sent (it would tell which identifiers have accounts). The
outcome (``attempts``, ``delivered_at``, ``last_error``) is written back on the row; a
delivered message's codes are then blanked in the stored text. Messages a dead process left
undelivered are retried by ``tnid outbox deliver`` (cron). ``drain()`` waits for the queue
(tests). Bodies are written in Vietnamese by the caller.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

from flask import current_app, has_app_context
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from idp.models import OneTimeCode, OutboxMessage
from idp.notify import delivery
from idp.notify.backends import Backend, Delivery, OutboxBackend, Outgoing, backend_for
from idp.notify.delivery import drain
from idp.services.clock import utcnow

log = logging.getLogger("tnid.notify")

# Nobody can SMS-bomb a number: at most this many codes to one phone per hour and per day,
# resends included, counted over the flows the caller names (all flows by default). Sign-up
# counts sign-up flows only: counting the recovery codes an account's phone received would
# tell a stranger that the phone has an account (recovery has its own per-account cap, and
# its decoys text nobody).
MAX_CODES_PER_PHONE = 5
CODE_WINDOW = timedelta(hours=1)
MAX_CODES_PER_PHONE_PER_DAY = 10
DAY_WINDOW = timedelta(days=1)

_PENDING = "tnid.notify.pending"

__all__ = ["MAX_CODES_PER_PHONE", "MAX_CODES_PER_PHONE_PER_DAY", "Backend", "Delivery",
           "Outgoing", "codes_sent_recently", "configured_backend", "drain", "may_send_code",
           "phone_limit", "send_sms"]


def send_sms(session: Session, *, phone: str, purpose: str, body: str,
             citizen_id: uuid.UUID | None = None, backend: Backend | None = None,
             now: datetime | None = None) -> OutboxMessage:
    """Store ``body`` for ``phone`` (E.164), flushed with the caller's transaction; the
    configured backend delivers it once that transaction commits."""
    backend = backend or configured_backend()
    message = OutboxMessage(channel="sms", recipient=phone, purpose=purpose[:40], body=body,
                            citizen_id=citizen_id, backend=backend.name, attempts=0,
                            created_at=now or utcnow())
    session.add(message)
    session.flush()
    if backend.delivers:
        session.info.setdefault(_PENDING, []).append((backend, message.id, session.get_bind()))
    return message


def configured_backend() -> Backend:
    """The backend of the current app's settings (outbox outside an app)."""
    if not has_app_context():
        return OutboxBackend()
    cached = current_app.extensions.get("tnid.notify.backend")
    if cached is None:
        s = current_app.extensions["tnid.settings"]
        cached = backend_for(s.notify_backend, production=s.is_production,
                             url=s.sms_gateway_url, token=s.sms_gateway_token,
                             timeout=s.sms_gateway_timeout_seconds)
        current_app.extensions["tnid.notify.backend"] = cached
    return cached


def codes_sent_recently(session: Session, *, phone: str, now: datetime,
                        window: timedelta = CODE_WINDOW,
                        purposes: Collection[str] | None = None) -> int:
    """Codes sent to ``phone`` in the last ``window``, resends included (of ``purposes``
    only, when given)."""
    query = (select(func.coalesce(func.sum(OneTimeCode.sends), 0))
             .where(OneTimeCode.phone == phone, OneTimeCode.last_sent_at > now - window))
    if purposes is not None:
        query = query.where(OneTimeCode.purpose.in_(tuple(purposes)))
    return int(session.scalar(query) or 0)


def phone_limit(session: Session, *, phone: str, now: datetime,
                purposes: Collection[str] | None = None) -> str | None:
    """Which cap ``phone`` has reached: "day", "hour", or None (a code may be sent)."""
    if codes_sent_recently(session, phone=phone, now=now, window=DAY_WINDOW,
                           purposes=purposes) >= MAX_CODES_PER_PHONE_PER_DAY:
        return "day"
    if codes_sent_recently(session, phone=phone, now=now,
                           purposes=purposes) >= MAX_CODES_PER_PHONE:
        return "hour"
    return None


def may_send_code(session: Session, *, phone: str, now: datetime,
                  purposes: Collection[str] | None = None) -> bool:
    """Ask before issuing or resending a code for ``phone``."""
    return phone_limit(session, phone=phone, now=now, purposes=purposes) is None


@event.listens_for(Session, "after_commit")
def _deliver_after_commit(session: Session) -> None:
    for backend, message_id, bind in session.info.pop(_PENDING, ()):
        delivery.enqueue(backend, message_id, bind)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
