"""Activation: a citizen without a password (assisted enrolment, bulk import) sets one.

Two ways in:

- an **activation code** an officer issued (``issue``): printed on a slip handed over at the
  commune office, or sent by SMS to the phone on file. Ten symbols from an alphabet without
  look-alikes (no 0/O, 1/I/L), stored as an HMAC under a key derived from the app secret,
  valid ``LIFETIME``, single use (an atomic UPDATE), ``MAX_ATTEMPTS`` wrong guesses per code,
  and a new code ends the older ones of that citizen. ``redeem`` checks CCCD + code under the
  account's throttle (``services.throttle``: growing delays, the same ghost counters for a CCCD
  without an account, so the answers never tell whether a CCCD has an account);
- **self-service by SMS** for imported citizens who never got a code: CCCD + the phone on
  file → a six-digit code (``one_time_codes``, purpose ``ACTIVATION``, the recovery flow's code
  and resend steps and limits) → a password. A CCCD and phone that do not name an account
  waiting for activation get a decoy flow that behaves the same and can never succeed.

Either way the password follows the sign-up policy, the phone counts as verified when a code
reached it by SMS (not for a slip), and the audit trail gets "account:activated".
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idp import notify
from idp.models import ActivationCode, Citizen, CitizenStatus, OneTimeCode, StaffAccount
from idp.services import audit, one_time_codes, recovery, throttle
from idp.services import identifiers as ids
from idp.services.accounts import canonical_identifier
from idp.services.devices import local_time
from idp.services.identifiers import InvalidInput
from idp.services.password_policy import check_new_password, personal_values
from idp.services.passwords import PasswordService

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # 31 symbols, none easily confused
LENGTH = 10                                    # ~49 bits
LIFETIME = timedelta(hours=72)
MAX_ATTEMPTS = 5                               # wrong guesses against one code, then a new one
CHANNELS = ("sms", "slip")
ACTIVATION = recovery.ACTIVATION               # one_time_codes purpose of the self-service path


class NotActivatable(InvalidInput):
    """The account already has a password, or is locked: no code is issued."""


def is_activated(citizen: Citizen) -> bool:
    return citizen.password_hash is not None


def _key(secret_key: str) -> bytes:
    return hashlib.sha256(b"tnid:activation-code:" + secret_key.encode()).digest()


def _hash(secret_key: str, code: str) -> str:
    return hmac.new(_key(secret_key), code.encode(), hashlib.sha256).hexdigest()


def normalize_code(raw: str | None) -> str | None:
    """Upper case without spaces or dashes; None unless ``LENGTH`` symbols of the alphabet."""
    text = "".join(ch for ch in (raw or "")[:64] if not ch.isspace() and ch != "-").upper()
    if len(text) != LENGTH or any(ch not in ALPHABET for ch in text):
        return None
    return text


def format_code(code: str) -> str:
    """"ABCDE-FGHJK": two groups, easier to read aloud and to type."""
    return f"{code[:5]}-{code[5:]}"


def issue(session: Session, citizen: Citizen, channel: str, *, staff: StaffAccount | None,
          secret_key: str, now: datetime, domain: str | None = None) -> str:
    """A new activation code for ``citizen`` (older unused ones stop working); sent by SMS
    for ``channel == "sms"``. Returns the code, formatted, for the slip — shown once, never
    stored. Flushed; the caller commits and audits the staff action around it."""
    if channel not in CHANNELS:
        raise InvalidInput("channel", _l("Choose how the citizen gets the activation code."))
    if is_activated(citizen) or citizen.status != CitizenStatus.ACTIVE:
        raise NotActivatable("citizen", _l("This account is already activated or is locked: "
                                           "no activation code is needed."))
    session.execute(update(ActivationCode)
                    .where(ActivationCode.citizen_id == citizen.id,
                           ActivationCode.used_at.is_(None))
                    .values(expires_at=now).execution_options(synchronize_session=False))
    code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    session.add(ActivationCode(citizen_id=citizen.id, code_hash=_hash(secret_key, code),
                               channel=channel, staff_id=staff.id if staff else None,
                               attempts=0, expires_at=now + LIFETIME, created_at=now))
    session.flush()
    shown = format_code(code)
    if channel == "sms":
        site = f" tại {domain}/activate" if domain else ""
        notify.send_sms(session, phone=citizen.phone, purpose="activation_code",
                        citizen_id=citizen.id,
                        body=(f"ThaiNguyen ID: mã kích hoạt tài khoản của bạn là {shown}, "
                              f"dùng được trong 72 giờ{site}. Không đưa mã này cho ai."))
    return shown


# --- redeeming a code -------------------------------------------------------------------------


class Redeem(enum.StrEnum):
    OK = "ok"
    WRONG = "wrong"            # wrong CCCD or code, expired, used, too many: one answer
    THROTTLED = "throttled"    # wait ``retry_after`` seconds
    MALFORMED = "malformed"    # not a code's shape: not counted


@dataclass(frozen=True)
class Redeemed:
    result: Redeem
    citizen: Citizen | None = None
    code: ActivationCode | None = None
    retry_after: int = 0


def _ghost_key(secret_key: str, cccd: str) -> str:
    return throttle.counter_key(secret_key, "activation", canonical_identifier(cccd))


def redeem(session: Session, cccd: str, code: str, *, secret_key: str,
           counters: throttle.CounterStore, ip: str | None, now: datetime) -> Redeemed:
    """Check CCCD + activation code (nothing is consumed: ``activate`` does that with the
    password). Every refusal looks the same whether or not the CCCD has an account waiting
    for activation; failures are audited and counted (flushed, the caller commits)."""
    normalized = normalize_code(code)
    if normalized is None:
        return Redeemed(Redeem.MALFORMED)
    citizen = _waiting(session, cccd)
    if citizen is None:
        key = _ghost_key(secret_key, cccd)
        verdict = throttle.check_ghost(counters, key, now=now)
        if not verdict.allowed:
            return Redeemed(Redeem.THROTTLED, retry_after=verdict.retry_after or 60)
        throttle.record_ghost_failure(counters, key, now=now)
        audit.record(session, "auth:activation:failure", actor_type="anonymous",
                     outcome="failure", ip=ip, details={"account": "none"}, now=now)
        return Redeemed(Redeem.WRONG)
    verdict = throttle.check(citizen, now=now, honour_unlock=False)
    if not verdict.allowed:
        return Redeemed(Redeem.THROTTLED, retry_after=verdict.retry_after or 60)
    row = session.scalar(select(ActivationCode).where(
        ActivationCode.citizen_id == citizen.id, ActivationCode.used_at.is_(None),
        ActivationCode.expires_at > now).order_by(ActivationCode.id.desc()).limit(1))
    # Reserve the attempt before comparing (guarded +1: parallel guesses get no more).
    reserved = row is not None and (session.execute(
        update(ActivationCode).where(ActivationCode.id == row.id,
                                     ActivationCode.attempts < MAX_ATTEMPTS)
        .values(attempts=ActivationCode.attempts + 1)
        .execution_options(synchronize_session=False)).rowcount or 0) == 1
    if reserved and row is not None and hmac.compare_digest(row.code_hash,
                                                            _hash(secret_key, normalized)):
        return Redeemed(Redeem.OK, citizen=citizen, code=row)
    throttle.record_failure(session, citizen, kind="activation", ip=ip, now=now)
    return Redeemed(Redeem.WRONG)


def _waiting(session: Session, cccd: str) -> Citizen | None:
    """The account with this CCCD if it is active and has no password yet."""
    try:
        number = ids.normalize_cccd(cccd)
    except InvalidInput:
        return None
    citizen = session.scalar(select(Citizen).where(Citizen.cccd == number))
    if citizen is None or is_activated(citizen) or citizen.status != CitizenStatus.ACTIVE:
        return None
    return citizen


def activate(session: Session, redeemed: Redeemed, new_password: str, *,
             passwords: PasswordService, ip: str | None, now: datetime) -> Citizen:
    """Set the first password with a redeemed code, spending it (raises ``InvalidInput`` for
    a refused password — the code stays usable — and ``NotActivatable`` when the code was
    spent by a parallel request)."""
    citizen, row = redeemed.citizen, redeemed.code
    assert redeemed.result is Redeem.OK and citizen is not None and row is not None
    password = _check_password(citizen, new_password)
    spent = session.execute(
        update(ActivationCode).where(ActivationCode.id == row.id,
                                     ActivationCode.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount or 0
    if spent != 1:
        raise NotActivatable("code", _l("This code has already been used."))
    _set_password(session, citizen, password, passwords=passwords,
                  phone_verified=row.channel == "sms", channel=row.channel, ip=ip, now=now)
    return citizen


def _check_password(citizen: Citizen, new_password: str) -> str:
    return check_new_password(new_password, personal_values=personal_values(
        cccd=citizen.cccd, phone=citizen.phone, birthdate=citizen.birthdate,
        full_name=citizen.full_name))


def _set_password(session: Session, citizen: Citizen, password: str, *,
                  passwords: PasswordService, phone_verified: bool, channel: str,
                  ip: str | None, now: datetime) -> None:
    citizen.password_hash = passwords.hash(password)
    citizen.password_changed_at = now
    if phone_verified and citizen.phone_verified_at is None:
        citizen.phone_verified_at = now
    throttle.clear(citizen)
    # Any other code of this citizen is pointless now.
    session.execute(update(ActivationCode)
                    .where(ActivationCode.citizen_id == citizen.id,
                           ActivationCode.used_at.is_(None))
                    .values(expires_at=now).execution_options(synchronize_session=False))
    audit.record(session, "account:activated", actor_id=citizen.id, citizen_id=citizen.id,
                 ip=ip, details={"channel": channel}, now=now)
    notify.send_sms(session, phone=citizen.phone, purpose="activated", citizen_id=citizen.id,
                    body=(f"ThaiNguyen ID: tài khoản của bạn đã được kích hoạt lúc "
                          f"{local_time(now)}. Nếu không phải bạn, hãy đến UBND xã/phường "
                          "ngay để được hỗ trợ."))
    session.flush()


# --- self-service by SMS (bulk-imported citizens) ---------------------------------------------


def _subject_key(citizen: Citizen | None, cccd: str, secret_key: str) -> str:
    # The same key as the recovery flow's for an account: daily limits are shared.
    subject = f"citizen:{citizen.id}" if citizen is not None else canonical_identifier(cccd)
    return throttle.counter_key(secret_key, "recovery", subject)


def subject_key(session: Session, cccd: str, phone: str, *, secret_key: str) -> str:
    return _subject_key(_self_service_account(session, cccd, phone), cccd, secret_key)


def _self_service_account(session: Session, cccd: str, phone: str) -> Citizen | None:
    citizen = _waiting(session, cccd)
    if citizen is None:
        return None
    try:
        same_phone = ids.normalize_phone(phone) == citizen.phone
    except InvalidInput:
        same_phone = False
    return citizen if same_phone else None


def start_sms(session: Session, cccd: str, phone: str, *, secret_key: str, now: datetime,
              ip: str, domain: str | None, counters: throttle.LimiterCounters) -> str:
    """Send a six-digit code to the phone on file when CCCD and phone name an account
    waiting for activation; return the flow token either way (a decoy otherwise). Raises
    ``recovery.DailyLimit`` past the subject's daily sends, for decoys alike."""
    citizen = _self_service_account(session, cccd, phone)
    key = _subject_key(citizen, cccd, secret_key)
    if counters.hit("sends:" + key, recovery.DAY) > recovery.DAILY_SENDS:
        audit.record(session, "auth:activation:code_requested", actor_type="anonymous",
                     citizen_id=citizen.id if citizen else None, outcome="failure", ip=ip,
                     details={"reason": "daily_limit"}, now=now)
        raise recovery.DailyLimit
    if citizen is None:
        decoy = one_time_codes.issue(session, purpose=ACTIVATION, phone="",
                                     secret_key=secret_key, now=now, ip=ip,
                                     payload={"subject": key})
        audit.record(session, "auth:activation:code_requested", actor_type="anonymous",
                     outcome="failure", ip=ip, details={"account": "none"}, now=now)
        return decoy.flow_token
    issued = one_time_codes.issue(session, purpose=ACTIVATION, phone=citizen.phone,
                                  secret_key=secret_key, now=now, citizen_id=citizen.id, ip=ip,
                                  payload={"subject": key})
    notify.send_sms(session, phone=citizen.phone, purpose=ACTIVATION, citizen_id=citizen.id,
                    body=one_time_codes.sms_body(issued.code,
                                                 purpose_vi=recovery.PURPOSE_VI[ACTIVATION],
                                                 domain=domain))
    audit.record(session, "auth:activation:code_requested", actor_type="anonymous",
                 citizen_id=citizen.id, ip=ip, details={"sent": True}, now=now)
    return issued.flow_token


def activate_by_sms(session: Session, flow: recovery.Flow, new_password: str, *,
                    passwords: PasswordService, ip: str | None, now: datetime) -> Citizen:
    """After the SMS code of the self-service path: the first password (``InvalidInput`` on
    a refused one, nothing changed; ``NotActivatable`` if a password was set meanwhile)."""
    citizen = flow.citizen
    if is_activated(citizen):
        raise NotActivatable("citizen", _l("This account is already activated. Please sign in."))
    password = _check_password(citizen, new_password)
    flow.row.payload = {**(flow.row.payload or {}), "done": True}
    _set_password(session, citizen, password, passwords=passwords, phone_verified=True,
                  channel="sms_code", ip=ip, now=now)
    return citizen


def flow_row(session: Session, flow_token: str | None) -> OneTimeCode | None:
    return one_time_codes.find(session, flow_token, ACTIVATION)
