"""A relying app (OAuth 2.0 client) registered with ThaiNguyen ID.

Implements authlib's ``ClientMixin`` so the protocol code can ask it the questions RFC 6749
needs answered (redirect URI, scope, grant type, authentication method).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base
from idp.services.clock import utcnow

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")


def hash_secret(secret: str) -> str:
    """Client secrets are 256 random bits: a fast hash is enough (a slow KDF would cost every
    token request ~30 ms for no gain)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ClientRules:
    """What a client answers, independent of storage: shared by the ORM model (writes,
    console) and the read-only ``ClientView`` of the protocol's hot paths. Implements
    authlib's ``ClientMixin``."""

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @property
    def scopes(self) -> list[str]:
        return self.scope.split()

    @property
    def client_metadata(self) -> dict:
        """What authlib's userinfo and registration endpoints read (RFC 7591 names)."""
        return {
            "client_name": self.name_vi, "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "grant_types": list(self.grant_types), "response_types": ["code"],
            "scope": self.scope, "id_token_signed_response_alg":
                self.id_token_signed_response_alg, "subject_type": self.subject_type,
        }

    def display_name(self, locale: str) -> str:
        return self.name_en if locale == "en" and self.name_en else self.name_vi

    # --- authlib ClientMixin -----------------------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OIDC Core §3.1.2.1 makes redirect_uri REQUIRED: never guess one.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = set(self.scopes)
        return " ".join(s for s in dict.fromkeys(scope.split()) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match (RFC 9700 §2.1)

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.client_secret_hash:
            return False
        return hmac.compare_digest(hash_secret(client_secret), self.client_secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class Client(ClientRules, Base):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    name_vi: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    logo_uri: Mapped[str | None] = mapped_column(String(500))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(Text, default="openid")
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    jwks: Mapped[dict | None] = mapped_column(JSON)
    jwks_uri: Mapped[str | None] = mapped_column(String(500))
    subject_type: Mapped[str] = mapped_column(String(10), default="public")
    sector_identifier: Mapped[str | None] = mapped_column(String(255))
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(10), default="RS256")
    min_acr: Mapped[str | None] = mapped_column(String(32))
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    # RFC 7592: the token that lets a dynamically registered client manage itself.
    registration_access_token_hash: Mapped[str | None] = mapped_column(String(64))
    created_via: Mapped[str] = mapped_column(String(16), default="cli")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime)

    def __repr__(self) -> str:
        return f"<Client {self.client_id}>"


class ClientView(ClientRules, SimpleNamespace):
    """A client row as a plain object: no identity map or change tracking (read only)."""
