"""The audit trail: append-only, each entry chained to the previous one by its hash."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base
from idp.services.clock import utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_citizen_created", "citizen_id", "created_at"),
        Index("ix_audit_events_action_created", "action", "created_at"),
        # Per-app figures in the console: tokens issued and refused per day.
        Index("ix_audit_events_client_created", "client_id", "created_at"),
        # The console's search by actor, newest first.
        Index("ix_audit_events_actor_created", "actor_id", "created_at"),
    )

    # BigInteger on PostgreSQL, INTEGER (rowid alias) on SQLite.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor_type: Mapped[str] = mapped_column(String(10))  # citizen | staff | system | anonymous
    actor_id: Mapped[str | None] = mapped_column(String(64))
    # The citizen concerned; no foreign key: the trail outlives the account.
    citizen_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(10), default="success")  # success | failure
    ip: Mapped[str | None] = mapped_column(String(45))
    client_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
