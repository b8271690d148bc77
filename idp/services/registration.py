"""Self-registration at identity level 1: who may sign up, and in which order things happen.

1. ``validate``: the form values, checked exactly like ``accounts.create_citizen`` does
   (CCCD format, CCCD ↔ birth year and gender, Vietnamese mobile, name, e-mail, commune).
2. ``start``: a six-digit code to the phone (``one_time_codes``, purpose "register"), the
   checked values waiting in the code's payload. At most ``notify.MAX_CODES_PER_PHONE`` sign-up
   codes per phone an hour and ``notify.MAX_CODES_PER_PHONE_PER_DAY`` a day — sign-up flows
   only: the recovery codes an existing account received must not change this answer.
3. ``confirm_code``: the code proves the phone. Only *now* is it checked whether the CCCD or
   phone already has an account: learning that costs a phone that receives the code, so the
   form cannot be used to test CCCD numbers one after another. The answer never shows the
   existing account's data.
4. ``complete``: the password (NIST blocklist, not the citizen's own numbers), then the
   account — level 1, phone verified — and the payload is erased (the flow cannot finish twice).

No Flask request here: the views pass the database session, clock, key and IP in.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from idp import notify
from idp.models import Citizen, OneTimeCode
from idp.services import accounts, audit, one_time_codes
from idp.services import identifiers as ids
from idp.services.identifiers import InvalidInput
from idp.services.one_time_codes import CodeCheck
from idp.services.password_policy import check_new_password, personal_values
from idp.services.passwords import PasswordService

PURPOSE = "register"
# After the code, this long to choose a password before starting again.
PASSWORD_STEP_LIFETIME = timedelta(minutes=20)


class Taken(enum.StrEnum):
    CCCD = "cccd"
    PHONE = "phone"


class TooManyCodes(Exception):
    """This phone received too many sign-up codes: ``window`` is "hour" or "day"."""

    def __init__(self, window: str = "hour") -> None:
        super().__init__(window)
        self.window = window


@dataclass(frozen=True)
class Applicant:
    """Checked, normalised sign-up values (kept in the code's payload: no secrets)."""

    cccd: str
    full_name: str
    birthdate: date
    gender: str
    phone: str
    email: str | None
    commune_code: str | None

    def payload(self) -> dict:
        return {**asdict(self), "birthdate": self.birthdate.isoformat()}

    @classmethod
    def from_payload(cls, data: dict) -> Applicant:
        return cls(**{**data, "birthdate": date.fromisoformat(data["birthdate"])})

    def personal_values(self) -> tuple[str, ...]:
        return personal_values(cccd=self.cccd, phone=self.phone, birthdate=self.birthdate,
                               full_name=self.full_name)


def validate(data: accounts.NewCitizen, *, today: date) -> Applicant:
    """Raise InvalidInput for the first bad field, in the order of the form."""
    cccd = ids.normalize_cccd(data.cccd)
    full_name = ids.normalize_full_name(data.full_name)
    birthdate = ids.parse_birthdate(data.birthdate, today=today)
    if data.gender not in (None, "", "male", "female"):
        raise InvalidInput("gender", _l("Gender must be male or female."))
    gender = ids.check_cccd_consistency(cccd, birthdate, data.gender or None)  # type: ignore[arg-type]
    phone = ids.normalize_phone(data.phone)
    email = ids.normalize_email(data.email)
    commune = (ids.normalize_commune_code(data.commune_code,
                                          province_code=ids.THAI_NGUYEN_PROVINCE_CODE)
               if data.commune_code else None)
    return Applicant(cccd, full_name, birthdate, gender, phone, email, commune)


def start(session: Session, applicant: Applicant, *, secret_key: str, now: datetime,
          ip: str) -> one_time_codes.Issued:
    """Issue the code (the caller sends ``issued.code`` and commits)."""
    limit = notify.phone_limit(session, phone=applicant.phone, now=now, purposes=(PURPOSE,))
    if limit is not None:
        audit.record(session, "auth:sms:throttled", actor_type="anonymous", outcome="failure",
                     ip=ip, details={"purpose": PURPOSE, "window": limit,
                                     "phone": ids.mask_phone(applicant.phone)}, now=now)
        raise TooManyCodes(limit)
    issued = one_time_codes.issue(session, purpose=PURPOSE, phone=applicant.phone,
                                  secret_key=secret_key, now=now, ip=ip,
                                  payload=applicant.payload())
    audit.record(session, "auth:sms:sent", actor_type="anonymous", ip=ip, now=now,
                 details={"purpose": PURPOSE, "phone": ids.mask_phone(applicant.phone)})
    return issued


def resend(session: Session, row: OneTimeCode, *, secret_key: str, now: datetime,
           ip: str) -> str | None:
    """A new code for the flow, or None while throttled (per flow or per phone)."""
    if not notify.may_send_code(session, phone=row.phone, now=now, purposes=(PURPOSE,)):
        return None
    code = one_time_codes.resend(session, row, secret_key=secret_key, now=now)
    if code is not None:
        audit.record(session, "auth:sms:sent", actor_type="anonymous", ip=ip, now=now,
                     details={"purpose": PURPOSE, "phone": ids.mask_phone(row.phone),
                              "resend": row.sends})
    return code


def confirm_code(session: Session, flow_token: str | None, code: str | None, *,
                 secret_key: str, now: datetime,
                 ip: str) -> tuple[CodeCheck, OneTimeCode | None, Taken | None]:
    """Check the code; on success also say whether the CCCD or phone is already taken."""
    check, row = one_time_codes.verify(session, flow_token, PURPOSE, code,
                                       secret_key=secret_key, now=now)
    if row is None or row.payload is None:
        return (CodeCheck.UNKNOWN if row is None else check), row, None
    masked = ids.mask_phone(row.phone)
    if check in (CodeCheck.WRONG, CodeCheck.TOO_MANY):
        audit.record(session, "auth:sms:failure", actor_type="anonymous", outcome="failure",
                     ip=ip, now=now, details={"purpose": PURPOSE, "phone": masked,
                                              "reason": check.value})
    if check != CodeCheck.OK:
        return check, row, None
    applicant = Applicant.from_payload(row.payload)
    taken = taken_by(session, applicant)
    audit.record(session, "account:phone:verified", actor_type="anonymous", ip=ip, now=now,
                 details={"purpose": PURPOSE, "phone": masked,
                          **({"already_registered": taken.value} if taken else {})})
    if taken is not None:
        row.payload = None  # the flow ends here; nothing of it is kept
    return check, row, taken


def taken_by(session: Session, applicant: Applicant) -> Taken | None:
    if session.scalar(select(Citizen.id).where(Citizen.cccd == applicant.cccd)) is not None:
        return Taken.CCCD
    if session.scalar(select(Citizen.id).where(Citizen.phone == applicant.phone)) is not None:
        return Taken.PHONE
    return None


def verified(session: Session, flow_token: str | None, *, now: datetime) -> OneTimeCode | None:
    """The flow whose code was confirmed recently and that has not created an account yet."""
    row = one_time_codes.find(session, flow_token, PURPOSE)
    if row is None or row.consumed_at is None or row.payload is None:
        return None
    if now - row.consumed_at > PASSWORD_STEP_LIFETIME:
        return None
    return row


def complete(session: Session, row: OneTimeCode, password: str, *, passwords: PasswordService,
             now: datetime, ip: str) -> Citizen:
    """Create the account. Raises InvalidInput (password) or accounts.DuplicateAccount (the
    CCCD or phone was registered meanwhile); nothing is written then."""
    applicant = Applicant.from_payload(row.payload or {})
    password = check_new_password(password, personal_values=applicant.personal_values())
    citizen = accounts.create_citizen(
        session,
        accounts.NewCitizen(cccd=applicant.cccd, full_name=applicant.full_name,
                            birthdate=applicant.birthdate, phone=applicant.phone,
                            email=applicant.email, gender=applicant.gender,
                            commune_code=applicant.commune_code, identity_level=1),
        passwords=passwords, password=password, today=now.date(),
    )
    citizen.phone_verified_at = now
    citizen.password_changed_at = now
    row.payload = None  # personal data no longer needed here; the flow cannot finish twice
    row.citizen_id = citizen.id
    audit.record(session, "account:register:success", actor_type="citizen", actor_id=citizen.id,
                 citizen_id=citizen.id, ip=ip, now=now,
                 details={"identity_level": 1, "phone": ids.mask_phone(citizen.phone)})
    return citizen
