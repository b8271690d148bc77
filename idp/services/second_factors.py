"""Checking a secret of a signed-in citizen — a second factor at step-up, or the password and
code that confirm a sensitive account change — with the account throttle around it.

Order (as Warehouse does it): the throttle first (``throttle.check`` before any secret is
looked at), then the secret, then every failure counted (``throttle.record_failure``, which
audits it) and a success resetting the count. Malformed input is answered without counting:
it guessed nothing. Per-IP limits are the views' (flask-limiter).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from idp import notify
from idp.models import Citizen, SsoSession
from idp.services import audit, one_time_codes, recovery_codes, sso_sessions, throttle, totp
from idp.services.clock import epoch
from idp.services.identifiers import mask_phone
from idp.services.one_time_codes import CodeCheck
from idp.services.passwords import PasswordService
from idp.services.recovery_codes import RecoveryCheck
from idp.services.totp import TotpCheck

SMS_PURPOSE = "second_factor"
SMS_PURPOSE_VI = "đăng nhập hai lớp"
MAX_PASSWORD_LENGTH = 1024
# How long a second factor counts as "just proven" for a security-sensitive change (NIST SP
# 800-63B §4.2.3: re-authenticate before such changes).
FRESH = timedelta(minutes=10)


class Method(enum.StrEnum):
    TOTP = "totp"
    SMS = "sms"
    RECOVERY = "recovery"


# RFC 8176 values; a recovery code has none of its own, so only "mfa" says it was there.
AMR_OF = {Method.TOTP: "otp", Method.SMS: "sms", Method.RECOVERY: None}


class Reason(enum.StrEnum):
    OK = "ok"
    WRONG = "wrong"
    REPLAYED = "replayed"      # TOTP time step already used
    MALFORMED = "malformed"
    EXPIRED = "expired"        # SMS code too old
    TOO_MANY = "too_many"      # SMS code: no attempts left, a new code is needed
    USED = "used"              # SMS or recovery code already spent
    UNKNOWN = "unknown"        # no SMS code flow for this browser
    NOT_ENABLED = "not_enabled"
    THROTTLED = "throttled"
    LOCKED = "locked"          # needs the SMS-code unlock


@dataclass(frozen=True)
class Outcome:
    reason: Reason
    retry_after: int = 0           # THROTTLED: seconds to wait
    attempts_left: int | None = None  # SMS codes

    @property
    def ok(self) -> bool:
        return self.reason is Reason.OK


def can_step_up(amr: list[str]) -> bool:
    """acr 2 is the password plus a second factor (or a QR approval from an acr-2 session):
    only a session that holds the password can add the second factor. A QR sign-in at acr 1
    must give the password first (a code alone on top of a scanned QR is not two factors
    the spec counts)."""
    return "pwd" in amr


def amr_after(amr: list[str], method: Method) -> list[str]:
    """The session's methods plus the second factor and "mfa": ["pwd"] + TOTP gives
    ["pwd", "otp", "mfa"]. Refuses a session without the password (``can_step_up``)."""
    if not can_step_up(amr):
        raise ValueError("a second factor needs a session that holds the password")
    methods = [m for m in amr if m != "mfa"]
    added = AMR_OF[method]
    if added and added not in methods:
        methods.append(added)
    return [*methods, "mfa"]


def step_up(session: Session, sso: SsoSession, method: Method, *, ip: str | None,
            user_agent: str, client_id: str | None, now: datetime,
            password_confirmed: bool = False) -> tuple[str, SsoSession]:
    """After a correct second factor (``check_code``): the same session (same ``sid``, so
    the apps in it stay linked) at acr 2 with the RFC 8176 methods, under a new cookie value
    (returned with the row). ``password_confirmed``: the password was re-entered just now
    (a QR session on the account pages). Audited; the caller commits."""
    citizen = sso.citizen
    base = list(sso.amr)
    if password_confirmed and "pwd" not in base:
        base.insert(0, "pwd")
    amr = amr_after(base, method)  # raises for a session without the password
    cookie, sso = sso_sessions.start_session(
        session, citizen, amr=amr, acr=sso_sessions.ACR_TWO_FACTORS, ip=ip or "",
        user_agent=user_agent, now=now, continues=sso)
    audit.record(session, "auth:second_factor:success", actor_id=citizen.id,
                 citizen_id=citizen.id, ip=ip, client_id=client_id,
                 details={"method": method.value, "amr": list(sso.amr)}, now=now)
    if method is Method.RECOVERY:
        audit.record(session, "auth:recovery_code:used", actor_id=citizen.id,
                     citizen_id=citizen.id, ip=ip, now=now,
                     details={"remaining": recovery_codes.remaining(session, citizen.id)})
    return cookie, sso


# --- security-sensitive changes: a fresh second factor --------------------------------------


def methods_for_changes(has_totp: bool) -> tuple[Method, ...]:
    """Which second factors may authorise a change to the second factors themselves: the
    authenticator (or one of its recovery codes) when there is one — an SMS code, which a
    SIM swap can give, must not remove or replace the stronger factor — else an SMS code to
    the phone on record."""
    return (Method.TOTP, Method.RECOVERY) if has_totp else (Method.SMS,)


@dataclass(frozen=True)
class Proof:
    """A second factor this browser gave for the session ``sid`` at ``at`` (epoch)."""
    sid: str
    at: int
    method: Method


def fresh_second_factor(sso: SsoSession, proof: Proof | None, *, has_totp: bool,
                        now: datetime) -> bool:
    """The one rule for security-sensitive changes (enrol or turn off an authenticator, new
    recovery codes): the session is at acr 2 *now*, holds the password, and this browser
    proved a second factor accepted for changes (``methods_for_changes``) for this very
    session within ``FRESH``. A password, a QR sign-in or an old step-up is not enough."""
    if proof is None or sso.acr != sso_sessions.ACR_TWO_FACTORS or not can_step_up(sso.amr):
        return False
    if proof.sid != sso.sid or proof.method not in methods_for_changes(has_totp):
        return False
    return 0 <= epoch(now) - proof.at <= FRESH.total_seconds()


def _throttled(citizen: Citizen, now: datetime) -> Outcome | None:
    verdict = throttle.check(citizen, now=now)
    if verdict.allowed:
        return None
    if verdict.unlock_required:
        return Outcome(Reason.LOCKED)
    return Outcome(Reason.THROTTLED, retry_after=verdict.retry_after)


def _failed(session: Session, citizen: Citizen, reason: Reason, *, kind: str, ip: str | None,
            now: datetime, attempts_left: int | None = None) -> Outcome:
    throttle.record_failure(session, citizen, kind=kind, ip=ip, now=now)
    return Outcome(reason, attempts_left=attempts_left)


def check_code(session: Session, citizen: Citizen, method: Method, code: str | None, *,
               secret_key: str, ip: str | None, now: datetime,
               flow_token: str | None = None) -> Outcome:
    """Check a second-factor code (``flow_token``: the browser's SMS-code flow). A correct
    code is spent; the caller commits in every case (failures are counted and audited)."""
    blocked = _throttled(citizen, now)
    if blocked is not None:
        return blocked
    if method is Method.TOTP:
        result = totp.check(session, citizen, code, secret_key=secret_key, now=now)
        if result is TotpCheck.OK:
            throttle.record_success(citizen)
            return Outcome(Reason.OK)
        if result in (TotpCheck.MALFORMED, TotpCheck.NOT_ENABLED):
            return Outcome(Reason(result.value))
        return _failed(session, citizen, Reason(result.value), kind="totp", ip=ip, now=now)
    if method is Method.RECOVERY:
        spent = recovery_codes.check(session, citizen, code, now=now)
        if spent is RecoveryCheck.OK:
            throttle.record_success(citizen)
            return Outcome(Reason.OK)
        if spent is RecoveryCheck.MALFORMED:
            return Outcome(Reason.MALFORMED)
        return _failed(session, citizen, Reason(spent.value), kind="recovery", ip=ip, now=now)
    checked, row = one_time_codes.verify(session, flow_token, SMS_PURPOSE, code,
                                         secret_key=secret_key, now=now)
    if row is not None and row.citizen_id != citizen.id:  # another citizen's flow: unknown
        checked = CodeCheck.UNKNOWN
    if checked is CodeCheck.OK:
        throttle.record_success(citizen)
        return Outcome(Reason.OK)
    if checked in (CodeCheck.WRONG, CodeCheck.TOO_MANY):
        left = one_time_codes.attempts_left(row) if row is not None else 0
        return _failed(session, citizen, Reason(checked.value), kind="sms", ip=ip, now=now,
                       attempts_left=left)
    return Outcome(Reason(checked.value))


def check_password(session: Session, citizen: Citizen, password: str | None, *,
                   passwords: PasswordService, ip: str | None, now: datetime) -> Outcome:
    """Re-check the signed-in citizen's password before a sensitive change."""
    blocked = _throttled(citizen, now)
    if blocked is not None:
        return blocked
    password = password or ""
    if not password or len(password) > MAX_PASSWORD_LENGTH:
        return Outcome(Reason.MALFORMED)
    if passwords.verify(citizen.password_hash, password):
        throttle.record_success(citizen)
        return Outcome(Reason.OK)
    return _failed(session, citizen, Reason.WRONG, kind="password", ip=ip, now=now)


@dataclass(frozen=True)
class Sent:
    flow_token: str | None  # the browser's flow (new, or the one it had)
    sent: bool              # a text went out now
    phone_capped: bool = False  # too many codes to this phone lately (``notify``)


def send_sms_code(session: Session, citizen: Citizen, flow_token: str | None, *, resend: bool,
                  secret_key: str, ip: str, domain: str | None, now: datetime) -> Sent:
    """Text a second-factor code unless the browser's flow still has a usable one
    (``resend``: a new code for it, within the per-flow and per-phone limits). Flushed; the
    caller commits and keeps ``flow_token``."""
    flow = one_time_codes.find(session, flow_token, SMS_PURPOSE)
    if flow is not None and flow.citizen_id != citizen.id:
        flow = None  # another citizen's flow in this browser: start a new one
    usable = flow is not None and flow.consumed_at is None and now < flow.expires_at \
        and flow.attempts < one_time_codes.MAX_ATTEMPTS
    if usable and not resend:
        return Sent(flow_token, sent=False)
    # A flow that can send no more (used, out of attempts or sends) gives way to a new one:
    # the citizen has passed the password already, and every wrong code still counts on the
    # account's throttle, so a new flow buys an attacker nothing.
    wait = one_time_codes.resend_wait(flow, now=now) if flow is not None else None
    if wait is None:
        flow = None
    elif wait > 0:
        return Sent(flow_token, sent=False)  # too soon for this flow
    if not notify.may_send_code(session, phone=citizen.phone, now=now):
        audit.record(session, "auth:sms:throttled", actor_id=citizen.id, citizen_id=citizen.id,
                     outcome="failure", ip=ip, now=now,
                     details={"purpose": SMS_PURPOSE, "phone": mask_phone(citizen.phone)})
        return Sent(flow_token, sent=False, phone_capped=True)
    if flow is not None:
        code = one_time_codes.resend(session, flow, secret_key=secret_key, now=now)
        assert code is not None  # resend_wait said yes
    else:
        issued = one_time_codes.issue(session, purpose=SMS_PURPOSE, phone=citizen.phone,
                                      secret_key=secret_key, now=now, citizen_id=citizen.id,
                                      ip=ip)
        code, flow_token = issued.code, issued.flow_token
    notify.send_sms(session, phone=citizen.phone, purpose=SMS_PURPOSE, citizen_id=citizen.id,
                    body=one_time_codes.sms_body(code, purpose_vi=SMS_PURPOSE_VI, domain=domain))
    audit.record(session, "auth:sms:sent", actor_id=citizen.id, citizen_id=citizen.id, ip=ip,
                 now=now, details={"purpose": SMS_PURPOSE, "phone": mask_phone(citizen.phone)})
    return Sent(flow_token, sent=True)
