"""Recovery codes: ten single-use codes that stand in for the authenticator app when the phone
is lost (NIST SP 800-63B §5.1.1 "look-up secrets").

Codes are 10 characters from an alphabet without look-alikes (no 0/O, 1/I/L), shown as
"ABCD-EFGH-JK": about 49.5 bits each, far beyond what the throttle lets anyone guess online.
Only a SHA-256 of the citizen's id and the code is stored (the id salts it, so one table of
precomputed hashes does not serve every account). They are shown once, when generated;
generating a new batch deletes the old one. Using a code marks it used with a conditional
UPDATE, so two concurrent submissions of the same code cannot both succeed.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from idp.models import Citizen, RecoveryCode

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # 31 symbols, none easily confused
LENGTH = 10
COUNT = 10
MAX_INPUT = 64


class RecoveryCheck(enum.StrEnum):
    OK = "ok"
    WRONG = "wrong"
    USED = "used"            # a real code of this citizen, already spent
    MALFORMED = "malformed"  # wrong length or characters: not counted as a guess


def _format(raw: str) -> str:
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normalize(code: str | None) -> str | None:
    """Upper-case symbols without the dashes/spaces people type, or None when it cannot be a
    recovery code."""
    if not code or len(code) > MAX_INPUT:
        return None
    raw = "".join(ch for ch in code.upper() if not ch.isspace() and ch not in "-–")
    if len(raw) != LENGTH or any(ch not in ALPHABET for ch in raw):
        return None
    return raw


def _hash(citizen_id: uuid.UUID, raw: str) -> str:
    return hashlib.sha256(b"tnid:recovery:" + citizen_id.bytes + raw.encode("ascii")).hexdigest()


def generate(session: Session, citizen: Citizen, *, now: datetime) -> list[str]:
    """A new batch of ``COUNT`` codes (formatted for display); the old batch stops working.
    Flushed, not committed; the caller shows the codes once and never stores them."""
    batch = (session.scalar(select(func.max(RecoveryCode.batch))
                            .where(RecoveryCode.citizen_id == citizen.id)) or 0) + 1
    delete_all(session, citizen.id)
    codes: list[str] = []
    while len(codes) < COUNT:
        raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        if raw in codes:  # astronomically unlikely, but ten distinct codes are promised
            continue
        codes.append(raw)
        session.add(RecoveryCode(citizen_id=citizen.id, code_hash=_hash(citizen.id, raw),
                                 batch=batch, created_at=now))
    session.flush()
    return [_format(raw) for raw in codes]


def check(session: Session, citizen: Citizen, code: str | None, *,
          now: datetime) -> RecoveryCheck:
    """Spend a code if it is one of the citizen's unused ones. The caller commits and
    throttles failures."""
    raw = normalize(code)
    if raw is None:
        return RecoveryCheck.MALFORMED
    digest = _hash(citizen.id, raw)
    spent = session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.citizen_id == citizen.id, RecoveryCode.code_hash == digest,
               RecoveryCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False))
    if spent.rowcount == 1:
        return RecoveryCheck.OK
    known = session.scalar(select(RecoveryCode.id).where(
        RecoveryCode.citizen_id == citizen.id, RecoveryCode.code_hash == digest))
    return RecoveryCheck.USED if known is not None else RecoveryCheck.WRONG


def use(session: Session, citizen: Citizen, code: str | None, *, now: datetime) -> bool:
    return check(session, citizen, code, now=now) is RecoveryCheck.OK


def remaining(session: Session, citizen_id: uuid.UUID) -> int:
    return session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.citizen_id == citizen_id, RecoveryCode.used_at.is_(None))) or 0


def delete_all(session: Session, citizen_id: uuid.UUID) -> int:
    result = session.execute(delete(RecoveryCode).where(RecoveryCode.citizen_id == citizen_id)
                             .execution_options(synchronize_session=False))
    return result.rowcount or 0
