"""Signing keys for ID tokens and logout tokens, published in the JWKS.

Life of a key: ``next`` (published, signs nothing yet) -> ``active`` (signs) -> ``retired``
(published until what it signed has expired) -> removed. Private keys are stored encrypted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base
from idp.services.clock import utcnow


class SigningKey(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(10), index=True)
    status: Mapped[str] = mapped_column(String(10), index=True)  # next | active | retired
    public_jwk: Mapped[dict] = mapped_column(JSON)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Published until then: the longest-lived thing it signed has expired by this time.
    unpublish_after: Mapped[datetime | None] = mapped_column(DateTime)
