"""A citizen's ThaiNguyen ID account."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Index,
    Integer,
    SmallInteger,
    String,
    Uuid,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

from idp.models.base import Base
from idp.services.clock import utcnow
from idp.services.identifiers import fold_name


class CitizenStatus(enum.StrEnum):
    ACTIVE = "active"
    LOCKED = "locked"
    DISABLED = "disabled"


class Citizen(Base):
    __tablename__ = "citizens"
    __table_args__ = (
        CheckConstraint("identity_level IN (1, 2)", name="identity_level"),
        CheckConstraint("gender IN ('male', 'female')", name="gender"),
        # An officer's name search stays inside their communes: one range scan per commune.
        Index("ix_citizens_commune_name", "commune_code", "name_folded"),
    )

    # The public OIDC ``sub`` derives from this id, never from the CCCD.
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    cccd: Mapped[str] = mapped_column(String(12), unique=True)
    full_name: Mapped[str] = mapped_column(String(100))
    # fold_name(full_name), kept in step by ``_fold_full_name``: staff search by name prefix
    # without diacritics or case. Bulk inserts that bypass the ORM must fill it themselves.
    name_folded: Mapped[str] = mapped_column(String(100), index=True, default="")
    birthdate: Mapped[date] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(6))
    phone: Mapped[str] = mapped_column(String(16), unique=True)  # E.164, +84...
    email: Mapped[str | None] = mapped_column(String(254))
    commune_code: Mapped[str | None] = mapped_column(String(5), index=True)
    identity_level: Mapped[int] = mapped_column(SmallInteger, default=1)
    status: Mapped[CitizenStatus] = mapped_column(
        Enum(CitizenStatus, native_enum=False, length=10,
             values_callable=lambda e: [m.value for m in e]),
        default=CitizenStatus.ACTIVE,
    )
    # None until the citizen sets one (imported and assisted-enrolment accounts).
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime)
    phone_verified_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Brute-force defence (services.throttle): consecutive failed secrets of any kind, when
    # the last one failed (the growing delay counts from it), and whether the account now
    # needs an SMS-code unlock (after 100 consecutive failures).
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime)
    unlock_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    @validates("full_name")
    def _fold_full_name(self, _key: str, value: str) -> str:
        self.name_folded = fold_name(value)
        return value

    def __repr__(self) -> str:  # never the CCCD or phone: reprs end up in logs
        return f"<Citizen {self.id}>"
