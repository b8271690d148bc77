"""Brute-force defence for every guessable secret (password, TOTP, SMS code, recovery code,
QR number), per account: growing delays instead of a lockout an attacker could trigger at will
(NIST SP 800-63B §5.2.2), and after ``UNLOCK_AFTER`` consecutive failures the account needs an
SMS-code unlock. Per-IP limits are flask-limiter's job (``idp.web.deps``/views).

The state lives on the citizen row (``failed_attempts``, ``last_failure_at``,
``unlock_required``), so every node sees the same counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from idp.models import Citizen
from idp.services import audit

FREE_ATTEMPTS = 5          # typing mistakes cost nothing
MAX_DELAY = timedelta(minutes=15)
UNLOCK_AFTER = 100         # NIST SP 800-63B §5.2.2: at most 100 consecutive failures


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0          # seconds until the next attempt is accepted
    unlock_required: bool = False


def delay_after(failures: int) -> timedelta:
    """1 s after the sixth failure, doubling each time, at most ``MAX_DELAY``."""
    if failures < FREE_ATTEMPTS:
        return timedelta(0)
    return min(timedelta(seconds=2 ** min(failures - FREE_ATTEMPTS, 20)), MAX_DELAY)


def check(citizen: Citizen, *, now: datetime) -> Verdict:
    """May a secret of this account be checked now? Ask before checking it."""
    if citizen.unlock_required:
        return Verdict(False, unlock_required=True)
    if citizen.last_failure_at is None:
        return Verdict(True)
    ready_at = citizen.last_failure_at + delay_after(citizen.failed_attempts)
    if now >= ready_at:
        return Verdict(True)
    return Verdict(False, retry_after=max(1, int((ready_at - now).total_seconds() + 0.999)))


def record_failure(session: Session, citizen: Citizen, *, kind: str, ip: str | None,
                   now: datetime) -> Verdict:
    """Count a wrong secret (audited); returns the verdict for the next attempt."""
    citizen.failed_attempts = (citizen.failed_attempts or 0) + 1
    citizen.last_failure_at = now
    newly_locked = citizen.failed_attempts >= UNLOCK_AFTER and not citizen.unlock_required
    if newly_locked:
        citizen.unlock_required = True
    audit.record(session, f"auth:{kind}:failure", actor_type="anonymous", citizen_id=citizen.id,
                 outcome="failure", ip=ip,
                 details={"consecutive_failures": citizen.failed_attempts,
                          "unlock_required": citizen.unlock_required}, now=now)
    return check(citizen, now=now)


def record_success(citizen: Citizen) -> None:
    citizen.failed_attempts = 0
    citizen.last_failure_at = None
