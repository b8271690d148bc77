"""Server-side single sign-on session; the browser holds only a random reference to it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.models.base import Base
from idp.models.citizen import Citizen
from idp.services.clock import utcnow


class SsoSession(Base):
    __tablename__ = "sso_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # SHA-256 of the cookie value: a database leak does not hand out live sessions.
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    # Public session id for OIDC ``sid`` claims and logout tokens; not a secret.
    sid: Mapped[str] = mapped_column(String(43), unique=True)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizens.id", ondelete="CASCADE"), index=True
    )
    auth_time: Mapped[datetime] = mapped_column(DateTime)
    amr: Mapped[list[str]] = mapped_column(JSON)
    acr: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ip: Mapped[str] = mapped_column(String(45))
    user_agent: Mapped[str] = mapped_column(String(255))

    citizen: Mapped[Citizen] = relationship(lazy="joined")
