"""What a citizen agreed to share with a relying app (personal data law 91/2025/QH15)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base
from idp.services.clock import utcnow


class Consent(Base):
    __tablename__ = "consents"
    __table_args__ = (
        UniqueConstraint("citizen_id", "client_id", name="uq_consents_citizen_client"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizens.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("clients.client_id", ondelete="CASCADE"), index=True
    )
    scopes: Mapped[list[str]] = mapped_column(JSON)  # sorted
    granted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Recorded even for trusted first-party apps whose consent screen is skipped.
    implicit: Mapped[bool] = mapped_column(default=False)
