"""/activate: a citizen without a password sets one with the activation code (slip or SMS),
or — imported, no code — with an SMS code to the phone on file. Wrong, expired and reused
codes, throttling, and the same answers whether or not the CCCD has an account."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from idp.extensions import db
from idp.models import ActivationCode, AuditEvent, Citizen, OutboxMessage
from idp.services import activation
from idp.services.clock import utcnow
from tests.conftest import csrf_token

PASSWORD = "Nhà tôi ở xóm Chè 2025"


def _issue(app: Flask, citizen_id, channel: str = "slip") -> str:
    with app.app_context():
        citizen = db.session.get(Citizen, citizen_id)
        code = activation.issue(db.session, citizen, channel, staff=None,
                                secret_key=app.config["SECRET_KEY"], now=utcnow())
        db.session.commit()
        return code


def _activate(client: FlaskClient, cccd: str, code: str, password: str = PASSWORD,
              confirm: str | None = None):
    page = client.get("/activate")
    assert page.status_code == 200
    return client.post("/activate", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "cccd": cccd, "code": code,
        "password": password, "confirm": password if confirm is None else confirm})


def _error(response) -> str:
    match = re.search(r'id="activate-error">([^<]+)<', response.get_data(as_text=True))
    return match.group(1) if match else ""


def test_activate_with_slip_code_then_sign_in(app: Flask, client: FlaskClient, make_citizen,
                                             auth):
    citizen = make_citizen(password=None)
    code = _issue(app, citizen.id)
    response = _activate(client, citizen.cccd, code.lower())
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    with app.app_context():
        assert db.session.get(Citizen, citizen.id).password_hash
        assert db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "account:activated")).citizen_id == citizen.id
    auth.login(citizen.cccd, PASSWORD)
    with app.app_context():
        assert db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "auth:login:success")) is not None


def test_reused_code(app: Flask, client: FlaskClient, make_citizen):
    citizen = make_citizen(password=None)
    code = _issue(app, citizen.id)
    assert _activate(client, citizen.cccd, code).status_code == 302
    again = _activate(client, citizen.cccd, code, password="Một câu khác dài hơn 2026")
    assert again.status_code == 400 and _error(again)


def test_wrong_expired_and_unknown_answer_alike(app: Flask, client: FlaskClient, make_citizen):
    citizen = make_citizen(password=None)
    expired = make_citizen(password=None)
    active = make_citizen()
    _issue(app, citizen.id)
    old = _issue(app, expired.id)
    with app.app_context():
        db.session.execute(update(ActivationCode).where(ActivationCode.citizen_id == expired.id)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    answers = {
        "wrong": _activate(client, citizen.cccd, "AAAAA-AAAAA"),
        "expired": _activate(client, expired.cccd, old),
        "activated": _activate(client, active.cccd, "AAAAA-AAAAA"),
        "unknown": _activate(client, "019085999999", "AAAAA-AAAAA"),
    }
    messages = {name: (r.status_code, _error(r)) for name, r in answers.items()}
    assert len(set(messages.values())) == 1, messages
    assert messages["wrong"][0] == 400 and messages["wrong"][1]


def test_malformed_code_and_password_errors(app: Flask, client: FlaskClient, make_citizen):
    citizen = make_citizen(password=None)
    code = _issue(app, citizen.id)
    assert _activate(client, citizen.cccd, "abc").status_code == 400
    assert _activate(client, citizen.cccd, code, confirm="different").status_code == 400
    weak = _activate(client, citizen.cccd, code, password="12345678")
    assert weak.status_code == 400 and 'class="field-error"' in weak.get_data(as_text=True)
    # The code survived the refused password.
    assert _activate(client, citizen.cccd, code).status_code == 302


def test_throttled(app: Flask, client: FlaskClient, make_citizen):
    citizen = make_citizen(password=None)
    _issue(app, citizen.id)
    statuses = [_activate(client, citizen.cccd, "AAAAA-AAAAA").status_code for _ in range(8)]
    assert 429 in statuses
    ghost = [_activate(client, "019085999999", "AAAAA-AAAAA").status_code for _ in range(8)]
    assert 429 in ghost


def _sms_code(app: Flask) -> str:
    with app.app_context():
        body = db.session.scalar(select(OutboxMessage.body).where(
            OutboxMessage.purpose == "activation").order_by(OutboxMessage.id.desc()))
    return re.search(r"\b(\d{6})\b", body).group(1)


def test_self_service_sms(app: Flask, client: FlaskClient, make_citizen):
    citizen = make_citizen(password=None)
    page = client.get("/activate/sms")
    response = client.post("/activate/sms", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "cccd": citizen.cccd,
        "phone": "0" + citizen.phone[3:]})
    assert response.status_code == 302 and "/activate/sms/code" in response.headers["Location"]
    page = client.get("/activate/sms/code")
    response = client.post("/activate/sms/code", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "code": _sms_code(app)})
    assert response.status_code == 302 and "new-password" in response.headers["Location"]
    page = client.get("/activate/sms/new-password")
    response = client.post("/activate/sms/new-password", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "password": PASSWORD,
        "confirm": PASSWORD})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    with app.app_context():
        row = db.session.get(Citizen, citizen.id)
        assert row.password_hash and row.phone_verified_at is not None


def test_self_service_same_answer_without_account(app: Flask, client: FlaskClient,
                                                  make_citizen):
    active = make_citizen()
    waiting = make_citizen(password=None)
    for cccd, phone in (("019085999999", "0987654321"), (active.cccd, active.phone),
                        (waiting.cccd, "0987654321")):
        page = client.get("/activate/sms")
        response = client.post("/activate/sms", data={
            "csrf_token": csrf_token(page.get_data(as_text=True)), "cccd": cccd,
            "phone": phone})
        assert response.status_code == 302
        assert "/activate/sms/code" in response.headers["Location"]
        code_page = client.get("/activate/sms/code")
        assert code_page.status_code == 200
        wrong = client.post("/activate/sms/code", data={
            "csrf_token": csrf_token(code_page.get_data(as_text=True)), "code": "123456"})
        assert wrong.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage).where(
            OutboxMessage.purpose == "activation")) is None
