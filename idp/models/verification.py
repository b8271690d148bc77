"""One-time codes sent by SMS (registration, sign-in second factor, recovery, unlock).

The browser holds a random flow token (only its hash is stored) that binds the code to the
browser that asked for it; the code itself is stored as a keyed hash."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base
from idp.services.clock import utcnow


class OneTimeCode(Base):
    __tablename__ = "one_time_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # register | second_factor | recovery | unlock ...
    purpose: Mapped[str] = mapped_column(String(20))
    flow_hash: Mapped[str] = mapped_column(String(64), unique=True)
    citizen_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("citizens.id", ondelete="CASCADE"), index=True
    )
    phone: Mapped[str] = mapped_column(String(16), index=True)  # E.164
    code_hash: Mapped[str] = mapped_column(String(64))
    # Data waiting for the code (a registration's form values); never secrets.
    payload: Mapped[dict | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sends: Mapped[int] = mapped_column(Integer, default=1)
    last_sent_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    consumed_at: Mapped[datetime | None] = mapped_column(DateTime)
    ip: Mapped[str] = mapped_column(String(45), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
