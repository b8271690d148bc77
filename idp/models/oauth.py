"""Authorization codes and tokens. Only SHA-256 hashes of the secrets are stored."""

from __future__ import annotations

import uuid
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.models.base import Base
from idp.models.citizen import Citizen
from idp.models.client import Client
from idp.services.clock import epoch, utcnow


class CodeRules:
    """What a code answers (authlib's ``AuthorizationCodeMixin``), shared by the ORM model
    and the ``CodeView`` that the token endpoint gets back from its one-statement claim."""

    # --- authlib AuthorizationCodeMixin ------------------------------------------------------

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return epoch(self.auth_time)

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> list[str]:
        return list(self.amr)


class AuthorizationCode(CodeRules, Base):
    __tablename__ = "authorization_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("clients.client_id", ondelete="CASCADE"), index=True
    )
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizens.id", ondelete="CASCADE"), index=True
    )
    redirect_uri: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(10))
    claims: Mapped[dict | None] = mapped_column(JSON)  # OIDC Core §5.5 claims request
    sid: Mapped[str | None] = mapped_column(String(43))
    auth_time: Mapped[datetime] = mapped_column(DateTime)
    acr: Mapped[str] = mapped_column(String(32))
    amr: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    # Kept after use: a second presentation must revoke what the first one issued.
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class CodeView(CodeRules, SimpleNamespace):
    """A claimed code's columns as a plain object (read only)."""


class Token(Base):
    """One access token and, optionally, the refresh token issued with it.

    Refresh tokens rotate: each use creates a new row in the same ``family_id`` and marks the
    old refresh token used. Presenting a used one revokes the whole family (RFC 9700 §4.14.2).
    """

    __tablename__ = "tokens"
    # Per-app usage in the staff console (tokens per day) is a range scan of this index; it
    # also serves the foreign key's lookups (a leading client_id).
    __table_args__ = (Index("ix_tokens_client_issued", "client_id", "issued_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("clients.client_id", ondelete="CASCADE")
    )
    citizen_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("citizens.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(Text)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    access_expires_at: Mapped[datetime] = mapped_column(DateTime)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True, default=uuid.uuid4)
    family_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    code_id: Mapped[int | None] = mapped_column(Integer, index=True)
    sid: Mapped[str | None] = mapped_column(String(43), index=True)
    auth_time: Mapped[datetime | None] = mapped_column(DateTime)
    acr: Mapped[str | None] = mapped_column(String(32))
    amr: Mapped[list[str] | None] = mapped_column(JSON)
    claims: Mapped[dict | None] = mapped_column(JSON)
    refresh_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    client: Mapped[Client] = relationship(lazy="joined")
    citizen: Mapped[Citizen | None] = relationship(lazy="joined")

    # --- authlib TokenMixin ------------------------------------------------------------------

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.access_expires_at - self.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.access_expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def get_user(self) -> Citizen | None:
        return self.citizen

    def get_client(self) -> Client:
        return self.client
