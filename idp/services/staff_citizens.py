"""Citizens in the staff console: search, the detail page and the staff actions.

Every query starts from ``staff_access.citizen_scope(staff)`` and every read or write of one
citizen goes through ``require_citizen`` / ``require_commune``: an officer can neither find,
open nor change a citizen outside their communes, whatever URL or form they send. Views pass
the session, staff member, time and IP in; no Flask request here.

Search must stay fast with 1.3 million citizens, so every query is an index lookup:
- a CCCD (12 digits) or a phone number (any Vietnamese format) is an exact match on a unique
  index;
- anything else is a name prefix on ``name_folded`` (``fold_name``: no diacritics, lower
  case), a range scan ``q <= name_folded < successor(q)`` that SQLite and PostgreSQL both serve
  from the index (``prefix_upper_bound``: right under byte-order and linguistic collations);
- pages are keyset pages ordered by (name_folded, id): the next page starts after the last
  row seen, and nothing counts the whole table.

Staff actions take a reason (``MIN_REASON``..``MAX_REASON`` characters) and leave an audit entry
"staff:citizen:<verb>" with ``details={"reason": ...}``; they flush, the view commits. Actions
that end sessions return the back-channel logout deliveries to send after the commit.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from idp import notify
from idp.models import (
    AuditEvent,
    Citizen,
    CitizenStatus,
    Client,
    Consent,
    IdentityVerification,
    SsoSession,
    StaffAccount,
    TotpCredential,
)
from idp.services import (
    accounts,
    activation,
    audit,
    id_tokens,
    logout,
    recovery_codes,
    staff_access,
    throttle,
    tokens,
    totp,
)
from idp.services import identifiers as ids
from idp.services.devices import local_time
from idp.services.identifiers import InvalidInput
from idp.services.passwords import PasswordService

PAGE_SIZE = 25
MIN_REASON, MAX_REASON = 5, 500
MAX_QUERY = 100
RECENT_AUDIT = 20
DOCUMENT_TYPES = ("cccd_chip", "cccd", "vneid")
NOT_YOU = "Nếu có thắc mắc, hãy đến UBND xã/phường để được hỗ trợ."


class NotFound(Exception):
    """No citizen with this id (the same for every staff member: ids are not secret)."""


# --- search ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    commune: str | None = None
    status: str | None = None
    level: int | None = None
    after: str | None = None   # cursor of the previous page's last row


@dataclass(frozen=True)
class SearchPage:
    rows: list[Citizen]
    kind: str                  # "cccd" | "phone" | "name" | "all"
    next_cursor: str | None = None


def _cursor(citizen: Citizen) -> str:
    raw = json.dumps([citizen.name_folded, str(citizen.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _uncursor(cursor: str | None) -> tuple[str, uuid.UUID] | None:
    if not cursor or len(cursor) > 400:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, ident = json.loads(raw)
        return str(name), uuid.UUID(str(ident))
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        return None


def classify(text: str) -> tuple[str, str]:
    """What the free-text box holds: ("cccd", number), ("phone", E.164), ("name", folded
    prefix) or ("all", ""). Raises ``InvalidInput`` for digits that are neither a CCCD nor
    a phone number (a mistyped number should say so, not silently search names)."""
    text = (text or "").strip()[:MAX_QUERY]
    if not text:
        return "all", ""
    if not any(ch.isalpha() for ch in text):
        if ids.looks_like_cccd(text):
            return "cccd", ids.normalize_cccd(text)
        try:
            return "phone", ids.normalize_phone(text)
        except InvalidInput:
            raise InvalidInput("q", _l("Enter a citizen ID number (12 digits), a phone number "
                                       "or the beginning of a name.")) from None
    folded = ids.fold_name(text)
    return ("name", folded) if folded else ("all", "")


_NEXT = {**{c: chr(ord(c) + 1) for c in "abcdefghijklmnopqrstuvwxy012345678"}, "9": "a"}


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string above every string starting with ``prefix``, in byte order (SQLite,
    PostgreSQL "C") *and* in linguistic collations (PostgreSQL en_US/vi_VN), which ignore
    spaces and punctuation at first: the last letter or digit is stepped to the next one
    ("nguyen van a" -> "nguyen van b"; "...z" carries). ``prefix + U+FFFF`` would be empty
    under glibc collations, where U+FFFF weighs nothing. None: no upper bound (all "z")."""
    chars = list(prefix)
    while chars:
        last = chars.pop()
        if last in _NEXT:
            return "".join(chars) + _NEXT[last]
    return None


def search(session: Session, staff: StaffAccount, query: SearchQuery, *,
           page_size: int = PAGE_SIZE) -> SearchPage:
    """One page of citizens this staff member may see (raises ``AccessDenied`` without the
    right to read citizens, ``InvalidInput`` for a query that cannot match)."""
    staff_access.require(staff, staff_access.Permission.CITIZENS_READ)
    kind, value = classify(query.text)
    where = [staff_access.citizen_scope(staff)]
    if query.commune:
        where.append(Citizen.commune_code == query.commune)
    if query.status:
        try:
            where.append(Citizen.status == CitizenStatus(query.status))
        except ValueError:
            raise InvalidInput("status", _l("Unknown account status.")) from None
    if query.level is not None:
        where.append(Citizen.identity_level == query.level)
    if kind == "cccd":
        row = session.scalar(select(Citizen).where(Citizen.cccd == value, *where))
        return SearchPage([row] if row else [], kind)
    if kind == "phone":
        row = session.scalar(select(Citizen).where(Citizen.phone == value, *where))
        return SearchPage([row] if row else [], kind)
    if kind == "name":
        # A range the index serves, walked in order up to the page size. The exact prefix
        # test is done on the fetched rows (below), not in SQL: PostgreSQL guesses 0.5 % for
        # an expression it cannot estimate, then prefers fetching and sorting every match.
        where.append(Citizen.name_folded >= value)
        upper = prefix_upper_bound(value)
        if upper is not None:
            where.append(Citizen.name_folded < upper)
    after = _uncursor(query.after)
    if after is not None:
        name, ident = after
        where.append(Citizen.name_folded >= name)
        where.append(or_(Citizen.name_folded > name,
                         and_(Citizen.name_folded == name, Citizen.id > ident)))
    rows = list(session.scalars(select(Citizen).where(*where)
                                .order_by(Citizen.name_folded, Citizen.id)
                                .limit(page_size + 1)))
    more = len(rows) > page_size
    rows = rows[:page_size]
    cursor = _cursor(rows[-1]) if more and rows else None  # from the last row *read*
    if kind == "name":
        # Byte-order collations put exactly the prefix's names in the range; linguistic ones
        # (spaces ignored) may add a neighbour such as "nguyenvana…" for "nguyen van a".
        rows = [row for row in rows if row.name_folded.startswith(value)]
    return SearchPage(rows, kind, cursor)


# --- detail ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppConsent:
    client_id: str
    name: str
    scopes: list[str]
    granted_at: datetime


@dataclass(frozen=True)
class Detail:
    citizen: Citizen
    verifications: list[IdentityVerification]
    staff_names: dict[uuid.UUID, str]
    totp_since: datetime | None
    recovery_codes_left: int
    sessions: list[SsoSession]
    apps: list[AppConsent]
    audit: list[AuditEvent]
    activated: bool
    may_write: bool = False


def load(session: Session, staff: StaffAccount, citizen_id: uuid.UUID | str, *,
         write: bool = False) -> Citizen:
    """The citizen, after the scope check (``AccessDenied``; ``NotFound`` for no such id)."""
    try:
        ident = citizen_id if isinstance(citizen_id, uuid.UUID) else uuid.UUID(str(citizen_id))
    except ValueError:
        raise NotFound from None
    citizen = session.get(Citizen, ident)
    if citizen is None:
        staff_access.require(staff, staff_access.Permission.CITIZENS_WRITE if write
                             else staff_access.Permission.CITIZENS_READ)
        raise NotFound
    staff_access.require_citizen(staff, citizen, write=write)
    return citizen


def detail(session: Session, staff: StaffAccount, citizen_id: uuid.UUID | str) -> Detail:
    citizen = load(session, staff, citizen_id)
    verifications = list(session.scalars(
        select(IdentityVerification).where(IdentityVerification.citizen_id == citizen.id)
        .order_by(IdentityVerification.verified_at.desc())))
    staff_ids = {v.staff_id for v in verifications if v.staff_id}
    staff_names = {s.id: s.display_name or s.username for s in session.scalars(
        select(StaffAccount).where(StaffAccount.id.in_(staff_ids)))} if staff_ids else {}
    totp_since = session.scalar(select(TotpCredential.confirmed_at).where(
        TotpCredential.citizen_id == citizen.id, TotpCredential.confirmed_at.is_not(None)))
    sessions = list(session.scalars(select(SsoSession).where(
        SsoSession.citizen_id == citizen.id).order_by(SsoSession.last_seen_at.desc())))
    apps = [AppConsent(client_id, name or client_id, list(scopes or []), granted)
            for client_id, name, scopes, granted in session.execute(
                select(Consent.client_id, Client.name_vi, Consent.scopes, Consent.granted_at)
                .join(Client, Client.client_id == Consent.client_id)
                .where(Consent.citizen_id == citizen.id).order_by(Consent.granted_at.desc()))]
    entries = list(session.scalars(
        select(AuditEvent).where(AuditEvent.citizen_id == citizen.id)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(RECENT_AUDIT)))
    return Detail(citizen=citizen, verifications=verifications, staff_names=staff_names,
                  totp_since=totp_since,
                  recovery_codes_left=recovery_codes.remaining(session, citizen.id)
                  if totp_since else 0,
                  sessions=sessions, apps=apps, audit=entries,
                  activated=activation.is_activated(citizen),
                  may_write=staff_access.has(staff, staff_access.Permission.CITIZENS_WRITE)
                  and staff_access.may_access_citizen(staff, citizen))


# --- actions --------------------------------------------------------------------------------


def check_reason(reason: str | None) -> str:
    reason = " ".join((reason or "").split())
    if len(reason) < MIN_REASON:
        raise InvalidInput("reason", _l("Please write the reason (at least %(n)s characters).",
                                        n=MIN_REASON))
    if len(reason) > MAX_REASON:
        raise InvalidInput("reason", _l("The reason is too long (at most %(n)s characters).",
                                        n=MAX_REASON))
    return reason


def _audit(session: Session, verb: str, staff: StaffAccount, citizen: Citizen, reason: str,
           *, ip: str | None, now: datetime, **details: object) -> None:
    audit.record(session, f"staff:citizen:{verb}", actor_type="staff", actor_id=staff.id,
                 citizen_id=citizen.id, ip=ip, now=now, details={"reason": reason, **details})


def _tell(session: Session, citizen: Citizen, purpose: str, text: str) -> None:
    notify.send_sms(session, phone=citizen.phone, purpose=purpose, citizen_id=citizen.id,
                    body=f"ThaiNguyen ID: {text} {NOT_YOU}")


def _begin(session: Session, staff: StaffAccount, citizen_id: uuid.UUID | str,
           reason: str | None) -> tuple[Citizen, str]:
    """Scope first (an out-of-scope attempt is refused and audited whatever its reason),
    then the reason."""
    citizen = load(session, staff, citizen_id, write=True)
    return citizen, check_reason(reason)


@dataclass(frozen=True)
class Signer:
    """What ending sessions needs to sign back-channel logout tokens."""

    signer: id_tokens.Signer
    pairwise_secret: bytes


def _end_everything(session: Session, citizen: Citizen, keys: Signer,
                    now: datetime) -> tuple[int, int, list[int]]:
    """End every session (apps told by back-channel logout) and revoke every token."""
    tokens.lock_for_citizen(session, citizen.id)  # tokens before sessions, as the purge
    ended = session.scalars(select(SsoSession).where(SsoSession.citizen_id == citizen.id)
                            .order_by(SsoSession.id)).all()
    deliveries: list[int] = []
    for sso in ended:
        deliveries += logout.end_session(session, sso, signer=keys.signer,
                                         pairwise_secret=keys.pairwise_secret, now=now)
    revoked = tokens.revoke_for_citizen(session, citizen.id, now)  # offline grants too
    return len(ended), revoked, deliveries


def lock(session: Session, staff: StaffAccount, citizen_id: uuid.UUID | str,
         reason: str | None, *, keys: Signer, ip: str | None, now: datetime) -> list[int]:
    citizen, reason = _begin(session, staff, citizen_id, reason)
    if citizen.status is CitizenStatus.LOCKED:
        raise InvalidInput("status", _l("This account is already locked."))
    citizen.status = CitizenStatus.LOCKED
    count, revoked, deliveries = _end_everything(session, citizen, keys, now)
    _audit(session, "locked", staff, citizen, reason, ip=ip, now=now,
           sessions_ended=count, tokens_revoked=revoked)
    _tell(session, citizen, "staff_locked",
          f"tài khoản của bạn đã bị tạm khóa lúc {local_time(now)}.")
    session.flush()
    return deliveries


def unlock(session: Session, staff: StaffAccount, citizen_id: uuid.UUID | str,
           reason: str | None, *, ip: str | None, now: datetime) -> None:
    """Active again; the sign-in throttle's lock and delays are lifted too (the officer has
    the citizen in front of them)."""
    citizen, reason = _begin(session, staff, citizen_id, reason)
    if citizen.status is CitizenStatus.DISABLED:
        # A disabled account is closed on purpose (by the province), not locked: an officer's
        # unlock must not reopen it.
        raise InvalidInput("status", _l("This account is closed; it cannot be unlocked here."))
    if citizen.status is CitizenStatus.ACTIVE and not citizen.unlock_required:
        raise InvalidInput("status", _l("This account is not locked."))
    was = {"status": citizen.status.value, "unlock_required": bool(citizen.unlock_required)}
    citizen.status = CitizenStatus.ACTIVE
    throttle.clear(citizen)
    _audit(session, "unlocked", staff, citizen, reason, ip=ip, now=now, was=was)
    _tell(session, citizen, "staff_unlocked",
          f"tài khoản của bạn đã được mở khóa lúc {local_time(now)}.")
    session.flush()


def revoke_sessions(session: Session, staff: StaffAccount, citizen_id: uuid.UUID | str,
                    reason: str | None, *, keys: Signer, ip: str | None,
                    now: datetime) -> list[int]:
    citizen, reason = _begin(session, staff, citizen_id, reason)
    count, revoked, deliveries = _end_everything(session, citizen, keys, now)
    _audit(session, "sessions_revoked", staff, citizen, reason, ip=ip, now=now,
           sessions_ended=count, tokens_revoked=revoked)
    session.flush()
    return deliveries


def reset_second_factors(session: Session, staff: StaffAccount, citizen_id: uuid.UUID | str,
                         reason: str | None, *, ip: str | None, now: datetime) -> None:
    """After an in-person check: forget the authenticator app and the recovery codes."""
    citizen, reason = _begin(session, staff, citizen_id, reason)
    had_totp = totp.disable(session, citizen)
    dropped = recovery_codes.delete_all(session, citizen.id)
    if not had_totp and not dropped:
        raise InvalidInput("second_factor", _l("This account has no two-step sign-in to "
                                               "reset."))
    _audit(session, "second_factors_reset", staff, citizen, reason, ip=ip, now=now,
           totp_removed=had_totp, recovery_codes_deleted=dropped)
    _tell(session, citizen, "staff_2fa_reset",
          f"xác thực hai lớp của tài khoản đã được cán bộ xã/phường tắt lúc "
          f"{local_time(now)}. Hãy bật lại trong trang Tài khoản.")
    session.flush()


def verify_identity(session: Session, staff: StaffAccount, citizen_id: uuid.UUID | str,
                    reason: str | None, *, document_type: str, document_number: str,
                    place: str, ip: str | None, now: datetime) -> IdentityVerification:
    """Level 1 → 2: the officer checked the document in person; its number must be the
    account's CCCD."""
    citizen, reason = _begin(session, staff, citizen_id, reason)
    if citizen.identity_level >= 2:
        raise InvalidInput("identity_level", _l("This account is already at level 2."))
    evidence = _evidence(citizen, staff, document_type, document_number, place, reason, now)
    session.add(evidence)
    citizen.identity_level = 2
    _audit(session, "identity_verified", staff, citizen, reason, ip=ip, now=now,
           document_type=evidence.document_type, place=evidence.place)
    _tell(session, citizen, "identity_verified",
          f"danh tính của bạn đã được xác minh trực tiếp (Mức 2) lúc {local_time(now)}.")
    session.flush()
    return evidence


def _evidence(citizen: Citizen, staff: StaffAccount, document_type: str,
              document_number: str, place: str, reason: str,
              now: datetime) -> IdentityVerification:
    if document_type not in DOCUMENT_TYPES:
        raise InvalidInput("document_type", _l("Choose the document you checked."))
    try:
        number = ids.normalize_cccd(document_number)
    except InvalidInput as error:
        raise InvalidInput("document_number", error.message) from None
    if number != citizen.cccd:
        raise InvalidInput("document_number", _l("The number on the document is not this "
                                                 "account's citizen ID number."))
    place = " ".join((place or "").split())
    if not 2 <= len(place) <= 200:
        raise InvalidInput("place", _l("Please write where the document was checked."))
    return IdentityVerification(citizen_id=citizen.id, document_type=document_type,
                                document_number=number, staff_id=staff.id,
                                commune_code=citizen.commune_code, place=place,
                                reason=reason, verified_at=now)


def correct_contact(session: Session, staff: StaffAccount, citizen_id: uuid.UUID | str,
                    reason: str | None, *, phone: str, email: str | None, ip: str | None,
                    now: datetime) -> bool:
    """A new phone (unique, normalised) and/or email. Returns whether anything changed. The
    old phone is told (a change nobody asked for is its owner's cue to act); a new phone
    is not counted as verified until a code reaches it."""
    citizen, reason = _begin(session, staff, citizen_id, reason)
    new_phone = ids.normalize_phone(phone)
    new_email = ids.normalize_email(email)
    changed = [name for name, old, new in (("phone", citizen.phone, new_phone),
                                            ("email", citizen.email, new_email)) if old != new]
    if not changed:
        raise InvalidInput("phone", _l("Nothing was changed."))
    if new_phone != citizen.phone and session.scalar(
            select(Citizen.id).where(Citizen.phone == new_phone)) is not None:
        raise InvalidInput("phone", _l("This phone number is already used by an account."))
    old_phone = citizen.phone
    citizen.phone, citizen.email = new_phone, new_email
    if "phone" in changed:
        citizen.phone_verified_at = None
        notify.send_sms(session, phone=old_phone, purpose="staff_contact", citizen_id=citizen.id,
                        body=(f"ThaiNguyen ID: số điện thoại của tài khoản đã được cán bộ "
                              f"xã/phường đổi sang {ids.mask_phone(new_phone)} lúc "
                              f"{local_time(now)}. {NOT_YOU}"))
    _audit(session, "contact_corrected", staff, citizen, reason, ip=ip, now=now,
           changed=changed)
    session.flush()
    return True


# --- assisted enrolment ---------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolled:
    citizen: Citizen
    code: str          # the activation code, formatted; shown once (slip) or sent (SMS)
    channel: str


def enrol(session: Session, staff: StaffAccount, data: accounts.NewCitizen,
          reason: str | None, *, document_type: str, place: str, channel: str,
          passwords: PasswordService, secret_key: str, domain: str | None,
          ip: str | None, today: date, now: datetime) -> Enrolled:
    """An officer registers a citizen who is present with their document: validated like
    sign-up, identity level 2 at once (with its evidence), no password — an activation code
    by SMS or on a printed slip. Raises ``AccessDenied`` for a commune not theirs,
    ``InvalidInput`` (``DuplicateAccount``) for bad data; nothing is written then."""
    staff_access.require(staff, staff_access.Permission.CITIZENS_WRITE)
    commune = ids.normalize_commune_code(data.commune_code) if data.commune_code else None
    if commune is None:
        raise InvalidInput("commune_code", _l("Choose the commune or ward."))
    staff_access.require_commune(staff, commune)
    reason = check_reason(reason)
    if channel not in activation.CHANNELS:
        raise InvalidInput("channel", _l("Choose how the citizen gets the activation code."))
    if document_type not in DOCUMENT_TYPES:
        raise InvalidInput("document_type", _l("Choose the document you checked."))
    citizen = accounts.create_citizen(
        session, accounts.NewCitizen(
            cccd=data.cccd, full_name=data.full_name, birthdate=data.birthdate,
            phone=data.phone, email=data.email, gender=data.gender, commune_code=commune,
            identity_level=2),
        passwords=passwords, password=None, today=today)
    citizen.created_at = now
    session.add(_evidence(citizen, staff, document_type, citizen.cccd, place, reason, now))
    code = activation.issue(session, citizen, channel, staff=staff, secret_key=secret_key,
                            now=now, domain=domain)
    _audit(session, "enrolled", staff, citizen, reason, ip=ip, now=now, channel=channel,
           document_type=document_type)
    session.flush()
    return Enrolled(citizen, code, channel)


def new_activation_code(session: Session, staff: StaffAccount, citizen_id: uuid.UUID | str,
                        reason: str | None, *, channel: str, secret_key: str,
                        domain: str | None, ip: str | None, now: datetime) -> str:
    """A fresh activation code for a citizen not activated yet (lost slip, imported
    citizen at the office)."""
    citizen, reason = _begin(session, staff, citizen_id, reason)
    code = activation.issue(session, citizen, channel, staff=staff, secret_key=secret_key,
                            now=now, domain=domain)
    _audit(session, "activation_code_issued", staff, citizen, reason, ip=ip, now=now,
           channel=channel)
    return code
