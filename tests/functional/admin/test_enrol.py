"""Assisted enrolment at /admin/citizens/new: level 2 at once with its evidence, no password,
an activation code on a printed slip (shown once) or by SMS; only into the officer's
communes; bad data and a missing reason leave nothing behind."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import ActivationCode, AuditEvent, Citizen, IdentityVerification, OutboxMessage
from tests.conftest import csrf_token
from tests.functional.admin.conftest import PHAN_DINH_PHUNG, SANG_MOC

StaffClient = Callable[..., FlaskClient]
FORM = {"cccd": "019190000123", "full_name": "Đỗ Thị Hoa", "birthdate": "1990-01-02",
        "gender": "", "phone": "0977 111 222", "email": "", "commune_code": SANG_MOC,
        "document_type": "cccd_chip", "place": "UBND xã Sảng Mộc", "channel": "slip",
        "reason": "Công dân đến đăng ký trực tiếp"}


def _enrol(browser: FlaskClient, **changes: str):
    page = browser.get("/admin/citizens/new")
    assert page.status_code == 200
    return browser.post("/admin/citizens/new", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), **FORM, **changes})


def _count(app: Flask, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_enrol_with_slip(app: Flask, staff_client: StaffClient):
    browser = staff_client("officer", [SANG_MOC])
    response = _enrol(browser)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    code = re.search(r'id="slip-code">([A-Z0-9-]+)<', page).group(1)
    assert "Đỗ Thị Hoa" in page and "/activate" in page
    with app.app_context():
        citizen = db.session.scalar(select(Citizen).where(Citizen.cccd == FORM["cccd"]))
        assert citizen.identity_level == 2 and citizen.password_hash is None
        assert citizen.commune_code == SANG_MOC
        evidence = db.session.scalar(select(IdentityVerification))
        assert evidence.staff_id == browser.staff.id and evidence.document_number == FORM["cccd"]
        row = db.session.scalar(select(ActivationCode))
        assert row.channel == "slip" and code.replace("-", "") not in row.code_hash
        entry = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "staff:citizen:enrolled"))
        assert entry.details["reason"] == FORM["reason"] and entry.citizen_id == citizen.id


def test_enrol_with_sms(app: Flask, staff_client: StaffClient):
    browser = staff_client("superadmin")
    response = _enrol(browser, channel="sms", commune_code=PHAN_DINH_PHUNG)
    assert response.status_code == 302 and "/admin/citizens/" in response.headers["Location"]
    with app.app_context():
        sms = db.session.scalar(select(OutboxMessage).where(
            OutboxMessage.purpose == "activation_code"))
        assert sms.recipient == "+84977111222"


def test_officer_cannot_enrol_into_another_commune(app: Flask, staff_client: StaffClient):
    browser = staff_client("officer", [SANG_MOC])
    page = browser.get("/admin/citizens/new").get_data(as_text=True)
    assert f'value="{PHAN_DINH_PHUNG}"' not in page
    response = _enrol(browser, commune_code=PHAN_DINH_PHUNG)
    assert response.status_code == 403
    assert _count(app, Citizen) == 0
    with app.app_context():
        assert db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "staff:access_denied")) is not None


def test_auditor_cannot_enrol(staff_client: StaffClient):
    assert staff_client("auditor").get("/admin/citizens/new").status_code == 403


def test_bad_data_and_missing_reason_leave_nothing(app: Flask, staff_client: StaffClient,
                                                   make_citizen):
    taken = make_citizen()
    browser = staff_client("officer", [SANG_MOC])
    for changes in ({"cccd": "123"}, {"reason": ""}, {"reason": "abc"},
                    {"birthdate": "1991-01-02"}, {"cccd": taken.cccd},
                    {"phone": taken.phone}, {"place": ""}, {"channel": "pigeon"}):
        response = _enrol(browser, **changes)
        assert response.status_code == 400, changes
        assert 'class="field-error"' in response.get_data(as_text=True) \
            or 'id="enrol-error"' in response.get_data(as_text=True), changes
    assert _count(app, Citizen) == 1 and _count(app, ActivationCode) == 0
    assert _count(app, IdentityVerification) == 0
