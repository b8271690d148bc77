"""Six-digit codes sent by SMS: registration, second factor, password recovery, unlock.

A code is bound to the browser that asked for it by a random *flow token* (the browser keeps
it; only its SHA-256 is stored) and to a purpose. It lives ``LIFETIME``, allows
``MAX_ATTEMPTS`` guesses *per flow* (a resend gives a new code, not new attempts), and is
consumed by its first correct use (an atomic UPDATE, so two concurrent submissions cannot both
succeed). Each guess first reserves an attempt with a guarded ``attempts + 1`` UPDATE and the
code is compared only when that reservation succeeded: parallel requests cannot get more than
``MAX_ATTEMPTS`` comparisons between them (PostgreSQL's row lock and SQLite's single writer
serialise the reservations; the guard re-checks the count). Codes are stored as HMAC-SHA256
under a key derived from TNID_SECRET_KEY: a leaked table does not give the million possible
codes away to a quick offline search. Resending is throttled (``RESEND_INTERVAL``, ``MAX_SENDS``).

Sending the text is the caller's choice of words; ``sms_body`` gives the standard Vietnamese
one, with the WebOTP line (``@domain #code``) that lets phones fill the code in.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from idp.models import OneTimeCode

LIFETIME = timedelta(minutes=5)
MAX_ATTEMPTS = 5
RESEND_INTERVAL = timedelta(seconds=60)
MAX_SENDS = 5
MAX_FLOW_TOKEN_LENGTH = 128


class CodeCheck(enum.StrEnum):
    OK = "ok"
    WRONG = "wrong"              # attempts left
    TOO_MANY = "too_many"        # this was the last allowed attempt; ask for a new code
    EXPIRED = "expired"
    USED = "used"
    UNKNOWN = "unknown"          # no such flow for this purpose (or another browser's)
    MALFORMED = "malformed"      # not six digits: not counted as an attempt
    LIMITED = "limited"          # (recovery) the account's daily code checks are used up


@dataclass(frozen=True)
class Issued:
    flow_token: str
    code: str
    row: OneTimeCode


def _flow_hash(flow_token: str) -> str:
    return hashlib.sha256(flow_token.encode()).hexdigest()


def _code_hash(secret_key: str, flow_hash: str, code: str) -> str:
    key = hashlib.sha256(b"tnid:one-time-code:" + secret_key.encode()).digest()
    return hmac.new(key, f"{flow_hash}:{code}".encode(), hashlib.sha256).hexdigest()


def _new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def normalize_code(raw: str | None) -> str | None:
    """Digits only (spaces and dashes people type are dropped); None unless six digits."""
    digits = "".join(ch for ch in (raw or "")[:32] if not ch.isspace() and ch != "-")
    return digits if len(digits) == 6 and digits.isascii() and digits.isdigit() else None


def issue(session: Session, *, purpose: str, phone: str, secret_key: str, now: datetime,
          citizen_id: uuid.UUID | None = None, payload: dict[str, Any] | None = None,
          ip: str = "") -> Issued:
    """A new code and flow (flushed, not committed). The caller sends ``code`` by SMS."""
    flow_token, code = secrets.token_urlsafe(32), _new_code()
    flow_hash = _flow_hash(flow_token)
    row = OneTimeCode(
        purpose=purpose, flow_hash=flow_hash, citizen_id=citizen_id, phone=phone,
        code_hash=_code_hash(secret_key, flow_hash, code), payload=payload, attempts=0,
        sends=1, last_sent_at=now, expires_at=now + LIFETIME, ip=ip[:45], created_at=now,
    )
    session.add(row)
    session.flush()
    return Issued(flow_token, code, row)


def find(session: Session, flow_token: str | None, purpose: str) -> OneTimeCode | None:
    """The flow's row (whatever its state), or None for an unknown token or purpose."""
    if not flow_token or len(flow_token) > MAX_FLOW_TOKEN_LENGTH:
        return None
    row = session.scalar(select(OneTimeCode).where(
        OneTimeCode.flow_hash == _flow_hash(flow_token)))
    return row if row is not None and row.purpose == purpose else None


def verify(session: Session, flow_token: str | None, purpose: str, code: str | None, *,
           secret_key: str, now: datetime) -> tuple[CodeCheck, OneTimeCode | None]:
    """Check a submitted code; a correct one is consumed. The caller commits."""
    row = find(session, flow_token, purpose)
    if row is None:
        return CodeCheck.UNKNOWN, None
    if row.consumed_at is not None:
        return CodeCheck.USED, row
    if now >= row.expires_at:
        return CodeCheck.EXPIRED, row
    if row.attempts >= MAX_ATTEMPTS:
        return CodeCheck.TOO_MANY, row
    digits = normalize_code(code)
    if digits is None:
        return CodeCheck.MALFORMED, row
    # Reserve the attempt before looking at the code: of N parallel guesses, at most the
    # attempts left get compared.
    table = OneTimeCode.__table__.c
    reserved = session.execute(
        update(OneTimeCode.__table__)
        .where(table.id == row.id, table.attempts < MAX_ATTEMPTS, table.consumed_at.is_(None),
               table.expires_at > now)
        .values(attempts=table.attempts + 1)
        .returning(table.attempts)).scalar_one_or_none()
    if reserved is None:  # a concurrent request used the last attempt, or the code
        session.refresh(row)
        if row.consumed_at is not None:
            return CodeCheck.USED, row
        return (CodeCheck.EXPIRED if now >= row.expires_at else CodeCheck.TOO_MANY), row
    set_committed_value(row, "attempts", reserved)
    if hmac.compare_digest(row.code_hash, _code_hash(secret_key, row.flow_hash, digits)):
        # Single use even against a concurrent submission of the same code; the reserved
        # attempt is given back (a right code is no wrong attempt).
        consumed = session.execute(
            update(OneTimeCode)
            .where(OneTimeCode.id == row.id, OneTimeCode.consumed_at.is_(None))
            .values(consumed_at=now, attempts=OneTimeCode.attempts - 1)
            .execution_options(synchronize_session=False))
        if consumed.rowcount != 1:
            session.refresh(row)
            return CodeCheck.USED, row
        session.refresh(row)
        return CodeCheck.OK, row
    return (CodeCheck.TOO_MANY if reserved >= MAX_ATTEMPTS else CodeCheck.WRONG), row


def attempts_left(row: OneTimeCode) -> int:
    return max(0, MAX_ATTEMPTS - row.attempts)


def resend_wait(row: OneTimeCode, *, now: datetime) -> int | None:
    """Seconds before another code may be sent for this flow; None when no more may be
    (sends used up, flow finished, or its attempts used up: a new code brings none)."""
    if row.sends >= MAX_SENDS or row.consumed_at is not None or row.attempts >= MAX_ATTEMPTS:
        return None
    ready = row.last_sent_at + RESEND_INTERVAL
    return 0 if now >= ready else int((ready - now).total_seconds() + 0.999)


def resend(session: Session, row: OneTimeCode, *, secret_key: str, now: datetime) -> str | None:
    """A fresh code for the same flow (the old one stops working; the attempts left are the
    flow's, they do not start again — else resending would buy guesses), or None while
    throttled. The caller sends it and commits."""
    if resend_wait(row, now=now) != 0:
        return None
    code = _new_code()
    row.code_hash = _code_hash(secret_key, row.flow_hash, code)
    row.sends += 1
    row.last_sent_at, row.expires_at = now, now + LIFETIME
    session.flush()
    return code


def sms_body(code: str, *, purpose_vi: str, domain: str | None = None) -> str:
    """The standard Vietnamese text. ``purpose_vi`` e.g. "xác minh số điện thoại"."""
    text = (f"ThaiNguyen ID: {code} là mã {purpose_vi} của bạn, có hiệu lực 5 phút. "
            "Không đưa mã này cho bất kỳ ai, kể cả người xưng là cán bộ.")
    if domain:  # WebOTP / iOS autofill: the code is offered only on this site
        text += f"\n\n@{domain} #{code}"
    return text
