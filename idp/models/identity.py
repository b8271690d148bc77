"""Identity evidence and activation codes.

An ``IdentityVerification`` is the record behind identity level 2: an officer checked the
citizen's document in person. An ``ActivationCode`` lets a citizen enrolled by an officer or
imported in bulk (no password yet) set a password: sent by SMS or printed on a slip, so unlike
sign-up codes it is not bound to a browser; stored as a hash, single use, short-lived.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, SmallInteger, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base
from idp.services.clock import utcnow


class IdentityVerification(Base):
    __tablename__ = "identity_verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizens.id", ondelete="CASCADE"), index=True)
    # e.g. "cccd_chip" (chip-based CCCD card), "cccd" (older card), "vneid" (VNeID level 2).
    document_type: Mapped[str] = mapped_column(String(20))
    # The document number the officer read off the document (matches the account's CCCD).
    document_number: Mapped[str] = mapped_column(String(12))
    staff_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("staff_accounts.id", ondelete="SET NULL"))
    commune_code: Mapped[str | None] = mapped_column(String(5))  # where it happened
    place: Mapped[str] = mapped_column(String(200), default="")  # e.g. "UBND xã Sảng Mộc"
    reason: Mapped[str] = mapped_column(String(500), default="")
    verified_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ActivationCode(Base):
    __tablename__ = "activation_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizens.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC, never the code
    channel: Mapped[str] = mapped_column(String(8))  # sms | slip
    staff_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("staff_accounts.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
