"""Getting back into an account by phone: unlock after too many failures, and forgot password.

Both start the same way: an identifier (CCCD or phone) → a six-digit code by SMS to the
account's phone (``one_time_codes``, purpose "unlock" or "recovery"). The answer never tells
whether an account exists: an identifier without an (active) account gets a *decoy* flow —
a code row with no citizen and no SMS — that behaves exactly like a real one (wrong code,
attempts, resend, expiry, limits) and can never succeed.

Limits, on top of the flow's own (5 attempts in all, resends included; 5 sends), counted per
*subject*: the account (its CCCD and its phone are one subject, keyed by the citizen's id) or,
without an account, the normalised identifier (keyed by its HMAC: CCCD and phone of nobody
cannot be known to be one person). Both kinds live in the throttle's counter storage, so a
real account and a decoy answer alike:

- at most ``DAILY_SENDS`` codes a day (``start`` and resends together); then no code at all
  is issued and the citizen is told to come back tomorrow or go to the commune office;
- at most ``DAILY_CODE_CHECKS`` code checks a day, reserved before the code is compared (so
  parallel requests get no more), then ``CodeCheck.LIMITED`` — the unlock and recovery codes
  of an account cannot be guessed across many flows;
- the authenticator / recovery-code step after the SMS code is held by the account's throttle
  (``throttle.check``, which claims the delay window; the lock is not honoured there).

The flow's progress is kept server-side in the code row's ``payload`` (``verified_at``,
``second_factor``, ``done``); the browser only holds the flow token. A copied or replayed
session cookie therefore cannot repeat a finished reset, and another browser has no flow.

Forgot password, after the SMS code: a citizen with an authenticator app also gives a code
from it or a recovery code (NIST SP 800-63B §6.1.2.3: recovery must not be weaker than the
authenticators it replaces); without either, the commune office helps (admin issue). Then a
new password (the registration policy) ends every session of the citizen — apps are told by
back-channel logout — revokes every refresh token, forgets the known devices, clears the
throttle, and the citizen is told by SMS.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from idp import notify
from idp.models import Citizen, CitizenStatus, KnownDevice, OneTimeCode, SsoSession
from idp.services import (
    accounts,
    audit,
    id_tokens,
    logout,
    one_time_codes,
    recovery_codes,
    throttle,
    tokens,
    totp,
)
from idp.services.accounts import canonical_identifier
from idp.services.devices import local_time
from idp.services.one_time_codes import CodeCheck
from idp.services.password_policy import check_new_password, personal_values
from idp.services.passwords import PasswordService

UNLOCK, RECOVERY = "unlock", "recovery"
ACTIVATION = "activation"  # services.activation's self-service path reuses these steps
PURPOSE_VI = {UNLOCK: "mở khóa tài khoản", RECOVERY: "đặt lại mật khẩu",
              ACTIVATION: "kích hoạt tài khoản"}
# After the SMS code, this long to finish (second factor, new password).
VERIFIED_WINDOW = timedelta(minutes=15)
# Per subject (account, or identifier without one) and day, unlock and recovery together.
DAILY_SENDS = 10
DAILY_CODE_CHECKS = 10
DAY = timedelta(days=1)


class DailyLimit(Exception):
    """``DAILY_SENDS`` codes were sent for this subject today: none is issued."""


def _account(session: Session, identifier: str) -> Citizen | None:
    citizen = accounts.find_by_identifier(session, identifier)
    if citizen is None or citizen.status != CitizenStatus.ACTIVE or not citizen.phone:
        return None
    return citizen


def subject_key(session: Session, identifier: str, *, secret_key: str) -> str:
    """The opaque key that counts an identifier's codes: the account's (CCCD and phone of one
    account share it) or, without an account, the identifier's own."""
    return _subject_key(_account(session, identifier), identifier, secret_key)


def _subject_key(citizen: Citizen | None, identifier: str, secret_key: str) -> str:
    subject = (f"citizen:{citizen.id}" if citizen is not None
               else canonical_identifier(identifier))
    return throttle.counter_key(secret_key, "recovery", subject)


def start(session: Session, identifier: str, *, purpose: str, secret_key: str, now: datetime,
          ip: str, domain: str | None, counters: throttle.LimiterCounters) -> str:
    """Send a code for ``purpose`` if ``identifier`` names an active account; return the
    flow token either way (flushed, the caller commits). Raises ``DailyLimit`` — for
    accounts and decoys alike — once the subject had ``DAILY_SENDS`` codes today."""
    citizen = _account(session, identifier)
    key = _subject_key(citizen, identifier, secret_key)
    if counters.hit("sends:" + key, DAY) > DAILY_SENDS or (
            citizen is not None and _sent_today(session, citizen.phone, now) >= DAILY_SENDS):
        audit.record(session, f"auth:{purpose}:code_requested", actor_type="anonymous",
                     citizen_id=citizen.id if citizen else None, outcome="failure", ip=ip,
                     details={"reason": "daily_limit"}, now=now)
        raise DailyLimit
    if citizen is None:
        decoy = one_time_codes.issue(session, purpose=purpose, phone="", secret_key=secret_key,
                                     now=now, ip=ip, payload={"subject": key})
        audit.record(session, f"auth:{purpose}:code_requested", actor_type="anonymous",
                     outcome="failure", ip=ip, details={"account": "none"}, now=now)
        return decoy.flow_token
    issued = one_time_codes.issue(session, purpose=purpose, phone=citizen.phone,
                                  secret_key=secret_key, now=now, citizen_id=citizen.id, ip=ip,
                                  payload={"subject": key})
    _send_code(session, issued.row, issued.code, domain=domain)
    audit.record(session, f"auth:{purpose}:code_requested", actor_type="anonymous",
                 citizen_id=citizen.id, ip=ip, details={"sent": True}, now=now)
    return issued.flow_token


def resend(session: Session, row: OneTimeCode, *, secret_key: str, now: datetime,
           domain: str | None, counters: throttle.LimiterCounters) -> bool:
    """A new code for the flow (False while throttled); decoys "resend" nothing. Raises
    ``DailyLimit`` as ``start`` does."""
    if one_time_codes.resend_wait(row, now=now) != 0:
        return False
    key = (row.payload or {}).get("subject", "")
    if counters.hit("sends:" + key, DAY) > DAILY_SENDS or (
            row.citizen_id is not None and _sent_today(session, row.phone, now) >= DAILY_SENDS):
        raise DailyLimit
    code = one_time_codes.resend(session, row, secret_key=secret_key, now=now)
    if code is None:
        return False
    if row.citizen_id is not None:
        _send_code(session, row, code, domain=domain)
    return True


def _sent_today(session: Session, phone: str, now: datetime) -> int:
    """Unlock and recovery codes texted to ``phone`` in the last day (the database's count,
    for deployments whose counter storage is per process)."""
    return int(session.scalar(
        select(func.coalesce(func.sum(OneTimeCode.sends), 0)).where(
            OneTimeCode.phone == phone, OneTimeCode.purpose.in_((UNLOCK, RECOVERY)),
            OneTimeCode.last_sent_at > now - DAY)) or 0)


def _send_code(session: Session, row: OneTimeCode, code: str, *, domain: str | None) -> None:
    notify.send_sms(session, phone=row.phone, purpose=row.purpose, citizen_id=row.citizen_id,
                    body=one_time_codes.sms_body(code, purpose_vi=PURPOSE_VI[row.purpose],
                                                 domain=domain))


def _checkable(row: OneTimeCode | None, code: str | None, now: datetime) -> bool:
    """Would ``one_time_codes.verify`` compare ``code`` (so count it against the subject)?"""
    return (row is not None and row.consumed_at is None and now < row.expires_at
            and row.attempts < one_time_codes.MAX_ATTEMPTS
            and one_time_codes.normalize_code(code) is not None)


def check_code(session: Session, flow_token: str | None, purpose: str, code: str | None, *,
               secret_key: str, now: datetime, ip: str,
               counters: throttle.LimiterCounters) -> tuple[CodeCheck, OneTimeCode | None]:
    """Check the SMS code (audited); a correct one marks the flow verified. Each check is
    first counted against the subject's ``DAILY_CODE_CHECKS`` (``CodeCheck.LIMITED`` past
    it, the code not compared)."""
    row = one_time_codes.find(session, flow_token, purpose)
    if _checkable(row, code, now):
        assert row is not None
        key = (row.payload or {}).get("subject", "")
        if counters.hit("checks:" + key, DAY) > DAILY_CODE_CHECKS:
            audit.record(session, f"auth:{purpose}:code:failure", actor_type="anonymous",
                         citizen_id=row.citizen_id, outcome="failure", ip=ip,
                         details={"reason": CodeCheck.LIMITED.value}, now=now)
            session.flush()
            return CodeCheck.LIMITED, row
    result, row = one_time_codes.verify(session, flow_token, purpose, code,
                                        secret_key=secret_key, now=now)
    if result is CodeCheck.OK and row is not None and row.citizen_id is None:
        result = CodeCheck.WRONG  # a decoy's code was guessed: still nothing to unlock
    if result is CodeCheck.OK:
        assert row is not None
        row.payload = {**(row.payload or {}), "verified_at": now.isoformat()}
    elif row is not None and result is not CodeCheck.MALFORMED:
        audit.record(session, f"auth:{purpose}:code:failure", actor_type="anonymous",
                     citizen_id=row.citizen_id, outcome="failure", ip=ip,
                     details={"reason": result.value}, now=now)
    session.flush()
    return result, row


@dataclass(frozen=True)
class Flow:
    """A flow whose SMS code was right, still open."""

    row: OneTimeCode
    citizen: Citizen

    @property
    def second_factor_done(self) -> bool:
        return bool((self.row.payload or {}).get("second_factor"))


def verified_flow(session: Session, flow_token: str | None, purpose: str, *,
                  now: datetime) -> Flow | None:
    row = one_time_codes.find(session, flow_token, purpose)
    if row is None or row.citizen_id is None or row.consumed_at is None:
        return None
    payload = row.payload or {}
    if payload.get("done") or "verified_at" not in payload \
            or now - row.consumed_at > VERIFIED_WINDOW:
        return None
    citizen = session.get(Citizen, row.citizen_id)
    if citizen is None or citizen.status != CitizenStatus.ACTIVE:
        return None
    return Flow(row, citizen)


def _finish(flow: Flow, **values: object) -> None:
    flow.row.payload = {**(flow.row.payload or {}), **values, "done": True}


# --- unlock ---------------------------------------------------------------------------------


def unlock(session: Session, flow: Flow, *, ip: str, now: datetime) -> None:
    """Lift the lock and the delays (the phone was proven); audited, the citizen told."""
    citizen = flow.citizen
    was_locked = bool(citizen.unlock_required)
    throttle.clear(citizen)
    _finish(flow)
    audit.record(session, "auth:unlock", actor_id=citizen.id, citizen_id=citizen.id, ip=ip,
                 details={"was_locked": was_locked}, now=now)
    notify.send_sms(session, phone=citizen.phone, purpose="unlocked", citizen_id=citizen.id,
                    body=(f"ThaiNguyen ID: tài khoản của bạn đã được mở khóa lúc "
                          f"{local_time(now)}. Nếu không phải bạn, hãy đổi mật khẩu ngay."))
    session.flush()


# --- forgot password --------------------------------------------------------------------------


def needs_second_factor(session: Session, citizen: Citizen) -> bool:
    return totp.is_enabled(session, citizen.id)


class Factor(enum.StrEnum):
    OK = "ok"
    WRONG = "wrong"
    REPLAYED = "replayed"      # an authenticator code already used
    USED = "used"              # a recovery code already spent
    MALFORMED = "malformed"
    THROTTLED = "throttled"


_TOTP_RESULTS = {totp.TotpCheck.OK: Factor.OK, totp.TotpCheck.REPLAYED: Factor.REPLAYED,
                 totp.TotpCheck.MALFORMED: Factor.MALFORMED}
_RECOVERY_RESULTS = {recovery_codes.RecoveryCheck.OK: Factor.OK,
                     recovery_codes.RecoveryCheck.USED: Factor.USED,
                     recovery_codes.RecoveryCheck.MALFORMED: Factor.MALFORMED}


def second_factor(session: Session, flow: Flow, *, totp_code: str | None,
                  recovery_code: str | None, secret_key: str, now: datetime,
                  ip: str) -> tuple[Factor, int]:
    """The authenticator code (or a recovery code) of a citizen with TOTP; throttled on the
    account's counter — ``throttle.check`` claims the delay window before the code is looked
    at, so parallel requests get one check per window (its lock is ignored here: the phone was
    proven, and a reset lifts it).
    Returns the result and, when throttled, the seconds to wait."""
    citizen = flow.citizen
    verdict = throttle.check(citizen, now=now, honour_unlock=False)
    if not verdict.allowed:
        return Factor.THROTTLED, verdict.retry_after
    if totp_code:
        kind = "totp"
        checked = totp.check(session, citizen, totp_code, secret_key=secret_key, now=now)
        result = _TOTP_RESULTS.get(checked, Factor.WRONG)
    else:
        kind = "recovery"
        checked = recovery_codes.check(session, citizen, recovery_code, now=now)
        result = _RECOVERY_RESULTS.get(checked, Factor.WRONG)
    if result is Factor.OK:
        flow.row.payload = {**(flow.row.payload or {}), "second_factor": kind}
        audit.record(session, f"auth:recovery:{kind}", actor_id=citizen.id,
                     citizen_id=citizen.id, ip=ip, now=now)
    elif result is not Factor.MALFORMED:
        throttle.record_failure(session, citizen, kind=kind, ip=ip, now=now)
    session.flush()
    return result, 0


def reset_password(session: Session, flow: Flow, new_password: str, *,
                   passwords: PasswordService, signer: id_tokens.Signer,
                   pairwise_secret: bytes, now: datetime, ip: str) -> list[int]:
    """Set the new password (raises ``InvalidInput`` on a refused one, nothing changed) and
    end everything the old one opened. Returns the back-channel deliveries to send after
    the commit."""
    citizen = flow.citizen
    if needs_second_factor(session, citizen) and not flow.second_factor_done:
        raise PermissionError("second factor missing")  # the view never gets here without it
    # The same policy as sign-up and password change (name and every birthdate format).
    password = check_new_password(new_password, personal_values=personal_values(
        cccd=citizen.cccd, phone=citizen.phone, birthdate=citizen.birthdate,
        full_name=citizen.full_name))
    citizen.password_hash = passwords.hash(password)
    citizen.password_changed_at = now
    throttle.clear(citizen)
    deliveries: list[int] = []
    tokens.lock_for_citizen(session, citizen.id)  # tokens before sessions, as the purge
    ended = session.scalars(select(SsoSession).where(SsoSession.citizen_id == citizen.id)
                            .order_by(SsoSession.id)).all()
    for sso in ended:
        deliveries += logout.end_session(session, sso, signer=signer,
                                         pairwise_secret=pairwise_secret, now=now)
    revoked = tokens.revoke_for_citizen(session, citizen.id, now)  # offline grants too
    devices_forgotten = session.execute(
        delete(KnownDevice).where(KnownDevice.citizen_id == citizen.id)).rowcount or 0
    _finish(flow)
    audit.record(session, "auth:password:reset", actor_id=citizen.id, citizen_id=citizen.id,
                 ip=ip, details={"sessions_ended": len(ended), "tokens_revoked": revoked,
                                 "devices_forgotten": devices_forgotten,
                                 "second_factor": (flow.row.payload or {}).get("second_factor")},
                 now=now)
    notify.send_sms(session, phone=citizen.phone, purpose="password_reset",
                    citizen_id=citizen.id,
                    body=(f"ThaiNguyen ID: mật khẩu tài khoản của bạn vừa được đặt lại lúc "
                          f"{local_time(now)}. Mọi thiết bị đã được đăng xuất. Nếu không phải "
                          "bạn, hãy đến UBND xã/phường ngay để được hỗ trợ."))
    session.flush()
    return deliveries

