"""Relying apps: registering, updating and disabling them, client secrets, initial access
tokens (RFC 7591 §3) and registration access tokens (RFC 7592 §1.2).

Used by ``tnid clients``, the admin console and dynamic registration. The metadata rules live
in ``idp.services.client_metadata`` (re-exported here); nothing is written unless the whole
``ClientSpec`` is valid. No Flask request in here.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from idp.models import Client, InitialAccessToken
from idp.models.client import hash_secret
from idp.services import tokens
from idp.services.client_metadata import (
    GRANT_TYPES,
    ID_TOKEN_ALGS,
    LOOPBACK_HOSTS,
    MAX_NAME_LENGTH,
    MAX_URI_LENGTH,
    MAX_URIS,
    SECRET_METHODS,
    SUBJECT_TYPES,
    ClientSpec,
    validate,
)
from idp.services.clock import epoch
from idp.services.identifiers import InvalidInput

__all__ = [
    "GRANT_TYPES", "ID_TOKEN_ALGS", "LOOPBACK_HOSTS", "MAX_NAME_LENGTH", "MAX_URIS",
    "MAX_URI_LENGTH", "SECRET_METHODS", "SUBJECT_TYPES", "ClientSpec", "validate",
]


def create_client(session: Session, spec: ClientSpec, *, production: bool,
                  created_via: str = "cli") -> tuple[Client, str | None]:
    """Register an app; return it and its plaintext secret (None when it uses no secret)."""
    values = validate(spec, production=production)
    secret = secrets.token_urlsafe(32) if values["token_endpoint_auth_method"] in SECRET_METHODS \
        else None
    client = Client(client_id=_new_client_id(), created_via=created_via,
                    client_secret_hash=hash_secret(secret) if secret else None, **values)
    session.add(client)
    session.flush()
    return client, secret


def _new_client_id() -> str:
    """192 random bits, URL-safe; never starting with "-", which a command line (``tnid
    clients show -x...``) would take for an option."""
    while (client_id := secrets.token_urlsafe(24)).startswith("-"):
        pass
    return client_id


def update_client(session: Session, client: Client, spec: ClientSpec, *,
                  production: bool) -> Client:
    """Replace the metadata; client_id and secret stay. Moving to a method without a secret
    drops it; moving to a secret method needs ``rotate_secret`` before the app can sign in."""
    values = validate(spec, production=production)
    for column, value in values.items():
        setattr(client, column, value)
    if values["token_endpoint_auth_method"] not in SECRET_METHODS:
        client.client_secret_hash = None
    session.flush()
    return client


def rotate_secret(session: Session, client: Client) -> str:
    """Issue a new secret; the old one stops working at once."""
    if client.token_endpoint_auth_method not in SECRET_METHODS:
        raise InvalidInput("token_endpoint_auth_method", _l(
            "This app does not use a client secret (public client or private_key_jwt)."))
    secret = secrets.token_urlsafe(32)
    client.client_secret_hash = hash_secret(secret)
    session.flush()
    return secret


def disable_client(session: Session, client: Client, now: datetime) -> None:
    """Stop the app: it can no longer authenticate or manage itself (RFC 7592 §2.3), and its
    live tokens are revoked."""
    client.disabled_at = client.disabled_at or now
    client.registration_access_token_hash = None
    tokens.revoke_for_client(session, client.client_id, now)
    session.flush()


def enable_client(session: Session, client: Client) -> None:
    """Let a disabled app authenticate again. What disabling revoked stays revoked (citizens
    sign in again), and the app gets no registration access token back: a dynamically
    registered app that must manage itself again needs a new one (``tnid clients``)."""
    client.disabled_at = None
    session.flush()


def find_client(session: Session, client_id: str) -> Client | None:
    """The app with this client_id, disabled or not (callers check ``disabled_at``)."""
    if not isinstance(client_id, str) or not 0 < len(client_id) <= 64 \
            or not (client_id.isascii() and client_id.isprintable()):  # PostgreSQL refuses NUL
        return None
    return session.scalar(select(Client).where(Client.client_id == client_id))


def list_clients(session: Session) -> list[Client]:
    return list(session.scalars(select(Client).order_by(Client.created_at, Client.id)))


def create_initial_access_token(session: Session, *, now: datetime, lifetime: timedelta,
                                uses: int = 1, note: str | None) -> str:
    """RFC 7591 §3: a bearer token for ``uses`` registrations until ``now + lifetime``."""
    if not timedelta(minutes=1) <= lifetime <= timedelta(days=30):
        raise InvalidInput("lifetime", _l("The token must last between 1 minute and 30 days."))
    if isinstance(uses, bool) or not isinstance(uses, int) or not 1 <= uses <= 1000:
        raise InvalidInput("uses", _l("The number of uses must be between 1 and 1000."))
    note = " ".join(note.split()) or None if note else None
    if note and len(note) > 200:
        raise InvalidInput("note", _l("The note is too long (at most 200 characters)."))
    token = secrets.token_urlsafe(32)
    session.add(InitialAccessToken(token_hash=hash_secret(token), note=note, uses_left=uses,
                                   created_at=now, expires_at=now + lifetime))
    session.flush()
    return token


def consume_initial_access_token(session: Session, token: str, *, now: datetime) -> bool:
    """Spend one use of a valid, unexpired token. A single conditional UPDATE: two nodes racing
    for the last use cannot both win (the row lock makes the loser re-check uses_left)."""
    if not isinstance(token, str) or not 0 < len(token) <= 128:
        return False
    result = session.execute(
        update(InitialAccessToken)
        .where(InitialAccessToken.token_hash == hash_secret(token),
               InitialAccessToken.uses_left > 0, InitialAccessToken.expires_at > now)
        .values(uses_left=InitialAccessToken.uses_left - 1)
        .execution_options(synchronize_session=False))
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


# --- Registration access tokens (RFC 7592 §1.2) -------------------------------------------------

def issue_registration_access_token(session: Session, client: Client) -> str:
    """A new token for managing this client; any earlier one stops working."""
    token = secrets.token_urlsafe(32)
    client.registration_access_token_hash = hash_secret(token)
    session.flush()
    return token


def check_registration_access_token(client: Client, token: object) -> bool:
    if not isinstance(token, str) or not 0 < len(token) <= 128 \
            or not client.registration_access_token_hash or client.disabled_at is not None:
        return False
    return hmac.compare_digest(hash_secret(token), client.registration_access_token_hash)


def rotate_registration_access_token(session: Session, client: Client,
                                     presented: str) -> str | None:
    """Replace the token that was presented (RFC 7592 §3 lets the server rotate it on each
    update). A guarded UPDATE: of two requests made with one token, only one rotates it and
    the other gets None."""
    if not check_registration_access_token(client, presented):
        return None
    token = secrets.token_urlsafe(32)
    result = session.execute(
        update(Client)
        .where(Client.id == client.id,
               Client.registration_access_token_hash == hash_secret(presented))
        .values(registration_access_token_hash=hash_secret(token))
        .execution_options(synchronize_session=False))
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:
        return None
    client.registration_access_token_hash = hash_secret(token)
    return token


# --- RFC 7591 metadata names -------------------------------------------------------------------

# Client metadata member (RFC 7591 §2, OIDC Registration §2, RP-Initiated Logout §3.1,
# Back-Channel Logout §2.2) -> ClientSpec field. Members not listed are ignored (RFC 7591 §2).
MEMBERS = {
    "client_name": "name_vi", "client_name#en": "name_en", "redirect_uris": "redirect_uris",
    "post_logout_redirect_uris": "post_logout_redirect_uris",
    "backchannel_logout_uri": "backchannel_logout_uri", "scope": "scope",
    "grant_types": "grant_types", "token_endpoint_auth_method": "token_endpoint_auth_method",
    "jwks": "jwks", "jwks_uri": "jwks_uri", "subject_type": "subject_type",
    "id_token_signed_response_alg": "id_token_signed_response_alg", "logo_uri": "logo_uri",
}
MEMBER_OF = {field: member for member, field in MEMBERS.items()} \
    | {"sector_identifier": "subject_type", "response_types": "response_types"}


def spec_from_metadata(data: dict[str, Any], *, existing: Client | None = None) -> ClientSpec:
    """RFC 7591 client metadata -> ``ClientSpec`` (null members count as absent).

    ``trusted`` and ``min_acr`` are the province's decisions, never the app's: a new app gets
    neither, an updated one keeps what it had. The pairwise sector is never chosen by the app
    (no ``sector_identifier_uri``): it is the redirect URIs' one host, and an update must keep
    the redirect URIs under the sector the app already has, or every citizen's ``sub`` would
    change (OIDC Core §8.1).
    """
    if data.get("sector_identifier_uri") is not None:
        raise InvalidInput("sector_identifier", _l(
            "sector_identifier_uri is not supported: the pairwise sector is the host of the "
            "redirect URIs, which must all be on one host."))
    fields = {field: data[member] for member, field in MEMBERS.items()
              if data.get(member) is not None}
    keep_sector = existing is not None and existing.subject_type == "pairwise" \
        and fields.get("subject_type") == "pairwise"
    return ClientSpec(**{"name_vi": "", **fields},
                      sector_identifier=existing.sector_identifier if keep_sector else None,
                      min_acr=existing.min_acr if existing else None,
                      trusted=existing.trusted if existing else False)


def check_response_types(raw: object, grant_types: list[str]) -> None:
    """RFC 7591 §2.1: only ``code``, and exactly when the authorization_code grant is used."""
    if raw is None:
        return
    expected = ["code"] if "authorization_code" in grant_types else []
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw) \
            or sorted(set(raw)) != expected:
        raise InvalidInput("response_types", _l(
            "response_types must be [\"code\"] with the authorization_code grant, and empty "
            "without it."))


def registered_metadata(client: Client) -> dict[str, Any]:
    """The client information response (RFC 7591 §3.2.1): what is registered, RFC names."""
    data: dict[str, Any] = {
        "client_id": client.client_id, "client_id_issued_at": epoch(client.created_at),
        "client_name": client.name_vi, "client_name#en": client.name_en,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "scope": client.scope, "grant_types": list(client.grant_types),
        "response_types": ["code"] if "authorization_code" in client.grant_types else [],
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "subject_type": client.subject_type,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
    }
    if client.token_endpoint_auth_method in SECRET_METHODS:
        data["client_secret_expires_at"] = 0  # secrets do not expire; rotate to replace
    if client.backchannel_logout_uri:
        data["backchannel_logout_uri"] = client.backchannel_logout_uri
        data["backchannel_logout_session_required"] = True  # every logout token has sid
    optional = {"logo_uri": client.logo_uri, "jwks": client.jwks, "jwks_uri": client.jwks_uri}
    data.update({member: value for member, value in optional.items() if value is not None})
    return data
