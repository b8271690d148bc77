"""`tnid purge` deletes what can no longer be used, and nothing that can."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import func, select

from idp.cli import cli
from idp.extensions import db
from idp.models import (
    AuthorizationCode,
    OneTimeCode,
    OutboxMessage,
    PushedAuthorizationRequest,
    QrSignInRequest,
    SsoSession,
    Token,
)
from idp.services.clock import utcnow
from tests.support import oidc


def count(app, model) -> int:  # noqa: ANN001
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def issue_tokens(app, client, auth, make_citizen):  # noqa: ANN001, ANN201
    citizen = make_citizen()
    rp = oidc.register(app, trusted=True)
    auth.login(citizen.cccd)
    code = oidc.follow_to_client(client, oidc.authorize_query(rp), rp)["code"]
    basic = base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()
    response = client.post("/token", headers={"Authorization": f"Basic {basic}"}, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri})
    assert response.status_code == 200, response.json
    return rp


def test_purge_keeps_live_state(app, client, auth, make_citizen, signing_keys, config):
    issue_tokens(app, client, auth, make_citizen)
    result = CliRunner().invoke(cli, ["purge", "--json"], env=config, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert all(v == 0 for v in json.loads(result.output).values())
    assert count(app, Token) == 1 and count(app, SsoSession) == 1
    assert count(app, AuthorizationCode) == 1


def test_purge_removes_expired_state(app, client, auth, make_citizen, signing_keys, config):
    issue_tokens(app, client, auth, make_citizen)
    long_ago = utcnow() - timedelta(days=400)
    with app.app_context():
        for model, columns in ((AuthorizationCode, ("expires_at",)),
                               (Token, ("access_expires_at",)),
                               (SsoSession, ("created_at", "last_seen_at"))):
            for row in db.session.scalars(select(model)):
                for column in columns:
                    setattr(row, column, long_ago)
        db.session.add(PushedAuthorizationRequest(
            request_uri_hash="x" * 64, client_id=db.session.scalar(select(Token.client_id)),
            params={}, expires_at=long_ago))
        db.session.commit()
    result = CliRunner().invoke(cli, ["purge", "--json"], env=config, catch_exceptions=False)
    removed = json.loads(result.output)
    assert removed["authorization_codes"] == 1 and removed["tokens"] == 1
    assert removed["sso_sessions"] == 1 and removed["pushed_authorization_requests"] == 1
    assert count(app, Token) == 0 and count(app, SsoSession) == 0


def test_purge_removes_old_codes_qr_requests_and_messages(app, make_citizen, config):
    now = utcnow()
    citizen_id = make_citizen().id
    with app.app_context():
        for age in (timedelta(days=3), timedelta(minutes=1)):
            db.session.add(OneTimeCode(
                purpose="register", flow_hash=secrets.token_hex(32), phone="+84912345678",
                code_hash="0" * 64, expires_at=now - age, last_sent_at=now - age))
            db.session.add(QrSignInRequest(
                browser_hash=secrets.token_hex(32), matching_number="42", choices=["42"],
                requester_ip="203.0.113.7", requester_user_agent="test", expires_at=now - age))
        for age in (timedelta(days=31), timedelta(days=29)):
            db.session.add(OutboxMessage(recipient="+84912345678", purpose="register",
                                         body="...", backend="outbox", citizen_id=citizen_id,
                                         created_at=now - age))
        db.session.commit()
    result = CliRunner().invoke(cli, ["purge", "--json"], env=config, catch_exceptions=False)
    removed = json.loads(result.output)
    assert removed["one_time_codes"] == 1 and removed["qr_sign_in_requests"] == 1
    assert removed["outbox_messages"] == 1
    assert count(app, OneTimeCode) == count(app, QrSignInRequest) == count(app, OutboxMessage) == 1


def test_purge_blanks_codes_in_messages_older_than_a_day(app, config):  # noqa: ANN001
    """The outbox backend keeps texts in clear for /dev/outbox and `tnid outbox`: fresh ones
    stay readable, a day later their codes are blanked (times and dates untouched)."""
    now = utcnow()
    code_text = "ThaiNguyen ID: 482913 là mã xác minh.\n\n@id.example #482913"
    notice = "ThaiNguyen ID: tài khoản đã tạm khóa lúc 14:05 22/11/2026."
    with app.app_context():
        for body, age in ((code_text, timedelta(hours=2)), (code_text, timedelta(days=2)),
                          (notice, timedelta(days=2))):
            db.session.add(OutboxMessage(recipient="+84912345678", purpose="register",
                                         body=body, backend="outbox", created_at=now - age))
        db.session.commit()
    result = CliRunner().invoke(cli, ["purge", "--json"], env=config, catch_exceptions=False)
    assert json.loads(result.output)["message_codes_blanked"] == 1
    with app.app_context():
        bodies = list(db.session.scalars(select(OutboxMessage.body).order_by(OutboxMessage.id)))
    assert bodies[0] == code_text  # fresh: still useful
    assert "482913" not in bodies[1] and bodies[1].count("••••••") == 2
    assert bodies[2] == notice
