"""Staff accounts (province administrators, commune officers, auditors) — separate from
citizen accounts, always with TOTP — and the communes an officer may act on."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.models.base import Base
from idp.services.clock import utcnow


class StaffRole(enum.StrEnum):
    SUPERADMIN = "superadmin"   # everything: apps, staff, citizens of every commune
    OFFICER = "officer"         # citizens of their own communes only
    AUDITOR = "auditor"         # read-only, including the audit trail


class StaffAccount(Base):
    __tablename__ = "staff_accounts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(64), unique=True)  # lower case
    display_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[StaffRole] = mapped_column(
        Enum(StaffRole, native_enum=False, length=12,
             values_callable=lambda e: [m.value for m in e]),
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    # TOTP is mandatory: enrolment is forced at the first sign-in (secret sealed with
    # services.crypto like citizens' authenticators; usable once ``totp_confirmed_at`` is set).
    totp_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    totp_last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    # Same brute-force counters as citizens (services.throttle's rule).
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Bumped to end every console session of this account at once (disable, password or
    # TOTP reset); the session cookie carries the value it was issued with.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    communes: Mapped[list[StaffCommune]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="StaffCommune.commune_code")

    @property
    def commune_codes(self) -> frozenset[str]:
        return frozenset(c.commune_code for c in self.communes)

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None

    def __repr__(self) -> str:
        return f"<StaffAccount {self.username} {self.role.value}>"


class StaffCommune(Base):
    """A commune/ward (5-digit code) an officer serves."""

    __tablename__ = "staff_communes"

    staff_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("staff_accounts.id", ondelete="CASCADE"), primary_key=True)
    commune_code: Mapped[str] = mapped_column(String(5), primary_key=True)
