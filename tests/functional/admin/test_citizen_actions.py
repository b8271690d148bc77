"""Staff actions on one citizen through the console: form pages, POST + CSRF, the required
reason, the audit entry, and refusals (officer of another commune, auditor) that change
nothing and are recorded."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models import (
    ActivationCode,
    AuditEvent,
    Citizen,
    CitizenStatus,
    IdentityVerification,
    OutboxMessage,
)
from tests.conftest import TEST_PASSWORD, csrf_token
from tests.functional.admin.conftest import PHAN_DINH_PHUNG, SANG_MOC

StaffClient = Callable[..., FlaskClient]
REASON = "Công dân đến UBND xã trình CCCD"


def _post(browser: FlaskClient, citizen, action: str, **fields: str):
    page = browser.get(f"/admin/citizens/{citizen.id}/{action}")
    assert page.status_code == 200, page.status_code
    return browser.post(f"/admin/citizens/{citizen.id}/{action}",
                        data={"csrf_token": csrf_token(page.get_data(as_text=True)), **fields})


def _citizen(app: Flask, citizen_id) -> Citizen:
    with app.app_context():
        row = db.session.get(Citizen, citizen_id)
        db.session.expunge(row)
        return row


def _entries(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_lock_then_citizen_cannot_sign_in_then_unlock(app: Flask, staff_client: StaffClient,
                                                      make_citizen, auth, signing_keys):
    citizen = make_citizen()
    browser = staff_client("officer", [SANG_MOC])
    response = _post(browser, citizen, "lock", reason=REASON)
    assert response.status_code == 302
    assert _citizen(app, citizen.id).status is CitizenStatus.LOCKED
    [entry] = _entries(app, "staff:citizen:locked")
    assert entry.details["reason"] == REASON and entry.actor_id == str(browser.staff.id)
    auth.login(citizen.cccd, TEST_PASSWORD)
    assert not _entries(app, "auth:login:success")  # the right password, still refused
    response = _post(browser, citizen, "unlock", reason=REASON)
    assert response.status_code == 302
    assert _citizen(app, citizen.id).status is CitizenStatus.ACTIVE
    assert _entries(app, "staff:citizen:unlocked")
    auth.login(citizen.cccd, TEST_PASSWORD)
    assert _entries(app, "auth:login:success")


def test_unlock_does_not_reopen_a_closed_account(app: Flask, staff_client: StaffClient,
                                                 make_citizen):
    citizen = make_citizen()
    with app.app_context():
        db.session.get(Citizen, citizen.id).status = CitizenStatus.DISABLED
        db.session.commit()
    response = _post(staff_client("officer", [SANG_MOC]), citizen, "unlock", reason=REASON)
    assert response.status_code == 400
    assert _citizen(app, citizen.id).status is CitizenStatus.DISABLED
    assert not _entries(app, "staff:citizen:unlocked")


def test_missing_reason_changes_nothing(app: Flask, staff_client: StaffClient, make_citizen,
                                        signing_keys):
    citizen = make_citizen()
    browser = staff_client("officer", [SANG_MOC])
    for reason in ("", "abc"):
        response = _post(browser, citizen, "lock", reason=reason)
        assert response.status_code == 400
        assert 'class="field-error"' in response.get_data(as_text=True)
    assert _citizen(app, citizen.id).status is CitizenStatus.ACTIVE
    assert not _entries(app, "staff:citizen:locked")


def test_csrf_is_required(app: Flask, staff_client: StaffClient, make_citizen):
    citizen = make_citizen()
    browser = staff_client("superadmin")
    app.config["WTF_CSRF_ENABLED"] = True
    response = browser.post(f"/admin/citizens/{citizen.id}/lock", data={"reason": REASON})
    assert response.status_code == 400
    assert _citizen(app, citizen.id).status is CitizenStatus.ACTIVE


@pytest.mark.parametrize("role,communes", [("officer", [SANG_MOC]), ("auditor", [])])
@pytest.mark.parametrize("action", ["lock", "verify", "contact", "revoke"])
def test_refused_and_recorded(app: Flask, staff_client: StaffClient, make_citizen, role,
                              communes, action):
    citizen = make_citizen(commune_code=PHAN_DINH_PHUNG)
    browser = staff_client(role, communes)
    assert browser.get(f"/admin/citizens/{citizen.id}/{action}").status_code == 403
    # A POST crafted with a valid CSRF token from another page is refused by the service.
    listing = browser.get("/admin/citizens").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', listing).group(1)
    response = browser.post(f"/admin/citizens/{citizen.id}/{action}",
                            data={"csrf_token": token, "reason": REASON, "phone": "0987654321",
                                  "document_type": "cccd", "document_number": citizen.cccd,
                                  "place": "UBND"})
    assert response.status_code == 403
    after = _citizen(app, citizen.id)
    assert after.status is CitizenStatus.ACTIVE and after.identity_level == 1
    assert after.phone == citizen.phone
    assert len(_entries(app, "staff:access_denied")) == 2
    assert not [e for e in _entries(app, "staff:citizen:locked")]


def test_verify_identity(app: Flask, staff_client: StaffClient, make_citizen):
    citizen = make_citizen()
    browser = staff_client("officer", [SANG_MOC])
    wrong = _post(browser, citizen, "verify", document_type="cccd_chip",
                  document_number="019085999999", place="UBND xã Sảng Mộc", reason=REASON)
    assert wrong.status_code == 400 and _citizen(app, citizen.id).identity_level == 1
    response = _post(browser, citizen, "verify", document_type="cccd_chip",
                     document_number=citizen.cccd, place="UBND xã Sảng Mộc", reason=REASON)
    assert response.status_code == 302 and _citizen(app, citizen.id).identity_level == 2
    with app.app_context():
        row = db.session.scalar(select(IdentityVerification))
        assert row.staff_id == browser.staff.id and row.place == "UBND xã Sảng Mộc"
    page = browser.get(f"/admin/citizens/{citizen.id}").get_data(as_text=True)
    assert "UBND xã Sảng Mộc" in page


def test_correct_contact(app: Flask, staff_client: StaffClient, make_citizen):
    citizen = make_citizen()
    other = make_citizen()
    browser = staff_client("superadmin")
    page = browser.get(f"/admin/citizens/{citizen.id}/contact").get_data(as_text=True)
    assert "0" + citizen.phone[3:] in page
    taken = _post(browser, citizen, "contact", phone=other.phone, email="", reason=REASON)
    assert taken.status_code == 400
    response = _post(browser, citizen, "contact", phone="0987 654 321", email="x@example.vn",
                     reason=REASON)
    assert response.status_code == 302
    after = _citizen(app, citizen.id)
    assert after.phone == "+84987654321" and after.email == "x@example.vn"
    assert _entries(app, "staff:citizen:contact_corrected")[0].details["changed"] == [
        "phone", "email"]


def test_revoke_sessions(app: Flask, staff_client: StaffClient, make_citizen, auth,
                         signing_keys):
    citizen = make_citizen()
    auth.login(citizen.cccd, TEST_PASSWORD)
    browser = staff_client("superadmin")
    page = browser.get(f"/admin/citizens/{citizen.id}").get_data(as_text=True)
    assert 'id="no-sessions"' not in page
    assert _post(browser, citizen, "revoke", reason=REASON).status_code == 302
    page = browser.get(f"/admin/citizens/{citizen.id}").get_data(as_text=True)
    assert 'id="no-sessions"' in page
    assert _entries(app, "staff:citizen:sessions_revoked")[0].details["sessions_ended"] == 1


def test_new_activation_code_slip_shown_once(app: Flask, staff_client: StaffClient,
                                             make_citizen):
    citizen = make_citizen(password=None)
    browser = staff_client("officer", [SANG_MOC])
    response = _post(browser, citizen, "activation-code", channel="slip", reason=REASON)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    code = re.search(r'id="slip-code">([A-Z0-9-]+)<', response.get_data(as_text=True)).group(1)
    assert len(code) == 11
    assert code not in browser.get(f"/admin/citizens/{citizen.id}").get_data(as_text=True)
    response = _post(browser, citizen, "activation-code", channel="sms", reason=REASON)
    assert response.status_code == 302
    with app.app_context():
        sms = db.session.scalar(select(OutboxMessage).where(
            OutboxMessage.purpose == "activation_code"))
        assert sms.recipient == citizen.phone
        assert len(list(db.session.scalars(select(ActivationCode)))) == 2
    # An activated citizen gets no code.
    active = make_citizen()
    refused = _post(browser, active, "activation-code", channel="slip", reason=REASON)
    assert refused.status_code == 400


def test_reset_second_factors(app: Flask, staff_client: StaffClient, make_citizen):
    from idp.services import recovery_codes, totp
    from idp.services.clock import utcnow

    citizen = make_citizen()
    with app.app_context():
        row = db.session.get(Citizen, citizen.id)
        totp.enable_with_secret(db.session, row, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
                                secret_key=app.config["SECRET_KEY"], now=utcnow())
        recovery_codes.generate(db.session, row, now=utcnow())
        db.session.commit()
    browser = staff_client("officer", [SANG_MOC])
    page = browser.get(f"/admin/citizens/{citizen.id}").get_data(as_text=True)
    assert "JBSWY3DP" not in page and "reset-2fa" in page
    assert _post(browser, citizen, "reset-2fa", reason=REASON).status_code == 302
    with app.app_context():
        assert not totp.is_enabled(db.session, citizen.id)
    assert _entries(app, "staff:citizen:second_factors_reset")


def test_unknown_action_is_404(staff_client: StaffClient, make_citizen):
    citizen = make_citizen()
    browser = staff_client("superadmin")
    assert browser.get(f"/admin/citizens/{citizen.id}/explode").status_code == 404
