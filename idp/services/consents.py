"""Consent per citizen and app: remembered for a scope set; new scopes ask again."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.models import Consent

# Scopes that reveal no personal data do not need the citizen's agreement.
NO_DATA_SCOPES = {"openid"}


def find(session: Session, citizen_id: uuid.UUID, client_id: str) -> Consent | None:
    return session.scalar(select(Consent).where(Consent.citizen_id == citizen_id,
                                                Consent.client_id == client_id))


def covers(consent: Consent | None, scopes: list[str]) -> bool:
    needed = set(scopes) - NO_DATA_SCOPES
    return consent is not None and needed <= set(consent.scopes)


def grant(session: Session, citizen_id: uuid.UUID, client_id: str, scopes: list[str],
          now: datetime, *, implicit: bool = False) -> Consent:
    """Record agreement to ``scopes`` (added to what was agreed before)."""
    consent = find(session, citizen_id, client_id)
    if consent is None:
        consent = Consent(citizen_id=citizen_id, client_id=client_id, scopes=[],
                          granted_at=now, implicit=implicit)
        session.add(consent)
    consent.scopes = sorted(set(consent.scopes) | set(scopes))
    consent.updated_at = now
    consent.implicit = consent.implicit and implicit
    return consent
