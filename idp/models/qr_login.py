"""Cross-device QR sign-in requests: a desktop browser asks, a signed-in phone approves."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base
from idp.services.clock import utcnow


class QrSignInRequest(Base):
    __tablename__ = "qr_sign_in_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Hash of the random value held only by the browser that started the request.
    browser_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    # pending | scanned | approved | denied | used
    matching_number: Mapped[str] = mapped_column(String(2))
    choices: Mapped[list[str]] = mapped_column(JSON)
    number_attempts: Mapped[int] = mapped_column(Integer, default=0)
    interaction: Mapped[str | None] = mapped_column(Text)  # the pending authorization, if any
    client_id: Mapped[str | None] = mapped_column(String(64))
    # Host of the redirect URI the app asked for, shown on the phone (migration 0004).
    client_domain: Mapped[str | None] = mapped_column(String(253))
    requester_ip: Mapped[str] = mapped_column(String(45))
    requester_user_agent: Mapped[str] = mapped_column(String(255))
    approver_citizen_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    approver_sid: Mapped[str | None] = mapped_column(String(43))
    approver_acr: Mapped[str | None] = mapped_column(String(32))
    approver_ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
