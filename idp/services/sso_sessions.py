"""Server-side SSO sessions: created at sign-in, looked up by a hashed cookie value, expired
after an idle period and an absolute lifetime, ended at sign-out.

The cookie carries 256 random bits; only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from idp.models import Citizen, CitizenStatus, SsoSession

ACR_ONE_FACTOR = "urn:tnid:acr:1"
ACR_TWO_FACTORS = "urn:tnid:acr:2"
# Writing last_seen on every request would turn every page view into a write; a minute of
# slack on a 30-minute idle limit is harmless.
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def start_session(
    session: Session,
    citizen: Citizen,
    *,
    amr: list[str],
    acr: str,
    ip: str,
    user_agent: str,
    now: datetime,
    continues: SsoSession | None = None,
) -> tuple[str, SsoSession]:
    """Start a session and return (cookie token, row). The cookie value is always new
    (session fixation). Re-authentication of the same citizen (prompt=login, max_age) keeps
    the session's ``sid``, so the apps already in it stay linked for back-channel logout;
    a previous session of *another* citizen must be ended by the caller first."""
    token = secrets.token_urlsafe(32)
    if continues is not None:
        if continues.citizen_id != citizen.id:
            raise ValueError("a session can only be continued by its own citizen")
        continues.token_hash = _hash(token)
        continues.auth_time = continues.created_at = continues.last_seen_at = now
        continues.amr, continues.acr = amr, acr
        continues.ip, continues.user_agent = ip[:45], (user_agent or "")[:255]
        session.flush()
        return token, continues
    row = SsoSession(
        token_hash=_hash(token), sid=secrets.token_urlsafe(32), citizen_id=citizen.id,
        auth_time=now, amr=amr, acr=acr, created_at=now, last_seen_at=now,
        ip=ip[:45], user_agent=(user_agent or "")[:255],
    )
    session.add(row)
    session.flush()
    return token, row


def load_session(
    session: Session, token: str | None, *, policy: SessionPolicy, now: datetime
) -> SsoSession | None:
    """The live session for this cookie value, or None (and an expired one is deleted)."""
    if not token or len(token) > 128:
        return None
    row = session.scalar(select(SsoSession).where(SsoSession.token_hash == _hash(token)))
    if row is None:
        return None
    expired = (now - row.last_seen_at > policy.idle or now - row.created_at > policy.absolute)
    if expired or row.citizen.status != CitizenStatus.ACTIVE:
        session.delete(row)  # the caller commits
        return None
    if now - row.last_seen_at >= TOUCH_INTERVAL:
        row.last_seen_at = now
    return row


def end_session(session: Session, token: str) -> bool:
    result = session.execute(delete(SsoSession).where(SsoSession.token_hash == _hash(token)))
    return bool(result.rowcount)


def end_all_sessions(session: Session, citizen: Citizen) -> int:
    result = session.execute(delete(SsoSession).where(SsoSession.citizen_id == citizen.id))
    return result.rowcount or 0
