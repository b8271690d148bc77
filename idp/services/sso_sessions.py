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
    replaces: str | None = None,
) -> tuple[str, SsoSession]:
    """Create a session and return (cookie token, row). Any session the browser already had
    is ended first, so the id is always fresh after sign-in (session fixation)."""
    if replaces:
        end_session(session, replaces)
    token = secrets.token_urlsafe(32)
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
