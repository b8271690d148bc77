"""Messages to citizens (SMS), one interface whatever the backend.

    from idp import notify
    notify.send_sms(db.session, phone="+84912345678", purpose="register",
                    body="Mã xác minh ThaiNguyen ID: 123456 ...", citizen_id=None)

Every message is recorded in ``outbox_messages``; the configured backend then delivers it:
``outbox`` (default: stored only, read with ``tnid outbox`` and, in development, ``/dev/outbox``),
``log`` or ``http`` (an SMS gateway). Bodies are written in Vietnamese by the caller.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from idp.models import OutboxMessage
from idp.services.clock import utcnow


def send_sms(session: Session, *, phone: str, purpose: str, body: str,
             citizen_id: uuid.UUID | None = None) -> OutboxMessage:
    """Queue ``body`` for ``phone`` (E.164); flushed with the caller's transaction."""
    message = OutboxMessage(channel="sms", recipient=phone, purpose=purpose[:40], body=body,
                            citizen_id=citizen_id, backend="outbox", created_at=utcnow())
    session.add(message)
    session.flush()
    return message
