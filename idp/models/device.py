"""Browsers a citizen has signed in from: a sign-in from a new one is notified."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base
from idp.services.clock import utcnow


class KnownDevice(Base):
    __tablename__ = "known_devices"
    __table_args__ = (
        UniqueConstraint("citizen_id", "device_hash", name="uq_known_devices_citizen_device"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizens.id", ondelete="CASCADE"), index=True
    )
    device_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the device cookie
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    ip: Mapped[str] = mapped_column(String(45), default="")
    first_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
