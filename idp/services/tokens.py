"""Authorization codes, access tokens and refresh tokens: issue, look up, rotate, revoke.

Secrets are random and only their SHA-256 is stored. Single use is enforced with a guarded
UPDATE (``... WHERE used_at IS NULL``): of two concurrent redemptions exactly one changes a
row, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from idp.models import AuthorizationCode, Client, SessionClient, Token


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Lifetimes:
    code: timedelta
    access: timedelta
    refresh_idle: timedelta
    refresh_max: timedelta


# --- authorization codes -----------------------------------------------------------------------


def save_code(session: Session, code: str, **fields: object) -> AuthorizationCode:
    row = AuthorizationCode(code_hash=digest(code), **fields)
    session.add(row)
    return row


def redeem_code(session: Session, code: str, client: Client,
                now: datetime) -> AuthorizationCode | None:
    """Claim the code for this client, once. A second presentation revokes every token the
    first one produced (RFC 6749 §4.1.2, RFC 9700 §4.2) and returns None.

    The claim is one ``UPDATE ... RETURNING``: the row comes back only to the one caller
    whose update changed it, so of two concurrent exchanges exactly one wins.
    """
    code_hash = digest(code)
    claimed = session.scalars(
        update(AuthorizationCode)
        .where(AuthorizationCode.code_hash == code_hash,
               AuthorizationCode.client_id == client.client_id,
               AuthorizationCode.used_at.is_(None),
               AuthorizationCode.expires_at > now)
        .values(used_at=now)
        .returning(AuthorizationCode)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).one_or_none()
    if claimed is not None:
        return claimed
    row = session.scalar(select(AuthorizationCode).where(AuthorizationCode.code_hash == code_hash))
    if row is not None and row.client_id == client.client_id and row.used_at is not None:
        revoke_issued_from_code(session, row.id, now)
    return None


def revoke_issued_from_code(session: Session, code_id: int, now: datetime) -> int:
    families = select(Token.family_id).where(Token.code_id == code_id).scalar_subquery()
    return _revoke(session, Token.family_id.in_(families), now)


def record_session_client(session: Session, sid: str | None, client_id: str,
                          citizen_id: str) -> None:
    """Remember that this app took part in the SSO session (for back-channel logout)."""
    if not sid:
        return
    exists = session.scalar(select(SessionClient.id).where(
        SessionClient.sid == sid, SessionClient.client_id == client_id))
    if exists is None:
        session.add(SessionClient(sid=sid, client_id=client_id, citizen_id=citizen_id))


# --- tokens ------------------------------------------------------------------------------------


def save_token(
    session: Session,
    token: dict,
    *,
    client: Client,
    citizen_id: uuid.UUID | None,
    now: datetime,
    lifetimes: Lifetimes,
    code: AuthorizationCode | None = None,
    previous: Token | None = None,
) -> Token:
    """Store a freshly generated token response; ``previous`` is the rotated refresh token.

    The refresh window slides (idle lifetime from now) but never past the family's absolute
    end. When a refresh asked for a narrower scope, the access token gets that scope while
    the new refresh token keeps the grant's (RFC 6749 §6: "identical to that of the refresh
    token included by the client"): they are then stored as two rows of one family, the
    refresh row with an access token that was never handed out and has already expired.
    """
    refresh = token.get("refresh_token")
    family_expires = (previous.family_expires_at if previous
                      else now + lifetimes.refresh_max if refresh else None)
    source = code or previous
    common = dict(
        client_id=client.client_id, citizen_id=citizen_id, issued_at=now,
        family_id=previous.family_id if previous else uuid.uuid4(),
        family_expires_at=family_expires,
        code_id=code.id if code else (previous.code_id if previous else None),
        sid=source.sid if source else None,
        auth_time=source.auth_time if source else None,
        acr=source.acr if source else None,
        amr=list(source.amr) if source and source.amr is not None else None,
        claims=source.claims if source else None,
    )
    scope = token.get("scope", "")
    refresh_columns = dict(
        refresh_token_hash=digest(refresh) if refresh else None,
        refresh_expires_at=(min(now + lifetimes.refresh_idle, family_expires)
                            if refresh and family_expires else None),
    )
    access_expires = now + timedelta(seconds=int(token["expires_in"]))
    if refresh and previous is not None and scope != previous.scope:
        session.add(Token(scope=previous.scope, access_token_hash=digest(secrets.token_urlsafe(32)),
                          access_expires_at=now, **refresh_columns, **common))
        refresh_columns = dict(refresh_token_hash=None, refresh_expires_at=None)
    row = Token(scope=scope, access_token_hash=digest(token["access_token"]),
                access_expires_at=access_expires, **refresh_columns, **common)
    session.add(row)
    return row


def find_access_token(session: Session, access_token: str) -> Token | None:
    return session.scalar(select(Token).where(Token.access_token_hash == digest(access_token)))


def find_refresh_token(session: Session, refresh_token: str) -> Token | None:
    return session.scalar(select(Token).where(Token.refresh_token_hash == digest(refresh_token)))


def claim_refresh_token(session: Session, row: Token, now: datetime) -> Token | None:
    """Use a refresh token (found with ``find_refresh_token``) once. Presenting one already
    used is treated as theft: the whole family is revoked (RFC 9700 §4.14.2) and None
    returned. Of two concurrent uses the guarded UPDATE lets one through; the other finds it
    used and revokes the family."""
    claimed = session.execute(
        update(Token)
        .where(Token.id == row.id, Token.refresh_used_at.is_(None), Token.revoked_at.is_(None),
               Token.refresh_expires_at > now)
        .values(refresh_used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed == 1:
        set_committed_value(row, "refresh_used_at", now)
        return row
    session.refresh(row)  # why not: used (theft), revoked or expired — read it again
    if row.refresh_used_at is not None:
        revoke_family(session, row.family_id, now)
    return None


def revoke_family(session: Session, family_id: uuid.UUID, now: datetime) -> int:
    return _revoke(session, Token.family_id == family_id, now)


def revoke_token(session: Session, row: Token, now: datetime, *, whole_grant: bool) -> None:
    """RFC 7009: revoking a refresh token revokes its grant; an access token only itself."""
    if whole_grant:
        revoke_family(session, row.family_id, now)
    elif row.revoked_at is None:
        row.revoked_at = now


def revoke_for_citizen(session: Session, citizen_id: uuid.UUID, now: datetime) -> int:
    return _revoke(session, Token.citizen_id == citizen_id, now)


def revoke_for_sid(session: Session, sid: str, now: datetime) -> int:
    """Sign-out ends the tokens of that session, except offline (refresh) grants the citizen
    gave for use while away."""
    return _revoke(session, (Token.sid == sid) & or_(Token.refresh_token_hash.is_(None),
                                                     ~Token.scope.contains("offline_access")),
                   now)


def _revoke(session: Session, where: object, now: datetime) -> int:
    result = session.execute(
        update(Token).where(where, Token.revoked_at.is_(None)).values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def is_active(row: Token, now: datetime) -> bool:
    return row.revoked_at is None and row.access_expires_at > now
