"""Consent per citizen and app: remembered for a scope set; new scopes ask again.

One row per (citizen, app) holds the union of every scope the citizen agreed to share with
that app. Trusted (first-party) apps skip the screen, but their consent is still recorded
(``implicit``), so the citizen's list of connected apps is complete.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.models import Consent

# Scopes that reveal no personal data do not need the citizen's agreement once the app is
# known (the first sign-in still asks: the app learns that the citizen has an account).
NO_DATA_SCOPES = frozenset({"openid"})


def find(session: Session, citizen_id: uuid.UUID, client_id: str) -> Consent | None:
    return session.scalar(select(Consent).where(Consent.citizen_id == citizen_id,
                                                Consent.client_id == client_id))


_AGREED_SCOPES = select(Consent.__table__.c.scopes).where(
    Consent.__table__.c.citizen_id == bindparam("citizen_id"),
    Consent.__table__.c.client_id == bindparam("client_id"))


def agreed_scopes(session: Session, citizen_id: uuid.UUID, client_id: str) -> list[str] | None:
    """The scopes agreed to (read only, one Core query: the authorization hot path)."""
    return session.execute(_AGREED_SCOPES, {"citizen_id": citizen_id,
                                            "client_id": client_id}).scalar()


def covers_scopes(agreed: list[str] | None, scopes: Iterable[str]) -> bool:
    needed = set(scopes) - NO_DATA_SCOPES
    return agreed is not None and needed <= set(agreed)


def covers(consent: Consent | None, scopes: Iterable[str]) -> bool:
    """Has the citizen already agreed to every scope here that shares personal data?"""
    needed = set(scopes) - NO_DATA_SCOPES
    return consent is not None and needed <= set(consent.scopes)


def grant(session: Session, citizen_id: uuid.UUID, client_id: str, scopes: Iterable[str],
          now: datetime, *, implicit: bool = False) -> Consent:
    """Record agreement to ``scopes``, added to what was agreed before.

    Nothing is written when the consent already covers them (a trusted app records its
    consent on every sign-in: no needless UPDATE on that hot path). Two first sign-ins at
    once (two tabs, two nodes) race on the unique (citizen, app) row: the loser's insert
    fails inside a savepoint and it updates the winner's row instead.
    """
    scopes = set(scopes)
    consent = find(session, citizen_id, client_id)
    if consent is None:
        try:
            with session.begin_nested():
                consent = Consent(citizen_id=citizen_id, client_id=client_id,
                                  scopes=sorted(scopes), granted_at=now, updated_at=now,
                                  implicit=implicit)
                session.add(consent)
            return consent
        except IntegrityError:
            consent = find(session, citizen_id, client_id)
            if consent is None:  # deleted meanwhile (the citizen withdrew): nothing to merge
                raise
    merged = sorted(set(consent.scopes) | scopes)
    explicit_now = consent.implicit and not implicit
    if merged != sorted(consent.scopes) or explicit_now:
        consent.scopes = merged
        consent.updated_at = now
        consent.implicit = consent.implicit and implicit
    return consent
