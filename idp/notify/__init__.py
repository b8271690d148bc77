"""Messages to citizens (SMS), one interface whatever the backend.

    from idp import notify
    if notify.may_send_code(db.session, phone=phone, now=now):
        notify.send_sms(db.session, phone="+84912345678", purpose="register",
                        body="Mã xác minh ThaiNguyen ID: 123456 ...", citizen_id=None)
    db.session.commit()   # the SMS leaves now, not before

Every message is recorded in ``outbox_messages``; the backend chosen by TNID_NOTIFY_BACKEND
then delivers it: ``outbox`` (default: stored only, read with ``tnid outbox`` and, in
development, ``/dev/outbox``), ``log`` or ``http`` (an SMS gateway, see ``backends``).

Delivery happens right *after* the caller's commit: a rolled-back transaction (whose code was
never stored) sends nothing, and on SQLite the database is not held locked while the gateway
answers. The outcome (``attempts``, ``delivered_at``, ``last_error``) is written back in a
transaction of its own; a delivered message's codes are then blanked in the stored text, since
the database has no further use for them. Bodies are written in Vietnamese by the caller.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, timedelta

from flask import current_app, has_app_context
from sqlalchemy import event, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from idp.models import OneTimeCode, OutboxMessage
from idp.notify.backends import Backend, Delivery, OutboxBackend, Outgoing, backend_for
from idp.services.clock import utcnow

log = logging.getLogger("tnid.notify")

# Nobody can SMS-bomb a number: at most this many codes to one phone per hour, all flows
# (registration, sign-in, recovery, unlock) and resends counted together.
MAX_CODES_PER_PHONE = 5
CODE_WINDOW = timedelta(hours=1)

_PENDING = "tnid.notify.pending"
_CODES = re.compile(r"[0-9]{4,}")

__all__ = ["MAX_CODES_PER_PHONE", "Backend", "Delivery", "Outgoing", "configured_backend",
           "codes_sent_recently", "may_send_code", "send_sms"]


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
        outgoing = Outgoing(message.id, phone, message.purpose, body)
        session.info.setdefault(_PENDING, []).append((backend, outgoing, session.get_bind()))
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


def codes_sent_recently(session: Session, *, phone: str, now: datetime) -> int:
    """Codes sent to ``phone`` in the last hour, resends included."""
    total = session.scalar(
        select(func.coalesce(func.sum(OneTimeCode.sends), 0))
        .where(OneTimeCode.phone == phone, OneTimeCode.last_sent_at > now - CODE_WINDOW))
    return int(total or 0)


def may_send_code(session: Session, *, phone: str, now: datetime) -> bool:
    """Ask before issuing or resending a code for ``phone``."""
    return codes_sent_recently(session, phone=phone, now=now) < MAX_CODES_PER_PHONE


@event.listens_for(Session, "after_commit")
def _deliver_after_commit(session: Session) -> None:
    for backend, outgoing, bind in session.info.pop(_PENDING, ()):
        _deliver(backend, outgoing, bind)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _deliver(backend: Backend, outgoing: Outgoing, bind: Engine) -> None:
    try:
        result = backend.deliver(outgoing)
    except Exception:  # a backend bug must not turn into the citizen's error page
        log.exception("sms backend failed", extra={"message_id": outgoing.id})
        result = Delivery(False, "backend error")
    values: dict = {"attempts": OutboxMessage.attempts + 1, "last_error": result.error}
    if result.delivered:
        values["delivered_at"] = utcnow()
        values["body"] = _CODES.sub(lambda m: "*" * len(m[0]), outgoing.body)
    try:
        with bind.begin() as connection:
            connection.execute(update(OutboxMessage)
                               .where(OutboxMessage.id == outgoing.id).values(**values))
    except SQLAlchemyError:
        log.exception("could not record sms delivery", extra={"message_id": outgoing.id})
