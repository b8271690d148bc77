"""Tests of idp.services.staff_citizens: search (CCCD, phone, folded name prefix, filters,
keyset pages), the detail page's data, and every staff action — each with the officer's
commune scope, the auditor's read-only rights, the required reason and its audit entry."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import (
    ActivationCode,
    AuditEvent,
    Citizen,
    CitizenStatus,
    IdentityVerification,
    OutboxMessage,
    StaffAccount,
    StaffCommune,
    StaffRole,
)
from idp.services import accounts, staff_citizens, totp
from idp.services.identifiers import InvalidInput
from idp.services.staff_access import AccessDenied
from idp.services.staff_citizens import SearchQuery
from idp.web import deps
from tests.conftest import TEST_PASSWORD

SANG_MOC, PHAN_DINH_PHUNG = "05719", "05443"
NOW = datetime(2025, 8, 15, 2, 0, 0)
KEY = "t" * 48
REASON = "Citizen came to the office with the card"


def _staff(role: str, communes: tuple[str, ...] = ()) -> StaffAccount:
    staff = StaffAccount(username=f"{role}-{uuid.uuid4().hex[:8]}", display_name=role,
                         role=StaffRole(role), password_hash="x",
                         communes=[StaffCommune(commune_code=c) for c in communes])
    db.session.add(staff)
    db.session.flush()
    return staff


class Keys:
    def __init__(self, app: Flask) -> None:
        from idp.oidc import context

        self.keys = staff_citizens.Signer(context.signer(), context.pairwise_secret())


@pytest.fixture
def ctx(app: Flask, signing_keys: None):
    with app.test_request_context():
        yield app


def _actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def _citizen(make_citizen, **fields) -> Citizen:
    made = make_citizen(**fields)
    return db.session.get(Citizen, made.id)


# --- search -----------------------------------------------------------------------------------


def test_search_by_cccd_phone_and_folded_name(ctx, make_citizen):
    a = make_citizen(full_name="Nguyễn Văn Ánh", phone="0912 000 001")
    make_citizen(full_name="Nguyễn Thị Bình")
    make_citizen(full_name="Trần Văn An")
    admin = _staff("superadmin")
    page = staff_citizens.search(db.session, admin, SearchQuery(text=a.cccd))
    assert page.kind == "cccd" and [c.id for c in page.rows] == [a.id]
    for phone in ("0912000001", "+84 912 000 001", "84912000001", "0912.000.001"):
        page = staff_citizens.search(db.session, admin, SearchQuery(text=phone))
        assert page.kind == "phone" and [c.id for c in page.rows] == [a.id], phone
    page = staff_citizens.search(db.session, admin, SearchQuery(text="nguyen van a"))
    assert page.kind == "name" and [c.full_name for c in page.rows] == ["Nguyễn Văn Ánh"]
    page = staff_citizens.search(db.session, admin, SearchQuery(text="NGUYỄN"))
    assert [c.full_name for c in page.rows] == ["Nguyễn Thị Bình", "Nguyễn Văn Ánh"]
    assert staff_citizens.search(db.session, admin, SearchQuery(text="xyz")).rows == []
    with pytest.raises(InvalidInput):
        staff_citizens.search(db.session, admin, SearchQuery(text="12345"))


def test_search_filters(ctx, make_citizen):
    a = make_citizen(full_name="Lê Văn A")
    b = make_citizen(full_name="Lê Văn B", commune_code=PHAN_DINH_PHUNG, identity_level=2)
    db.session.get(Citizen, a.id).status = CitizenStatus.LOCKED
    admin = _staff("superadmin")

    def ids(**q):
        return [c.id for c in staff_citizens.search(db.session, admin, SearchQuery(**q)).rows]

    assert ids(commune=PHAN_DINH_PHUNG) == [b.id]
    assert ids(status="locked") == [a.id]
    assert ids(level=2) == [b.id]
    assert ids(text="le van", level=1) == [a.id]
    with pytest.raises(InvalidInput):
        ids(status="nonsense")


def test_keyset_pages_cover_everything_once(ctx, make_citizen):
    made = {make_citizen(full_name="Phạm Văn " + "ABCDEGHK"[i % 8] + "x" * (i // 8)).id
            for i in range(13)}
    admin = _staff("superadmin")
    seen: list = []
    cursor = None
    for _ in range(10):
        page = staff_citizens.search(db.session, admin, SearchQuery(text="pham", after=cursor),
                                     page_size=5)
        seen += [c.id for c in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 13 and set(seen) == made
    names = [db.session.get(Citizen, i).name_folded for i in seen]
    assert names == sorted(names)
    # A forged cursor is ignored, not an error.
    assert staff_citizens.search(db.session, admin, SearchQuery(after="!!garbage")).rows


def test_officer_search_only_sees_their_communes(ctx, make_citizen):
    mine = make_citizen(full_name="Hoàng Văn Mình")
    other = make_citizen(full_name="Hoàng Văn Khác", commune_code=PHAN_DINH_PHUNG)
    officer = _staff("officer", (SANG_MOC,))
    names = [c.id for c in staff_citizens.search(db.session, officer,
                                                 SearchQuery(text="hoang")).rows]
    assert names == [mine.id]
    assert staff_citizens.search(db.session, officer, SearchQuery(text=other.cccd)).rows == []
    assert staff_citizens.search(db.session, officer,
                                 SearchQuery(text=other.phone)).rows == []
    assert staff_citizens.search(db.session, officer,
                                 SearchQuery(commune=PHAN_DINH_PHUNG)).rows == []
    nobody = _staff("officer")
    assert staff_citizens.search(db.session, nobody, SearchQuery()).rows == []
    auditor = _staff("auditor")
    assert len(staff_citizens.search(db.session, auditor, SearchQuery(text="hoang")).rows) == 2


# --- detail -----------------------------------------------------------------------------------


def test_detail_and_scope(ctx, make_citizen):
    mine = make_citizen()
    other = make_citizen(commune_code=PHAN_DINH_PHUNG)
    officer = _staff("officer", (SANG_MOC,))
    d = staff_citizens.detail(db.session, officer, mine.id)
    assert d.citizen.id == mine.id and d.activated and d.may_write
    assert d.totp_since is None and d.sessions == [] and d.apps == []
    with pytest.raises(AccessDenied):
        staff_citizens.detail(db.session, officer, other.id)
    with pytest.raises(staff_citizens.NotFound):
        staff_citizens.detail(db.session, officer, uuid.uuid4())
    with pytest.raises(staff_citizens.NotFound):
        staff_citizens.detail(db.session, officer, "not-a-uuid")
    auditor = _staff("auditor")
    d = staff_citizens.detail(db.session, auditor, other.id)
    assert not d.may_write


# --- actions ----------------------------------------------------------------------------------


def _run(action: str, staff: StaffAccount, citizen: Citizen, reason: str | None, app: Flask):
    keys = Keys(app).keys
    calls = {
        "lock": lambda: staff_citizens.lock(db.session, staff, citizen.id, reason, keys=keys,
                                            ip="1.2.3.4", now=NOW),
        "revoke": lambda: staff_citizens.revoke_sessions(db.session, staff, citizen.id, reason,
                                                         keys=keys, ip=None, now=NOW),
        "verify": lambda: staff_citizens.verify_identity(
            db.session, staff, citizen.id, reason, document_type="cccd_chip",
            document_number=citizen.cccd, place="UBND xã Sảng Mộc", ip=None, now=NOW),
        "contact": lambda: staff_citizens.correct_contact(
            db.session, staff, citizen.id, reason, phone="0987 654 321",
            email="a@example.vn", ip=None, now=NOW),
    }
    return calls[action]()


ACTIONS = {"lock": "staff:citizen:locked", "revoke": "staff:citizen:sessions_revoked",
           "verify": "staff:citizen:identity_verified",
           "contact": "staff:citizen:contact_corrected"}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_each_action_audits_with_reason(ctx, make_citizen, action):
    citizen = _citizen(make_citizen)
    officer = _staff("officer", (SANG_MOC,))
    _run(action, officer, citizen, "  " + REASON + " ", ctx)
    entry = db.session.scalar(select(AuditEvent).where(AuditEvent.action == ACTIONS[action]))
    assert entry.actor_type == "staff" and entry.actor_id == str(officer.id)
    assert entry.citizen_id == citizen.id and entry.details["reason"] == REASON


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("reason", [None, "", "    ", "abc", "x" * 501])
def test_missing_or_bad_reason_changes_nothing(ctx, make_citizen, action, reason):
    citizen = _citizen(make_citizen)
    before = (citizen.status, citizen.identity_level, citizen.phone)
    officer = _staff("officer", (SANG_MOC,))
    with pytest.raises(InvalidInput) as error:
        _run(action, officer, citizen, reason, ctx)
    assert error.value.field == "reason"
    assert (citizen.status, citizen.identity_level, citizen.phone) == before
    assert not db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action.like("staff:%")))


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_officer_of_another_commune_and_auditor_are_refused(ctx, make_citizen, action):
    citizen = _citizen(make_citizen, commune_code=PHAN_DINH_PHUNG)
    for staff in (_staff("officer", (SANG_MOC,)), _staff("auditor")):
        with pytest.raises(AccessDenied):
            _run(action, staff, citizen, REASON, ctx)
    assert citizen.status is CitizenStatus.ACTIVE and citizen.identity_level == 1


def test_lock_ends_sessions_and_refuses_sign_in_unlock_restores(ctx, make_citizen):
    from idp.models import SsoSession
    from idp.services import sso_sessions
    citizen = _citizen(make_citizen)
    sso_sessions.start_session(db.session, citizen, amr=["pwd"], acr="urn:tnid:acr:1",
                               ip="1.1.1.1", user_agent="t", now=NOW)
    db.session.commit()
    admin = _staff("superadmin")
    staff_citizens.lock(db.session, admin, citizen.id, REASON, keys=Keys(ctx).keys, ip=None,
                        now=NOW)
    db.session.commit()
    assert citizen.status is CitizenStatus.LOCKED
    assert not db.session.scalar(select(func.count()).select_from(SsoSession).where(
        SsoSession.citizen_id == citizen.id))
    attempt = accounts.password_sign_in(
        db.session, citizen.cccd, TEST_PASSWORD, passwords=deps.passwords(),
        counters=_counters(), secret_key=KEY,
        device_token=None, ip=None, now=NOW)
    assert attempt.outcome is accounts.Outcome.WRONG and attempt.citizen is None
    with pytest.raises(InvalidInput):
        staff_citizens.lock(db.session, admin, citizen.id, REASON, keys=Keys(ctx).keys,
                            ip=None, now=NOW)
    staff_citizens.unlock(db.session, admin, citizen.id, REASON, ip=None, now=NOW)
    db.session.commit()
    attempt = accounts.password_sign_in(
        db.session, citizen.cccd, TEST_PASSWORD, passwords=deps.passwords(),
        counters=_counters(), secret_key=KEY, device_token=None, ip=None, now=NOW)
    assert attempt.outcome is accounts.Outcome.OK
    assert "staff:citizen:unlocked" in _actions()


def _counters():
    from idp.auth import guard
    return guard.counters()


def test_reset_second_factors(ctx, make_citizen):
    citizen = _citizen(make_citizen)
    admin = _staff("superadmin")
    with pytest.raises(InvalidInput):  # nothing to reset
        staff_citizens.reset_second_factors(db.session, admin, citizen.id, REASON, ip=None,
                                            now=NOW)
    totp.enable_with_secret(db.session, citizen, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
                            secret_key=KEY, now=NOW)
    from idp.services import recovery_codes
    recovery_codes.generate(db.session, citizen, now=NOW)
    d = staff_citizens.detail(db.session, admin, citizen.id)
    assert d.totp_since is not None and d.recovery_codes_left == 10
    staff_citizens.reset_second_factors(db.session, admin, citizen.id, REASON, ip=None, now=NOW)
    assert not totp.is_enabled(db.session, citizen.id)
    assert recovery_codes.remaining(db.session, citizen.id) == 0
    assert db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.purpose == "staff_2fa_reset")) is not None


def test_verify_identity_checks_the_document(ctx, make_citizen):
    citizen = _citizen(make_citizen)
    admin = _staff("superadmin")
    for kwargs, field in (({"document_number": "019085999999"}, "document_number"),
                          ({"document_type": "passport"}, "document_type"),
                          ({"place": ""}, "place")):
        values = {"document_type": "cccd", "document_number": citizen.cccd, "place": "UBND",
                  **kwargs}
        with pytest.raises(InvalidInput) as error:
            staff_citizens.verify_identity(db.session, admin, citizen.id, REASON, ip=None,
                                           now=NOW, **values)
        assert error.value.field == field
    assert citizen.identity_level == 1
    staff_citizens.verify_identity(db.session, admin, citizen.id, REASON, ip=None, now=NOW,
                                   document_type="cccd", document_number=citizen.cccd,
                                   place="UBND xã Sảng Mộc")
    row = db.session.scalar(select(IdentityVerification))
    assert citizen.identity_level == 2 and row.staff_id == admin.id
    assert row.document_number == citizen.cccd and row.verified_at == NOW
    with pytest.raises(InvalidInput):
        staff_citizens.verify_identity(db.session, admin, citizen.id, REASON, ip=None, now=NOW,
                                       document_type="cccd", document_number=citizen.cccd,
                                       place="UBND")


def test_correct_contact_keeps_phones_unique(ctx, make_citizen):
    citizen = _citizen(make_citizen)
    taken = make_citizen()
    admin = _staff("superadmin")
    with pytest.raises(InvalidInput):
        staff_citizens.correct_contact(db.session, admin, citizen.id, REASON, phone=taken.phone,
                                       email=None, ip=None, now=NOW)
    with pytest.raises(InvalidInput):
        staff_citizens.correct_contact(db.session, admin, citizen.id, REASON, phone="12",
                                       email=None, ip=None, now=NOW)
    old = citizen.phone
    staff_citizens.correct_contact(db.session, admin, citizen.id, REASON, phone="0987654321",
                                   email=None, ip=None, now=NOW)
    assert citizen.phone == "+84987654321" and citizen.phone_verified_at is None
    told = db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.purpose == "staff_contact"))
    assert told.recipient == old


# --- enrolment --------------------------------------------------------------------------------


def _enrol(staff, commune=SANG_MOC, channel="slip", **fields):
    values = {"cccd": "019190000123", "full_name": "Đỗ Thị Hoa", "birthdate": "1990-01-02",
              "phone": "0977 111 222", "gender": "female", "commune_code": commune, **fields}
    return staff_citizens.enrol(
        db.session, staff, accounts.NewCitizen(**values), REASON, document_type="cccd_chip",
        place="UBND xã Sảng Mộc", channel=channel, passwords=deps.passwords(), secret_key=KEY,
        domain="id.example", ip=None, today=NOW.date(), now=NOW)


def test_enrol_level_2_without_password_and_code(ctx):
    officer = _staff("officer", (SANG_MOC,))
    done = _enrol(officer)
    citizen = done.citizen
    assert citizen.identity_level == 2 and citizen.password_hash is None
    assert len(done.code) == 11 and done.code[5] == "-"
    code = db.session.scalar(select(ActivationCode))
    assert code.channel == "slip" and code.staff_id == officer.id
    assert code.expires_at == NOW + timedelta(hours=72)
    assert done.code.replace("-", "") not in code.code_hash
    assert db.session.scalar(select(IdentityVerification)).citizen_id == citizen.id
    assert "staff:citizen:enrolled" in _actions()


def test_enrol_sms_sends_the_code(ctx):
    done = _enrol(_staff("superadmin"), channel="sms")
    sms = db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.purpose == "activation_code"))
    assert sms.recipient == "+84977111222" and done.code in sms.body


def test_enrol_refuses_other_commune_and_bad_data(ctx, make_citizen):
    taken = make_citizen()
    officer = _staff("officer", (SANG_MOC,))
    with pytest.raises(AccessDenied):
        _enrol(officer, commune=PHAN_DINH_PHUNG)
    with pytest.raises(AccessDenied):
        _enrol(_staff("auditor"))
    with pytest.raises(InvalidInput):
        _enrol(officer, cccd="123")
    with pytest.raises(InvalidInput):
        _enrol(officer, cccd=taken.cccd)
    with pytest.raises(InvalidInput):
        staff_citizens.enrol(
            db.session, officer, accounts.NewCitizen(
                cccd="019190000123", full_name="Đỗ Thị Hoa", birthdate="1990-01-02",
                phone="0977 111 222", commune_code=SANG_MOC), "no", document_type="cccd",
            place="UBND", channel="slip", passwords=deps.passwords(), secret_key=KEY,
            domain=None, ip=None, today=NOW.date(), now=NOW)
    assert db.session.scalar(select(func.count()).select_from(Citizen).where(
        Citizen.cccd == "019190000123")) == 0


@pytest.mark.parametrize("prefix,upper", [
    ("nguyen van a", "nguyen van b"), ("le", "lf"), ("tz", "u"), ("zz", None),
    ("nguyen van z", "nguyen vao"), ("a9", "aa"), ("nguyen'", "nguyeo"), ("", None),
])
def test_prefix_upper_bound(prefix, upper):
    assert staff_citizens.prefix_upper_bound(prefix) == upper
    if upper is not None:
        assert prefix < upper and prefix + "zzz" < upper


def test_name_search_at_the_end_of_the_alphabet(ctx, make_citizen):
    z = make_citizen(full_name="Zơ Văn Zung")
    admin = _staff("superadmin")
    assert [c.id for c in staff_citizens.search(db.session, admin,
                                                SearchQuery(text="zo van z")).rows] == [z.id]
