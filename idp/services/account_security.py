"""Changes a signed-in citizen makes to their own security settings: password, authenticator
app, recovery codes, signing out everywhere. Each change is audited and, except signing out,
told to the citizen by SMS (Vietnamese) — a change they did not make is their cue to act.

The secrets that authorise a change (current password, authenticator code) are checked by
``services.second_factors`` with the throttle, before these are called.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp import notify
from idp.models import Citizen, SsoSession
from idp.services import audit, id_tokens, logout, recovery_codes, tokens, totp
from idp.services.password_policy import check_new_password, personal_values
from idp.services.passwords import PasswordService

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
NOT_YOU = "Nếu không phải bạn, hãy đến UBND xã/phường ngay để được hỗ trợ."


def local_time(now: datetime) -> str:
    """"14:05 ngày 15/08/2025" in Vietnam's time, for SMS texts."""
    return now.replace(tzinfo=UTC).astimezone(VIETNAM).strftime("%H:%M ngày %d/%m/%Y")


def _tell(session: Session, citizen: Citizen, purpose: str, text: str) -> None:
    notify.send_sms(session, phone=citizen.phone, purpose=purpose, citizen_id=citizen.id,
                    body=f"ThaiNguyen ID: {text} {NOT_YOU}")


def _end_sessions(session: Session, citizen: Citizen, *, keep: SsoSession | None,
                  signer: id_tokens.Signer, pairwise_secret: bytes,
                  now: datetime) -> tuple[int, list[int]]:
    """End the citizen's sessions (all but ``keep``), each app told by back-channel logout."""
    tokens.lock_for_citizen(session, citizen.id)  # tokens before sessions, as the purge
    query = select(SsoSession).where(SsoSession.citizen_id == citizen.id)
    if keep is not None:
        query = query.where(SsoSession.id != keep.id)
    ended = session.scalars(query.order_by(SsoSession.id)).all()
    deliveries: list[int] = []
    for sso in ended:
        deliveries += logout.end_session(session, sso, signer=signer,
                                         pairwise_secret=pairwise_secret, now=now)
    return len(ended), deliveries


def change_password(session: Session, citizen: Citizen, new_password: str, *,
                    current: SsoSession, passwords: PasswordService, signer: id_tokens.Signer,
                    pairwise_secret: bytes, ip: str | None, now: datetime) -> list[int]:
    """Set a new password (raises ``InvalidInput`` when the policy refuses it, nothing
    changed); every other session ends and every refresh token is revoked — whoever knew the
    old password is out. Returns the back-channel deliveries to send after the commit."""
    password = check_new_password(new_password, personal_values=personal_values(
        cccd=citizen.cccd, phone=citizen.phone, birthdate=citizen.birthdate,
        full_name=citizen.full_name))
    citizen.password_hash = passwords.hash(password)
    citizen.password_changed_at = now
    count, deliveries = _end_sessions(session, citizen, keep=current, signer=signer,
                                      pairwise_secret=pairwise_secret, now=now)
    revoked = tokens.revoke_for_citizen(session, citizen.id, now)
    audit.record(session, "account:password:changed", actor_id=citizen.id,
                 citizen_id=citizen.id, ip=ip, now=now,
                 details={"sessions_ended": count, "tokens_revoked": revoked})
    _tell(session, citizen, "password_changed",
          f"mật khẩu tài khoản của bạn vừa được đổi lúc {local_time(now)}. Các thiết bị khác "
          "đã được đăng xuất.")
    return deliveries


def sign_out_everywhere(session: Session, citizen: Citizen, *, signer: id_tokens.Signer,
                        pairwise_secret: bytes, ip: str | None, now: datetime) -> list[int]:
    """End every session of the citizen (this browser's too) and revoke every token."""
    count, deliveries = _end_sessions(session, citizen, keep=None, signer=signer,
                                      pairwise_secret=pairwise_secret, now=now)
    revoked = tokens.revoke_for_citizen(session, citizen.id, now)
    audit.record(session, "account:sign_out_everywhere", actor_id=citizen.id,
                 citizen_id=citizen.id, ip=ip, now=now,
                 details={"sessions_ended": count, "tokens_revoked": revoked})
    return deliveries


def totp_enabled(session: Session, citizen: Citizen, *, ip: str | None,
                 now: datetime) -> list[str]:
    """After a confirmed enrolment: audit, tell, and return the first recovery codes."""
    codes = recovery_codes.generate(session, citizen, now=now)
    audit.record(session, "auth:totp:enabled", actor_id=citizen.id, citizen_id=citizen.id,
                 ip=ip, now=now, details={"recovery_codes": len(codes)})
    _tell(session, citizen, "totp_enabled",
          f"xác thực hai lớp bằng ứng dụng xác thực đã được bật cho tài khoản của bạn lúc "
          f"{local_time(now)}.")
    return codes


def turn_off_totp(session: Session, citizen: Citizen, *, ip: str | None, now: datetime) -> None:
    """Forget the authenticator and its recovery codes (they were its backup)."""
    totp.disable(session, citizen)
    dropped = recovery_codes.delete_all(session, citizen.id)
    audit.record(session, "auth:totp:disabled", actor_id=citizen.id, citizen_id=citizen.id,
                 ip=ip, now=now, details={"recovery_codes_deleted": dropped})
    _tell(session, citizen, "totp_disabled",
          f"xác thực hai lớp bằng ứng dụng xác thực đã được tắt lúc {local_time(now)}.")


def regenerate_recovery_codes(session: Session, citizen: Citizen, *, ip: str | None,
                              now: datetime) -> list[str]:
    codes = recovery_codes.generate(session, citizen, now=now)
    audit.record(session, "auth:recovery_codes:regenerated", actor_id=citizen.id,
                 citizen_id=citizen.id, ip=ip, now=now, details={"count": len(codes)})
    _tell(session, citizen, "recovery_codes",
          f"bộ mã khôi phục mới đã được tạo lúc {local_time(now)}; các mã cũ không còn dùng "
          "được.")
    return codes
