"""Short-lived protocol state shared by all nodes: pushed authorization requests (RFC 9126),
initial access tokens for dynamic registration (RFC 7591 §3), the apps that took part in an
SSO session, and back-channel logout deliveries waiting to be (re)sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base
from idp.services.clock import utcnow


class PushedAuthorizationRequest(Base):
    __tablename__ = "pushed_authorization_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_uri_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("clients.client_id", ondelete="CASCADE")
    )
    params: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class InitialAccessToken(Base):
    __tablename__ = "initial_access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    uses_left: Mapped[int] = mapped_column(Integer, default=1)


class SessionClient(Base):
    """An app that received tokens in an SSO session: it gets a back-channel logout."""

    __tablename__ = "session_clients"
    __table_args__ = (UniqueConstraint("sid", "client_id", name="uq_session_clients_sid_client"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sid: Mapped[str] = mapped_column(String(43), index=True)
    client_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("clients.client_id", ondelete="CASCADE")
    )
    citizen_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class LogoutDelivery(Base):
    """A signed logout token on its way to an app's back-channel logout URI."""

    __tablename__ = "logout_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("clients.client_id", ondelete="CASCADE")
    )
    uri: Mapped[str] = mapped_column(String(500))
    logout_token: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    given_up_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class UsedAssertion(Base):
    """``jti`` of a private_key_jwt client assertion already seen (RFC 7523 §3 replay)."""

    __tablename__ = "used_assertions"
    __table_args__ = (UniqueConstraint("client_id", "jti", name="uq_used_assertions_client_jti"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    jti: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
